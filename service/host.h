// The service manager seam (docs/design.md, "Seams"): how the daemon hears "stop" and
// "reconcile now", and tells the manager that it is ready, what it is doing, and that it is
// alive. On Linux, systemd: signals (SIGTERM, SIGINT, SIGHUP) and sd_notify(3) (linux/).
#pragma once

#include <chrono>
#include <string>

#include "common/result.h"

namespace dsvm::service {

// What a wait ended with.
enum class Control {
    None,       // the timeout passed
    Reconcile,  // an admin asked for a pass now (SIGHUP, `systemctl reload`)
    Stop,       // the service is being stopped (SIGTERM, SIGINT, shutdown)
    Failed,     // waiting itself failed (logged by the host): the daemon cannot go on
};

class ServiceHost {
  public:
    virtual ~ServiceHost() = default;

    // Starts taking controls, before the first pass, so none sent during it is lost.
    virtual Result<void> listen() = 0;
    // Waits at most `timeout` for a control; Control::None when none came.
    virtual Control wait(std::chrono::milliseconds timeout) = 0;

    // Ready, with a one-line status (newlines become spaces).
    virtual void ready(const std::string& status) = 0;
    // A one-line status (newlines become spaces).
    virtual void status(const std::string& status) = 0;
    // The daemon is stopping.
    virtual void stopping() = 0;
    // How often the manager wants a keep-alive at the latest; zero when it wants none.
    virtual std::chrono::microseconds watchdog_period() = 0;
    // A keep-alive: the loop is alive. Harmless when no watchdog is set.
    virtual void watchdog() = 0;
    // Whether a stop has come and waits to be taken, without taking it: what a pass that is
    // waiting (for the metadata service) asks, so a stop does not wait for the whole pass.
    virtual bool stop_requested() = 0;
};

}  // namespace dsvm::service
