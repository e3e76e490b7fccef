#include "service/daemon.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <random>
#include <utility>

namespace dsvm::service {

using namespace dsvm::engine;

namespace {

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

// Waits for a control for `timeout`; with a watchdog (keepalive > 0) it sends a keep-alive at
// least every `keepalive`, so a long interval never looks like a hung daemon
// (docs/operation.md, "The watchdog").
Control wait_for_control(ServiceHost& host, Clock& clock, std::chrono::milliseconds timeout,
                         std::chrono::milliseconds keepalive) {
    const auto deadline = clock.now() + timeout;
    auto next_ping = clock.now() + keepalive;
    for (;;) {
        const auto now = clock.now();
        if (keepalive.count() > 0 && now >= next_ping) {
            host.watchdog();
            next_ping = now + keepalive;
        }
        if (now >= deadline) {
            return Control::None;
        }
        auto until = deadline;
        if (keepalive.count() > 0 && next_ping < until) {
            until = next_ping;
        }
        // Rounded up: a 0 ms wait just before the ping or the deadline would spin.
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - now) +
                          std::chrono::milliseconds(1);
        const Control control = host.wait(left);
        if (control != Control::None) {
            return control;
        }
    }
}

}  // namespace

int run_daemon(Engine& engine, ServiceHost& host, Clock& clock, std::uint64_t seed) {
    if (auto listening = host.listen(); !listening) {
        spdlog::error("{}", listening.error().message);
        return 1;
    }
    // systemd's advice (sd_watchdog_enabled(3)): a keep-alive every half period.
    const auto period = host.watchdog_period();
    auto keepalive = std::chrono::duration_cast<std::chrono::milliseconds>(period / 2);
    if (period.count() > 0 && keepalive.count() == 0) {
        keepalive = std::chrono::milliseconds(1);
    }
    if (keepalive.count() > 0) {
        spdlog::debug("watchdog: a keep-alive after every pass and every {} ms between passes",
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
            host.watchdog();
        }
        const PassOutcome outcome =
            engine.reconcile({.record_invalid = true,
                              .full = false,
                              .key_read = std::exchange(key_read, KeyRead::WhenDue)});
        const std::string line = status_line(outcome);
        if (outcome.exit_status == 0) {
            spdlog::info("pass {}", line);
        } else {
            spdlog::warn("pass {}", line);
        }
        if (first) {
            host.ready(line);
            first = false;
        } else {
            host.status(line);
        }
        if (keepalive.count() > 0) {
            host.watchdog();
        }
        if (outcome.config) {
            interval_seconds = outcome.config->interval;
        }
        const auto wait = std::chrono::milliseconds(
            static_cast<long long>(interval_seconds * 1000.0 * jitter(random)));
        switch (wait_for_control(host, clock, wait, keepalive)) {
            case Control::None:
                break;
            case Control::Reconcile:
                // An admin's "reconcile now" (systemctl reload) also reads the vault's keys.
                key_read = KeyRead::Always;
                break;
            case Control::Stop:
                host.stopping();
                return 0;
            case Control::Failed:
                return 1;
        }
    }
}

}  // namespace dsvm::service
