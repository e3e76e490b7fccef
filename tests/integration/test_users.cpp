// Pool users across two instances: two sandbox roots whose /srv/share is the same directory (the
// "share"), each running the real binary with local config only.
#include <sys/mount.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "integration/agent_fixture.h"
#include "integration/instance.h"
#include "users/registry_format.h"

using namespace dsvm;
using namespace dsvm::mount;
using namespace dsvm::users;
using namespace dsvm::test;

TEST_CASE("users: two instances end with the same users and UIDs, a second pass changes nothing",
          "[users]") {
    Sandbox share;
    Instance one(share.path(), k_pool);
    Instance two(share.path(), k_pool);

    const auto first = one.agent({"reconcile"});
    INFO(first.out << first.err);
    REQUIRE(first.exit_code == 0);
    const auto second = two.agent({"reconcile"});
    INFO(second.out << second.err);
    REQUIRE(second.exit_code == 0);

    CHECK(one.uids().at("alice") == "20000");
    CHECK(one.uids().at("bob") == "20001");
    CHECK(one.uids() == two.uids());
    CHECK_THAT(one.sandbox().read("etc/group"), Catch::Contains("datasci:x:998:bob"));
    CHECK_THAT(one.sandbox().read("etc/sudoers.d/dsvm-agent"), Catch::Contains("%dsvm-sudo"));
    CHECK(std::filesystem::read_symlink(one.sandbox().path("home/alice/notebooks/remote")) ==
          "/datamnt/share/notebooks/alice");
    CHECK(share.exists("notebooks/alice"));
    CHECK(share.exists(".dsvm-agent/registry.json"));

    const auto again = one.agent({"reconcile"});
    INFO(again.out << again.err);
    CHECK(again.exit_code == 0);
    CHECK(again.out == "no changes\n");

    for (auto* instance : {&one, &two}) {
        // pwck -R checks inside the root: the base accounts' homes and shells must exist there.
        for (const char* dir : {"root", "usr/sbin", "bin", "dev", "nonexistent"}) {
            instance->sandbox().mkdir(dir);
        }
        instance->sandbox().write("bin/bash", "", 0755);
        instance->sandbox().write("usr/sbin/nologin", "", 0755);
        const auto pwck = run_process({"/usr/sbin/pwck", "-r", "-R", instance->sandbox().path()});
        INFO(pwck.out << pwck.err);
        CHECK(pwck.exit_code == 0);
        const auto grpck = run_process({"/usr/sbin/grpck", "-r", "-R", instance->sandbox().path()});
        INFO(grpck.out << grpck.err);
        CHECK(grpck.exit_code == 0);
    }
}

TEST_CASE("users: dozens of concurrent adduser on two instances give distinct UIDs everywhere",
          "[users]") {
    Sandbox share;
    const std::string pool =
        R"({"share": {"source": "/srv/share", "mountPoint": "/datamnt/share"}})";
    Instance one(share.path(), pool);
    Instance two(share.path(), pool);
    REQUIRE(one.agent({"reconcile"}).exit_code == 0);
    REQUIRE(two.agent({"reconcile"}).exit_code == 0);

    std::vector<std::unique_ptr<Child>> children;
    for (int i = 0; i < 24; ++i) {
        Instance& instance = i % 2 == 0 ? one : two;
        std::vector<std::string> argv{DSVM_AGENT_BINARY,
                                      "--root",
                                      instance.sandbox().path(),
                                      "--imds",
                                      "off",
                                      "adduser",
                                      "user" + std::to_string(i)};
        children.push_back(std::make_unique<Child>(
            argv, instance.sandbox().path("adduser" + std::to_string(i) + ".log")));
    }
    for (size_t i = 0; i < children.size(); ++i) {
        const int status = children[i]->wait(60000);
        Instance& instance = i % 2 == 0 ? one : two;
        INFO(instance.sandbox().read("adduser" + std::to_string(i) + ".log"));
        CHECK(status == 0);
    }
    REQUIRE(one.agent({"reconcile"}).exit_code == 0);
    REQUIRE(two.agent({"reconcile"}).exit_code == 0);
    const auto uids = one.uids();
    CHECK(uids == two.uids());
    std::set<std::string> distinct;
    for (int i = 0; i < 24; ++i) {
        const auto found = uids.find("user" + std::to_string(i));
        REQUIRE(found != uids.end());
        distinct.insert(found->second);
    }
    CHECK(distinct.size() == 24);
}

TEST_CASE("users: hostile names exit 2 and change nothing", "[users]") {
    Sandbox share;
    Instance one(share.path(), k_pool);
    REQUIRE(one.agent({"reconcile"}).exit_code == 0);
    const std::string before = tree_digest(one.sandbox().path()) + tree_digest(share.path());
    for (const char* name :
         {"-rf", "root", "../x", "Alice", "a b", "a;id", "abcdefghijklmnopqrstuvwxyz0123456789abcd",
          "", "azureuser", "bob:x:0:0", "j\xc3\xb6rg", "daemon"}) {
        const auto result = one.agent({"adduser", "--", name});
        INFO(name << ": " << result.err);
        CHECK(result.exit_code == 2);
    }
    CHECK(tree_digest(one.sandbox().path()) + tree_digest(share.path()) == before);
}

TEST_CASE("users: an unmanaged local bob is untouched, the conflict is reported", "[users]") {
    Sandbox share;
    Instance one(share.path(), k_pool);
    const std::string bob = "bob:x:1001:1001:Bob Local:/home/bob:/bin/zsh\n";
    one.sandbox().write("etc/passwd", std::string(k_passwd) + bob);
    const auto result = one.agent({"reconcile"});
    INFO(result.out << result.err);
    CHECK(result.exit_code == 1);
    CHECK_THAT(result.out, Catch::Contains("local account 'bob' (uid 1001) was not created"));
    const std::string passwd = one.sandbox().read("etc/passwd");
    CHECK_THAT(passwd, Catch::Contains(bob));
    CHECK_THAT(passwd, Catch::Contains("alice:x:20000:20000:dsvm-agent pool user"));
    const auto status = one.agent({"status"});
    CHECK_THAT(status.out, Catch::Contains("Problem:") && Catch::Contains("'bob'"));
}

TEST_CASE("users: ~/notebooks made a symlink to /etc gets nothing outside the home touched",
          "[users]") {
    Sandbox share;
    Instance one(share.path(), k_pool);
    REQUIRE(one.agent({"reconcile"}).exit_code == 0);
    std::filesystem::remove_all(one.sandbox().path("home/alice/notebooks"));
    std::filesystem::create_directory_symlink(one.sandbox().path("etc"),
                                              one.sandbox().path("home/alice/notebooks"));
    const std::string before = tree_digest(one.sandbox().path("etc"));
    const auto result = one.agent({"reconcile"});
    INFO(result.out << result.err);
    CHECK(result.exit_code == 1);
    CHECK_THAT(result.out, Catch::Contains("symlink"));
    CHECK(tree_digest(one.sandbox().path("etc")) == before);
}

TEST_CASE("users: deluser locks the account on every instance and keeps its UID", "[users]") {
    Sandbox share;
    const std::string pool =
        R"({"share": {"source": "/srv/share", "mountPoint": "/datamnt/share"}})";
    Instance one(share.path(), pool);
    Instance two(share.path(), pool);
    REQUIRE(one.agent({"adduser", "carol"}).exit_code == 0);
    REQUIRE(two.agent({"reconcile"}).exit_code == 0);
    CHECK(two.uids().at("carol") == "20000");

    const auto removed = one.agent({"deluser", "carol"});
    INFO(removed.out << removed.err);
    CHECK(removed.exit_code == 0);
    REQUIRE(two.agent({"reconcile"}).exit_code == 0);
    for (auto* instance : {&one, &two}) {
        CHECK_THAT(instance->sandbox().read("etc/shadow"), Catch::Contains("carol:!"));
    }
    // --remove-notebooks deletes the folder on the share, and only it.
    share.write("notebooks/carol/thesis.ipynb", "{}");
    const auto purged = one.agent({"deluser", "carol", "--remove-notebooks"});
    INFO(purged.out << purged.err);
    CHECK(purged.exit_code == 0);
    CHECK_FALSE(share.exists("notebooks/carol"));
    CHECK(share.exists(".dsvm-agent/registry.json"));

    // A new user never gets carol's UID.
    REQUIRE(one.agent({"adduser", "dave"}).exit_code == 0);
    CHECK(one.uids().at("dave") == "20001");

    const auto listing = one.agent({"users", "--json"});
    REQUIRE(listing.exit_code == 0);
    const auto parsed = nlohmann::json::parse(listing.out);
    REQUIRE(parsed.size() == 2);
    CHECK(parsed[0]["name"] == "carol");
    CHECK(parsed[0]["deleted"] == true);
    CHECK(parsed[0]["thisInstance"] == "locked");
}

TEST_CASE("users: a password from stdin reaches shadow as a hash only", "[users]") {
    Sandbox share;
    const std::string pool =
        R"({"share": {"source": "/srv/share", "mountPoint": "/datamnt/share"}})";
    Instance one(share.path(), pool);
    const auto added =
        one.agent({"adduser", "erin", "--password-stdin"}, "correct horse battery\n");
    INFO(added.out << added.err);
    REQUIRE(added.exit_code == 0);
    CHECK_THAT(one.sandbox().read("etc/shadow"), Catch::Contains("erin:$y$"));
    CHECK(files_with_text(one.sandbox().path(), "correct horse").empty());
    CHECK(files_with_text(share.path(), "correct horse").empty());
}

namespace {

// The registry on the share as the pool admin (who holds the key) would rewrite it by hand:
// parsed, changed, signed again at the next generation.
void rewrite_registry(Sandbox& share, const std::function<void(Registry&)>& change) {
    auto file = parse_registry_file(share.read(".dsvm-agent/registry.json"));
    REQUIRE(file.ok());
    Registry registry = file->registry;
    change(registry);
    ++registry.generation;
    share.write(".dsvm-agent/registry.json", render_registry_file(registry, k_pool_key), 0600);
    share.write(".dsvm-agent/generation", std::to_string(registry.generation) + "\n", 0600);
}

std::string shadow_line(Instance& instance, const std::string& name) {
    const std::string shadow = instance.sandbox().read("etc/shadow");
    const auto at = shadow.find("\n" + name + ":");
    return at == std::string::npos ? "" : shadow.substr(at + 1, shadow.find('\n', at + 1) - at - 1);
}

const std::string k_empty_pool =
    R"({"share": {"source": "/srv/share", "mountPoint": "/datamnt/share"}})";

}  // namespace

TEST_CASE("users: an account whose registry entry vanished is locked, its UID is never reused",
          "[users]") {
    Sandbox share;
    Instance one(share.path(), k_empty_pool);
    Instance two(share.path(), k_empty_pool);
    for (const char* name : {"alice", "carol"}) {
        REQUIRE(one.agent({"adduser", name, "--sudo"}).exit_code == 0);
    }
    REQUIRE(two.agent({"reconcile"}).exit_code == 0);
    CHECK(two.uids().at("carol") == "20001");
    CHECK_THAT(two.sandbox().read("etc/group"), Catch::Contains("alice,carol"));

    // Given carol's entry gone from a registry that verifies (an admin's edit, an old backup
    // signed again), we expect her account locked everywhere, out of dsvm-sudo, and reported.
    rewrite_registry(share, [](Registry& registry) {
        std::erase_if(registry.users,
                      [](const RegistryUser& user) { return user.name == "carol"; });
    });
    for (auto* instance : {&one, &two}) {
        const auto pass = instance->agent({"reconcile"});
        INFO(pass.out << pass.err);
        CHECK(pass.exit_code == 0);
        CHECK_THAT(pass.out, Catch::Contains("lock user carol"));
        CHECK_THAT(shadow_line(*instance, "carol"),
                   Catch::StartsWith("carol:!:") && Catch::EndsWith(":1:"));
        CHECK_THAT(instance->sandbox().read("etc/group"),
                   !Catch::Contains("carol,") && !Catch::Contains(",carol"));
        CHECK_THAT(instance->agent({"status"}).out, Catch::Contains("Warning:") &&
                                                        Catch::Contains("no valid entry") &&
                                                        Catch::Contains("carol"));
    }
    // The next user never gets carol's UID, though no entry holds it any more.
    REQUIRE(one.agent({"adduser", "dave"}).exit_code == 0);
    CHECK(one.uids().at("dave") == "20002");
}

TEST_CASE("users: a registry that disappeared is an error, not an empty pool", "[users]") {
    Sandbox share;
    Instance one(share.path(), k_empty_pool);
    REQUIRE(one.agent({"adduser", "alice", "--sudo"}).exit_code == 0);
    const std::string before = one.sandbox().read("etc/passwd") + one.sandbox().read("etc/shadow");
    REQUIRE(::unlink(share.path(".dsvm-agent/registry.json").c_str()) == 0);

    const auto pass = one.agent({"reconcile"});
    INFO(pass.out << pass.err);
    CHECK(pass.exit_code == 1);
    CHECK_THAT(pass.out, Catch::Contains("has disappeared") && Catch::Contains("generation 1"));
    CHECK(one.sandbox().read("etc/passwd") + one.sandbox().read("etc/shadow") == before);
    CHECK_THAT(shadow_line(one, "alice"), !Catch::EndsWith(":1:"));

    // Nor does a new user start a new, empty registry in its place.
    const auto added = one.agent({"adduser", "bob"});
    CHECK(added.exit_code == 1);
    CHECK_FALSE(share.exists(".dsvm-agent/registry.json"));
}

TEST_CASE("users: deluser then adduser does not bring the old password back", "[users]") {
    Sandbox share;
    Instance one(share.path(), k_empty_pool);
    Instance two(share.path(), k_empty_pool);
    REQUIRE(one.agent({"adduser", "dave", "--password-stdin"}, "old secret words\n").exit_code ==
            0);
    REQUIRE(two.agent({"reconcile"}).exit_code == 0);
    const std::string hashed = shadow_line(two, "dave");
    REQUIRE_THAT(hashed, Catch::StartsWith("dave:$y$"));
    const std::string hash = hashed.substr(5, hashed.find(':', 5) - 5);

    REQUIRE(one.agent({"deluser", "dave"}).exit_code == 0);
    REQUIRE(two.agent({"reconcile"}).exit_code == 0);
    REQUIRE(one.agent({"adduser", "dave"}).exit_code == 0);
    REQUIRE(two.agent({"reconcile"}).exit_code == 0);
    for (auto* instance : {&one, &two}) {
        CHECK_THAT(shadow_line(*instance, "dave"), Catch::StartsWith("dave:!:"));
        CHECK(instance->sandbox().read("etc/shadow").find(hash) == std::string::npos);
        CHECK_THAT(shadow_line(*instance, "dave"), !Catch::EndsWith(":1:"));  // not locked
    }
    CHECK(share.read(".dsvm-agent/registry.json").find(hash) == std::string::npos);
}

TEST_CASE("users: --remove-notebooks keeps the notebooks when the deletion did not commit",
          "[users]") {
    Sandbox share;
    Instance one(share.path(), k_empty_pool);
    REQUIRE(one.agent({"adduser", "gina"}).exit_code == 0);
    share.write("notebooks/gina/thesis.ipynb", "{}");
    share.write(".dsvm-agent/registry.json", "{\"version\": 2, \"truncated", 0600);

    const auto removed = one.agent({"deluser", "gina", "--remove-notebooks"});
    INFO(removed.out << removed.err);
    CHECK(removed.exit_code == 1);
    CHECK(share.exists("notebooks/gina/thesis.ipynb"));
    CHECK_THAT(removed.err, Catch::Contains("were not removed") ||
                                Catch::Contains("notebooks were not removed"));
}

TEST_CASE("users: a registry nested 200,000 deep is refused without a crash", "[users]") {
    Sandbox share;
    Instance one(share.path(), k_pool);
    REQUIRE(one.agent({"reconcile"}).exit_code == 0);
    share.write(".dsvm-agent/registry.json",
                R"({"version": 2, "registry": {"users": [)" + std::string(200000, '[') +
                    std::string(200000, ']') + "]}}",
                0600);
    for (const std::vector<std::string>& command :
         {std::vector<std::string>{"users"}, {"reconcile"}, {"users", "--json"}}) {
        const auto result = one.agent(command);
        INFO(command[0] << ": " << result.out << result.err);
        CHECK(result.exit_code == 1);  // not -1: no signal ended it
        CHECK_THAT(result.out + result.err, Catch::Contains("levels deep"));
    }
    CHECK_THAT(one.agent({"status"}).out, Catch::Contains("levels deep"));
}

TEST_CASE("users: the generation file is never followed nor waited on", "[users]") {
    Sandbox share;
    Instance one(share.path(), k_pool);
    REQUIRE(one.agent({"reconcile"}).exit_code == 0);
    one.sandbox().write("root/secret.txt", "local-only-secret-content\n", 0600);
    REQUIRE(::unlink(share.path(".dsvm-agent/generation").c_str()) == 0);

    SECTION("a FIFO") {
        REQUIRE(::mkfifo(share.path(".dsvm-agent/generation").c_str(), 0600) == 0);
    }
    SECTION("a symlink to a local file") {
        REQUIRE(::symlink(one.sandbox().path("root/secret.txt").c_str(),
                          share.path(".dsvm-agent/generation").c_str()) == 0);
    }
    // The daemon's fast path reads the generation first; a FIFO would hold its pass forever.
    REQUIRE(::unlink(one.sandbox().path("var/lib/dsvm-agent/status.json").c_str()) == 0);
    Child daemon({DSVM_AGENT_BINARY, "--root", one.sandbox().path(), "--imds", "off", "run"},
                 one.sandbox().path("daemon.log"));
    const bool passed = eventually(
        [&] {
            return one.sandbox().exists("var/lib/dsvm-agent/status.json") &&
                   one.sandbox().read("var/lib/dsvm-agent/status.json").find("\"time\"") !=
                       std::string::npos;
        },
        20000);
    CHECK(passed);
    daemon.signal(SIGTERM);
    CHECK(daemon.wait(10000) == 0);
    // A one-shot pass reads it too (for the fingerprint it records); bounded, so a hang fails.
    Child pass({DSVM_AGENT_BINARY, "--root", one.sandbox().path(), "--imds", "off", "reconcile"},
               one.sandbox().path("reconcile.log"));
    CHECK(pass.wait(20000) == 0);
    CHECK(one.sandbox().read("var/lib/dsvm-agent/state.json").find("local-only-secret") ==
          std::string::npos);
    CHECK(one.sandbox().read("var/lib/dsvm-agent/status.json").find("local-only-secret") ==
          std::string::npos);
}

TEST_CASE("users: names the system or a package uses are refused", "[users]") {
    Sandbox share;
    Instance one(share.path(), k_empty_pool);
    // NIS compat entries reserve their names too.
    one.sandbox().write("etc/passwd", std::string(k_passwd) + "+nisuser::::::\n");
    REQUIRE(one.agent({"reconcile"}).exit_code == 0);
    const std::string before = tree_digest(one.sandbox().path("etc")) + tree_digest(share.path());
    for (const char* name : {"dsvm-sudo", "docker", "lxd", "systemd-coredump", "_chrony",
                             "postgres", "nisuser", "datasci"}) {
        const auto result = one.agent({"adduser", name});
        INFO(name << ": " << result.err);
        CHECK(result.exit_code == 2);
    }
    for (const char* group : {"sudo", "shadow", "root", "docker", "adm", "dsvm-sudo"}) {
        const auto result = one.agent({"adduser", "erin", "--groups", group});
        INFO(group << ": " << result.err);
        CHECK(result.exit_code == 2);
        CHECK_THAT(result.err, Catch::Contains("privileged"));
    }
    CHECK(tree_digest(one.sandbox().path("etc")) + tree_digest(share.path()) == before);
}

TEST_CASE("users: names from an unverified registry reach the terminal escaped", "[users]") {
    Sandbox share;
    Instance one(share.path(), k_pool);
    REQUIRE(one.agent({"reconcile"}).exit_code == 0);
    share.write(".dsvm-agent/registry.json",
                "{\"version\": 1, \"generation\": 9, \"users\": [{\"name\": "
                "\"x\\u001b]0;pwned\\u0007\\u001b[2J\", \"uid\": 20009}]}",
                0600);
    const auto listing = one.agent({"users"});
    CHECK(listing.exit_code == 1);
    CHECK_THAT(listing.out, Catch::Contains("NOT VERIFIED") && Catch::Contains("x\\x1b]0;pwned"));
    for (const auto& text : {listing.out, listing.err, one.agent({"users", "--json"}).out,
                             one.agent({"reconcile"}).out, one.agent({"status"}).out,
                             one.sandbox().read("var/lib/dsvm-agent/status.json")}) {
        CHECK(text.find('\x1b') == std::string::npos);
        CHECK(text.find('\x07') == std::string::npos);
    }
}

namespace {

// Runs `command` with the real sudo tools against the instance's account files and sudoers
// drop-in: in a child mount namespace they are bound over /etc, and /run (sudo's timestamps,
// the log sockets) is a fresh tmpfs, so nothing outside the sandbox is read or written.
ProcessResult with_instance_etc(Instance& instance, const std::vector<std::string>& command) {
    const std::string script = R"(set -e
root=$1
shift
for file in passwd group shadow gshadow; do mount --bind "$root/etc/$file" "/etc/$file"; done
mount --bind "$root/etc/sudoers.d" /etc/sudoers.d
# sudo's timestamps and every log socket stay in the namespace: a fresh /run, /var/lib/sudo.
mount -t tmpfs tmpfs /run
if [ -d /var/lib/sudo ]; then mount -t tmpfs tmpfs /var/lib/sudo; fi
exec "$@"
)";
    std::vector<std::string> argv{"/usr/bin/unshare",
                                  "--mount",
                                  "--propagation",
                                  "private",
                                  "/bin/sh",
                                  "-c",
                                  script,
                                  "with_etc",
                                  instance.sandbox().path()};
    argv.insert(argv.end(), command.begin(), command.end());
    return run_process(argv);
}

// `sudo -n true` as `user`, from a login-less process with the user's own groups.
ProcessResult sudo_as(Instance& instance, const std::string& user) {
    return with_instance_etc(instance, {"runuser", "-u", user, "--", "sudo", "-n", "true"});
}

// What sudo's policy grants `user` (asked as root).
std::string sudo_rights(Instance& instance, const std::string& user) {
    const auto listed = with_instance_etc(instance, {"sudo", "-n", "-l", "-U", user});
    return listed.out + listed.err;
}

std::string group_id(Instance& instance, const std::string& name) {
    const std::string text = instance.sandbox().read("etc/group");
    const auto at = text.find("\n" + name + ":x:");
    REQUIRE(at != std::string::npos);
    const auto start = at + name.size() + 4;
    return text.substr(start, text.find(':', start) - start);
}

// `sudo -n true` as `user` from a process that carries dsvm-sudo in its groups, as one the
// user started while they had sudo would.
ProcessResult sudo_as_member(Instance& instance, const std::string& user) {
    return with_instance_etc(instance, {"setpriv", "--reuid", user, "--regid", user, "--groups",
                                        group_id(instance, "dsvm-sudo"), "sudo", "-n", "true"});
}

}  // namespace

TEST_CASE(
    "users: sudoAuthentication decides whether the real sudo asks a key-only user for a "
    "password",
    "[users][sudo]") {
    Sandbox share;
    const std::string without_password =
        R"({"share": {"source": "/srv/share", "mountPoint": "/datamnt/share"},
            "sudoAuthentication": "none",
            "users": [{"name": "alice", "sudo": true}, {"name": "bob"}]})";
    Instance one(share.path(), without_password);

    const auto first = one.agent({"reconcile"});
    INFO(first.out << first.err);
    REQUIRE(first.exit_code == 0);
    CHECK_THAT(one.sandbox().read("etc/sudoers.d/dsvm-agent"),
               Catch::Contains("%dsvm-sudo ALL=(ALL:ALL) NOPASSWD: ALL"));
    // alice has no password (only keys would let her in), and sudo lets her through.
    const auto alice = sudo_as(one, "alice");
    INFO(alice.out << alice.err);
    CHECK(alice.exit_code == 0);
    CHECK_THAT(sudo_rights(one, "alice"), Catch::Contains("(ALL : ALL) NOPASSWD: ALL"));
    // bob has no sudo at all.
    CHECK_THAT(sudo_rights(one, "bob"), Catch::Contains("not allowed to run sudo"));

    // Back to the default: the drop-in is rewritten and sudo asks alice for a password she
    // does not have.
    one.sandbox().write("etc/dsvm-agent/pool.json",
                        R"({"share": {"source": "/srv/share", "mountPoint": "/datamnt/share"},
                            "users": [{"name": "alice", "sudo": true}, {"name": "bob"}]})");
    const auto second = one.agent({"reconcile"});
    INFO(second.out << second.err);
    REQUIRE(second.exit_code == 0);
    const std::string dropin = one.sandbox().read("etc/sudoers.d/dsvm-agent");
    CHECK_THAT(dropin, Catch::Contains("%dsvm-sudo ALL=(ALL:ALL) ALL"));
    CHECK_THAT(dropin, !Catch::Contains("NOPASSWD"));
    const std::string rights = sudo_rights(one, "alice");
    CHECK_THAT(rights, Catch::Contains("(ALL : ALL) ALL"));
    CHECK_THAT(rights, !Catch::Contains("NOPASSWD"));
    const auto asked = sudo_as(one, "alice");
    INFO(asked.out << asked.err);
    CHECK(asked.exit_code != 0);
    CHECK_THAT(asked.err, Catch::Contains("password is required"));
}

TEST_CASE(
    "users: a pool that drops NOPASSWD and every sudo user in one change keeps no NOPASSWD line",
    "[users][sudo]") {
    Sandbox share;
    Instance one(share.path(),
                 R"({"share": {"source": "/srv/share", "mountPoint": "/datamnt/share"},
            "sudoAuthentication": "none", "users": [{"name": "alice", "sudo": true}]})");
    const auto first = one.agent({"reconcile"});
    INFO(first.out << first.err);
    REQUIRE(first.exit_code == 0);
    // A process alice started while she had sudo keeps dsvm-sudo in its groups.
    const auto before = sudo_as_member(one, "alice");
    INFO(before.out << before.err);
    REQUIRE(before.exit_code == 0);

    // alice loses sudo and the pool goes back to passwords in the same change.
    one.sandbox().write("etc/dsvm-agent/pool.json",
                        R"({"share": {"source": "/srv/share", "mountPoint": "/datamnt/share"},
                            "users": [{"name": "alice"}]})");
    const auto second = one.agent({"reconcile"});
    INFO(second.out << second.err);
    REQUIRE(second.exit_code == 0);
    CHECK_THAT(one.sandbox().read("etc/sudoers.d/dsvm-agent"), !Catch::Contains("NOPASSWD"));
    const auto after = sudo_as_member(one, "alice");
    INFO(after.out << after.err);
    CHECK(after.exit_code != 0);
    CHECK_THAT(after.err, Catch::Contains("password is required"));
}

TEST_CASE("users: with sudoAuthentication none, a deleted sudo user's running process gets no root",
          "[users][sudo]") {
    Sandbox share;
    Instance one(share.path(),
                 R"({"share": {"source": "/srv/share", "mountPoint": "/datamnt/share"},
            "sudoAuthentication": "none"})");
    const auto added = one.agent({"adduser", "carol", "--sudo"});
    INFO(added.out << added.err);
    REQUIRE(added.exit_code == 0);
    const auto before = sudo_as_member(one, "carol");
    INFO(before.out << before.err);
    REQUIRE(before.exit_code == 0);

    // Deleted: out of dsvm-sudo and expired. A process that still carries the group matches
    // the NOPASSWD line, and PAM's account check refuses it.
    const auto removed = one.agent({"deluser", "carol"});
    INFO(removed.out << removed.err);
    REQUIRE(removed.exit_code == 0);
    const auto after = sudo_as_member(one, "carol");
    INFO(after.out << after.err);
    CHECK(after.exit_code != 0);
    CHECK_THAT(after.err, Catch::Contains("account validation failure"));
}

TEST_CASE(
    "users: sudoAuthentication password takes effect even on a pass that stops before the "
    "accounts",
    "[users][sudo]") {
    Sandbox share;
    Instance one(share.path(),
                 R"({"share": {"source": "/srv/share", "mountPoint": "/datamnt/share"},
            "sudoAuthentication": "none", "users": [{"name": "alice", "sudo": true}]})");
    const auto first = one.agent({"reconcile"});
    INFO(first.out << first.err);
    REQUIRE(first.exit_code == 0);
    REQUIRE_THAT(one.sandbox().read("etc/sudoers.d/dsvm-agent"), Catch::Contains("NOPASSWD"));

    // Without its registry key the pass stops before any account is looked at.
    REQUIRE(::unlink(one.sandbox().path("etc/dsvm-agent/credentials/registry.key").c_str()) == 0);
    one.sandbox().write("etc/dsvm-agent/pool.json",
                        R"({"share": {"source": "/srv/share", "mountPoint": "/datamnt/share"},
                            "users": [{"name": "alice", "sudo": true}]})");
    const auto second = one.agent({"reconcile"});
    INFO(second.out << second.err);
    CHECK(second.exit_code != 0);
    CHECK_THAT(one.sandbox().read("etc/sudoers.d/dsvm-agent"), !Catch::Contains("NOPASSWD"));
    CHECK_THAT(sudo_rights(one, "alice"), !Catch::Contains("NOPASSWD"));
}

TEST_CASE(
    "users: --dry-run lists the homes, keys and links a pass would repair, and changes "
    "nothing",
    "[users][dry-run]") {
    Sandbox share;
    const std::string pool =
        R"({"share": {"source": "/srv/share", "mountPoint": "/datamnt/share"},
            "users": [{"name": "alice", "sshKeys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOVBMq5Mpj6TIleWKV4Qi3ll8n4jG+wePC90IL4Y6klz alice@laptop"]},
                      {"name": "bob"}]})";
    Instance one(share.path(), pool);
    const auto first = one.agent({"reconcile"});
    INFO(first.out << first.err);
    REQUIRE(first.exit_code == 0);
    const auto clean = one.agent({"reconcile", "--dry-run"});
    INFO(clean.out << clean.err);
    CHECK(clean.exit_code == 0);
    CHECK(clean.out == "no changes\n");

    // Damage done on the instance and the share: alice's keys and link, bob's whole home, his
    // folder on the share.
    std::filesystem::remove(one.sandbox().path("home/alice/.ssh/authorized_keys"));
    std::filesystem::remove(one.sandbox().path("home/alice/notebooks/remote"));
    std::filesystem::remove_all(one.sandbox().path("home/bob"));
    std::filesystem::remove_all(share.path("notebooks/bob"));
    const std::string root_before = tree_digest(one.sandbox().path());
    const std::string share_before = tree_digest(share.path());

    const auto dry = one.agent({"reconcile", "--dry-run"});
    INFO(dry.out << dry.err);
    CHECK(dry.exit_code == 0);
    CHECK_THAT(dry.out, Catch::Contains("would: write SSH keys of alice\n"));
    CHECK_THAT(dry.out, Catch::Contains("would: link /home/alice/notebooks/remote to "
                                        "/datamnt/share/notebooks/alice\n"));
    CHECK_THAT(dry.out, Catch::Contains("would: create home /home/bob\n"));
    CHECK_THAT(dry.out, Catch::Contains("would: link /home/bob/notebooks/remote to "
                                        "/datamnt/share/notebooks/bob\n"));
    CHECK_THAT(dry.out, Catch::Contains("would: make notebook folder notebooks/bob for bob\n"));
    // What is in place is not listed: alice's home, bob's keys (he has none), alice's folder.
    CHECK_THAT(dry.out, !Catch::Contains("home /home/alice"));
    CHECK_THAT(dry.out, !Catch::Contains("SSH keys of bob"));
    CHECK_THAT(dry.out, !Catch::Contains("notebooks/alice for alice"));
    CHECK(tree_digest(one.sandbox().path()) == root_before);
    CHECK(tree_digest(share.path()) == share_before);

    // The pass does what the dry run listed, and nothing is left to do.
    const auto repair = one.agent({"reconcile"});
    INFO(repair.out << repair.err);
    CHECK(repair.exit_code == 0);
    const auto after = one.agent({"reconcile", "--dry-run"});
    INFO(after.out << after.err);
    CHECK(after.out == "no changes\n");
}
