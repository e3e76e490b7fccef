// Crash safety (docs/users.md, "Crash safety"): a pass that fails or is killed at any instant —
// in the account batch, before the state file, among the homes and links — is finished by the
// next pass, which ends in exactly the state of a pass that was never interrupted, and never
// adopts an account the agent did not make.
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/fd.h"
#include "common/fs.h"
#include "integration/instance.h"
#include "support/registry_fixture.h"
#include "users/registry_format.h"

using namespace dsvm;
using namespace dsvm::users;
using namespace dsvm::test;
namespace fs = std::filesystem;

namespace {

const std::string k_share_pool =
    R"({"share": {"source": "/srv/share", "mountPoint": "/datamnt/share"}})";

// pwck -r and grpck -r inside the root: the base accounts' homes and shells must exist there.
std::string account_check_problems(Instance& instance) {
    for (const char* dir : {"root", "usr/sbin", "bin", "dev", "nonexistent"}) {
        instance.sandbox().mkdir(dir);
    }
    instance.sandbox().write("bin/bash", "", 0755);
    instance.sandbox().write("usr/sbin/nologin", "", 0755);
    std::string problems;
    for (const char* tool : {"/usr/sbin/pwck", "/usr/sbin/grpck"}) {
        const auto checked = run_process({tool, "-r", "-R", instance.sandbox().path()});
        if (checked.exit_code != 0) {
            problems += std::string(tool) + " exit " + std::to_string(checked.exit_code) + ": " +
                        checked.out + checked.err;
        }
    }
    return problems;
}

// A signed registry of `count` users, as the pool's share holds it.
void seed_registry(Sandbox& share, int count) {
    Registry registry;
    registry.generation = 1;
    for (int i = 0; i < count; ++i) {
        RegistryUser user;
        user.name = "user" + std::to_string(i);
        user.uid = user.gid = 20000 + static_cast<std::uint32_t>(i);
        user.sudo = i % 10 == 0;
        user.groups = i % 3 == 0 ? std::vector<std::string>{"datasci"} : std::vector<std::string>{};
        user.ssh_keys = {
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f "
            "user" +
            std::to_string(i)};
        registry.users.push_back(std::move(user));
    }
    registry.next_uid = 20000 + static_cast<std::uint32_t>(count);
    share.write(".dsvm-agent/registry.json", render_registry_file(registry, k_pool_key), 0600);
    share.write(".dsvm-agent/generation", "1\n", 0600);
    REQUIRE(::chmod(share.path(".dsvm-agent").c_str(), 0700) == 0);
}

// Everything a pass decides, without what differs between two equal runs (times, inode
// numbers, mount IDs, the "<file>-" copies of the file before the last write).
std::string normalized_state(Instance& instance) {
    Sandbox& root = instance.sandbox();
    std::string out;
    for (const char* file : {"etc/passwd", "etc/group", "etc/gshadow", "etc/fstab"}) {
        out += "== " + std::string(file) + "\n" + (root.exists(file) ? root.read(file) : "");
    }
    // shadow's third field is the day of the last change.
    std::string shadow = root.read("etc/shadow");
    std::string days_blanked;
    std::size_t start = 0;
    while (start < shadow.size()) {
        const std::size_t end = std::min(shadow.find('\n', start), shadow.size());
        std::string line = shadow.substr(start, end - start);
        const std::size_t second = line.find(':', line.find(':') + 1);
        const std::size_t third = line.find(':', second + 1);
        if (second != std::string::npos && third != std::string::npos) {
            line.replace(second + 1, third - second - 1, "DAY");
        }
        days_blanked += line + "\n";
        start = end + 1;
    }
    out += "== etc/shadow\n" + days_blanked;
    auto state = nlohmann::json::parse(root.read("var/lib/dsvm-agent/state.json"));
    state.erase("usersFingerprint");
    state.erase("usersVerified");
    for (auto& mount : state["mounts"]) {
        mount.erase("mountId");
    }
    std::string state_text = state.dump();
    for (auto at = state_text.find(root.path()); at != std::string::npos;
         at = state_text.find(root.path(), at)) {
        state_text.replace(at, root.path().size(), "ROOT");
    }
    out += "== state\n" + state_text + "\n";
    // Every file the agent may leave: names, types, modes, owners, contents, link targets.
    for (const char* top : {"etc", "home", "var/lib/dsvm-agent"}) {
        std::vector<std::string> lines;
        for (const auto& entry : fs::recursive_directory_iterator(root.path(top))) {
            const std::string path = entry.path().string();
            const std::string name = entry.path().filename().string();
            if (name.back() == '-' || name == "status.json" || name == "fstab.dsvm-agent.bak") {
                continue;
            }
            struct stat info {};
            if (::lstat(path.c_str(), &info) != 0) {
                continue;
            }
            std::string line = path.substr(root.path().size()) + " " +
                               std::to_string(info.st_mode) + " " + std::to_string(info.st_uid) +
                               ":" + std::to_string(info.st_gid);
            if (S_ISLNK(info.st_mode)) {
                line += " -> " + fs::read_symlink(path).string();
            } else if (S_ISREG(info.st_mode) && name != "state.json" && top != std::string("etc")) {
                line += " " + dsvm::read_file(path).value();
            }
            lines.push_back(line);
        }
        std::sort(lines.begin(), lines.end());
        for (const auto& line : lines) {
            out += line + "\n";
        }
    }
    return out;
}

// "" when equal; otherwise the first line that differs, from each side.
std::string first_difference(const std::string& got, const std::string& expected) {
    std::size_t line_start = 0;
    for (std::size_t i = 0; i < std::min(got.size(), expected.size()); ++i) {
        if (got[i] != expected[i]) {
            // The differing place, with a little of what comes before it.
            const std::size_t from = std::max(line_start, i < 80 ? 0 : i - 80);
            const auto line_of = [&](const std::string& text) {
                return text.substr(from, std::min<std::size_t>(160, text.find('\n', from) - from));
            };
            return "got: " + line_of(got) + "\nexpected: " + line_of(expected);
        }
        if (got[i] == '\n') {
            line_start = i + 1;
        }
    }
    return got.size() == expected.size() ? "" : "one is a prefix of the other";
}

}  // namespace

TEST_CASE("crash: a batch that failed after writing group and gshadow is finished next pass",
          "[crash]") {
    Sandbox share;
    Instance one(share.path(), k_pool);
    // shadow cannot be replaced while something is mounted on it (rename gives EBUSY): the
    // batch writes group and gshadow, then fails.
    const std::string shadow = one.sandbox().path("etc/shadow");
    REQUIRE(::mount(shadow.c_str(), shadow.c_str(), nullptr, MS_BIND, nullptr) == 0);
    const auto failed = one.agent({"reconcile"});
    INFO(failed.out << failed.err);
    REQUIRE(failed.exit_code == 1);
    REQUIRE(::umount2(shadow.c_str(), MNT_DETACH) == 0);
    CHECK_THAT(one.sandbox().read("etc/group"), Catch::Contains("\nalice:x:20000:"));
    CHECK(one.uids().count("alice") == 0);

    const auto finished = one.agent({"reconcile"});
    INFO(finished.out << finished.err);
    CHECK(finished.exit_code == 0);
    CHECK(one.uids().at("alice") == "20000");
    CHECK(one.uids().at("bob") == "20001");
    CHECK_THAT(one.sandbox().read("etc/group"), Catch::Contains("datasci:x:998:bob"));
    CHECK(account_check_problems(one).empty());
    CHECK_FALSE(one.sandbox().exists("var/lib/dsvm-agent/users-intent.json"));
}

TEST_CASE("crash: a home whose creation failed half way is made again in full", "[crash]") {
    Sandbox share;
    Instance one(share.path(), k_pool);
    // A skeleton nested too deeply for the copy: the home's creation fails half way.
    std::string deep = "etc/skel";
    for (int level = 0; level < 20; ++level) {
        deep += "/d";
    }
    one.sandbox().mkdir(deep);
    const auto failed = one.agent({"reconcile"});
    INFO(failed.out << failed.err);
    REQUIRE(failed.exit_code == 1);
    CHECK_THAT(failed.out, Catch::Contains("nested too deeply"));

    fs::remove_all(one.sandbox().path("etc/skel/d"));
    const auto finished = one.agent({"reconcile"});
    INFO(finished.out << finished.err);
    CHECK(finished.exit_code == 0);
    for (const char* user : {"alice", "bob"}) {
        const std::string home = one.sandbox().path(std::string("home/") + user);
        CHECK(std::to_string(stat_of(home).st_uid) == one.uids().at(user));
        CHECK(one.sandbox().exists(std::string("home/") + user + "/.bashrc"));
        CHECK(fs::is_symlink(home + "/notebooks/remote"));
    }
    for (const auto& entry : fs::directory_iterator(one.sandbox().path("home"))) {
        CHECK(entry.path().filename().string().find("dsvm-agent") == std::string::npos);
    }
}

TEST_CASE(
    "crash: a first pass of 2,000 users killed anywhere converges to the uninterrupted "
    "result",
    "[crash]") {
    constexpr int k_users = 2000;
    constexpr int k_kills = 12;
    // On a tmpfs, as the instance's disk cache would absorb it: the test measures where a kill
    // lands, not how fast this machine's disk syncs. The test runs in its own mount namespace;
    // the tmpfs gets a directory of its own (TMPDIR for the sandboxes), so a build tree under
    // /tmp stays visible.
    std::string tmpfs = (fs::temp_directory_path() / "dsvm-crash-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpfs.data()) != nullptr);
    REQUIRE(::mount("tmpfs", tmpfs.c_str(), "tmpfs", 0, "size=2g,mode=1777") == 0);
    const char* previous_tmpdir = std::getenv("TMPDIR");
    const std::optional<std::string> saved_tmpdir =
        previous_tmpdir != nullptr ? std::optional<std::string>(previous_tmpdir) : std::nullopt;
    REQUIRE(::setenv("TMPDIR", tmpfs.c_str(), 1) == 0);
    ScopeGuard unmount_tmp([&tmpfs, &saved_tmpdir] {
        if (saved_tmpdir) {
            ::setenv("TMPDIR", saved_tmpdir->c_str(), 1);
        } else {
            ::unsetenv("TMPDIR");
        }
        ::umount2(tmpfs.c_str(), MNT_DETACH);
        ::rmdir(tmpfs.c_str());
    });
    // The uninterrupted run, and how long it takes here.
    Sandbox reference_share;
    seed_registry(reference_share, k_users);
    Instance reference(reference_share.path(), k_share_pool);
    const auto started = std::chrono::steady_clock::now();
    const auto uninterrupted = reference.agent({"reconcile"});
    const auto took = std::chrono::steady_clock::now() - started;
    INFO(uninterrupted.out.substr(0, 2000) << uninterrupted.err);
    REQUIRE(uninterrupted.exit_code == 0);
    REQUIRE(reference.uids().size() == 6 + k_users);
    const std::string expected = normalized_state(reference);
    REQUIRE(account_check_problems(reference).empty());

    int inside_batch = 0;
    int before_state = 0;
    for (int kill = 1; kill <= k_kills; ++kill) {
        const auto delay = took * kill / (k_kills + 1);
        INFO("killed after " << std::chrono::duration_cast<std::chrono::milliseconds>(delay).count()
                             << " ms of a "
                             << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                             << " ms pass");
        Sandbox share;
        seed_registry(share, k_users);
        Instance instance(share.path(), k_share_pool);
        Child pass(
            {DSVM_AGENT_BINARY, "--root", instance.sandbox().path(), "--imds", "off", "reconcile"},
            instance.sandbox().path("killed.log"));
        std::this_thread::sleep_for(delay);
        pass.signal(SIGKILL);
        pass.wait(10000);
        inside_batch += instance.sandbox().exists("var/lib/dsvm-agent/users-intent.json") ? 1 : 0;
        if (instance.sandbox().exists("var/lib/dsvm-agent/state.json")) {
            const auto state =
                nlohmann::json::parse(instance.sandbox().read("var/lib/dsvm-agent/state.json"));
            before_state += state["users"].empty() && instance.uids().size() > 6 ? 1 : 0;
        }

        const auto next = instance.agent({"reconcile"});
        INFO(next.out.substr(0, 2000) << next.err);
        CHECK(next.exit_code == 0);
        CHECK(account_check_problems(instance).empty());
        const std::string difference = first_difference(normalized_state(instance), expected);
        CHECK(difference == "");
        CHECK(instance.agent({"reconcile"}).out == "no changes\n");
    }
    // Where the kills landed, for the record (they are spread over the pass by time).
    WARN(k_kills << " kills: " << inside_batch << " inside the account batch, " << before_state
                 << " after it but before the state file");
}
