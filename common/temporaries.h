// The temporaries replace_file_at writes, on both platforms: "<name>.tmp.<pid>.<random>". The pid
// tells a later write whether the writer still runs: one named after a process that is gone is a
// crash's leftover and may hold a copy of a secret (docs/operation.md, "Files"), so the next
// write removes it; one whose process runs belongs to a concurrent writer and is left alone.
#pragma once

#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace dsvm {

inline constexpr std::string_view k_temporary_infix = ".tmp.";

// "<name>.tmp.<pid>.<random>".
std::string random_temporary(const std::string& name, long pid, std::random_device& entropy);

// The names among `names` that are temporaries of `name` left by a process `gone` says no longer
// runs ("<name>.tmp.<random>", how earlier versions named theirs, always counts as left).
std::vector<std::string> stale_temporaries(const std::vector<std::string>& names,
                                           const std::string& name,
                                           const std::function<bool(long pid)>& gone);

}  // namespace dsvm
