// The one way the agent runs systemctl: through the process seam, with a time limit, and a
// failure that says which command failed and what systemctl said.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/process.h"
#include "common/result.h"

namespace dsvm {

inline constexpr const char* k_systemctl = "/bin/systemctl";

// Runs `systemctl <arguments>`. A systemctl that cannot be run, or exits non-zero, is a Runtime
// error: "systemctl <arguments> failed (exit status N): <its stderr, or stdout>", the output
// cut to 1000 characters.
Result<void> run_systemctl(ProcessRunner& runner, const std::vector<std::string>& arguments,
                           std::chrono::milliseconds timeout);

}  // namespace dsvm
