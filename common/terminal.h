// Standard input, and the terminal behind it: for reading a secret (a storage key, a password)
// that is typed or piped, never taken from argv.
#pragma once

#include <cstddef>
#include <string>

#include "common/result.h"

namespace dsvm {

// Whether standard input is a terminal (isatty(3); on Windows a console, GetConsoleMode).
bool standard_input_is_terminal();

// Where a read of standard input stops (besides its limit).
enum class ReadUntil {
    EndOfInput,
    Newline,  // read a byte at a time: the newline kept, nothing after it consumed
};

// Appends to `out` what standard input gives (EINTR retried) until `until` or more than `limit`
// bytes in `out`; on Windows a closed pipe (ERROR_BROKEN_PIPE) and Ctrl+Z on the console end it
// too, and a console line ends in "\r\n". The read buffer is wiped afterwards. Runtime error
// "cannot read standard input: ...".
Result<void> read_standard_input(std::string& out, ReadUntil until, std::size_t limit);

// On the terminal on standard input: echo off for exactly as long as the read, whatever way the
// read ends (return, error, or SIGINT, SIGTERM, SIGHUP or SIGQUIT, which are re-raised once the
// terminal is restored; one the caller ignores stays ignored); `prompt` on stderr once echo is
// off, then one line as read_standard_input(out, ReadUntil::Newline, limit) reads it, and a newline
// on stderr for the one that was not echoed. On Windows the console's ENABLE_ECHO_INPUT is what
// is turned off, and a console control handler restores it on Ctrl+C, Ctrl+Break or the console
// closing before the default handling ends the process.
Result<void> read_terminal_line_without_echo(std::string& out, const std::string& prompt,
                                             std::size_t limit);

}  // namespace dsvm
