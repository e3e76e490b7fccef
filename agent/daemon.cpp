#include "agent/daemon.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <chrono>
#include <random>

#include "common/fd.h"
#include "common/fs.h"

namespace dsvm {

namespace {

enum class Wake { Timeout, Reconcile, Stop, Error };

std::string status_line(const PassOutcome& outcome) {
    const RunStatus& status = outcome.status;
    std::string line = status.result;
    if (!status.message.empty()) {
        line += ": " + status.message;
    }
    if (status.share) {
        line += status.share->mounted ? "; share mounted" : "; share not mounted";
    }
    return line;
}

Wake wait_for_signal(int signal_fd, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            return Wake::Timeout;
        }
        pollfd watched{signal_fd, POLLIN, 0};
        const int ready = ::poll(&watched, 1, static_cast<int>(left.count()));
        if (ready < 0 && errno == EINTR) {
            continue;
        }
        if (ready < 0) {
            spdlog::error("cannot wait for signals: {}", errno_text(errno));
            return Wake::Error;
        }
        if (ready == 0) {
            return Wake::Timeout;
        }
        signalfd_siginfo info{};
        if (::read(signal_fd, &info, sizeof info) != static_cast<ssize_t>(sizeof info)) {
            continue;
        }
        if (info.ssi_signo == SIGHUP) {
            spdlog::info("SIGHUP: reconciling now");
            return Wake::Reconcile;
        }
        spdlog::info("{}: stopping", info.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
        return Wake::Stop;
    }
}

}  // namespace

int run_daemon(Engine& engine, Notifier& notifier, std::uint64_t seed) {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGHUP);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    if (::sigprocmask(SIG_BLOCK, &signals, nullptr) != 0) {
        spdlog::error("cannot block signals: {}", errno_text(errno));
        return 1;
    }
    Fd signal_fd(::signalfd(-1, &signals, SFD_CLOEXEC));
    if (!signal_fd) {
        spdlog::error("cannot create a signalfd: {}", errno_text(errno));
        return 1;
    }
    std::mt19937_64 random(seed);
    std::uniform_real_distribution<double> jitter(0.9, 1.1);
    int interval_seconds = 60;
    bool first = true;
    for (;;) {
        PassOptions options;
        options.record_invalid = true;
        options.full = false;
        const PassOutcome outcome = engine.reconcile(options);
        const std::string line = status_line(outcome);
        if (outcome.exit_status == 0) {
            spdlog::info("pass {}", line);
        } else {
            spdlog::warn("pass {}", line);
        }
        if (first) {
            notifier.ready(line);
            first = false;
        } else {
            notifier.status(line);
        }
        if (outcome.config) {
            interval_seconds = outcome.config->interval;
        }
        const auto wait = std::chrono::milliseconds(
            static_cast<long long>(interval_seconds * 1000.0 * jitter(random)));
        switch (wait_for_signal(signal_fd.get(), wait)) {
            case Wake::Timeout:
            case Wake::Reconcile:
                break;
            case Wake::Stop:
                notifier.stopping();
                return 0;
            case Wake::Error:
                return 1;
        }
    }
}

}  // namespace dsvm
