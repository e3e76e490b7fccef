#include "linux/systemd_host.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdlib>

#include "common/fs.h"

namespace dsvm::linux_platform {

using namespace dsvm::service;

namespace {

// A STATUS= value is one line; a newline would start a new assignment.
std::string one_line(std::string text) {
    std::replace(text.begin(), text.end(), '\n', ' ');
    return text;
}

}  // namespace

Result<void> SystemdHost::listen() {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGHUP);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    if (::sigprocmask(SIG_BLOCK, &signals, nullptr) != 0) {
        return failure("cannot block signals: " + errno_text(errno));
    }
    m_signals = Fd(::signalfd(-1, &signals, SFD_CLOEXEC));
    if (!m_signals) {
        return failure("cannot create a signalfd: " + errno_text(errno));
    }
    return {};
}

bool SystemdHost::stop_requested() {
    sigset_t pending;
    sigemptyset(&pending);
    return m_signals && ::sigpending(&pending) == 0 &&
           (sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGINT) == 1);
}

Control SystemdHost::wait(std::chrono::milliseconds timeout) {
    pollfd watched{m_signals.get(), POLLIN, 0};
    const auto milliseconds = std::clamp<long long>(timeout.count(), 0, INT_MAX);
    const int ready = ::poll(&watched, 1, static_cast<int>(milliseconds));
    if (ready < 0 && errno == EINTR) {
        return Control::None;
    }
    if (ready < 0) {
        spdlog::error("cannot wait for signals: {}", errno_text(errno));
        return Control::Failed;
    }
    if (ready == 0) {
        return Control::None;
    }
    signalfd_siginfo info{};
    if (::read(m_signals.get(), &info, sizeof info) != static_cast<ssize_t>(sizeof info)) {
        return Control::None;
    }
    if (info.ssi_signo == SIGHUP) {
        spdlog::info("SIGHUP: reconciling now");
        return Control::Reconcile;
    }
    spdlog::info("{}: stopping", info.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
    return Control::Stop;
}

void SystemdHost::ready(const std::string& status) {
    sd_notify(0, ("READY=1\nSTATUS=" + one_line(status)).c_str());
}

void SystemdHost::status(const std::string& status) {
    sd_notify(0, ("STATUS=" + one_line(status)).c_str());
}

void SystemdHost::stopping() {
    sd_notify(0, "STOPPING=1\nSTATUS=Stopping");
}

std::chrono::microseconds SystemdHost::watchdog_period() {
    // The variables stay set: children (mount helpers, useradd) never talk to the service
    // manager, and sd_watchdog_enabled ignores them anyway when $WATCHDOG_PID names another
    // process.
    std::uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0) {
        return std::chrono::microseconds(0);
    }
    return std::chrono::microseconds(static_cast<std::chrono::microseconds::rep>(usec));
}

void SystemdHost::watchdog() {
    sd_notify(0, "WATCHDOG=1");
}

LogTarget detect_log_target() {
    if (const char* stream = std::getenv("JOURNAL_STREAM")) {
        struct stat info {};
        if (::fstat(STDERR_FILENO, &info) == 0) {
            const std::string expected =
                std::to_string(info.st_dev) + ":" + std::to_string(info.st_ino);
            if (expected == stream) {
                return LogTarget::Journal;
            }
        }
    }
    return ::isatty(STDERR_FILENO) ? LogTarget::Terminal : LogTarget::Plain;
}

}  // namespace dsvm::linux_platform
