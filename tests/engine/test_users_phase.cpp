// The users phase in-process, against a sandbox root whose share is a plain directory: the
// registry check, the name service under its deadline, and what a refusal leaves (nothing).
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include <catch2/catch.hpp>

#include "engine/engine.h"
#include "engine/users_phase.h"
#include "support/fake_clock.h"
#include "support/fake_mounter.h"
#include "support/fake_name_service.h"
#include "support/linux_backends.h"
#include "support/recording_runner.h"
#include "support/registry_fixture.h"
#include "support/sandbox.h"
#include "users/registry_format.h"

using namespace dsvm;
using namespace dsvm::mount;
using namespace dsvm::users;
using namespace dsvm::config;
using namespace dsvm::engine;
using namespace dsvm::test;
using namespace std::chrono_literals;

namespace {

// An instance with Debian's base accounts, the pool key, and a share holding a signed registry
// with alice.
struct PhaseFixture {
    Sandbox sandbox;
    Root root{sandbox.path()};
    PoolConfig config;
    RecordingRunner runner;
    FakeMounter mounter;
    LinuxBackends backends{root, mounter, runner};
    FakeClock clock;
    DeadlineGate share_gate{"share"};
    DeadlineGate names_gate{"the system's name service"};
    std::shared_ptr<FakeNameService> names = std::make_shared<FakeNameService>();
    AgentState state;

    PhaseFixture() {
        sandbox.write("etc/passwd", "root:x:0:0:root:/root:/bin/bash\n");
        sandbox.write("etc/group", "root:x:0:\nshadow:x:42:\n");
        sandbox.write("etc/shadow", "root:*:19000:0:99999:7:::\n", 0640);
        sandbox.write("etc/gshadow", "root:*::\nshadow:*::\n", 0640);
        REQUIRE(write_registry_keys(root, k_pool_key, {}).ok());
        Registry registry;
        registry.generation = 3;
        registry.users = {make_user("alice", 20000)};
        registry.next_uid = 20001;
        sandbox.mkdir("datamnt/share/.dsvm-agent", 0700);
        sandbox.write("datamnt/share/.dsvm-agent/registry.json",
                      render_registry_file(registry, k_pool_key), 0600);
        ShareConfig share;
        share.source = "/srv/share";
        share.mount_point = "/datamnt/share";
        config.share = share;
    }

    UsersResult run() {
        return run_users_phase({.config = config,
                                .root = root,
                                .accounts = backends.accounts,
                                .share = backends.share,
                                .clock = clock,
                                .share_gate = share_gate,
                                .names = names,
                                .names_gate = names_gate,
                                .share_mounted = true,
                                .dry_run = false,
                                .request = nullptr,
                                .full = true,
                                .intent_file = sandbox.path("intent.json"),
                                .save_state = {}},
                               state);
    }
};

// Makes `gate` busy with work that never returns until released, as a lookup stuck on a
// directory server that stopped answering.
struct Stuck {
    std::shared_ptr<std::mutex> mutex = std::make_shared<std::mutex>();
    std::shared_ptr<std::condition_variable> released = std::make_shared<std::condition_variable>();
    std::shared_ptr<bool> open = std::make_shared<bool>(false);

    explicit Stuck(DeadlineGate& gate) {
        auto stuck = gate.run<int>(10ms, [mutex = mutex, released = released, open = open] {
            std::unique_lock<std::mutex> lock(*mutex);
            released->wait(lock, [&] { return *open; });
            return Result<int>(0);
        });
        REQUIRE_FALSE(stuck.ok());
    }
    ~Stuck() {
        const std::lock_guard<std::mutex> lock(*mutex);
        *open = true;
        released->notify_all();
    }
};

}  // namespace

TEST_CASE("users phase: a verified registry is applied", "[users-phase]") {
    PhaseFixture fixture;
    const UsersResult result = fixture.run();
    INFO(result.problems.size());
    CHECK(result.problems.empty());
    CHECK(result.pool_users == 1);
    CHECK(fixture.state.users.count("alice") == 1);
    CHECK(fixture.state.registry_seen.generation == 3);
    CHECK_THAT(fixture.sandbox.read("etc/passwd"), Catch::Contains("alice:x:20000:20000:"));
    CHECK(fixture.names->asked.size() == 4);  // user name, group name, uid, gid of alice
}

TEST_CASE("users phase: a registry that does not verify changes nothing", "[users-phase]") {
    PhaseFixture fixture;
    fixture.sandbox.write(
        "datamnt/share/.dsvm-agent/registry.json",
        render_registry_file(Registry{std::string(32, 'f'), 5, 20001, {make_user("alice", 20000)}},
                             k_other_key),
        0600);
    const std::string before = tree_digest(fixture.sandbox.path("etc"));
    const UsersResult result = fixture.run();
    REQUIRE(result.problems.size() == 1);
    CHECK_THAT(result.problems[0], Catch::StartsWith("registry refused:"));
    CHECK(result.outcomes.empty());
    CHECK(tree_digest(fixture.sandbox.path("etc")) == before);
    CHECK(fixture.state.users.empty());
    CHECK(fixture.state.registry_seen.generation == 0);
}

TEST_CASE("users phase: a name taken in the name service is not created", "[users-phase]") {
    PhaseFixture fixture;
    fixture.names->add_user("ldapuser", 20000);
    const UsersResult result = fixture.run();
    REQUIRE(result.problems.size() == 1);
    CHECK_THAT(result.problems[0],
               Catch::Contains("pool user 'alice' is not created") && Catch::Contains("ldapuser"));
    CHECK_THAT(fixture.sandbox.read("etc/passwd"), !Catch::Contains("alice"));
}

TEST_CASE("users phase: a name service that does not answer creates no account", "[users-phase]") {
    PhaseFixture fixture;
    const Stuck stuck(fixture.names_gate);
    const auto started = std::chrono::steady_clock::now();
    const UsersResult result = fixture.run();
    CHECK(std::chrono::steady_clock::now() - started < 5s);
    REQUIRE(result.problems.size() == 1);
    CHECK_THAT(result.problems[0], Catch::Contains("pool user 'alice' is not created") &&
                                       Catch::Contains("cannot be told") &&
                                       Catch::Contains("the system's name service not responding"));
    CHECK_THAT(fixture.sandbox.read("etc/passwd"), !Catch::Contains("alice"));
}

TEST_CASE("users phase: a share that does not answer is reported, not waited for",
          "[users-phase]") {
    PhaseFixture fixture;
    fixture.share_gate.set_what("share /datamnt/share");
    const Stuck stuck(fixture.share_gate);
    const auto started = std::chrono::steady_clock::now();
    const UsersResult result = fixture.run();
    CHECK(std::chrono::steady_clock::now() - started < 5s);
    REQUIRE(result.problems.size() == 1);
    CHECK_THAT(result.problems[0],
               Catch::StartsWith("share /datamnt/share not responding: an access started"));
    CHECK_THAT(fixture.sandbox.read("etc/passwd"), !Catch::Contains("alice"));
}

TEST_CASE(
    "users phase: a group granted by a batch whose pass died before the state file is "
    "taken back later",
    "[users-phase]") {
    // The state file is what survives a kill: each pass here starts from what the previous one
    // saved, and the first one "dies" (its save fails) right after the account batch.
    PhaseFixture fixture;
    fixture.sandbox.write("etc/group", "root:x:0:\nshadow:x:42:\nvideo:x:44:\n");
    fixture.sandbox.write("etc/gshadow", "root:*::\nshadow:*::\nvideo:*::\n", 0640);
    UserConfig alice{"alice", false, {}, {"video"}};
    fixture.config.users = {alice};
    AgentState saved;
    // dies_after_batch: every save that records the batch's work (alice made) fails, as a kill
    // right after the batch would leave it unsaved.
    const auto pass = [&](bool dies_after_batch) {
        AgentState state = saved;
        const UsersResult result =
            run_users_phase({.config = fixture.config,
                             .root = fixture.root,
                             .accounts = fixture.backends.accounts,
                             .share = fixture.backends.share,
                             .clock = fixture.clock,
                             .share_gate = fixture.share_gate,
                             .names = fixture.names,
                             .names_gate = fixture.names_gate,
                             .share_mounted = true,
                             .dry_run = false,
                             .request = nullptr,
                             .full = true,
                             .intent_file = fixture.sandbox.path("intent.json"),
                             .save_state = [&](const AgentState& current) -> Result<void> {
                                 if (dies_after_batch && current.users.count("alice") != 0) {
                                     return failure("killed");
                                 }
                                 saved = current;
                                 return {};
                             }},
                            state);
        return result;
    };
    pass(true);  // the batch makes alice and puts her in video; the pass dies before saving it
    CHECK_THAT(fixture.sandbox.read("etc/group"), Catch::Contains("video:x:44:alice"));
    pass(false);  // the next pass finishes the job
    fixture.config.users[0].groups = {};
    pass(false);  // video no longer wanted: taken back, though the first pass never said so
    CHECK_THAT(fixture.sandbox.read("etc/group"), Catch::Contains("video:x:44:\n"));
    CHECK_THAT(fixture.sandbox.read("etc/gshadow"), Catch::Contains("video:*::\n"));
}

TEST_CASE("engine: a pass stopped by a share that does not answer still writes its status",
          "[users-phase]") {
    Sandbox sandbox;
    sandbox.write("etc/dsvm-agent/pool.json",
                  R"({"share": {"source": "/srv/share", "mountPoint": "/datamnt/share"}})");
    sandbox.mkdir("srv/share");
    LibmountMounter mounter;
    FakeClock clock;
    RecordingRunner runner;
    LinuxBackends backends(Root(sandbox.path()), mounter, runner);
    Engine engine(Root(sandbox.path()), AgentPaths{},
                  {.share = backends.share,
                   .accounts = backends.accounts,
                   .runner = runner,
                   .clock = clock,
                   .names = std::make_shared<NoNameService>()});
    engine.share_gate().set_what("share /datamnt/share");
    const Stuck stuck(engine.share_gate());
    const PassOutcome outcome = engine.reconcile(PassOptions{});
    CHECK(outcome.exit_status == 1);
    const auto status = engine.last_status();
    REQUIRE(status.ok());
    CHECK(status->result == PassResult::Failed);
    CHECK_THAT(status->message, Catch::StartsWith("share /datamnt/share not responding"));
}

TEST_CASE("users phase: the previous key verifies only registries from before the rotation",
          "[users-phase]") {
    PhaseFixture fixture;
    // The instance has rotated to a new key and keeps the old one as previous.
    REQUIRE(write_registry_keys(fixture.root, k_other_key, k_pool_key).ok());
    Registry old = Registry{std::string(32, 'a'), 3, 20001, {make_user("alice", 20000)}};
    fixture.state.registry_seen = {"/srv/share", old.pool_id, 3,
                                   registry_signature(old, k_pool_key)};
    fixture.sandbox.write("datamnt/share/.dsvm-agent/registry.json",
                          render_registry_file(old, k_pool_key), 0600);
    const UsersResult before = fixture.run();
    CHECK(before.problems.empty());
    CHECK(fixture.state.users.count("alice") == 1);
    // It was signed again with the current key, at the next generation.
    auto now = parse_registry_file(fixture.sandbox.read("datamnt/share/.dsvm-agent/registry.json"));
    REQUIRE(now.ok());
    CHECK(now->key_id == registry_key_id(k_other_key));
    CHECK(now->registry.generation == 4);

    // A newer generation signed with the old key (which may have leaked) is refused.
    Registry forged = now->registry;
    forged.generation = 9;
    forged.users.push_back(make_user("mallory", 20001));
    forged.users.back().sudo = true;
    fixture.sandbox.write("datamnt/share/.dsvm-agent/registry.json",
                          render_registry_file(forged, k_pool_key), 0600);
    const UsersResult after = fixture.run();
    REQUIRE(after.problems.size() == 1);
    CHECK_THAT(after.problems[0], Catch::Contains("signed with the previous registry key"));
    CHECK_THAT(fixture.sandbox.read("etc/passwd"), !Catch::Contains("mallory"));
}
