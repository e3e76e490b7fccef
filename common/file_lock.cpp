#include "common/file_lock.h"

#include <algorithm>
#include <random>

#include "common/file_lock_platform.h"

namespace dsvm {

namespace {

constexpr auto k_first_pause = std::chrono::milliseconds(1);
constexpr auto k_longest_pause = std::chrono::milliseconds(20);

}  // namespace

// Neither OFD locks nor LockFileEx wait with a timeout: the wait is attempts with pauses.
Result<Fd> lock_file_at(int directory_fd, const std::string& name, const std::string& shown,
                        std::chrono::milliseconds wait, const std::string& no_locks_hint,
                        Clock& clock) {
    auto fd = open_lock_file(directory_fd, name, shown);
    if (!fd) {
        return fd.error();
    }
    const auto deadline = clock.now() + wait;
    std::minstd_rand jitter(std::random_device{}());
    auto pause = std::chrono::duration_cast<std::chrono::microseconds>(k_first_pause);
    for (;;) {
        std::string error;
        switch (try_lock(fd->get(), error)) {
            case LockAttempt::Taken:
                return fd;
            case LockAttempt::Unsupported:
                return failure("cannot lock " + shown +
                               ": the filesystem does not support byte-range locks" +
                               (no_locks_hint.empty() ? "" : " (" + no_locks_hint + ")"));
            case LockAttempt::Failed:
                return failure("cannot lock " + shown + ": " + error);
            case LockAttempt::Busy:
                break;
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
