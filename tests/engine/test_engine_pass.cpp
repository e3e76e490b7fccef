// Whole Engine::reconcile passes in-process: a sandbox root with the pool config in
// etc/dsvm-agent/pool.json, a fake mounter (an in-memory mount table), a fake clock, a recording
// process runner and no metadata service. What the integration tests show through the real
// binary as root, here in the unit tests, so the sanitizers see the engine's orchestration too.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "config/key_vault.h"
#include "engine/engine.h"
#include "mount/fstab.h"
#include "support/engine_instance.h"
#include "support/fake_clock.h"
#include "support/fake_mounter.h"
#include "support/fake_vault.h"
#include "support/linux_backends.h"
#include "support/recording_runner.h"
#include "support/registry_fixture.h"
#include "support/sandbox.h"
#include "users/registry_format.h"
#include "users/registry_key.h"

using Catch::Matchers::Contains;

namespace dsvm::test {

using namespace dsvm::mount;
using namespace dsvm::users;
using namespace dsvm::config;
using namespace dsvm::engine;
namespace {

constexpr std::string_view k_admin_fstab = "UUID=1234 / ext4 defaults 0 1\n";

const std::string k_nfs_pool =
    R"({"share": {"source": "nfsacct.file.core.windows.net:/nfsacct/pool"}})";
const std::string k_nfs_source = "nfsacct.file.core.windows.net:/nfsacct/pool";
// docs/mounting.md, "Options": Azure's NFS options, then nosuid,nodev for every share.
const std::string k_nfs_options =
    "vers=4.1,sec=sys,hard,timeo=600,retrans=2,nconnect=4,nosuid,nodev";
// docs/mounting.md, "Boot persistence": the mount options and _netdev,nofail, a mount timeout.
const std::string k_boot = ",_netdev,nofail,x-systemd.mount-timeout=30s 0 0";

const std::string k_smb_source = "//acct.file.core.windows.net/dsvmshare";
const std::string k_storage_key =
    "Sentinel+Storage+Key+9Qx0Zl3fVb7w2c/8mR1nT5yU6iO4pA3sD2fG1hJ0kLzXcVbNm0qWeRtYuIoP9w==";

bool has_failed_action(const RunStatus& status, std::string_view error) {
    for (const auto& action : status.actions) {
        if (!action.ok && action.error.find(error) != std::string::npos) {
            return true;
        }
    }
    return false;
}

bool has_problem(const RunStatus& status, std::string_view text) {
    for (const auto& problem : status.problems) {
        if (problem.find(text) != std::string::npos) {
            return true;
        }
    }
    return false;
}

std::string marked(const std::string& line) {
    return std::string(k_fstab_marker) + "\n" + line + "\n";
}

}  // namespace

TEST_CASE("engine: an engine without a name service is a programming error, refused at once",
          "[engine-pass]") {
    // Every account the users phase makes is checked against the name service first; an engine
    // without one must not start rather than treat every name as free.
    Sandbox sandbox;
    FakeMounter mounter;
    FakeClock clock;
    RecordingRunner runner;
    LinuxBackends backends(Root(sandbox.path()), mounter, runner);
    CHECK_THROWS_AS(Engine(Root(sandbox.path()), AgentPaths{},
                           {.share = backends.share,
                            .accounts = backends.accounts,
                            .runner = runner,
                            .clock = clock,
                            .names = nullptr}),
                    std::logic_error);
}

TEST_CASE("engine pass: an NFS share is mounted once, kept, and remounted when its options change",
          "[engine-pass]") {
    EngineInstance instance;
    instance.sandbox.write("etc/fstab", k_admin_fstab);
    instance.config(k_nfs_pool);
    const std::string target = instance.real("/datamnt/pool");

    const PassOutcome first = instance.pass();
    INFO(shown(first.status));
    REQUIRE(first.exit_status == 0);
    CHECK(first.status.result == PassResult::Changed);
    REQUIRE(instance.mounter.calls().size() == 1);
    CHECK(instance.mounter.mount_requests()[0] ==
          MountRequest{k_nfs_source, target, "nfs", k_nfs_options});
    CHECK(instance.mounter.mounts_at(target) == 1);
    CHECK(S_ISDIR(stat_of(target).st_mode));
    CHECK(mode_of(target) == 0755);
    // The admin's line byte for byte, then the agent's marked entry; the old file as the backup.
    CHECK(instance.sandbox.read("etc/fstab") ==
          std::string(k_admin_fstab) +
              marked(k_nfs_source + " /datamnt/pool nfs " + k_nfs_options + k_boot));
    CHECK(instance.sandbox.read("etc/fstab.dsvm-agent.bak") == k_admin_fstab);

    // state.json knows the mount by the ID the table gave it; status.json says it is mounted.
    const int mount_id = instance.mounter.table().back().mount_id;
    const AgentState state = instance.state();
    REQUIRE(state.mounts.size() == 1);
    CHECK(state.mounts[0].target == target);
    CHECK(state.mounts[0].mount_id == mount_id);
    CHECK(state.mounts[0].request == instance.mounter.mount_requests()[0]);
    CHECK(state.mounting.empty());
    CHECK(mode_of(instance.sandbox.path("var/lib/dsvm-agent/state.json")) == 0600);
    const RunStatus status = instance.last_status();
    CHECK(status.result == PassResult::Changed);
    REQUIRE(status.share.has_value());
    CHECK(status.share->mounted);
    CHECK(status.share->source == k_nfs_source);
    CHECK(status.share->type == "nfs");
    CHECK(status.share->mount_point == "/datamnt/pool");
    CHECK(status.problems.empty());
    CHECK(mode_of(instance.sandbox.path("var/lib/dsvm-agent/status.json")) == 0644);

    // A second pass finds everything as wanted: no mount call, fstab and the mount point as
    // they were.
    const std::string etc_before = tree_digest(instance.sandbox.path("etc"));
    const std::string share_before = tree_digest(instance.sandbox.path("datamnt"));
    const PassOutcome second = instance.pass();
    INFO(shown(second.status));
    CHECK(second.exit_status == 0);
    CHECK(second.status.result == PassResult::NoChanges);
    CHECK(second.status.actions.empty());
    CHECK(instance.mounter.calls().size() == 1);
    CHECK(tree_digest(instance.sandbox.path("etc")) == etc_before);
    CHECK(tree_digest(instance.sandbox.path("datamnt")) == share_before);
    CHECK(instance.state() == state);
    CHECK(instance.last_status().share->mounted);

    // New options: the agent's own mount is unmounted and made again, never stacked.
    instance.config(
        R"({"share": {"source": "nfsacct.file.core.windows.net:/nfsacct/pool", "options": "noatime"}})");
    const PassOutcome third = instance.pass();
    INFO(shown(third.status));
    CHECK(third.exit_status == 0);
    CHECK(third.status.result == PassResult::Changed);
    REQUIRE(instance.mounter.calls().size() == 3);
    CHECK(instance.mounter.unmount_targets() == std::vector<std::string>{target});
    CHECK(instance.mounter.calls()[1].kind == FakeMounter::Call::Kind::Unmount);
    const MountRequest remounted = instance.mounter.mount_requests().back();
    CHECK(remounted.source == k_nfs_source);
    CHECK(remounted.target == target);
    // The defaults (nosuid,nodev among them), then the config's own new keys.
    CHECK(remounted.options == k_nfs_options + ",noatime");
    CHECK(instance.mounter.mounts_at(target) == 1);
    const AgentState after = instance.state();
    REQUIRE(after.mounts.size() == 1);
    CHECK(after.mounts[0].mount_id == instance.mounter.table().back().mount_id);
    CHECK(after.mounts[0].mount_id != mount_id);
    CHECK(after.mounts[0].request == remounted);
    CHECK(instance.sandbox.read("etc/fstab") ==
          std::string(k_admin_fstab) +
              marked(k_nfs_source + " /datamnt/pool nfs " + remounted.options + k_boot));
}

TEST_CASE("engine pass: a config without the share unmounts only the agent's mount",
          "[engine-pass]") {
    EngineInstance instance;
    instance.sandbox.write("etc/fstab", k_admin_fstab);
    const std::string foreign = instance.sandbox.mkdir("mnt/data");
    const int foreign_id = instance.mounter.add_foreign_mount("server:/data", foreign, "nfs4");
    instance.config(k_nfs_pool);
    const std::string target = instance.real("/datamnt/pool");
    REQUIRE(instance.pass().exit_status == 0);
    REQUIRE(instance.mounter.mounts_at(target) == 1);

    instance.config("{}");
    const PassOutcome outcome = instance.pass();
    INFO(shown(outcome.status));
    CHECK(outcome.exit_status == 0);
    CHECK(outcome.status.result == PassResult::Changed);
    CHECK(instance.mounter.unmount_targets() == std::vector<std::string>{target});
    CHECK(instance.mounter.mounts_at(target) == 0);
    CHECK(instance.mounter.mounts_at(foreign) == 1);
    CHECK(instance.mounter.table().back().mount_id == foreign_id);
    CHECK(instance.mounter.mounts_at("/") == 1);
    // The marker and its line go; the admin's line stays byte for byte.
    CHECK(instance.sandbox.read("etc/fstab") == k_admin_fstab);
    CHECK(instance.state().mounts.empty());
    CHECK_FALSE(instance.last_status().share.has_value());

    // Nothing of the agent's is left to undo.
    const std::size_t calls = instance.mounter.calls().size();
    const PassOutcome again = instance.pass();
    CHECK(again.exit_status == 0);
    CHECK(again.status.result == PassResult::NoChanges);
    CHECK(instance.mounter.calls().size() == calls);
}

TEST_CASE("engine pass: a foreign mount on the mount point is left alone and reported",
          "[engine-pass]") {
    EngineInstance instance;
    const std::string target = instance.sandbox.mkdir("datamnt/pool");
    const int foreign_id = instance.mounter.add_foreign_mount("otherhost:/export", target, "nfs4");
    instance.config(k_nfs_pool);

    for (int pass = 0; pass < 2; ++pass) {
        const PassOutcome outcome = instance.pass();
        INFO("pass " << pass << ": " << shown(outcome.status));
        CHECK(outcome.exit_status == 1);
        CHECK(outcome.status.result == PassResult::Failed);
        CHECK(has_problem(outcome.status, "already has a mount the agent did not make"));
        CHECK(has_problem(outcome.status, "otherhost:/export"));
        REQUIRE(outcome.status.share.has_value());
        CHECK_FALSE(outcome.status.share->mounted);
        CHECK(instance.mounter.calls().empty());
        CHECK(instance.mounter.mounts_at(target) == 1);
        CHECK(instance.mounter.table().back().mount_id == foreign_id);
        CHECK(instance.state().mounts.empty());
        CHECK(has_problem(instance.last_status(), "already has a mount the agent did not make"));
    }
}

TEST_CASE("engine pass: a foreign mount of the same share is used, never adopted or unmounted",
          "[engine-pass]") {
    EngineInstance instance;
    const std::string target = instance.sandbox.mkdir("datamnt/pool");
    // The kernel shows an NFS 4.1 mount as nfs4: still the share the config asks for.
    instance.mounter.add_foreign_mount(k_nfs_source, target, "nfs4");
    instance.config(k_nfs_pool);

    const PassOutcome outcome = instance.pass();
    INFO(shown(outcome.status));
    CHECK(outcome.exit_status == 0);
    REQUIRE(outcome.status.share.has_value());
    CHECK(outcome.status.share->mounted);
    CHECK(instance.mounter.calls().empty());
    CHECK(instance.state().mounts.empty());

    instance.config("{}");
    const PassOutcome dropped = instance.pass();
    INFO(shown(dropped.status));
    CHECK(dropped.exit_status == 0);
    CHECK(instance.mounter.calls().empty());
    CHECK(instance.mounter.mounts_at(target) == 1);
}

TEST_CASE("engine pass: a failed mount fails the pass, is in the status, and is tried again",
          "[engine-pass]") {
    EngineInstance instance;
    instance.config(k_nfs_pool);
    const std::string target = instance.real("/datamnt/pool");
    instance.mounter.fail_next_mount(target, "mount.nfs: Connection timed out");

    const PassOutcome failed = instance.pass();
    INFO(shown(failed.status));
    CHECK(failed.exit_status == 1);
    CHECK(failed.status.result == PassResult::Failed);
    CHECK(has_failed_action(failed.status, "mount.nfs: Connection timed out"));
    CHECK(failed.status.share.has_value());
    CHECK_FALSE(failed.status.share->mounted);
    CHECK(instance.mounter.mounts_at(target) == 0);
    const RunStatus recorded = instance.last_status();
    CHECK(recorded.result == PassResult::Failed);
    CHECK(has_failed_action(recorded, "mount.nfs: Connection timed out"));
    // Nothing is recorded as the agent's, nor left as a mount in progress.
    const AgentState state = instance.state();
    CHECK(state.mounts.empty());
    CHECK(state.mounting.empty());

    const PassOutcome retried = instance.pass();
    INFO(shown(retried.status));
    CHECK(retried.exit_status == 0);
    CHECK(retried.status.result == PassResult::Changed);
    const auto requests = instance.mounter.mount_requests();
    REQUIRE(requests.size() == 2);
    CHECK(requests[0] == requests[1]);
    CHECK(instance.mounter.mounts_at(target) == 1);
    CHECK(instance.last_status().share->mounted);
    CHECK(instance.state().mounts.size() == 1);
}

TEST_CASE("engine pass: an unmount that fails keeps the mount the agent's, and is tried again",
          "[engine-pass]") {
    EngineInstance instance;
    instance.config(k_nfs_pool);
    const std::string target = instance.real("/datamnt/pool");
    REQUIRE(instance.pass().exit_status == 0);
    const AgentState mounted = instance.state();

    instance.config("{}");
    instance.mounter.fail_next_unmount(target, "it is busy (files are open there)");
    const PassOutcome busy = instance.pass();
    INFO(shown(busy.status));
    CHECK(busy.exit_status == 1);
    CHECK(has_failed_action(busy.status, "busy"));
    CHECK(instance.mounter.mounts_at(target) == 1);
    CHECK(instance.state().mounts == mounted.mounts);

    const PassOutcome retried = instance.pass();
    INFO(shown(retried.status));
    CHECK(retried.exit_status == 0);
    CHECK(instance.mounter.unmount_targets() == std::vector<std::string>{target, target});
    CHECK(instance.mounter.mounts_at(target) == 0);
    CHECK(instance.state().mounts.empty());
}

TEST_CASE("engine pass: a mount an interrupted pass made is adopted, and later unmounted",
          "[engine-pass]") {
    // A pass killed between its mount and its state file left the intent in state.json and the
    // mount in the table; the mount looks foreign but for the intent.
    EngineInstance instance;
    instance.config(k_nfs_pool);
    const std::string target = instance.sandbox.mkdir("datamnt/pool");
    const MountRequest request{k_nfs_source, target, "nfs", k_nfs_options};
    AgentState interrupted;
    interrupted.mounting.push_back(request);
    REQUIRE(instance.engine.write_state(interrupted).ok());
    const int id = instance.mounter.add_foreign_mount(k_nfs_source, target, "nfs4");

    const PassOutcome outcome = instance.pass();
    INFO(shown(outcome.status));
    CHECK(outcome.exit_status == 0);
    CHECK(instance.mounter.calls().empty());
    const AgentState state = instance.state();
    REQUIRE(state.mounts.size() == 1);
    CHECK(state.mounts[0].mount_id == id);
    CHECK(state.mounts[0].request == request);
    CHECK(state.mounting.empty());

    // Adopted, so the agent's to take away.
    instance.config("{}");
    const PassOutcome dropped = instance.pass();
    INFO(shown(dropped.status));
    CHECK(dropped.exit_status == 0);
    CHECK(instance.mounter.unmount_targets() == std::vector<std::string>{target});
    CHECK(instance.mounter.mounts_at(target) == 0);
}

TEST_CASE("engine pass: the unmount command takes away only the agent's mount", "[engine-pass]") {
    EngineInstance instance;
    instance.config(k_nfs_pool);
    const std::string target = instance.real("/datamnt/pool");
    REQUIRE(instance.pass().exit_status == 0);
    const std::string foreign = instance.sandbox.mkdir("mnt/data");
    instance.mounter.add_foreign_mount("server:/data", foreign, "nfs4");

    const PassOutcome unmounted = instance.engine.unmount_share();
    INFO(shown(unmounted.status));
    CHECK(unmounted.exit_status == 0);
    CHECK(unmounted.status.result == PassResult::Changed);
    CHECK(instance.mounter.unmount_targets() == std::vector<std::string>{target});
    CHECK(instance.mounter.mounts_at(target) == 0);
    CHECK(instance.mounter.mounts_at(foreign) == 1);
    CHECK(instance.state().mounts.empty());

    const PassOutcome again = instance.engine.unmount_share();
    CHECK(again.exit_status == 0);
    CHECK(again.status.result == PassResult::NoChanges);
    CHECK(instance.mounter.calls().size() == 2);
}

TEST_CASE("engine pass: a dry run mounts nothing and changes nothing under the root",
          "[engine-pass]") {
    EngineInstance instance;
    instance.sandbox.write("etc/fstab", k_admin_fstab);
    instance.config(k_nfs_pool);
    const std::string target = instance.real("/datamnt/pool");
    PassOptions dry;
    dry.dry_run = true;

    const std::string before = tree_digest(instance.sandbox.path());
    const PassOutcome planned = instance.pass(dry);
    INFO(shown(planned.status));
    CHECK(planned.exit_status == 0);
    CHECK(planned.status.result == PassResult::DryRun);
    const MountRequest expected{k_nfs_source, target, "nfs", k_nfs_options};
    CHECK(std::count(planned.plan.actions.begin(), planned.plan.actions.end(),
                     Action{MountShare{expected, ""}}) == 1);
    CHECK(instance.mounter.calls().empty());
    CHECK(instance.mounter.table_reads() > 0);  // it did look
    CHECK(tree_digest(instance.sandbox.path()) == before);

    // Once mounted, a changed config plans the remount and still does nothing.
    REQUIRE(instance.pass().exit_status == 0);
    instance.config(
        R"({"share": {"source": "nfsacct.file.core.windows.net:/nfsacct/pool", "options": "noatime"}})");
    const std::size_t calls = instance.mounter.calls().size();
    const std::string mounted = tree_digest(instance.sandbox.path());
    const PassOutcome remount = instance.pass(dry);
    INFO(shown(remount.status));
    CHECK(remount.status.result == PassResult::DryRun);
    CHECK(std::count_if(remount.plan.actions.begin(), remount.plan.actions.end(),
                        [](auto& a) { return std::holds_alternative<UnmountShare>(a); }) == 1);
    CHECK(instance.mounter.calls().size() == calls);
    CHECK(tree_digest(instance.sandbox.path()) == mounted);
}

TEST_CASE("engine pass: an SMB share is mounted with its root-only credentials file",
          "[engine-pass]") {
    EngineInstance instance;
    instance.config(R"({"share": {"source": "//acct.file.core.windows.net/dsvmshare"}})");
    const std::string target = instance.real("/datamnt/dsvmshare");
    // docs/mounting.md, "Credentials": <account>.cred, root's, 0600, in a root-only directory.
    instance.sandbox.mkdir("etc/dsvm-agent/credentials", 0700);
    const std::string credentials =
        instance.sandbox.write("etc/dsvm-agent/credentials/acct.cred",
                               "username=acct\npassword=" + k_storage_key + "\n", 0644);

    // Readable by others: refused, with the fix, and nothing is mounted.
    const PassOutcome refused = instance.pass();
    INFO(shown(refused.status));
    CHECK(refused.exit_status == 1);
    CHECK(has_problem(refused.status, "refusing to use"));
    CHECK(instance.mounter.calls().empty());

    REQUIRE(::chmod(credentials.c_str(), 0600) == 0);
    const PassOutcome mounted = instance.pass();
    INFO(shown(mounted.status));
    CHECK(mounted.exit_status == 0);
    const std::string options = "vers=3.1.1,credentials=" + credentials +
                                ",serverino,nosharesock,actimeo=30,mfsymlinks,uid=0,gid=0,"
                                "dir_mode=0700,file_mode=0600,nosuid,nodev";
    REQUIRE(instance.mounter.mount_requests().size() == 1);
    CHECK(instance.mounter.mount_requests()[0] ==
          MountRequest{k_smb_source, target, "cifs", options});
    REQUIRE(mounted.status.share.has_value());
    CHECK(mounted.status.share->access == "per-user");
    CHECK_FALSE(mounted.status.share->insecure);
    // fstab names the file as the instance sees it, never the key.
    CHECK(instance.sandbox.read("etc/fstab") ==
          marked(k_smb_source +
                 " /datamnt/dsvmshare cifs vers=3.1.1,credentials=/etc/dsvm-agent/"
                 "credentials/acct.cred,serverino,nosharesock,actimeo=30,"
                 "mfsymlinks,uid=0,gid=0,dir_mode=0700,file_mode=0600,nosuid,nodev" +
                 k_boot));
    const std::string stamp = instance.state().mounts.at(0).credentials_stamp;
    CHECK_FALSE(stamp.empty());

    // A rotated key (the file replaced) remounts the share with it.
    instance.sandbox.write("etc/dsvm-agent/credentials/acct.cred",
                           "username=acct\npassword=Rotated" + k_storage_key.substr(7) + "\n",
                           0600);
    const PassOutcome rotated = instance.pass();
    INFO(shown(rotated.status));
    CHECK(rotated.exit_status == 0);
    CHECK(instance.mounter.unmount_targets() == std::vector<std::string>{target});
    CHECK(instance.mounter.mount_requests().size() == 2);
    CHECK(instance.mounter.mounts_at(target) == 1);
    CHECK(instance.state().mounts.at(0).credentials_stamp != stamp);
    // The key is in its file and nowhere else under the root.
    CHECK(files_with_text(instance.sandbox.path(), k_storage_key.substr(7)) ==
          std::vector<std::string>{credentials});
}

TEST_CASE("engine pass: pool users are made from the registry on the share, then left alone",
          "[engine-pass]") {
    if (::geteuid() != 0) {
        WARN("needs root: homes and notebook folders are given to the users' UIDs");
        return;
    }
    EngineInstance instance;
    Sandbox& sandbox = instance.sandbox;
    sandbox.write("etc/passwd",
                  "root:x:0:0:root:/root:/bin/bash\n"
                  "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
    sandbox.write("etc/group", "root:x:0:\nshadow:x:42:\ndatasci:x:998:\nnogroup:x:65534:\n");
    sandbox.write("etc/shadow", "root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n", 0640);
    sandbox.write("etc/gshadow", "root:*::\nshadow:*::\ndatasci:!::\nnogroup:*::\n", 0640);
    sandbox.write("etc/skel/.bashrc", "# skel\n");
    REQUIRE(write_registry_keys(Root(sandbox.path()), k_pool_key, {}).ok());
    sandbox.mkdir("srv/share");
    instance.config(R"({"share": {"source": "/srv/share", "mountPoint": "/datamnt/share"},
        "users": [{"name": "alice", "sudo": true}, {"name": "bob", "groups": ["datasci"]}]})");
    const std::string target = instance.real("/datamnt/share");

    // The share already holds the registry another instance wrote: alice has 20006 there. The
    // fake mount shows it on the mount point, as the kernel would.
    Registry existing;
    existing.pool_id = "0123456789abcdef0123456789abcdef";
    existing.generation = 7;
    existing.next_uid = 20006;
    existing.users = {make_user("alice", 20006)};
    int mounted = 0;
    instance.mounter.on_mount = [&](const MountRequest& request) {
        ++mounted;
        sandbox.mkdir(request.target.substr(sandbox.path().size() + 1) + "/.dsvm-agent", 0700);
        sandbox.write(
            request.target.substr(sandbox.path().size() + 1) + "/.dsvm-agent/registry.json",
            render_registry_file(existing, k_pool_key), 0600);
    };

    const PassOutcome first = instance.pass();
    INFO(shown(first.status));
    REQUIRE(first.exit_status == 0);
    CHECK(mounted == 1);
    REQUIRE(instance.mounter.mount_requests().size() == 1);
    CHECK(instance.mounter.mount_requests()[0] ==
          MountRequest{instance.real("/srv/share"), target, "", "bind,nosuid,nodev"});
    CHECK(sandbox.read("etc/fstab") ==
          marked("/srv/share /datamnt/share none bind,nosuid,nodev" + k_boot));

    // alice keeps the registry's UID; bob gets the next one, the same on every instance.
    const std::string passwd = sandbox.read("etc/passwd");
    CHECK_THAT(passwd, Contains("alice:x:20006:20006:dsvm-agent pool user"));
    CHECK_THAT(passwd, Contains("bob:x:20007:20007:dsvm-agent pool user"));
    CHECK_THAT(passwd, Contains("root:x:0:0:root:/root:/bin/bash\n"));
    const std::string group = sandbox.read("etc/group");
    CHECK_THAT(group, Contains("datasci:x:998:bob\n"));
    CHECK_THAT(group, Contains("alice:x:20006:\n") && Contains("bob:x:20007:\n"));
    CHECK_THAT(group, Contains("dsvm-sudo:x:") && Contains(":alice\n"));
    CHECK_THAT(sandbox.read("etc/shadow"), Contains("\nalice:") && Contains("\nbob:"));
    CHECK_THAT(sandbox.read("etc/gshadow"), Contains("\nalice:") && Contains("\nbob:"));
    CHECK_THAT(sandbox.read("etc/sudoers.d/dsvm-agent"), Contains("%dsvm-sudo ALL=(ALL:ALL) ALL"));
    bool validated = false;
    for (const auto& argv : instance.runner.commands_ran) {
        validated = validated || argv.at(0) == "/usr/sbin/visudo";
    }
    CHECK(validated);

    for (const auto& [name, uid] : {std::pair{"alice", 20006u}, std::pair{"bob", 20007u}}) {
        INFO(name);
        const std::string home = sandbox.path(std::string("home/") + name);
        CHECK(stat_of(home).st_uid == uid);
        CHECK(mode_of(home) == 0700);
        CHECK(sandbox.read(std::string("home/") + name + "/.bashrc") == "# skel\n");
        CHECK(std::filesystem::read_symlink(home + "/notebooks/remote") ==
              std::string("/datamnt/share/notebooks/") + name);
        const std::string folder = target + "/notebooks/" + name;
        CHECK(stat_of(folder).st_uid == uid);
        CHECK(mode_of(folder) == 0700);
    }

    // The registry on the share now has bob, signed, one generation on, the same pool.
    auto file = parse_registry_file(sandbox.read("datamnt/share/.dsvm-agent/registry.json"));
    REQUIRE(file.ok());
    CHECK(file->registry.pool_id == existing.pool_id);
    CHECK(file->registry.generation == 8);
    REQUIRE(file->registry.users.size() == 2);
    CHECK(file->registry.users[1].name == "bob");
    CHECK(file->registry.users[1].uid == 20007);
    CHECK(verify_registry_file(*file, *keys_of(k_pool_key)).trust == RegistryTrust::Verified);

    CHECK(first.status.pool_users == 2);
    const AgentState state = instance.state();
    CHECK(state.users == std::set<std::string>{"alice", "bob"});
    CHECK(state.registry_seen.generation == 8);
    CHECK(instance.last_status().pool_users == 2);

    // A second pass, full, then a daemon's: nothing under the root changes but the status file.
    const auto digest = [&] {
        std::string all;
        for (const char* dir : {"etc", "home", "datamnt", "srv"}) {
            all += tree_digest(sandbox.path(dir));
        }
        return all;
    };
    const std::string before = digest();
    const std::size_t commands = instance.runner.commands_ran.size();
    PassOptions daemon;
    daemon.full = false;
    for (const PassOptions& options : {PassOptions{}, daemon}) {
        const PassOutcome again = instance.pass(options);
        INFO(shown(again.status));
        CHECK(again.exit_status == 0);
        CHECK(again.status.result == PassResult::NoChanges);
        CHECK(again.status.actions.empty());
        CHECK(again.status.pool_users == 2);
    }
    CHECK(digest() == before);
    CHECK(instance.mounter.calls().size() == 1);
    CHECK(mounted == 1);
    CHECK(instance.runner.commands_ran.size() == commands);
}

TEST_CASE("engine pass: Key Vault's keys are read again after the share refused its mount",
          "[engine-pass]") {
    // The daemon's schedule reads the keys once per refreshInterval; a refused mount may mean
    // the storage key was rotated in the vault meanwhile (docs/pool-config.md, "`keyVault`
    // (optional)").
    FakeVault vault;
    vault.set("storage-key", k_storage_key);
    EngineInstance instance(k_guard_loaded, &vault);
    instance.config(R"({"share": {"source": "//acct.file.core.windows.net/dsvmshare"},
        "keyVault": {"vault": "contoso", "refreshInterval": 3600,
                     "secrets": {"storageAccountKey": "storage-key"}}})");
    const std::string target = instance.real("/datamnt/dsvmshare");
    instance.mounter.fail_next_mount(target, "mount error(13): Permission denied");
    PassOptions daemon;
    daemon.full = false;
    const auto reads = [&] { return vault.calls().size(); };

    const PassOutcome refused = instance.pass(daemon);
    INFO(shown(refused.status));
    CHECK(refused.exit_status == 1);
    REQUIRE(reads() == 1);
    CHECK(vault.calls().front().vault == "contoso");
    CHECK(vault.calls().front().client_id.empty());
    CHECK(vault.calls().front().name == "storage-key");
    CHECK(instance.sandbox.read("etc/dsvm-agent/credentials/acct.cred") ==
          "username=acct\npassword=" + k_storage_key + "\n");
    CHECK(has_failed_action(refused.status, "Permission denied"));

    // Well within refreshInterval, the next pass reads again, then mounts.
    instance.clock.advance(std::chrono::seconds(60));
    const PassOutcome retried = instance.pass(daemon);
    INFO(shown(retried.status));
    CHECK(retried.exit_status == 0);
    CHECK(reads() == 2);
    CHECK(instance.mounter.mount_requests().size() == 2);
    CHECK(instance.mounter.mounts_at(target) == 1);

    // With the mount made, the schedule holds again.
    instance.clock.advance(std::chrono::seconds(60));
    const PassOutcome settled = instance.pass(daemon);
    INFO(shown(settled.status));
    CHECK(settled.exit_status == 0);
    CHECK(reads() == 2);
    CHECK(instance.mounter.calls().size() == 2);
}

}  // namespace dsvm::test
