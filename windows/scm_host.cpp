#include "windows/scm_host.h"

#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <memory>
#include <optional>
#include <utility>

#include "common/text.h"
#include "common/windows_api_win32.h"

namespace dsvm::windows_platform {

using namespace dsvm::service;

namespace {

// How long the SCM should allow between two checkpoints of a pending state. Starting is the
// first pass and stopping waits for the pass under way; a pass may wait on the share for up to
// a minute and a half and on the name service for another minute (docs/design.md,
// "DeadlineGate"), so a hint shorter than that would have `sc.exe` and the event log call a
// healthy service hung.
constexpr std::uint32_t k_pending_wait_hint_ms = 3 * 60 * 1000;

bool is_pending(std::uint32_t state) {
    return state == SERVICE_START_PENDING || state == SERVICE_STOP_PENDING;
}

}  // namespace

ScmHost::ScmHost(StatusSink report) : m_report(std::move(report)) {}

std::uint32_t ScmHost::on_control(std::uint32_t control) {
    std::lock_guard lock(m_mutex);
    Control queued = Control::None;
    switch (control) {
        case SERVICE_CONTROL_INTERROGATE:
            m_report(m_status);
            return NO_ERROR;
        case SERVICE_CONTROL_STOP:
        case SERVICE_CONTROL_SHUTDOWN:
            spdlog::info("service control manager: {}: stopping",
                         control == SERVICE_CONTROL_STOP ? "stop" : "shutdown");
            queued = Control::Stop;
            if (m_status.state != SERVICE_STOP_PENDING && m_status.state != SERVICE_STOPPED) {
                report(SERVICE_STOP_PENDING, 0, k_pending_wait_hint_ms);
            }
            break;
        case k_reconcile_control:
            spdlog::info("service control manager: control {}: reconciling now", control);
            queued = Control::Reconcile;
            break;
        default:
            return ERROR_CALL_NOT_IMPLEMENTED;
    }
    if (std::find(m_queue.begin(), m_queue.end(), queued) == m_queue.end()) {
        m_queue.push_back(queued);
    }
    m_arrived.notify_one();
    return NO_ERROR;
}

void ScmHost::starting() {
    std::lock_guard lock(m_mutex);
    report(SERVICE_START_PENDING, 0, k_pending_wait_hint_ms);
}

void ScmHost::stopped(int exit_status) {
    std::lock_guard lock(m_mutex);
    m_status.win32_exit_code = exit_status == 0 ? NO_ERROR : ERROR_SERVICE_SPECIFIC_ERROR;
    m_status.service_exit_code = static_cast<std::uint32_t>(exit_status);
    report(SERVICE_STOPPED, 0, 0);
}

Result<void> ScmHost::listen() {
    std::lock_guard lock(m_mutex);
    if (m_status.state != SERVICE_STOP_PENDING && m_status.state != SERVICE_STOPPED) {
        report(SERVICE_RUNNING, SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN, 0);
    }
    return {};
}

bool ScmHost::stop_requested() {
    std::lock_guard lock(m_mutex);
    return std::find(m_queue.begin(), m_queue.end(), Control::Stop) != m_queue.end();
}

Control ScmHost::wait(std::chrono::milliseconds timeout) {
    std::unique_lock lock(m_mutex);
    const auto bounded = std::max(timeout, std::chrono::milliseconds(0));
    if (!m_arrived.wait_for(lock, bounded, [this] { return !m_queue.empty(); })) {
        return Control::None;
    }
    const Control control = m_queue.front();
    m_queue.pop_front();
    return control;
}

void ScmHost::ready(const std::string& status) {
    spdlog::debug("status: {}", status);
    std::lock_guard lock(m_mutex);
    if (m_status.state == SERVICE_STOP_PENDING || m_status.state == SERVICE_STOPPED) {
        return;
    }
    report(SERVICE_RUNNING, SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN, 0);
}

void ScmHost::status(const std::string& status) {
    spdlog::debug("status: {}", status);
}

void ScmHost::stopping() {
    std::lock_guard lock(m_mutex);
    report(SERVICE_STOP_PENDING, 0, k_pending_wait_hint_ms);
}

std::chrono::microseconds ScmHost::watchdog_period() {
    return std::chrono::microseconds(0);
}

void ScmHost::watchdog() {
    std::lock_guard lock(m_mutex);
    if (is_pending(m_status.state)) {
        report(m_status.state, m_status.controls_accepted, m_status.wait_hint_ms);
    }
}

// Holds m_mutex. A pending state reported again is progress: its checkpoint goes up by one.
void ScmHost::report(std::uint32_t state, std::uint32_t controls_accepted,
                     std::uint32_t wait_hint_ms) {
    if (!is_pending(state)) {
        m_status.checkpoint = 0;
    } else if (state == m_status.state) {
        ++m_status.checkpoint;
    } else {
        m_status.checkpoint = 1;
    }
    m_status.state = state;
    m_status.controls_accepted = controls_accepted;
    m_status.wait_hint_ms = wait_hint_ms;
    m_report(m_status);
}

namespace {

// The service of this process, shared by run_as_service and the service's thread: once STOPPED
// is reported the dispatcher, and run_as_service with it, may return while that thread is still
// leaving the host. The handler is only called while the dispatcher runs.
struct Dispatch {
    std::wstring name;
    std::function<int(ScmHost&)> body;
    std::optional<ScmHost> host;
    // Written once on the service's thread, read by the sink on either.
    std::atomic<SERVICE_STATUS_HANDLE> handle{nullptr};
    int exit_status = 1;
    std::string error;
};

// ServiceMain takes no context of its own, so it finds the service here.
std::mutex g_dispatch_mutex;
std::shared_ptr<Dispatch> g_dispatch;

std::shared_ptr<Dispatch> current_dispatch() {
    std::lock_guard lock(g_dispatch_mutex);
    return g_dispatch;
}

DWORD WINAPI handle_control(DWORD control, DWORD, LPVOID, LPVOID context) {
    return static_cast<ScmHost*>(context)->on_control(control);
}

int run_body(Dispatch& dispatch) {
    try {
        return dispatch.body(*dispatch.host);
    } catch (const std::exception& error) {
        spdlog::error("fatal: {}", error.what());
    } catch (...) {
        spdlog::error("fatal: an unknown exception");
    }
    return 1;
}

void WINAPI service_main(DWORD, LPWSTR*) {
    const std::shared_ptr<Dispatch> shared = current_dispatch();
    if (!shared) {
        return;
    }
    Dispatch& dispatch = *shared;
    // An INTERROGATE before the handle is stored is not answered: the SCM has its own record
    // of the state until then.
    dispatch.host.emplace([&dispatch](const ScmStatus& status) {
        const SERVICE_STATUS_HANDLE handle = dispatch.handle.load();
        if (handle == nullptr) {
            return;
        }
        SERVICE_STATUS win32{};
        win32.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
        win32.dwCurrentState = status.state;
        win32.dwControlsAccepted = status.controls_accepted;
        win32.dwWin32ExitCode = status.win32_exit_code;
        win32.dwServiceSpecificExitCode = status.service_exit_code;
        win32.dwCheckPoint = status.checkpoint;
        win32.dwWaitHint = status.wait_hint_ms;
        if (!::SetServiceStatus(handle, &win32)) {
            spdlog::warn("cannot report the service's state to the service control manager: {}",
                         windows_error_text(::GetLastError()));
        }
    });
    const SERVICE_STATUS_HANDLE handle =
        ::RegisterServiceCtrlHandlerExW(dispatch.name.c_str(), handle_control, &*dispatch.host);
    if (handle == nullptr) {
        // Without a handle no state can be reported, STOPPED included; the SCM gives up on the
        // start after its own time-out.
        dispatch.error = "cannot register the service's control handler: " +
                         windows_error_text(::GetLastError());
        spdlog::error("{}", dispatch.error);
        return;
    }
    dispatch.handle.store(handle);
    dispatch.host->starting();
    dispatch.exit_status = run_body(dispatch);
    dispatch.host->stopped(dispatch.exit_status);
}

}  // namespace

Result<int> run_as_service(const std::string& name, std::function<int(ScmHost&)> body) {
    const auto shared = std::make_shared<Dispatch>();
    Dispatch& dispatch = *shared;
    dispatch.name = widen(name);
    dispatch.body = std::move(body);
    {
        std::lock_guard lock(g_dispatch_mutex);
        if (g_dispatch) {
            return failure("a service already runs in this process");
        }
        g_dispatch = shared;
    }
    SERVICE_TABLE_ENTRYW table[] = {{dispatch.name.data(), service_main}, {nullptr, nullptr}};
    const bool dispatched = ::StartServiceCtrlDispatcherW(table) != FALSE;
    const DWORD error = dispatched ? ERROR_SUCCESS : ::GetLastError();
    {
        std::lock_guard lock(g_dispatch_mutex);
        g_dispatch.reset();
    }
    if (!dispatched && error == ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) {
        return failure("not started by the service control manager: the service " + quoted(name) +
                       " is started with `sc.exe start " + name + "`");
    }
    if (!dispatched) {
        return failure("cannot connect to the service control manager: " +
                       windows_error_text(error));
    }
    if (!dispatch.error.empty()) {
        return failure(dispatch.error);
    }
    return dispatch.exit_status;
}

}  // namespace dsvm::windows_platform
