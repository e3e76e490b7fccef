// The daemon's loop in-process: run_daemon on an Engine over fakes (tests/support/
// engine_instance.h) and a FakeServiceHost whose waits move a FakeClock, so hours of the loop's
// schedule take milliseconds, and the sanitizers see it. The systemd host itself (signals,
// sd_notify) is tested through the real binary (tests/integration/test_daemon.cpp).
#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "service/daemon.h"
#include "support/engine_instance.h"
#include "support/fake_service_host.h"
#include "support/fake_vault.h"

namespace dsvm::test {

using namespace dsvm::engine;
using namespace dsvm::service;
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Kind = FakeServiceHost::Message::Kind;

const std::string k_nfs_pool =
    R"({"share": {"source": "nfsacct.file.core.windows.net:/nfsacct/pool"}, "interval": 60})";

std::vector<milliseconds> gaps(const std::vector<milliseconds>& times) {
    std::vector<milliseconds> out;
    for (std::size_t i = 1; i < times.size(); ++i) {
        out.push_back(times[i] - times[i - 1]);
    }
    return out;
}

TEST_CASE("daemon: a pass at once, then one every interval with jitter, until stopped",
          "[daemon]") {
    EngineInstance instance;
    instance.config(k_nfs_pool);
    FakeServiceHost host(instance.clock);
    host.send(seconds(600), Control::Stop);

    CHECK(run_daemon(instance.engine, host, instance.clock, 7) == 0);

    CHECK(host.listens() == 1);
    const auto passes = host.passes();
    INFO("passes: " << passes.size());
    // 600 s of 60 s ± 10 %: the first pass, then 9 to 11 more.
    CHECK(passes.size() >= 10);
    CHECK(passes.size() <= 12);
    REQUIRE(!passes.empty());
    CHECK(passes.front() == milliseconds(0));
    bool jittered = false;
    for (const milliseconds gap : gaps(passes)) {
        CHECK(gap >= milliseconds(54000));
        CHECK(gap <= milliseconds(66001));
        jittered = jittered || gap != gaps(passes).front();
    }
    CHECK(jittered);  // instances of a pool do not poll in step

    // Ready once, after the first pass, with its result; then a status line per pass.
    REQUIRE(host.messages().size() >= 2);
    CHECK(host.messages().front().kind == Kind::Ready);
    CHECK(host.messages().front().text == "changed: 3 action(s), 0 failed; share mounted");
    CHECK(host.times_of(Kind::Ready).size() == 1);
    CHECK(host.messages()[1].kind == Kind::Status);
    CHECK(host.messages()[1].text == "no changes; share mounted");
    CHECK(host.messages().back().kind == Kind::Stopping);
    CHECK(host.messages().back().at == seconds(600));
    // No watchdog asked for, none sent.
    CHECK(host.times_of(Kind::Watchdog).empty());
    // The share was mounted once, by the first pass; the others found it so.
    CHECK(instance.mounter.mount_requests().size() == 1);
    CHECK(instance.last_status().result == PassResult::NoChanges);
}

TEST_CASE("daemon: the pool config's interval sets the schedule, from the pass that reads it",
          "[daemon]") {
    EngineInstance instance;
    instance.config(
        R"({"share": {"source": "nfsacct.file.core.windows.net:/nfsacct/pool"}, "interval": 600})");
    FakeServiceHost host(instance.clock);
    host.send(seconds(3600), Control::Stop);

    CHECK(run_daemon(instance.engine, host, instance.clock, 11) == 0);

    const auto passes = host.passes();
    // An hour of 600 s ± 10 %: 6 or 7 passes in all.
    CHECK(passes.size() >= 6);
    CHECK(passes.size() <= 7);
    for (const milliseconds gap : gaps(passes)) {
        CHECK(gap >= seconds(540));
        CHECK(gap <= milliseconds(660001));
    }
}

TEST_CASE("daemon: an invalid config is recorded, reported as ready, and tried again", "[daemon]") {
    // Boot must go on with a broken config: ready comes after the first pass whatever its
    // result, and the status file says why (record_invalid), at the default 60 s interval.
    EngineInstance instance;
    instance.config(R"({"share": {"source": "nfsacct.file.core.windows.net:/nfsacct/pool"},
                        "interval": 5})");
    FakeServiceHost host(instance.clock);
    host.send(seconds(130), Control::Stop);

    CHECK(run_daemon(instance.engine, host, instance.clock, 3) == 0);

    REQUIRE(!host.messages().empty());
    CHECK(host.messages().front().kind == Kind::Ready);
    CHECK_THAT(host.messages().front().text, Catch::StartsWith("invalid config: "));
    CHECK_THAT(host.messages().front().text, Catch::Contains("interval"));
    CHECK(host.passes().size() >= 2);
    CHECK(host.passes().size() <= 3);
    for (const milliseconds gap : gaps(host.passes())) {
        CHECK(gap >= seconds(54));
    }
    CHECK(instance.last_status().result == PassResult::InvalidConfig);
    CHECK(instance.mounter.calls().empty());
}

TEST_CASE("daemon: reconcile now runs a pass at once and reads the vault's keys again",
          "[daemon]") {
    FakeVault vault;
    vault.set(
        "storage-key",
        "Sentinel+Storage+Key+9Qx0Zl3fVb7w2c/8mR1nT5yU6iO4pA3sD2fG1hJ0kLzXcVbNm0qWeRtYuIoP9w==");
    EngineInstance instance(k_guard_loaded, &vault);
    instance.config(R"({"share": {"source": "//acct.file.core.windows.net/dsvmshare"},
        "interval": 60, "keyVault": {"vault": "contoso", "refreshInterval": 3600,
                                     "secrets": {"storageAccountKey": "storage-key"}}})");
    FakeServiceHost host(instance.clock);
    host.send(seconds(5), Control::Reconcile);
    host.send(seconds(200), Control::Stop);

    CHECK(run_daemon(instance.engine, host, instance.clock, 5) == 0);

    const auto passes = host.passes();
    REQUIRE(passes.size() >= 3);
    CHECK(passes[0] == seconds(0));
    CHECK(passes[1] == seconds(5));
    // Read by the first pass (never read yet) and by the admin's pass; the timed passes after
    // it stay on the hourly schedule.
    CHECK(vault.calls().size() == 2);
    // The interval starts again after the pass asked for.
    CHECK(passes[2] - passes[1] >= seconds(54));
}

TEST_CASE("daemon: keep-alives around every pass and at least every half period between",
          "[daemon]") {
    EngineInstance instance;
    instance.config(k_nfs_pool);
    FakeServiceHost host(instance.clock);
    host.set_watchdog_period(seconds(20));
    host.send(seconds(300), Control::Stop);

    CHECK(run_daemon(instance.engine, host, instance.clock, 9) == 0);

    const auto pings = host.times_of(Kind::Watchdog);
    REQUIRE(pings.size() >= 30);
    CHECK(pings.front() == milliseconds(0));
    for (const milliseconds gap : gaps(pings)) {
        CHECK(gap <= milliseconds(10001));
    }
    // Right before and right after each pass: the pass has the whole period.
    const auto& messages = host.messages();
    for (std::size_t i = 0; i < messages.size(); ++i) {
        if (messages[i].kind == Kind::Ready || messages[i].kind == Kind::Status) {
            REQUIRE(i > 0);
            REQUIRE(i + 1 < messages.size());
            CHECK(messages[i - 1].kind == Kind::Watchdog);
            CHECK(messages[i - 1].at == messages[i].at);
            CHECK(messages[i + 1].kind == Kind::Watchdog);
            CHECK(messages[i + 1].at == messages[i].at);
        }
    }
    // No wait longer than the keep-alive (plus the 1 ms rounding).
    for (const milliseconds wait : host.waits()) {
        CHECK(wait <= milliseconds(10001));
    }
}

TEST_CASE("daemon: a host that cannot listen or wait ends the loop with status 1", "[daemon]") {
    SECTION("listen fails: no pass is made") {
        EngineInstance instance;
        instance.config(k_nfs_pool);
        FakeServiceHost host(instance.clock);
        host.fail_listen("cannot create a signalfd: Too many open files");
        CHECK(run_daemon(instance.engine, host, instance.clock, 1) == 1);
        CHECK(host.messages().empty());
        CHECK(!instance.engine.last_status().ok());
        CHECK(instance.mounter.calls().empty());
    }
    SECTION("a wait fails after the first pass: ready was sent, stopping is not") {
        EngineInstance instance;
        instance.config(k_nfs_pool);
        FakeServiceHost host(instance.clock);
        host.send(seconds(30), Control::Failed);
        CHECK(run_daemon(instance.engine, host, instance.clock, 1) == 1);
        REQUIRE(host.messages().size() == 1);
        CHECK(host.messages().front().kind == Kind::Ready);
        CHECK(host.times_of(Kind::Stopping).empty());
    }
}

}  // namespace
}  // namespace dsvm::test
