#include "service/daemon.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <chrono>
#include <random>
#include <utility>

#include "common/fd.h"
#include "common/fs.h"

namespace dsvm {

namespace {

enum class Wake { Timeout, Reconcile, Stop, Error };

std::string status_line(const PassOutcome& outcome) {
    const RunStatus& status = outcome.status;
    std::string line(to_string(status.result));
    if (!status.message.empty()) {
        line += ": " + status.message;
    }
    if (status.share) {
        line += status.share->mounted ? "; share mounted" : "; share not mounted";
    }
    return line;
}

// Waits for a signal until `timeout`; with a watchdog (keepalive > 0) it wakes at least every
// `keepalive` to send WATCHDOG=1, so a long interval never looks like a hung daemon
// (docs/operation.md, "The watchdog").
Wake wait_for_signal(int signal_fd, std::chrono::milliseconds timeout,
                     std::chrono::milliseconds keepalive, Notifier& notifier) {
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + timeout;
    auto next_ping = Clock::now() + keepalive;
    for (;;) {
        const auto now = Clock::now();
        if (keepalive.count() > 0 && now >= next_ping) {
            notifier.watchdog();
            next_ping = now + keepalive;
        }
        if (now >= deadline) {
            return Wake::Timeout;
        }
        auto until = deadline;
        if (keepalive.count() > 0 && next_ping < until) {
            until = next_ping;
        }
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - now);
        pollfd watched{signal_fd, POLLIN, 0};
        // Rounded up: a 0 ms poll just before the ping or the deadline would spin.
        const int ready = ::poll(&watched, 1, static_cast<int>(left.count()) + 1);
        if (ready < 0 && errno == EINTR) {
            continue;
        }
        if (ready < 0) {
            spdlog::error("cannot wait for signals: {}", errno_text(errno));
            return Wake::Error;
        }
        if (ready == 0) {
            continue;
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
    // systemd's advice (sd_watchdog_enabled(3)): a keep-alive every half period.
    const auto period = notifier.watchdog_period();
    auto keepalive = std::chrono::duration_cast<std::chrono::milliseconds>(period / 2);
    if (period.count() > 0 && keepalive.count() == 0) {
        keepalive = std::chrono::milliseconds(1);
    }
    if (keepalive.count() > 0) {
        spdlog::debug("watchdog: WATCHDOG=1 after every pass and every {} ms between passes",
                      keepalive.count());
    }
    std::mt19937_64 random(seed);
    std::uniform_real_distribution<double> jitter(0.9, 1.1);
    int interval_seconds = 60;
    bool first = true;
    KeyRead key_read = KeyRead::WhenDue;
    for (;;) {
        // Right before the pass too: the pass then has the whole period, however long ago the
        // last keep-alive of the wait was.
        if (keepalive.count() > 0) {
            notifier.watchdog();
        }
        PassOptions options;
        options.record_invalid = true;
        options.full = false;
        options.key_read = std::exchange(key_read, KeyRead::WhenDue);
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
        if (keepalive.count() > 0) {
            notifier.watchdog();
        }
        if (outcome.config) {
            interval_seconds = outcome.config->interval;
        }
        const auto wait = std::chrono::milliseconds(
            static_cast<long long>(interval_seconds * 1000.0 * jitter(random)));
        switch (wait_for_signal(signal_fd.get(), wait, keepalive, notifier)) {
            case Wake::Timeout:
                break;
            case Wake::Reconcile:
                // An admin's "reconcile now" (systemctl reload) also reads the vault's keys.
                key_read = KeyRead::Always;
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
