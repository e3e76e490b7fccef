// The POSIX half's reading of common/temporaries.h: the temporaries of `name` in a directory that
// processes left which no longer run here (kill(pid, 0) says ESRCH).
#pragma once

#include <string>
#include <vector>

namespace dsvm {

// The stale temporaries of `name` in the directory `directory_fd`; none when it cannot be
// listed.
std::vector<std::string> stale_temporaries_in(int directory_fd, const std::string& name);

}  // namespace dsvm
