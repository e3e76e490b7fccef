// The process seam: every external tool is run from an argv array, never through a shell
// (posix_spawn on Linux: process_posix.cpp; CreateProcessW on Windows: process_win32.cpp).
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace dsvm {

struct CommandResult {
    int exit_code = -1;  // -1 when killed by a signal; on Windows the exit code as it is
    std::string out;
    std::string err;
};

class ProcessRunner {
  public:
    virtual ~ProcessRunner() = default;
    // Runs argv[0] (an absolute path) with `input` on stdin and waits. Failing to start the
    // program, or exceeding the timeout (the process group is killed), is a Runtime error; any
    // exit code is a result.
    virtual Result<CommandResult> run(
        const std::vector<std::string>& argv, std::string_view input = {},
        std::chrono::milliseconds timeout = std::chrono::seconds(30)) = 0;
};

// posix_spawn with a clean environment (PATH=/usr/sbin:/usr/bin:/sbin:/bin, LC_ALL=C), stdin
// from `input`, stdout and stderr captured (each capped at 1 MiB), in its own process group. On
// Windows: CreateProcessW with the argv quoted for the C runtime (common/command_line.h), the
// environment SystemRoot and PATH (the system folders) only, the same pipes and caps, in a Job
// object that is killed at the timeout and when the run ends (what the tool left running dies
// with it, where on Linux it lives on); argv[0] is a drive or UNC path.
class SystemProcessRunner final : public ProcessRunner {
  public:
    Result<CommandResult> run(const std::vector<std::string>& argv, std::string_view input,
                              std::chrono::milliseconds timeout) override;
};

}  // namespace dsvm
