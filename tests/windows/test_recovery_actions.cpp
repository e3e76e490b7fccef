// The recovery actions and exactly what reaches ChangeServiceConfig2W, recorded: wine stores
// none of it (docs/windows.md).
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <vector>

#include "windows/recovery_actions.h"

using namespace dsvm::windows_platform;
using namespace std::chrono_literals;

namespace {

// One ChangeServiceConfig2W call, its SERVICE_FAILURE_ACTIONSW or SERVICE_FAILURE_ACTIONS_FLAG
// copied out while the pointers are alive.
struct Call {
    std::uint32_t level = 0;
    DWORD reset_period = 0;
    bool reboot_message = false;
    bool command = false;
    std::vector<std::pair<SC_ACTION_TYPE, DWORD>> actions;
    BOOL non_crash_failures = FALSE;
};

struct RecordingChange {
    std::vector<Call> calls;
    std::uint32_t refuse_level = 0;

    ServiceConfigChange change() {
        return [this](std::uint32_t level, void* info) -> std::uint32_t {
            Call call;
            call.level = level;
            if (level == SERVICE_CONFIG_FAILURE_ACTIONS) {
                const auto* failure = static_cast<SERVICE_FAILURE_ACTIONSW*>(info);
                call.reset_period = failure->dwResetPeriod;
                call.reboot_message = failure->lpRebootMsg != nullptr;
                call.command = failure->lpCommand != nullptr;
                for (DWORD i = 0; i < failure->cActions; ++i) {
                    call.actions.emplace_back(failure->lpsaActions[i].Type,
                                              failure->lpsaActions[i].Delay);
                }
            } else if (level == SERVICE_CONFIG_FAILURE_ACTIONS_FLAG) {
                call.non_crash_failures = static_cast<SERVICE_FAILURE_ACTIONS_FLAG*>(info)
                                              ->fFailureActionsOnNonCrashFailures;
            }
            calls.push_back(call);
            return level == refuse_level ? ERROR_ACCESS_DENIED : ERROR_SUCCESS;
        };
    }
};

}  // namespace

TEST_CASE("scm recovery: restarts after 10, 30 and 60 s, the count reset after a day") {
    const RecoveryActions actions = agent_recovery_actions();

    CHECK(actions.restart_delays == std::vector<std::chrono::milliseconds>{10s, 30s, 60s});
    CHECK(actions.reset_period == 24h);
    CHECK(actions.nonzero_exit_is_failure);
}

TEST_CASE("scm recovery: exactly the restarts, the reset and the non-crash flag are passed") {
    RecordingChange recording;

    const auto applied =
        apply_recovery_actions("dsvm-agent", agent_recovery_actions(), recording.change());

    REQUIRE(applied.ok());
    REQUIRE(recording.calls.size() == 2);
    const Call& failure = recording.calls[0];
    CHECK(failure.level == SERVICE_CONFIG_FAILURE_ACTIONS);
    CHECK(failure.reset_period == 86400);
    // Null leaves the reboot message and the command as they are; "" would clear them.
    CHECK_FALSE(failure.reboot_message);
    CHECK_FALSE(failure.command);
    CHECK(failure.actions ==
          std::vector<std::pair<SC_ACTION_TYPE, DWORD>>{
              {SC_ACTION_RESTART, 10000}, {SC_ACTION_RESTART, 30000}, {SC_ACTION_RESTART, 60000}});
    const Call& flag = recording.calls[1];
    CHECK(flag.level == SERVICE_CONFIG_FAILURE_ACTIONS_FLAG);
    CHECK(flag.non_crash_failures == TRUE);
}

TEST_CASE("scm recovery: without the flag, only crashes count as failures") {
    RecordingChange recording;
    RecoveryActions actions = agent_recovery_actions();
    actions.nonzero_exit_is_failure = false;

    REQUIRE(apply_recovery_actions("dsvm-agent", actions, recording.change()).ok());

    REQUIRE(recording.calls.size() == 2);
    CHECK(recording.calls[1].non_crash_failures == FALSE);
}

TEST_CASE("scm recovery: a refused call is an error naming the service and the setting") {
    RecordingChange recording;
    recording.refuse_level = SERVICE_CONFIG_FAILURE_ACTIONS;

    const auto applied =
        apply_recovery_actions("dsvm-agent", agent_recovery_actions(), recording.change());

    REQUIRE_FALSE(applied);
    CHECK_THAT(applied.error().message,
               Catch::Contains("cannot set the failure actions of the service 'dsvm-agent'") &&
                   Catch::Contains("error 5"));
    // Given the actions refused, the flag is not set.
    CHECK(recording.calls.size() == 1);
}

TEST_CASE("scm recovery: a refused flag is an error naming the flag") {
    RecordingChange recording;
    recording.refuse_level = SERVICE_CONFIG_FAILURE_ACTIONS_FLAG;

    const auto applied =
        apply_recovery_actions("dsvm-agent", agent_recovery_actions(), recording.change());

    REQUIRE_FALSE(applied);
    CHECK_THAT(applied.error().message, Catch::Contains("the failure actions flag"));
}
