// The platform's half of lock_file_at (common/file_lock.h): opening the lock file and one attempt
// at the lock. common/file_lock.cpp waits and retries; file_lock_posix.cpp (OFD fcntl locks) and
// file_lock_win32.cpp (LockFileEx) make the attempts.
#pragma once

#include <string>

#include "common/fd.h"
#include "common/result.h"

namespace dsvm {

// Opens (creating it, private to root or the administrators, never through a link) `name` in
// the directory `directory_fd`, for locking. Errors name `shown`.
Result<Fd> open_lock_file(int directory_fd, const std::string& name, const std::string& shown);

enum class LockAttempt {
    Taken,        // the lock is held until the descriptor is closed
    Busy,         // another holder has it
    Unsupported,  // the filesystem has no byte-range locks
    Failed,       // another error, in `error`
};

// One attempt at an exclusive lock on the whole file, without waiting.
LockAttempt try_lock(int fd, std::string& error);

}  // namespace dsvm
