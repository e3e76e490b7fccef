// Trust boundaries (docs/security.md): nothing a pool user, or anyone else who can write the
// share, puts there makes anyone root or changes an account. Two instances run the real binary
// on one share; the attacker is a separate process running as an unprivileged user (nobody).
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "integration/instance.h"
#include "integration/recording_helper.h"
#include "support/registry_fixture.h"
#include "users/registry_format.h"

using namespace dsvm;
using namespace dsvm::users;
using namespace dsvm::test;

namespace {

constexpr uid_t k_nobody = 65534;
const std::string k_storage_key =
    "Xk9pQ2wE7rT4yU1iO8aS5dF3gH6jK0lZ2xC4vB7nM9qW1eR3tY5uI8oP0aS2dF4gH6jK8lZ0xC2vB4nM6qW8eR1"
    "==";
const std::string k_source = "//acct.file.core.windows.net/dsvmshare";

// An SMB pool in "shared" mode: one mount that every local user can read and write.
std::string smb_shared_pool() {
    return R"({"share": {"source": ")" + k_source +
           R"(", "mountPoint": "/datamnt/share", "smbAccess": "shared"},
              "users": [{"name": "alice", "sudo": true}, {"name": "bob"}]})";
}

// Runs `body` as nobody in a child process; true when it returned true.
bool as_nobody(const std::function<bool()>& body) {
    const pid_t child = ::fork();
    if (child == 0) {
        bool done = false;
        try {
            done = ::setgroups(0, nullptr) == 0 && ::setresgid(k_nobody, k_nobody, k_nobody) == 0 &&
                   ::setresuid(k_nobody, k_nobody, k_nobody) == 0 && body();
        } catch (...) {
            done = false;
        }
        ::_exit(done ? 0 : 1);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// What a pass could change that matters: accounts, groups, passwords, sudo, homes.
std::string accounts_digest(Instance& instance) {
    std::string digest;
    for (const char* file : {"etc/passwd", "etc/group", "etc/shadow", "etc/gshadow"}) {
        digest += instance.sandbox().read(file);
    }
    digest += tree_digest(instance.sandbox().path("etc/sudoers.d"));
    digest += tree_digest(instance.sandbox().path("home"));
    return digest;
}

std::string status_of(Instance& instance) {
    const auto status = instance.agent({"status"});
    return status.out + status.err;
}

// The share as an SMB client mounted "shared" shows it: every file and directory writable by
// everyone (the owners and modes are the client's fiction).
void open_to_everyone(const std::string& path) {
    for (const auto& entry : std::filesystem::recursive_directory_iterator(path)) {
        if (!entry.is_symlink()) {
            std::filesystem::permissions(entry.path(), std::filesystem::perms::all);
        }
    }
    std::filesystem::permissions(path, std::filesystem::perms::all);
}

nlohmann::json read_json(const std::string& path) {
    return nlohmann::json::parse(read_file(path).value());
}

bool write_text(const std::string& path, const std::string& text) {
    const std::string temporary = path + ".new";
    auto written = write_file_atomic(temporary, text, 0666);
    return written.ok() && ::rename(temporary.c_str(), path.c_str()) == 0;
}

}  // namespace

TEST_CASE("trust: a pool user who can write an SMB shared share gains nothing on any instance",
          "[trust]") {
    // The server keeps one tree; each instance mounts it through the recording helper.
    Sandbox server;
    REQUIRE(::chmod(server.path().c_str(), 0755) == 0);
    Instance one(smb_shared_pool());
    Instance two(smb_shared_pool());
    RecordingHelper helper_one(one.sandbox(), 0, server.path());
    for (auto* instance : {&one, &two}) {
        REQUIRE(instance->agent({"credentials", "set", "acct", "--key-stdin"}, k_storage_key)
                    .exit_code == 0);
        const auto first = instance->agent({"reconcile"});
        INFO(first.out << first.err);
        REQUIRE(first.exit_code == 0);
    }
    REQUIRE(one.agent({"adduser", "carol"}).exit_code == 0);
    REQUIRE(two.agent({"reconcile"}).exit_code == 0);
    const std::string share = server.path("acct.file.core.windows.net/dsvmshare");
    const std::string directory = share + "/.dsvm-agent";
    const std::string registry = directory + "/registry.json";
    REQUIRE(path_exists(registry));
    open_to_everyone(share);
    const std::string original = read_file(registry).value();

    // Each edit a local user could make through the 0777 mount, with the nobody account.
    const std::vector<std::pair<std::string, std::function<bool()>>> edits = {
        {"add a user with sudo",
         [&] {
             auto document = read_json(registry);
             document["registry"]["users"].push_back(
                 {{"name", "mallory"}, {"uid", 20100}, {"gid", 20100}, {"sudo", true}});
             return write_text(registry, document.dump(2));
         }},
        {"give bob sudo",
         [&] {
             auto document = read_json(registry);
             for (auto& user : document["registry"]["users"]) {
                 if (user["name"] == "bob") {
                     user["sudo"] = true;
                 }
             }
             return write_text(registry, document.dump(2));
         }},
        {"add bob to a group",
         [&] {
             auto document = read_json(registry);
             for (auto& user : document["registry"]["users"]) {
                 if (user["name"] == "bob") {
                     user["groups"] = {"datasci"};
                 }
             }
             return write_text(registry, document.dump(2));
         }},
        {"change carol's UID",
         [&] {
             auto document = read_json(registry);
             for (auto& user : document["registry"]["users"]) {
                 if (user["name"] == "carol") {
                     user["uid"] = 20050;
                     user["gid"] = 20050;
                 }
             }
             return write_text(registry, document.dump(2));
         }},
        {"remove carol's entry",
         [&] {
             auto document = read_json(registry);
             auto& users = document["registry"]["users"];
             for (std::size_t i = 0; i < users.size(); ++i) {
                 if (users[i]["name"] == "carol") {
                     users.erase(i);
                     break;
                 }
             }
             return write_text(registry, document.dump(2));
         }},
        {"replace the file with one signed by another key",
         [&] {
             Registry forged;
             forged.generation = 999;
             RegistryUser mallory;
             mallory.name = "mallory";
             mallory.uid = mallory.gid = 20100;
             mallory.sudo = true;
             forged.users = {mallory};
             return write_text(registry, render_registry_file(forged, k_other_key));
         }},
        {"replace the file with an unsigned one",
         [&] {
             return write_text(registry,
                               R"({"version": 1, "generation": 999, "users": [{"name": "mallory",
                                   "uid": 20100, "gid": 20100, "sudo": true}]})");
         }},
        {"symlink the directory to one of their own",
         [&] {
             const std::string own = share + "/mine";
             std::error_code ignored;
             std::filesystem::create_directory(own, ignored);
             return ::rename(directory.c_str(), (share + "/moved").c_str()) == 0 &&
                    write_text(own + "/registry.json", R"({"version": 1, "generation": 999,
                        "users": [{"name": "mallory", "uid": 20100, "sudo": true}]})") &&
                    ::symlink(own.c_str(), directory.c_str()) == 0;
         }},
    };
    for (const auto& [what, edit] : edits) {
        INFO("edit: " << what);
        const std::string before_one = accounts_digest(one);
        const std::string before_two = accounts_digest(two);
        REQUIRE(as_nobody(edit));
        for (auto* instance : {&one, &two}) {
            const auto pass = instance->agent({"reconcile"});
            INFO(pass.out << pass.err);
            CHECK(pass.exit_code == 1);
            CHECK_THAT(status_of(*instance),
                       Catch::Contains("Problem:") &&
                           (Catch::Contains("registry refused") || Catch::Contains("symlink")));
            CHECK(instance->uids().count("mallory") == 0);
        }
        CHECK(accounts_digest(one) == before_one);
        CHECK(accounts_digest(two) == before_two);
        // Put the share back as the agent left it.
        std::error_code ignored;
        if (std::filesystem::is_symlink(directory)) {
            std::filesystem::remove(directory);
            std::filesystem::rename(share + "/moved", directory);
        }
        REQUIRE(write_file_atomic(registry, original, 0666).ok());
        open_to_everyone(share);
        REQUIRE(one.agent({"reconcile"}).exit_code == 0);
    }
}

TEST_CASE("trust: on a POSIX share, a registry planted by another user makes nobody root",
          "[trust]") {
    // A share root open to all (1777) before the agent first wrote there: nobody plants
    // .dsvm-agent, or a link to a directory of their own.
    Sandbox share;
    REQUIRE(::chmod(share.path().c_str(), 01777) == 0);
    const std::string pool =
        R"({"share": {"source": "/srv/share", "mountPoint": "/datamnt/share"},
            "users": [{"name": "alice"}]})";
    Instance one(share.path(), pool);
    const std::string planted = R"({"version": 1, "generation": 1, "users": [
        {"name": "alice", "uid": 20000}, {"name": "mallory", "uid": 20001, "sudo": true}]})";

    SECTION("a directory nobody made") {
        REQUIRE(as_nobody([&] {
            return ::mkdir(share.path(".dsvm-agent").c_str(), 0700) == 0 &&
                   write_text(share.path(".dsvm-agent/registry.json"), planted);
        }));
    }
    SECTION("a link to a directory nobody owns") {
        REQUIRE(as_nobody([&] {
            return ::mkdir(share.path("mine").c_str(), 0700) == 0 &&
                   write_text(share.path("mine/registry.json"), planted) &&
                   ::symlink(share.path("mine").c_str(), share.path(".dsvm-agent").c_str()) == 0;
        }));
    }
    const auto pass = one.agent({"reconcile"});
    INFO(pass.out << pass.err);
    CHECK(pass.exit_code == 1);
    CHECK(one.uids().count("mallory") == 0);
    CHECK(one.uids().count("alice") == 0);
    CHECK_FALSE(path_exists(one.sandbox().path("etc/sudoers.d/dsvm-agent")));
    CHECK_THAT(status_of(one), Catch::Contains("owned by uid 65534, not root") ||
                                   Catch::Contains("symlink or not a directory"));
}

TEST_CASE("trust: a registry put in place by someone else is signed only as the admin reviewed it",
          "[trust]") {
    Sandbox share;
    const std::string pool =
        R"({"share": {"source": "/srv/share", "mountPoint": "/datamnt/share"}})";
    Instance one(share.path(), pool);
    REQUIRE(one.agent({"adduser", "alice"}).exit_code == 0);
    // A downgrade to the unsigned format, with a sudo user in it, as a share writer would plant.
    const std::string planted = R"({"version": 1, "generation": 1, "users": [
        {"name": "alice", "uid": 20000}, {"name": "mallory", "uid": 20001, "sudo": true}]})";
    share.write(".dsvm-agent/registry.json", planted, 0600);
    const auto refused = one.agent({"reconcile"});
    CHECK(refused.exit_code == 1);
    CHECK_THAT(refused.out,
               Catch::Contains("is not signed") && Catch::Contains("--accept-unsigned --expect"));

    // Following the advice half way signs nothing: the admin must name what they reviewed.
    for (const std::vector<std::string>& sign :
         {std::vector<std::string>{"registry", "sign", "--generation", "51"},
          {"registry", "sign", "--accept-unsigned"},
          {"registry", "sign", "--accept-unsigned", "--expect", "0123456789abcdef"}}) {
        const auto result = one.agent(sign);
        INFO(sign.back() << ": " << result.out << result.err);
        CHECK(result.exit_code == 2);
        CHECK_THAT(result.out,
                   Catch::Contains("sudo: mallory") && Catch::Contains("content digest"));
        CHECK(share.read(".dsvm-agent/registry.json") == planted);
    }
    CHECK(one.uids().count("mallory") == 0);

    // What the admin reviews is what gets signed: a swap after the review is refused.
    const auto review = one.agent({"users"});
    const auto at = review.out.find("content digest: ");
    REQUIRE(at != std::string::npos);
    const std::string digest = review.out.substr(at + 16, 16);
    share.write(".dsvm-agent/registry.json",
                R"({"version": 1, "generation": 1, "users": [{"name": "eve", "uid": 20002,
                    "sudo": true}]})",
                0600);
    const auto swapped = one.agent({"registry", "sign", "--accept-unsigned", "--expect", digest});
    CHECK(swapped.exit_code == 2);
    CHECK_THAT(swapped.err, Catch::Contains("changed since"));
    CHECK(one.uids().count("eve") == 0);

    // The reviewed content, signed on purpose, is applied.
    share.write(".dsvm-agent/registry.json", planted, 0600);
    const auto signed_registry =
        one.agent({"registry", "sign", "--accept-unsigned", "--expect", digest});
    INFO(signed_registry.out << signed_registry.err);
    CHECK(signed_registry.exit_code == 0);
    REQUIRE(one.agent({"reconcile"}).exit_code == 0);
    CHECK(one.uids().at("mallory") == "20001");
}
