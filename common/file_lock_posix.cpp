// Open-file-description (OFD) fcntl locks: they belong to the open file, not the process (two
// threads exclude each other; an unrelated close() elsewhere cannot drop them), die with the
// process, and Linux's NFSv4 and SMB3 clients pass them to the server.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "common/file_lock_platform.h"
#include "common/fs.h"

namespace dsvm {

Result<Fd> open_lock_file(int directory_fd, const std::string& name, const std::string& shown) {
    Fd fd(::openat(directory_fd, name.c_str(),
                   O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0600));
    if (!fd) {
        return failure("cannot open " + shown + ": " + errno_text(errno));
    }
    return fd;
}

LockAttempt try_lock(int fd, std::string& error) {
    // Zeroed: the whole file, and l_pid 0 as OFD locks require.
    struct flock lock {};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    for (;;) {
        if (::fcntl(fd, F_OFD_SETLK, &lock) == 0) {
            return LockAttempt::Taken;
        }
        const int number = errno;
        if (number == EINTR) {
            continue;
        }
        if (number == ENOLCK) {
            return LockAttempt::Unsupported;
        }
        if (number == EAGAIN || number == EACCES) {
            return LockAttempt::Busy;
        }
        error = errno_text(number);
        return LockAttempt::Failed;
    }
}

}  // namespace dsvm
