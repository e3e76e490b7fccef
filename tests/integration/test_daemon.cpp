// `run`: READY after the first pass, SIGHUP reconciles at once, SIGTERM exits cleanly, and
// WATCHDOG=1 keeps coming between passes when systemd asks for a watchdog.
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <memory>
#include <thread>

#include "common/fd.h"
#include "integration/agent_fixture.h"

using namespace dsvm;
using namespace dsvm::test;

namespace {

// The service manager's side of sd_notify(3): a datagram socket that collects messages.
class NotifySocket {
  public:
    explicit NotifySocket(std::string path) : m_path(std::move(path)) {
        m_fd.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::strncpy(address.sun_path, m_path.c_str(), sizeof address.sun_path - 1);
        REQUIRE(::bind(m_fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    }
    const std::string& path() const { return m_path; }
    // Everything received so far, messages separated by blank lines.
    const std::string& received() {
        char buffer[4096];
        for (;;) {
            const ssize_t got = ::recv(m_fd.get(), buffer, sizeof buffer, 0);
            if (got <= 0) {
                break;
            }
            m_received.append(buffer, static_cast<size_t>(got));
            m_received += "\n\n";
        }
        return m_received;
    }

  private:
    std::string m_path;
    Fd m_fd;
    std::string m_received;
};

// Starts `dsvm-agent run` for the fixture's sandbox, telling it to notify `notify`.
std::unique_ptr<Child> start_daemon(AgentFixture& fixture, const NotifySocket& notify) {
    std::vector<std::string> argv{DSVM_AGENT_BINARY};
    for (auto& arg : fixture.args({"run"})) {
        argv.push_back(arg);
    }
    return std::make_unique<Child>(argv, fixture.sandbox().path("agent.log"),
                                   std::vector<std::string>{"NOTIFY_SOCKET=" + notify.path()});
}

// The same with a watchdog of `usec`, set for the agent's own process as systemd does it: a shell
// exports its pid as $WATCHDOG_PID and then execs the agent, which keeps that pid.
// `watchdog_pid` replaces the pid when given (a watchdog meant for another process).
std::unique_ptr<Child> start_watched_daemon(AgentFixture& fixture, const NotifySocket& notify,
                                            const std::string& usec,
                                            const std::string& watchdog_pid = "$$") {
    std::vector<std::string> argv{"/bin/sh", "-c",
                                  "export WATCHDOG_PID=" + watchdog_pid + "; exec \"$0\" \"$@\"",
                                  DSVM_AGENT_BINARY};
    for (auto& arg : fixture.args({"run"})) {
        argv.push_back(arg);
    }
    return std::make_unique<Child>(
        argv, fixture.sandbox().path("agent.log"),
        std::vector<std::string>{"NOTIFY_SOCKET=" + notify.path(), "WATCHDOG_USEC=" + usec});
}

size_t count_of(const std::string& text, const std::string& needle) {
    size_t count = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
        ++count;
    }
    return count;
}

}  // namespace

TEST_CASE("run: ready after the first pass, SIGHUP reconciles now, SIGTERM stops", "[daemon]") {
    AgentFixture fixture;
    fixture.serve_tags(bind_pool_tags());
    fixture.sandbox().mkdir("srv/share");
    NotifySocket notify(fixture.sandbox().path("notify.sock"));

    const auto daemon = start_daemon(fixture, notify);
    Child& agent = *daemon;

    REQUIRE(
        eventually([&] { return notify.received().find("READY=1") != std::string::npos; }, 10000));
    CHECK(fixture.mounts_at("/datamnt/share") == 1);
    CHECK_THAT(notify.received(), Catch::Contains("STATUS=changed"));

    const size_t requests_before = fixture.imds().requests().size();
    agent.signal(SIGHUP);
    CHECK(eventually([&] { return fixture.imds().requests().size() > requests_before; }, 5000));
    CHECK(eventually(
        [&] { return notify.received().find("STATUS=no changes") != std::string::npos; }, 5000));
    CHECK(fixture.mounts_at("/datamnt/share") == 1);

    agent.signal(SIGTERM);
    CHECK(agent.wait(5000) == 0);
    CHECK_THAT(notify.received(), Catch::Contains("STOPPING=1"));
    const std::string log = fixture.sandbox().read("agent.log");
    CHECK_THAT(log, Catch::Contains("SIGHUP: reconciling now"));
    CHECK_THAT(log, Catch::Contains("SIGTERM: stopping"));
}

TEST_CASE("run: an invalid config is reported in status and the daemon keeps running", "[daemon]") {
    AgentFixture fixture;
    fixture.serve_tags({{"dsvm-share", "/srv/share"}, {"dsvm-mount-point", "/usr"}});
    NotifySocket notify(fixture.sandbox().path("notify.sock"));
    const auto daemon = start_daemon(fixture, notify);
    Child& agent = *daemon;
    REQUIRE(
        eventually([&] { return notify.received().find("READY=1") != std::string::npos; }, 10000));
    CHECK_THAT(notify.received(), Catch::Contains("STATUS=invalid config"));
    const auto status = fixture.agent({"status"});
    CHECK_THAT(status.out, Catch::Contains("invalid config") && Catch::Contains("mountPoint"));

    // Fixing the metadata is picked up on the next pass, without a restart.
    fixture.serve_tags(bind_pool_tags());
    fixture.sandbox().mkdir("srv/share");
    agent.signal(SIGHUP);
    CHECK(eventually([&] { return fixture.mounts_at("/datamnt/share") == 1; }, 5000));
    agent.signal(SIGTERM);
    CHECK(agent.wait(5000) == 0);
}

TEST_CASE("run: with a watchdog, WATCHDOG=1 follows the pass and keeps coming between passes",
          "[daemon]") {
    AgentFixture fixture;
    fixture.serve_tags(bind_pool_tags());
    fixture.sandbox().mkdir("srv/share");
    NotifySocket notify(fixture.sandbox().path("notify.sock"));
    // A 400 ms watchdog: a keep-alive every 200 ms, while the next pass is a minute away.
    const auto daemon = start_watched_daemon(fixture, notify, "400000");
    Child& agent = *daemon;
    REQUIRE(eventually(
        [&] {
            const std::string& text = notify.received();
            const auto ready = text.find("READY=1");
            return ready != std::string::npos &&
                   text.find("WATCHDOG=1", ready) != std::string::npos;
        },
        10000));
    const size_t requests = fixture.imds().requests().size();
    const size_t pings = count_of(notify.received(), "WATCHDOG=1");

    std::this_thread::sleep_for(std::chrono::milliseconds(2000));
    const size_t later = count_of(notify.received(), "WATCHDOG=1");
    INFO("WATCHDOG=1 before the wait: " << pings << ", after 2 s: " << later);
    // About ten in two seconds; six leaves room for a slow machine, none would fail.
    CHECK(later >= pings + 6);
    // They came from the wait between passes: no pass ran meanwhile.
    CHECK(fixture.imds().requests().size() == requests);

    agent.signal(SIGTERM);
    CHECK(agent.wait(5000) == 0);
    CHECK_THAT(notify.received(), Catch::Contains("STOPPING=1"));
}

TEST_CASE("run: a watchdog meant for another process gets no WATCHDOG=1", "[daemon]") {
    AgentFixture fixture;
    fixture.serve_tags(bind_pool_tags());
    fixture.sandbox().mkdir("srv/share");
    NotifySocket notify(fixture.sandbox().path("notify.sock"));
    // $WATCHDOG_PID names init: sd_watchdog_enabled says the watchdog is not this process's.
    const auto daemon = start_watched_daemon(fixture, notify, "400000", "1");
    Child& agent = *daemon;
    REQUIRE(
        eventually([&] { return notify.received().find("READY=1") != std::string::npos; }, 10000));
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    CHECK_THAT(notify.received(), !Catch::Contains("WATCHDOG=1"));
    agent.signal(SIGTERM);
    CHECK(agent.wait(5000) == 0);
}

TEST_CASE("run: SIGTERM while the first pass retries the metadata service stops within seconds",
          "[daemon]") {
    // Given a metadata service that answers 410 (as IMDS does after boot) and an hour to retry,
    // we expect a stop to end the retries at once, not to wait for the deadline.
    AgentFixture fixture;
    ScriptedResponse gone;
    gone.status = 410;
    fixture.imds().set_default(gone);
    NotifySocket notify(fixture.sandbox().path("notify.sock"));
    const auto daemon = std::make_unique<Child>(
        std::vector<std::string>{DSVM_AGENT_BINARY, "--root", fixture.sandbox().path(), "--imds",
                                 fixture.imds().base_url(), "--imds-timeout", "3600", "run"},
        fixture.sandbox().path("agent.log"),
        std::vector<std::string>{"NOTIFY_SOCKET=" + notify.path()});
    Child& agent = *daemon;
    REQUIRE(eventually([&] { return fixture.imds().requests().size() >= 2; }, 10000));

    agent.signal(SIGTERM);
    CHECK(agent.wait(5000) == 0);
    const std::string log = fixture.sandbox().read("agent.log");
    CHECK_THAT(log, Catch::Contains("the service is stopping"));
    CHECK_THAT(log, Catch::Contains("SIGTERM: stopping"));
}
