// The service manager seam: sd_notify(3) READY/STATUS/STOPPING/WATCHDOG lines. Outside systemd
// ($NOTIFY_SOCKET unset) every call does nothing.
#pragma once

#include <chrono>
#include <string>

namespace dsvm {

class Notifier {
  public:
    virtual ~Notifier() = default;
    // READY=1 with a STATUS= line (newlines become spaces).
    virtual void ready(const std::string& status) = 0;
    // A STATUS= line (newlines become spaces).
    virtual void status(const std::string& status) = 0;
    // STOPPING=1.
    virtual void stopping() = 0;
    // How often the service manager wants WATCHDOG=1 at the latest (WatchdogSec=, passed as
    // $WATCHDOG_USEC for this process); zero when it wants none, or the variables are invalid.
    virtual std::chrono::microseconds watchdog_period() = 0;
    // WATCHDOG=1: the loop is alive. Harmless when no watchdog is set.
    virtual void watchdog() = 0;
};

class SystemdNotifier final : public Notifier {
  public:
    void ready(const std::string& status) override;
    void status(const std::string& status) override;
    void stopping() override;
    std::chrono::microseconds watchdog_period() override;
    void watchdog() override;
};

}  // namespace dsvm
