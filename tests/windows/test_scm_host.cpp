// ScmHost in-process, its handler called as the SCM's dispatcher would and every status it
// reports recorded; tests/windows/test_scm_service.cpp runs it under wine's real SCM.
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "windows/scm_host.h"

namespace Catch {
template <>
struct StringMaker<dsvm::windows_platform::ScmStatus> {
    static std::string convert(const dsvm::windows_platform::ScmStatus& status) {
        return "{state " + std::to_string(status.state) + ", accepted " +
               std::to_string(status.controls_accepted) + ", exit " +
               std::to_string(status.win32_exit_code) + "/" +
               std::to_string(status.service_exit_code) + ", checkpoint " +
               std::to_string(status.checkpoint) + ", hint " + std::to_string(status.wait_hint_ms) +
               " ms}";
    }
};
}  // namespace Catch

using namespace dsvm::windows_platform;
using dsvm::service::Control;
using namespace std::chrono_literals;

namespace {

class RecordedStatus {
  public:
    ScmHost::StatusSink sink() {
        return [this](const ScmStatus& status) {
            std::lock_guard lock(m_mutex);
            m_reported.push_back(status);
        };
    }
    std::vector<ScmStatus> reported() {
        std::lock_guard lock(m_mutex);
        return m_reported;
    }
    ScmStatus last() {
        std::lock_guard lock(m_mutex);
        REQUIRE_FALSE(m_reported.empty());
        return m_reported.back();
    }

  private:
    std::mutex m_mutex;
    std::vector<ScmStatus> m_reported;
};

}  // namespace

TEST_CASE("scm host: controls that come while the daemon is busy are queued in order") {
    RecordedStatus recorded;
    ScmHost host(recorded.sink());
    host.starting();
    REQUIRE(host.listen().ok());
    host.ready("first pass done");

    // Given a reconcile and a stop sent during a pass, the next waits return both, in order.
    CHECK(host.on_control(k_reconcile_control) == NO_ERROR);
    CHECK(host.on_control(SERVICE_CONTROL_STOP) == NO_ERROR);

    CHECK(host.wait(0ms) == Control::Reconcile);
    CHECK(host.wait(0ms) == Control::Stop);
    CHECK(host.wait(0ms) == Control::None);
}

TEST_CASE("scm host: a reconcile already waiting is not queued twice, a shutdown is a stop") {
    RecordedStatus recorded;
    ScmHost host(recorded.sink());
    host.starting();
    host.ready("first pass done");

    host.on_control(k_reconcile_control);
    host.on_control(k_reconcile_control);
    host.on_control(SERVICE_CONTROL_SHUTDOWN);
    host.on_control(k_reconcile_control);

    CHECK(host.wait(0ms) == Control::Reconcile);
    CHECK(host.wait(0ms) == Control::Stop);
    // Taken off the queue, a reconcile may be queued again.
    host.on_control(k_reconcile_control);
    CHECK(host.wait(0ms) == Control::Reconcile);
    CHECK(host.wait(0ms) == Control::None);
}

TEST_CASE("scm host: a wait wakes for a control from the dispatcher's thread") {
    RecordedStatus recorded;
    ScmHost host(recorded.sink());
    host.starting();
    host.ready("first pass done");

    const auto started = std::chrono::steady_clock::now();
    std::thread dispatcher([&host] {
        std::this_thread::sleep_for(100ms);
        host.on_control(k_reconcile_control);
    });
    const Control control = host.wait(60s);
    dispatcher.join();

    CHECK(control == Control::Reconcile);
    // Well before the wait's own end: the control woke it.
    CHECK(std::chrono::steady_clock::now() - started < 30s);
}

TEST_CASE("scm host: the SCM sees starting, running, stop pending at once, then stopped") {
    RecordedStatus recorded;
    ScmHost host(recorded.sink());

    host.starting();
    CHECK(recorded.last().state == SERVICE_START_PENDING);
    CHECK(recorded.last().controls_accepted == 0);
    CHECK(recorded.last().checkpoint == 1);
    CHECK(recorded.last().wait_hint_ms > 0);

    host.ready("first pass done");
    CHECK(recorded.last() ==
          ScmStatus{.state = SERVICE_RUNNING,
                    .controls_accepted = SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN});
    const auto reports = recorded.reported().size();
    host.status("a later pass");
    CHECK(recorded.reported().size() == reports);

    // The stop is reported taken by the handler, before the daemon's loop gets to it.
    host.on_control(SERVICE_CONTROL_STOP);
    CHECK(recorded.last().state == SERVICE_STOP_PENDING);
    CHECK(recorded.last().controls_accepted == 0);
    CHECK(recorded.last().checkpoint == 1);
    REQUIRE(host.wait(0ms) == Control::Stop);
    host.stopping();
    CHECK(recorded.last().state == SERVICE_STOP_PENDING);
    CHECK(recorded.last().checkpoint == 2);

    host.stopped(0);
    CHECK(recorded.last() == ScmStatus{.state = SERVICE_STOPPED});
}

TEST_CASE("scm host: a nonzero exit status is a service-specific error") {
    RecordedStatus recorded;
    ScmHost host(recorded.sink());
    host.starting();

    host.stopped(3);

    CHECK(recorded.last() == ScmStatus{.state = SERVICE_STOPPED,
                                       .win32_exit_code = ERROR_SERVICE_SPECIFIC_ERROR,
                                       .service_exit_code = 3});
}

TEST_CASE("scm host: interrogate reports the status again, other controls are not taken") {
    RecordedStatus recorded;
    ScmHost host(recorded.sink());
    host.starting();
    host.ready("first pass done");
    const auto reports = recorded.reported().size();

    CHECK(host.on_control(SERVICE_CONTROL_INTERROGATE) == NO_ERROR);
    REQUIRE(recorded.reported().size() == reports + 1);
    CHECK(recorded.last().state == SERVICE_RUNNING);

    CHECK(host.on_control(SERVICE_CONTROL_PAUSE) == ERROR_CALL_NOT_IMPLEMENTED);
    CHECK(host.on_control(k_reconcile_control + 1) == ERROR_CALL_NOT_IMPLEMENTED);
    CHECK(host.wait(0ms) == Control::None);
}

TEST_CASE("scm host: listening makes the service running at once, before the first pass") {
    // An installer starting the service waits for RUNNING; a first pass may wait minutes for the
    // metadata service, so the service must not stay START_PENDING through it.
    RecordedStatus recorded;
    ScmHost host(recorded.sink());
    host.starting();
    CHECK(recorded.last().state == SERVICE_START_PENDING);
    REQUIRE(host.listen().ok());
    CHECK(recorded.last() ==
          ScmStatus{.state = SERVICE_RUNNING,
                    .controls_accepted = SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN});
    // A stop taken before listening is not undone by it.
    ScmHost stopped(recorded.sink());
    stopped.starting();
    CHECK(stopped.on_control(SERVICE_CONTROL_STOP) == NO_ERROR);
    REQUIRE(stopped.listen().ok());
    CHECK(recorded.last().state == SERVICE_STOP_PENDING);
}

TEST_CASE("scm host: a stop waiting in the queue is seen without being taken") {
    RecordedStatus recorded;
    ScmHost host(recorded.sink());
    host.starting();
    REQUIRE(host.listen().ok());
    CHECK_FALSE(host.stop_requested());
    CHECK(host.on_control(k_reconcile_control) == NO_ERROR);
    CHECK_FALSE(host.stop_requested());
    CHECK(host.on_control(SERVICE_CONTROL_SHUTDOWN) == NO_ERROR);
    CHECK(host.stop_requested());
    CHECK(host.stop_requested());  // asking takes nothing
    CHECK(host.wait(0ms) == Control::Reconcile);
    CHECK(host.wait(0ms) == Control::Stop);
    CHECK_FALSE(host.stop_requested());
}

TEST_CASE("scm host: no watchdog, and a keep-alive is a checkpoint only while pending") {
    RecordedStatus recorded;
    ScmHost host(recorded.sink());
    CHECK(host.watchdog_period() == 0us);

    host.starting();
    host.watchdog();
    CHECK(recorded.last().state == SERVICE_START_PENDING);
    CHECK(recorded.last().checkpoint == 2);

    host.ready("first pass done");
    const auto reports = recorded.reported().size();
    host.watchdog();
    CHECK(recorded.reported().size() == reports);
}

TEST_CASE("scm host: once a stop is pending, ready does not make the service running again") {
    RecordedStatus recorded;
    ScmHost host(recorded.sink());
    host.starting();
    host.on_control(SERVICE_CONTROL_SHUTDOWN);

    host.ready("first pass done");

    CHECK(recorded.last().state == SERVICE_STOP_PENDING);
}
