#include "service/notify.h"

#include <systemd/sd-daemon.h>

#include <algorithm>
#include <cstdint>

namespace dsvm {

namespace {

// A STATUS= value is one line; a newline would start a new assignment.
std::string one_line(std::string text) {
    std::replace(text.begin(), text.end(), '\n', ' ');
    return text;
}

}  // namespace

void SystemdNotifier::ready(const std::string& status) {
    sd_notify(0, ("READY=1\nSTATUS=" + one_line(status)).c_str());
}

void SystemdNotifier::status(const std::string& status) {
    sd_notify(0, ("STATUS=" + one_line(status)).c_str());
}

void SystemdNotifier::stopping() {
    sd_notify(0, "STOPPING=1\nSTATUS=Stopping");
}

std::chrono::microseconds SystemdNotifier::watchdog_period() {
    // The variables stay set: children (mount helpers, useradd) never talk to the service
    // manager, and sd_watchdog_enabled ignores them anyway when $WATCHDOG_PID names another
    // process.
    std::uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0) {
        return std::chrono::microseconds(0);
    }
    return std::chrono::microseconds(static_cast<std::chrono::microseconds::rep>(usec));
}

void SystemdNotifier::watchdog() {
    sd_notify(0, "WATCHDOG=1");
}

}  // namespace dsvm
