// The service host under systemd: controls are signals (SIGTERM and SIGINT stop, SIGHUP is
// `systemctl reload`, "reconcile now"), taken through a signalfd; readiness, status and the
// watchdog go to the service manager with sd_notify(3). Outside systemd ($NOTIFY_SOCKET unset)
// the notifications do nothing.
#pragma once

#include "common/fd.h"
#include "service/host.h"
#include "service/logging.h"

namespace dsvm::linux_platform {

class SystemdHost final : public service::ServiceHost {
  public:
    // Blocks SIGHUP, SIGTERM and SIGINT for the calling thread (the daemon's) and opens a
    // signalfd for them.
    Result<void> listen() override;
    service::Control wait(std::chrono::milliseconds timeout) override;

    void ready(const std::string& status) override;
    void status(const std::string& status) override;
    void stopping() override;
    // $WATCHDOG_USEC for this process (sd_watchdog_enabled); zero when unset or invalid.
    std::chrono::microseconds watchdog_period() override;
    void watchdog() override;
    // SIGTERM or SIGINT pending (blocked since listen(), not yet read).
    bool stop_requested() override;

  private:
    Fd m_signals;
};

// journald when stderr is the stream named by $JOURNAL_STREAM, a terminal when isatty(2), else
// plain lines.
service::LogTarget detect_log_target();

}  // namespace dsvm::linux_platform
