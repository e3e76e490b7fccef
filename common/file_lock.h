// Exclusive locks on lock files: open-file-description (OFD) fcntl locks on Linux, LockFileEx on
// Windows. Either belongs to the open file, not the process (two threads exclude each other; an
// unrelated close() elsewhere cannot drop it), dies with the process (a crash leaves no stale
// lock), and the NFSv4 and SMB3 clients pass it to the server.
#pragma once

#include <chrono>
#include <string>

#include "common/clock.h"
#include "common/fd.h"
#include "common/result.h"

namespace dsvm {

// Opens (creating, 0600, never through a symlink) `name` in the directory `directory_fd` and
// takes a write lock on the whole file, waiting up to `wait` with short, growing, jittered pauses
// (F_OFD_SETLKW has no timeout). The lock is held until the returned Fd is closed. `shown` names
// the file in errors; `no_locks_hint` follows the message when the filesystem has no locks.
// The deadline and the pauses go through `clock`.
Result<Fd> lock_file_at(int directory_fd, const std::string& name, const std::string& shown,
                        std::chrono::milliseconds wait, const std::string& no_locks_hint = {},
                        Clock& clock = real_clock());

}  // namespace dsvm
