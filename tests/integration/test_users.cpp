// Pool users across two instances: two sandbox roots whose /srv/share is the same directory (the
// "share"), each running the real binary with local config only.
#include <sys/mount.h>

#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "integration/agent_fixture.h"
#include "integration/instance.h"

using namespace dsvm;
using namespace dsvm::test;

namespace {}  // namespace

TEST_CASE("users: two instances end with the same users and UIDs; a second pass changes nothing",
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
    CHECK_THAT(one.sandbox().read("etc/group"), Catch::Contains("docker:x:998:bob"));
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

TEST_CASE("users: an unmanaged local bob is untouched; the conflict is reported", "[users]") {
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
