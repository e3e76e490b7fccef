// The service host under the Windows service control manager (docs/windows.md): controls come
// to a handler on the SCM's dispatcher thread (STOP and SHUTDOWN stop, the user control code
// k_reconcile_control is "reconcile now": `sc.exe control dsvm-agent 128`) and are queued for
// the daemon's thread, none lost; readiness and stopping are the service's state as the SCM
// shows it. The SCM keeps no status text and has no watchdog: status lines are only logged at
// debug level (the daemon logs every pass itself), and watchdog_period() is zero.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>

#include "service/host.h"

namespace dsvm::windows_platform {

// The user control code (128-255 are the service's own) that asks for a pass now.
inline constexpr std::uint32_t k_reconcile_control = 128;

// What the service tells the SCM: the fields of SERVICE_STATUS that change (the type is always
// SERVICE_WIN32_OWN_PROCESS), with the Win32 values (SERVICE_RUNNING, SERVICE_ACCEPT_STOP ...).
struct ScmStatus {
    std::uint32_t state = 0;
    std::uint32_t controls_accepted = 0;
    std::uint32_t win32_exit_code = 0;
    std::uint32_t service_exit_code = 0;
    std::uint32_t checkpoint = 0;
    std::uint32_t wait_hint_ms = 0;

    bool operator==(const ScmStatus&) const = default;
};

class ScmHost final : public service::ServiceHost {
  public:
    // Where a status goes: SetServiceStatus for the service's handle (run_as_service), a
    // recording in tests. Called under the host's lock, from either thread.
    using StatusSink = std::function<void(const ScmStatus&)>;

    explicit ScmHost(StatusSink report);

    // The handler's half (HandlerEx), on the dispatcher's thread: queues STOP, SHUTDOWN and
    // k_reconcile_control and answers NO_ERROR; a stop also reports STOP_PENDING at once, so
    // the SCM sees it taken while a pass ends. INTERROGATE reports the current status again.
    // Any other control: ERROR_CALL_NOT_IMPLEMENTED. A control already waiting in the queue is
    // not queued twice (as a pending signal on Linux): the pass it asks for is still to come.
    std::uint32_t on_control(std::uint32_t control);

    // START_PENDING, before the body runs (run_as_service).
    void starting();
    // STOPPED with the body's exit status: 0 is NO_ERROR, anything else
    // ERROR_SERVICE_SPECIFIC_ERROR with the status as the service's own code, so the SCM counts
    // it as a failure and its recovery actions run (windows/recovery_actions.h).
    void stopped(int exit_status);

    // Controls are queued from the moment the handler is registered, before the body runs, so
    // none is lost and there is nothing more to start: always succeeds. Reports RUNNING,
    // accepting STOP and SHUTDOWN, at once: the SCM (and an installer's StartServices) waits
    // for a service to start, and the first pass may wait minutes for the metadata service. A
    // stop during that pass is taken when the pass ends, as on Linux.
    Result<void> listen() override;
    // Waits at most `timeout` for the queue's first control.
    service::Control wait(std::chrono::milliseconds timeout) override;

    // RUNNING, accepting STOP and SHUTDOWN (already so after listen()); the status is logged at
    // debug level. Ignored once a stop is pending: the state never goes back.
    void ready(const std::string& status) override;
    // Logged at debug level: the SCM has no status text.
    void status(const std::string& status) override;
    // STOP_PENDING with a wait hint, accepting nothing more.
    void stopping() override;
    // A STOP or SHUTDOWN in the queue.
    bool stop_requested() override;
    // Zero: the SCM has no watchdog.
    std::chrono::microseconds watchdog_period() override;
    // While START_PENDING or STOP_PENDING, the next checkpoint (the service is making
    // progress); otherwise nothing.
    void watchdog() override;

  private:
    void report(std::uint32_t state, std::uint32_t controls_accepted, std::uint32_t wait_hint_ms);

    StatusSink m_report;
    std::mutex m_mutex;
    std::condition_variable m_arrived;
    std::deque<service::Control> m_queue;
    ScmStatus m_status;
};

// Runs `body` as the service `name` in this process (SERVICE_WIN32_OWN_PROCESS): called from
// main()'s thread, which becomes the SCM's dispatcher until the service stops. The service's
// own thread registers the handler, reports START_PENDING, runs the body with its ScmHost and
// reports STOPPED with the body's exit status (an exception out of the body is logged and is
// status 1). Returns that status; an error when the process was not started by the SCM (run
// from a console) or the dispatcher or the handler could not be set up.
Result<int> run_as_service(const std::string& name, std::function<int(ScmHost&)> body);

}  // namespace dsvm::windows_platform
