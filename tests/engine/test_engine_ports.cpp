// The engine on its two ports alone, with in-memory backends: the order of a pass (the share
// first, the intent record before the account batch, then each user's steps), a dry run that
// calls nothing that changes, and a share the backend refuses. The same test runs in the Linux
// build and, under wine, in the Windows build: it is what shows the engine links there.
#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <string>

#include "common/fs.h"
#include "engine/engine.h"
#include "support/fake_backends.h"
#include "support/fake_clock.h"
#include "support/recording_runner.h"
#include "support/registry_fixture.h"
#include "support/temporary_directory.h"
#include "users/name_service.h"

using namespace dsvm;
using namespace dsvm::engine;
using namespace dsvm::test;

namespace {

constexpr const char* k_key =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOVBMq5Mpj6TIleWKV4Qi3ll8n4jG+wePC90IL4Y6klz alice@laptop";

std::string pool_with(const std::string& users, const std::string& type = "smb") {
    const std::string source =
        type == "smb" ? "//acct.file.core.windows.net/pool" : "nfs.example.com:/pool";
    const std::string access = type == "smb" ? R"(, "smbAccess": "shared")" : "";
    return R"({"share": {"type": ")" + type + R"(", "source": ")" + source + "\"" + access +
           R"(}, "users": [)" + users + "]}";
}

// One instance: a root, the share's directory, the fakes and an engine on them.
struct PortsInstance {
    ScratchDirectory dir;
    Root root{dir.path()};
    FakeShare share{dir / "share"};
    FakeAccounts accounts{dir / "var/lib/dsvm-agent/users-intent.json"};
    FakeClock clock;
    RecordingRunner runner{{0, "", ""}};
    Engine engine{root,
                  AgentPaths{},
                  {.share = share,
                   .accounts = accounts,
                   .runner = runner,
                   .clock = clock,
                   .names = std::make_shared<users::NoNameService>()}};

    PortsInstance() {
        REQUIRE(make_directories(dir / "share", 0755));
        REQUIRE(make_directories(dir / "etc/dsvm-agent", 0755));
        REQUIRE(users::write_registry_keys(root, k_pool_key, {}));
    }
    void config(const std::string& json) {
        REQUIRE(write_file_atomic(dir / "etc/dsvm-agent/pool.json", json, 0600));
    }
    std::vector<std::string> changes() const {
        std::vector<std::string> all = *share.calls;
        all.insert(all.end(), accounts.calls->begin(), accounts.calls->end());
        return all;
    }
};

bool has(const std::vector<std::string>& lines, const std::string& wanted) {
    return std::find(lines.begin(), lines.end(), wanted) != lines.end();
}

}  // namespace

TEST_CASE(
    "engine ports: a pass mounts, writes the intent before the batch, then makes the user's "
    "home, keys, link and folder",
    "[engine-ports]") {
    PortsInstance instance;
    instance.config(
        pool_with(R"({"name": "alice", "sshKeys": [")" + std::string(k_key) + R"("]})"));

    const PassOutcome outcome = instance.engine.reconcile(PassOptions{});
    INFO(outcome.status.message);
    for (const auto& problem : outcome.status.problems) {
        INFO(problem);
    }
    REQUIRE(outcome.exit_status == 0);
    REQUIRE_FALSE(instance.share.calls->empty());
    CHECK(instance.share.calls->front() == "mount //acct.file.core.windows.net/pool");
    REQUIRE(instance.accounts.intent_seen_at_commit.has_value());
    CHECK(*instance.accounts.intent_seen_at_commit);
    const auto& calls = *instance.accounts.calls;
    REQUIRE(calls.size() == 4);
    CHECK(calls[0] == "commit create user alice (uid 20000)");
    CHECK(calls[1] == "apply create home C:/Users/alice");
    CHECK(calls[2] == "apply write SSH keys of alice");
    CHECK(calls[3] == "apply link C:/Users/alice/notebooks/remote to " + instance.dir.path() +
                          "/share/notebooks/alice");
    CHECK(has(*instance.share.calls, "ensure folder notebooks/alice"));
    CHECK(is_directory(instance.dir / "share/notebooks/alice"));
    // Done: the account is the agent's, and the intent record is gone.
    auto state = instance.engine.read_state();
    REQUIRE(state);
    CHECK(state->users.count("alice") == 1);
    CHECK_FALSE(path_exists(instance.dir / "var/lib/dsvm-agent/users-intent.json"));

    // A second pass finds everything in place: no batch, no mount, and nothing to report (each
    // step is asked again, and answers that it changed nothing).
    const PassOutcome again = instance.engine.reconcile(PassOptions{});
    CHECK(again.exit_status == 0);
    CHECK(again.status.result == PassResult::NoChanges);
    const auto changes = instance.changes();
    CHECK(std::count_if(changes.begin(), changes.end(), [](const auto& call) {
              return call.rfind("commit ", 0) == 0 || call.rfind("mount ", 0) == 0;
          }) == 2);
}

TEST_CASE(
    "engine ports: a dry run lists the mount, the accounts and their steps, and calls nothing "
    "that changes",
    "[engine-ports]") {
    PortsInstance instance;
    instance.config(pool_with(R"({"name": "alice"})"));

    PassOptions dry;
    dry.dry_run = true;
    const PassOutcome fresh = instance.engine.reconcile(dry);
    CHECK(fresh.exit_status == 0);
    CHECK(fresh.plan.actions.size() == 1);
    CHECK(instance.changes().empty());
    // Nothing is recorded by a dry run, not even the status file.
    CHECK_FALSE(path_exists(instance.engine.status_file()));

    REQUIRE(instance.engine.reconcile(PassOptions{}).exit_status == 0);
    const std::size_t before = instance.changes().size();
    instance.config(pool_with(R"({"name": "alice"}, {"name": "bob"})"));
    const PassOutcome planned = instance.engine.reconcile(dry);
    CHECK(planned.exit_status == 0);
    CHECK(has(planned.planned_users, "create user bob (uid 20001)"));
    CHECK(has(planned.planned_users, "create home C:/Users/bob"));
    CHECK(has(planned.planned_users, "make notebook folder notebooks/bob for bob"));
    CHECK_FALSE(has(planned.planned_users, "create home C:/Users/alice"));
    CHECK(instance.changes().size() == before);
    CHECK(instance.accounts.accounts.count("bob") == 0);
}

TEST_CASE(
    "engine ports: a share the backend cannot serve is an invalid config, and nothing is done",
    "[engine-ports]") {
    PortsInstance instance;
    instance.share.refuse_nfs = true;
    instance.config(pool_with(R"({"name": "alice"})", "nfs"));
    const PassOutcome outcome = instance.engine.reconcile(PassOptions{});
    CHECK(outcome.exit_status == 2);
    CHECK(outcome.status.result == PassResult::InvalidConfig);
    CHECK_THAT(outcome.status.message, Catch::Contains("share.type \"nfs\""));
    CHECK(instance.changes().empty());
}
