// A Windows command line from an argv array. Windows hands a program one string, which the
// program's C runtime (MSVCRT, CommandLineToArgvW) splits back into argv; this is the quoting
// those rules undo exactly, so each argument arrives as it was given. Pure text, so the rules
// are tested on every platform.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace dsvm {

// Whether `program` is an absolute Windows path: a drive letter, a colon and a separator
// ("C:\Windows\System32\net.exe", "C:/x"), or a UNC path ("\\server\share\x.exe"). "net.exe",
// "C:net.exe" (relative to the drive's current directory) and "\x.exe" (relative to the
// current drive) are not.
bool is_absolute_windows_path(std::string_view program);

// Whether Windows would run `program` through cmd.exe: a batch file (.bat, .cmd, any case, with
// the trailing dots and spaces Windows drops). cmd reads & | < > ^ % in its arguments even inside
// the quoting below, so the process runner refuses such programs.
bool runs_through_command_interpreter(std::string_view program);

// argv as one command line (UTF-8 in, UTF-8 out: the characters the rules look at are ASCII).
// argv[0] is always quoted, and may not contain '"' (the runtime reads it up to the next quote,
// with no escapes); any other argument is quoted when empty or when it holds a space, a tab, a
// newline or a quote, with backslashes doubled before a quote and at the end. An Invalid error
// names the argument for an empty argv, a quote in argv[0], or a NUL byte anywhere (it would
// cut the line short).
Result<std::string> quote_windows_command_line(const std::vector<std::string>& argv);

}  // namespace dsvm
