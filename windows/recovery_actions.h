// The service's recovery actions (docs/windows.md): the SCM restarts a service that failed (a
// crash, or a nonzero exit status as run_as_service reports it) after a delay that grows with
// each failure, and forgets the failures after a quiet day. They are set with
// ChangeServiceConfig2W, behind a seam: wine 8.0 accepts the call and stores nothing, so tests
// record what would be passed.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/result.h"

namespace dsvm::windows_platform {

struct RecoveryActions {
    // The n-th failure restarts the service after the n-th delay; the last one stands for every
    // later failure.
    std::vector<std::chrono::milliseconds> restart_delays;
    // Failures older than this no longer count: the next one is a "first" again.
    std::chrono::seconds reset_period{0};
    // A stop with a nonzero exit code counts as a failure, not only a crash
    // (SERVICE_CONFIG_FAILURE_ACTIONS_FLAG).
    bool nonzero_exit_is_failure = false;
};

// The agent's: restarts after 10 s, 30 s and 60 s, the count reset after a day, a nonzero exit
// a failure.
RecoveryActions agent_recovery_actions();

// ChangeServiceConfig2W(service, level, info) for one open service: 0 (ERROR_SUCCESS) or the
// Win32 error code.
using ServiceConfigChange = std::function<std::uint32_t(std::uint32_t level, void* info)>;

// Passes `actions` through `change`: SERVICE_CONFIG_FAILURE_ACTIONS (every delay a
// SC_ACTION_RESTART; the reboot message and the command left as they are), then
// SERVICE_CONFIG_FAILURE_ACTIONS_FLAG. Fails at the first call refused, naming the service, the
// setting and the error; the flag is then not set.
Result<void> apply_recovery_actions(const std::string& service, const RecoveryActions& actions,
                                    const ServiceConfigChange& change);

// apply_recovery_actions on the installed service `service` through the SCM of this machine:
// opening it needs SERVICE_CHANGE_CONFIG and SERVICE_START (restart actions), so an
// administrator's. Fails when the SCM or the service cannot be opened.
Result<void> set_recovery_actions(const std::string& service, const RecoveryActions& actions);

}  // namespace dsvm::windows_platform
