// The agent's service under the Windows service control manager, as the extension handler
// controls it: the Windows implementation of extension::ServiceControl (extension/service.h),
// chosen by the exe's composition root (windows/agent.cpp). enable makes the service start
// automatically and starts it, or, when the config changed and it runs, sends it the user control
// k_reconcile_control ("reconcile now", windows/scm_host.h); disable and uninstall stop it and set
// it to start on demand (docs/extension.md, "Windows").
//
// The SCM is reached through ServiceManagerApi, whose real half is
// windows/service_manager_api_win32.cpp; tests use a recording fake, and the real half under
// wine's SCM with a throw-away service (docs/windows.md).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "common/clock.h"
#include "common/result.h"
#include "extension/service.h"

namespace dsvm::windows_platform {

inline constexpr const char* k_agent_service = "dsvm-agent";

// When the SCM starts a service (SERVICE_AUTO_START, SERVICE_DEMAND_START, SERVICE_DISABLED).
enum class StartType { Automatic, OnDemand, Disabled, Other };

// A service's current state (SERVICE_STOPPED, SERVICE_RUNNING, the pending states).
enum class RunState { Stopped, StartPending, Running, StopPending, Other };

struct ServiceState {
    StartType start_type = StartType::Other;
    RunState run_state = RunState::Other;
};

// The service control manager's calls for one service by name. Each returns 0 (ERROR_SUCCESS) or
// the Win32 error code: ERROR_SERVICE_DOES_NOT_EXIST (1060) when there is no such service.
class ServiceManagerApi {
  public:
    virtual ~ServiceManagerApi() = default;
    // QueryServiceConfigW and QueryServiceStatusEx.
    virtual std::uint32_t query(const std::string& service, ServiceState& out) = 0;
    // ChangeServiceConfigW with only the start type changed.
    virtual std::uint32_t set_start_type(const std::string& service, StartType type) = 0;
    // StartServiceW without arguments: the service's own command line is used.
    virtual std::uint32_t start(const std::string& service) = 0;
    // ControlService: SERVICE_CONTROL_STOP (1) or a user control code (128-255).
    virtual std::uint32_t control(const std::string& service, std::uint32_t code) = 0;
};

// The SCM of this machine (windows/service_manager_api_win32.cpp).
std::unique_ptr<ServiceManagerApi> make_system_service_manager_api();

// SERVICE_CONTROL_STOP.
inline constexpr std::uint32_t k_stop_control = 1;
// ERROR_SERVICE_DOES_NOT_EXIST, ERROR_SERVICE_ALREADY_RUNNING, ERROR_SERVICE_NOT_ACTIVE,
// ERROR_SERVICE_CANNOT_ACCEPT_CTRL.
inline constexpr std::uint32_t k_no_such_service = 1060;
inline constexpr std::uint32_t k_already_running = 1056;
inline constexpr std::uint32_t k_not_active = 1062;
inline constexpr std::uint32_t k_cannot_accept_control = 1061;

class ScmService final : public extension::ServiceControl {
  public:
    // `stop_limit`: how long stop() waits for the service to report STOPPED, polling on `clock`.
    ScmService(ServiceManagerApi& api, Clock& clock, std::string service = k_agent_service,
               std::chrono::milliseconds stop_limit = std::chrono::seconds(120))
        : m_api(api), m_clock(clock), m_service(std::move(service)), m_stop_limit(stop_limit) {}

    // Sets the start type to automatic (unless it is), then: a stopped service is started; a
    // running one is sent k_reconcile_control when the config changed, else left alone; one
    // stopping is waited for, then started. A service that is not installed, or a call the SCM
    // refuses, is a Runtime error naming the service, the call and the Win32 error.
    Result<std::string> start(extension::ConfigChange change) override;

    // Sets an automatic start type to on demand, sends a stop to a service that is not stopped
    // and waits for STOPPED up to the stop limit. A service that is not installed is nothing to
    // do; a refused call or a service still running at the limit is a Runtime error.
    Result<std::string> stop() override;

  private:
    Result<ServiceState> query();
    Result<void> wait_stopped(std::chrono::steady_clock::time_point deadline);

    ServiceManagerApi& m_api;
    Clock& m_clock;
    std::string m_service;
    std::chrono::milliseconds m_stop_limit;
};

// The service under another --root than the agent's: it is the machine's, not that root's, so
// it is never changed; each call says it was skipped (as systemctl is never asked for a Linux
// sandbox root).
class ForeignRootService final : public extension::ServiceControl {
  public:
    explicit ForeignRootService(std::string root) : m_root(std::move(root)) {}
    Result<std::string> start(extension::ConfigChange change) override;
    Result<std::string> stop() override;

  private:
    std::string m_root;
};

}  // namespace dsvm::windows_platform
