#include "common/file_lock.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <random>

#include "common/fs.h"

namespace dsvm {

namespace {

constexpr auto k_first_pause = std::chrono::milliseconds(1);
constexpr auto k_longest_pause = std::chrono::milliseconds(20);

}  // namespace

Result<Fd> lock_file_at(int directory_fd, const std::string& name, const std::string& shown,
                        std::chrono::milliseconds wait, const std::string& no_locks_hint,
                        Clock& clock) {
    Fd fd(::openat(directory_fd, name.c_str(),
                   O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0600));
    if (!fd) {
        return failure("cannot open " + shown + ": " + errno_text(errno));
    }
    // Zeroed: the whole file, and l_pid 0 as OFD locks require.
    struct flock lock {};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    const auto deadline = clock.now() + wait;
    std::minstd_rand jitter(static_cast<std::minstd_rand::result_type>(::getpid()));
    auto pause = std::chrono::duration_cast<std::chrono::microseconds>(k_first_pause);
    for (;;) {
        if (::fcntl(fd.get(), F_OFD_SETLK, &lock) == 0) {
            return fd;
        }
        const int error = errno;
        if (error == EINTR) {
            continue;
        }
        if (error == ENOLCK) {
            return failure("cannot lock " + shown +
                           ": the filesystem does not support byte-range locks" +
                           (no_locks_hint.empty() ? "" : " (" + no_locks_hint + ")"));
        }
        if (error != EAGAIN && error != EACCES) {
            return failure("cannot lock " + shown + ": " + errno_text(error));
        }
        if (clock.now() >= deadline) {
            return failure(
                "cannot lock " + shown + ": another process has held it for " +
                std::to_string(std::chrono::duration_cast<std::chrono::seconds>(wait).count()) +
                " s");
        }
        // Jitter keeps waiting processes from waking in step and colliding again.
        const auto spread = static_cast<std::uint32_t>(pause.count() / 2 + 1);
        // Rounded up to the Clock's whole milliseconds: never a pause of 0, which would not move
        // a fake clock on.
        clock.sleep_for(std::chrono::ceil<std::chrono::milliseconds>(
            pause / 2 + std::chrono::microseconds(jitter() % spread)));
        pause = std::min(pause * 2,
                         std::chrono::duration_cast<std::chrono::microseconds>(k_longest_pause));
    }
}

}  // namespace dsvm
