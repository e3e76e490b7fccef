// The extension handler's service control (windows/scm_service.h) on the real SCM calls
// (windows/service_manager_api_win32.cpp), under wine's service control manager: a throw-away
// service (the test service of tests/windows/scm_test_service_main.cpp, installed on demand) is
// made automatic and started, sent the reconcile control when the config changed, and stopped
// and set to on demand, as enable and disable do to dsvm-agent.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "common/clock.h"
#include "installed_service.h"
#include "windows/scm_service.h"

using namespace dsvm;
using namespace dsvm::windows_platform;
using dsvm::extension::ConfigChange;
using dsvm::test::InstalledService;
using dsvm::test::wait_for_state;

TEST_CASE(
    "scm service on wine's SCM: enable makes the service automatic and starts it, a changed "
    "config is a reconcile, disable stops it and sets it to on demand") {
    InstalledService installed(0);
    REQUIRE(installed.valid());
    const auto api = make_system_service_manager_api();
    SystemClock clock;
    ScmService service(*api, clock, installed.name(), std::chrono::seconds(30));

    ServiceState state;
    REQUIRE(api->query(installed.name(), state) == 0);
    CHECK(state.start_type == StartType::OnDemand);
    CHECK(state.run_state == RunState::Stopped);

    const auto started = service.start(ConfigChange::Changed);
    REQUIRE(started.ok());
    CHECK_THAT(*started, Catch::Contains("started"));
    REQUIRE(wait_for_state(installed.handle(), SERVICE_RUNNING).dwCurrentState == SERVICE_RUNNING);
    REQUIRE(api->query(installed.name(), state) == 0);
    CHECK(state.start_type == StartType::Automatic);
    CHECK(state.run_state == RunState::Running);

    const auto told = service.start(ConfigChange::Changed);
    REQUIRE(told.ok());
    CHECK_THAT(*told, Catch::Contains("control 128"));

    const auto stopped = service.stop();
    REQUIRE(stopped.ok());
    REQUIRE(api->query(installed.name(), state) == 0);
    CHECK(state.start_type == StartType::OnDemand);
    CHECK(state.run_state == RunState::Stopped);
    CHECK(installed.results() == std::vector<std::string>{"listen", "ready", "Reconcile", "Stop"});
}

TEST_CASE(
    "scm service on wine's SCM: a service that does not exist is ERROR_SERVICE_DOES_NOT_EXIST") {
    const auto api = make_system_service_manager_api();
    ServiceState state;
    CHECK(api->query("dsvm-no-such-service", state) == k_no_such_service);
    CHECK(api->start("dsvm-no-such-service") == k_no_such_service);
    SystemClock clock;
    ScmService service(*api, clock, "dsvm-no-such-service");
    const auto stopped = service.stop();
    REQUIRE(stopped.ok());
    CHECK_THAT(*stopped, Catch::Contains("nothing to stop"));
}
