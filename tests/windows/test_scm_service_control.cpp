// The extension handler's service control on Windows (windows/scm_service.h) on a recording fake
// of the SCM (tests/support/fake_service_manager_api.h): what enable, disable and uninstall ask
// the SCM, in order, and what each refusal becomes. The real SCM calls run under wine in
// tests/windows/test_service_manager_api_win32.cpp.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "support/fake_clock.h"
#include "support/fake_service_manager_api.h"
#include "windows/scm_service.h"

using namespace dsvm;
using namespace dsvm::windows_platform;
using dsvm::extension::ConfigChange;
using dsvm::test::FakeClock;
using dsvm::test::FakeServiceManagerApi;
using Calls = std::vector<std::string>;

TEST_CASE("scm service: enable makes a stopped on-demand service automatic and starts it",
          "[scm-service]") {
    FakeServiceManagerApi api("dsvm-agent", {StartType::OnDemand, RunState::Stopped});
    FakeClock clock;
    ScmService service(api, clock);

    const auto started = service.start(ConfigChange::Changed);

    REQUIRE(started.ok());
    CHECK(api.calls ==
          Calls{"query dsvm-agent", "start-type dsvm-agent automatic", "start dsvm-agent"});
    CHECK(api.state().start_type == StartType::Automatic);
    CHECK(api.state().run_state == RunState::Running);
    CHECK_THAT(*started,
               Catch::Contains("set to start automatically") && Catch::Contains("started"));
}

TEST_CASE(
    "scm service: enable tells a running service to reconcile now when the config changed, and "
    "changes nothing when it did not",
    "[scm-service]") {
    FakeServiceManagerApi api("dsvm-agent", {StartType::Automatic, RunState::Running});
    FakeClock clock;
    ScmService service(api, clock);

    const auto told = service.start(ConfigChange::Changed);
    REQUIRE(told.ok());
    CHECK(api.calls == Calls{"query dsvm-agent", "control dsvm-agent 128"});
    CHECK_THAT(*told, Catch::Contains("apply the new config now (control 128)"));

    api.calls.clear();
    const auto unchanged = service.start(ConfigChange::None);
    REQUIRE(unchanged.ok());
    CHECK(api.calls == Calls{"query dsvm-agent"});
    CHECK_THAT(*unchanged, Catch::Contains("already running"));
}

TEST_CASE(
    "scm service: a service still starting takes no control, and its first pass reads the config",
    "[scm-service]") {
    FakeServiceManagerApi api("dsvm-agent", {StartType::Automatic, RunState::StartPending});
    FakeClock clock;

    const auto started = ScmService(api, clock).start(ConfigChange::Changed);

    REQUIRE(started.ok());
    CHECK_THAT(*started, Catch::Contains("first pass applies the new config"));
}

TEST_CASE("scm service: a service that is stopping is waited for, then started", "[scm-service]") {
    FakeServiceManagerApi api("dsvm-agent", {StartType::Automatic, RunState::StopPending});
    FakeClock clock;

    REQUIRE(ScmService(api, clock).start(ConfigChange::None).ok());

    CHECK(api.calls.back() == "start dsvm-agent");
    CHECK(api.state().run_state == RunState::Running);
}

TEST_CASE(
    "scm service: a service that is not installed is an error for enable and nothing to do for "
    "disable",
    "[scm-service]") {
    FakeServiceManagerApi api("dsvm-agent", {}, false);
    FakeClock clock;
    ScmService service(api, clock);

    const auto started = service.start(ConfigChange::Changed);
    REQUIRE_FALSE(started.ok());
    CHECK(started.error().kind == ErrorKind::Runtime);
    CHECK_THAT(
        started.error().message,
        Catch::Contains("the service dsvm-agent is not installed") && Catch::Contains("MSI"));

    const auto stopped = service.stop();
    REQUIRE(stopped.ok());
    CHECK_THAT(*stopped, Catch::Contains("nothing to stop"));
    CHECK(api.calls == Calls{"query dsvm-agent", "query dsvm-agent"});
}

TEST_CASE("scm service: disable sets an automatic service to on demand, stops it and waits",
          "[scm-service]") {
    FakeServiceManagerApi api("dsvm-agent", {StartType::Automatic, RunState::Running});
    api.stops_after = 3;
    FakeClock clock;

    const auto stopped = ScmService(api, clock).stop();

    REQUIRE(stopped.ok());
    CHECK(api.calls == Calls{"query dsvm-agent", "start-type dsvm-agent on-demand",
                             "control dsvm-agent 1", "query dsvm-agent", "query dsvm-agent",
                             "query dsvm-agent", "query dsvm-agent"});
    CHECK(api.state().run_state == RunState::Stopped);
    CHECK(api.state().start_type == StartType::OnDemand);
    CHECK(clock.sleeps().size() == 3);
    CHECK_THAT(*stopped, Catch::Contains("stopped") && Catch::Contains("on demand"));
}

TEST_CASE("scm service: disable sends the stop again until a starting service takes it",
          "[scm-service]") {
    // From its start until it listens for controls (ScmHost::listen) a service is START_PENDING,
    // and the SCM refuses every control meanwhile.
    FakeServiceManagerApi api("dsvm-agent", {StartType::Automatic, RunState::StartPending});
    api.starts_after = 2;
    FakeClock clock;

    const auto stopped = ScmService(api, clock).stop();

    REQUIRE(stopped.ok());
    CHECK(api.calls == Calls{"query dsvm-agent", "start-type dsvm-agent on-demand",
                             "control dsvm-agent 1", "query dsvm-agent", "control dsvm-agent 1",
                             "query dsvm-agent", "control dsvm-agent 1", "query dsvm-agent"});
    CHECK(api.state().run_state == RunState::Stopped);
}

TEST_CASE("scm service: disable of a service already stopping only waits for it", "[scm-service]") {
    FakeServiceManagerApi api("dsvm-agent", {StartType::OnDemand, RunState::StopPending});
    api.pending_for(2);
    FakeClock clock;

    const auto stopped = ScmService(api, clock).stop();

    REQUIRE(stopped.ok());
    CHECK(api.calls == Calls{"query dsvm-agent", "query dsvm-agent", "query dsvm-agent"});
    CHECK(api.state().run_state == RunState::Stopped);
}

TEST_CASE("scm service: a service that never takes the stop is a runtime error within the limit",
          "[scm-service]") {
    FakeServiceManagerApi api("dsvm-agent", {StartType::OnDemand, RunState::StartPending});
    FakeClock clock;

    const auto stopped = ScmService(api, clock, "dsvm-agent", std::chrono::seconds(5)).stop();

    REQUIRE_FALSE(stopped.ok());
    CHECK(stopped.error().kind == ErrorKind::Runtime);
    CHECK_THAT(stopped.error().message, Catch::Contains("has not taken the stop within 5 s"));
    CHECK(clock.sleeps().size() <= 21);
}

TEST_CASE("scm service: disable leaves an admin's disabled start type, and a stopped service",
          "[scm-service]") {
    FakeServiceManagerApi api("dsvm-agent", {StartType::Disabled, RunState::Stopped});
    FakeClock clock;

    const auto stopped = ScmService(api, clock).stop();

    REQUIRE(stopped.ok());
    CHECK(api.calls == Calls{"query dsvm-agent"});
    CHECK_THAT(*stopped, Catch::Contains("stays disabled"));
}

TEST_CASE("scm service: a service that does not stop within the limit is a runtime error",
          "[scm-service]") {
    FakeServiceManagerApi api("dsvm-agent", {StartType::OnDemand, RunState::Running});
    api.stops_after = 1000;
    FakeClock clock;

    const auto stopped = ScmService(api, clock, "dsvm-agent", std::chrono::seconds(5)).stop();

    REQUIRE_FALSE(stopped.ok());
    CHECK(stopped.error().kind == ErrorKind::Runtime);
    CHECK_THAT(stopped.error().message, Catch::Contains("has not stopped within 5 s"));
}

TEST_CASE("scm service: a call the SCM refuses is a runtime error naming the call and the error",
          "[scm-service]") {
    FakeServiceManagerApi api("dsvm-agent", {StartType::OnDemand, RunState::Stopped});
    api.failures["start-type"] = 5;  // ERROR_ACCESS_DENIED
    FakeClock clock;

    const auto started = ScmService(api, clock).start(ConfigChange::None);

    REQUIRE_FALSE(started.ok());
    CHECK(started.error().kind == ErrorKind::Runtime);
    CHECK_THAT(started.error().message,
               Catch::Contains("setting the start type to automatic for the service dsvm-agent "
                               "failed") &&
                   Catch::Contains("(error 5)"));
    CHECK(api.calls == Calls{"query dsvm-agent", "start-type dsvm-agent automatic"});
}

TEST_CASE("scm service: under another root the machine's service is left alone", "[scm-service]") {
    ForeignRootService service("Z:/tmp/sandbox");

    const auto started = service.start(ConfigChange::Changed);
    const auto stopped = service.stop();

    REQUIRE(started.ok());
    REQUIRE(stopped.ok());
    CHECK_THAT(*started, Catch::Contains("not Z:/tmp/sandbox's: starting it skipped"));
    CHECK_THAT(*stopped, Catch::Contains("stopping it skipped"));
}
