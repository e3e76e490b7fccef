// What the two halves of SystemProcessRunner (common/process.h: process_posix.cpp,
// process_win32.cpp) share, so that both cap, refuse and report alike.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace dsvm {

// The most of each of stdout and stderr a run keeps.
inline constexpr std::size_t k_process_output_cap = 1024 * 1024;

// Appends `bytes` to `sink` without letting it grow past k_process_output_cap; the rest is
// dropped (the caller reads on, so the child never blocks on a full pipe).
void append_capped(std::string& sink, std::string_view bytes);

// The Runtime error for a program not given as an absolute path: "cannot run 'echo': the
// program must be given as an absolute path".
Error program_not_absolute(const std::vector<std::string>& argv);

// The Runtime error for a run past its timeout: "PROGRAM timed out after 0.2 s".
Error process_timed_out(const std::string& program, std::chrono::milliseconds timeout);

}  // namespace dsvm
