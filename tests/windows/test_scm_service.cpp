// The service host under wine's real service control manager: the test service
// (scm_test_service_main.cpp) is installed, started, sent controls and stopped, and what its
// ScmHost handed to the body, and what the SCM saw, are checked.
#include <catch2/catch.hpp>

#include "installed_service.h"
#include "windows/recovery_actions.h"
#include "windows/scm_host.h"

using namespace dsvm::windows_platform;
using dsvm::test::InstalledService;
using dsvm::test::wait_for_state;

namespace {

// Starts the service and waits for it to report RUNNING.
SERVICE_STATUS start(const InstalledService& service) {
    REQUIRE(service.valid());
    REQUIRE(::StartServiceW(service.handle(), 0, nullptr));
    return wait_for_state(service.handle(), SERVICE_RUNNING);
}

// Sends a stop and waits for STOPPED; the status the SCM then has.
SERVICE_STATUS stop(const InstalledService& service) {
    SERVICE_STATUS status{};
    REQUIRE(::ControlService(service.handle(), SERVICE_CONTROL_STOP, &status));
    return wait_for_state(service.handle(), SERVICE_STOPPED);
}

}  // namespace

TEST_CASE("scm: control 128 is a reconcile, stop is a stop") {
    InstalledService service(0);
    const SERVICE_STATUS running = start(service);
    REQUIRE(running.dwCurrentState == SERVICE_RUNNING);
    CHECK(running.dwControlsAccepted == (SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN));

    SERVICE_STATUS status{};
    REQUIRE(::ControlService(service.handle(), k_reconcile_control, &status));
    const SERVICE_STATUS stopped = stop(service);

    REQUIRE(stopped.dwCurrentState == SERVICE_STOPPED);
    CHECK(stopped.dwWin32ExitCode == NO_ERROR);
    CHECK(service.results() == std::vector<std::string>{"listen", "ready", "Reconcile", "Stop"});
}

TEST_CASE("scm: interrogate is answered, a control the agent has no use for never reaches it") {
    InstalledService service(0);
    REQUIRE(start(service).dwCurrentState == SERVICE_RUNNING);

    SERVICE_STATUS status{};
    REQUIRE(::ControlService(service.handle(), SERVICE_CONTROL_INTERROGATE, &status));
    CHECK(status.dwCurrentState == SERVICE_RUNNING);
    // The handler answers ERROR_CALL_NOT_IMPLEMENTED (test_scm_host.cpp); Windows' ControlService
    // then fails with it, wine 8.0's succeeds all the same, so only the body's view is checked.
    ::ControlService(service.handle(), k_reconcile_control + 1, &status);

    REQUIRE(stop(service).dwCurrentState == SERVICE_STOPPED);
    CHECK(service.results() == std::vector<std::string>{"listen", "ready", "Stop"});
}

TEST_CASE("scm: a body's nonzero exit reaches the SCM as the service's own error code") {
    InstalledService service(7);
    REQUIRE(start(service).dwCurrentState == SERVICE_RUNNING);

    const SERVICE_STATUS stopped = stop(service);

    REQUIRE(stopped.dwCurrentState == SERVICE_STOPPED);
    CHECK(stopped.dwWin32ExitCode == ERROR_SERVICE_SPECIFIC_ERROR);
    CHECK(stopped.dwServiceSpecificExitCode == 7);
}

TEST_CASE("scm: a process not started by the service control manager gets an error, not a hang") {
    REQUIRE(dsvm::test::wait_for_no_control_pipe());
    bool ran = false;
    const auto result = run_as_service("dsvm-scm-test-console", [&ran](ScmHost&) {
        ran = true;
        return 0;
    });

    REQUIRE_FALSE(result);
    CHECK_THAT(result.error().message,
               Catch::Contains("not started by the service control manager") &&
                   Catch::Contains("sc.exe start dsvm-scm-test-console"));
    CHECK_FALSE(ran);
}

TEST_CASE("scm: recovery actions are set on an installed service, a missing one is an error") {
    InstalledService service(0);
    REQUIRE(service.valid());

    // This shows the service is opened with the rights the calls need and the failure actions
    // are taken; what they carry is checked in test_recovery_actions.cpp, as wine stores none of
    // it (docs/windows.md). wine 8.0 refuses the flag as an invalid level; Windows takes it.
    const auto set = set_recovery_actions(service.name(), agent_recovery_actions());
    if (!set) {
        CHECK_THAT(set.error().message, Catch::Contains("cannot set the failure actions flag") &&
                                            Catch::Contains("(error 124)"));
    }

    const auto missing =
        set_recovery_actions(dsvm::test::unique_name("dsvm-scm-missing"), agent_recovery_actions());
    REQUIRE_FALSE(missing);
    CHECK_THAT(missing.error().message,
               Catch::Contains("cannot open the service 'dsvm-scm-missing"));
}
