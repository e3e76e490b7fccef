#include "agent/notify.h"

#include <systemd/sd-daemon.h>

#include <algorithm>

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

}  // namespace dsvm
