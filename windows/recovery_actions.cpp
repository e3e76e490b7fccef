#include "windows/recovery_actions.h"

#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <memory>
#include <type_traits>

#include "common/text.h"
#include "common/windows_api_win32.h"
#include "windows/sc_handle_win32.h"

namespace dsvm::windows_platform {

namespace {

Error refused(const std::string& service, const char* setting, std::uint32_t code) {
    return failure("cannot set " + std::string(setting) + " of the service " + quoted(service) +
                   ": " + windows_error_text(code));
}

}  // namespace

RecoveryActions agent_recovery_actions() {
    using namespace std::chrono_literals;
    return {.restart_delays = {10s, 30s, 60s},
            .reset_period = std::chrono::hours(24),
            .nonzero_exit_is_failure = true};
}

Result<void> apply_recovery_actions(const std::string& service, const RecoveryActions& actions,
                                    const ServiceConfigChange& change) {
    std::vector<SC_ACTION> restarts;
    for (const auto delay : actions.restart_delays) {
        restarts.push_back({SC_ACTION_RESTART, static_cast<DWORD>(delay.count())});
    }
    SERVICE_FAILURE_ACTIONSW failure_actions{};
    failure_actions.dwResetPeriod = static_cast<DWORD>(actions.reset_period.count());
    failure_actions.cActions = static_cast<DWORD>(restarts.size());
    failure_actions.lpsaActions = restarts.empty() ? nullptr : restarts.data();
    if (const auto code = change(SERVICE_CONFIG_FAILURE_ACTIONS, &failure_actions);
        code != ERROR_SUCCESS) {
        return refused(service, "the failure actions", code);
    }
    SERVICE_FAILURE_ACTIONS_FLAG flag{};
    flag.fFailureActionsOnNonCrashFailures = actions.nonzero_exit_is_failure ? TRUE : FALSE;
    if (const auto code = change(SERVICE_CONFIG_FAILURE_ACTIONS_FLAG, &flag);
        code != ERROR_SUCCESS) {
        return refused(service, "the failure actions flag", code);
    }
    return {};
}

Result<void> set_recovery_actions(const std::string& service, const RecoveryActions& actions) {
    const ScHandle manager(::OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CONNECT));
    if (!manager) {
        return failure("cannot open the service control manager: " +
                       windows_error_text(::GetLastError()));
    }
    const ScHandle handle(::OpenServiceW(manager.get(), widen(service).c_str(),
                                         SERVICE_CHANGE_CONFIG | SERVICE_START));
    if (!handle) {
        return failure("cannot open the service " + quoted(service) + ": " +
                       windows_error_text(::GetLastError()));
    }
    return apply_recovery_actions(service, actions,
                                  [&handle](std::uint32_t level, void* info) -> std::uint32_t {
                                      if (::ChangeServiceConfig2W(handle.get(), level, info)) {
                                          return ERROR_SUCCESS;
                                      }
                                      return ::GetLastError();
                                  });
}

}  // namespace dsvm::windows_platform
