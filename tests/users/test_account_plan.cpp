#include <algorithm>
#include <string>
#include <variant>
#include <vector>

#include <catch2/catch.hpp>

#include "support/registry_fixture.h"
#include "users/account_plan.h"

using namespace dsvm;
using namespace dsvm::users;
using dsvm::test::make_user;

namespace {

const std::string k_base_passwd =
    "root:x:0:0:root:/root:/bin/bash\nazureuser:x:1000:1000:Azure:/home/azureuser:/bin/bash\n";
const std::string k_base_group =
    "root:x:0:\nsudo:x:27:azureuser\ndatasci:x:998:\nazureuser:x:1000:\ndsvm-sudo:x:999:\n";
const std::string k_base_shadow = "root:*:19000:0:99999:7:::\nazureuser:!:19000:0:99999:7:::\n";
const std::string k_base_gshadow =
    "root:*::\nsudo:*::azureuser\ndatasci:!::\nazureuser:!::\ndsvm-sudo:!::\n";

// Account files with pool users already made by the agent: name, uid, shadow password field,
// shadow expire field, and the groups it is a member of.
struct Made {
    std::string name;
    std::uint32_t uid;
    std::string password = "!";
    std::string expire;
    std::vector<std::string> groups;
};

AccountFiles files_with(const std::vector<Made>& made) {
    AccountFiles files{k_base_passwd, k_base_group, k_base_shadow, k_base_gshadow};
    for (const Made& user : made) {
        const std::string id = std::to_string(user.uid);
        files.passwd += user.name + ":x:" + id + ":" + id + ":" + std::string(k_managed_gecos) +
                        ":/home/" + user.name + ":/bin/bash\n";
        files.group += user.name + ":x:" + id + ":\n";
        files.gshadow += user.name + ":!::\n";
        files.shadow +=
            user.name + ":" + user.password + ":19000:0:99999:7::" + user.expire + ":\n";
        for (const auto& group : user.groups) {
            for (std::string* text : {&files.group, &files.gshadow}) {
                const auto at = text->find("\n" + group + ":");
                const auto end = text->find('\n', at + 1);
                const bool empty = (*text)[end - 1] == ':';
                text->insert(end, (empty ? "" : ",") + user.name);
            }
        }
    }
    return files;
}

UsersObserved observed_of(const AccountFiles& files, std::set<std::string> managed,
                          std::map<std::string, std::vector<std::string>> groups = {}) {
    UsersObserved observed;
    observed.accounts = AccountView::parse(files);
    observed.managed = std::move(managed);
    observed.groups = std::move(groups);
    return observed;
}

std::vector<std::string> descriptions(const UsersPlan& plan) {
    std::vector<std::string> out;
    for (const auto& change : plan.changes) {
        out.push_back(describe(change));
    }
    return out;
}

}  // namespace

TEST_CASE("users plan: an account whose registry entry vanished is locked and loses its groups",
          "[users-plan]") {
    const AccountFiles files =
        files_with({{"alice", 20000, "$y$hash", "", {"dsvm-sudo"}},
                    {"carol", 20001, "$y$hash", "", {"dsvm-sudo", "datasci"}}});
    RegistryUser alice = make_user("alice", 20000);
    alice.sudo = true;
    const UsersPlan plan = plan_users(
        {alice}, observed_of(files, {"alice", "carol"}, {{"carol", {"datasci", "dsvm-sudo"}}}));
    CHECK(plan.conflicts.empty());
    CHECK(plan.orphaned == std::vector<std::string>{"carol"});
    REQUIRE(plan.inactive.size() == 1);
    CHECK(plan.inactive[0].name == "carol");
    CHECK(descriptions(plan) ==
          std::vector<std::string>{"lock user carol", "set the groups of carol to none"});
    const AppliedAccounts applied = apply_account_changes(files, plan.changes);
    const AccountView after = AccountView::parse(applied.files);
    CHECK(after.is_locked("carol"));
    CHECK(after.password_hash("carol") == "!");
    CHECK(after.group("dsvm-sudo")->members == std::vector<std::string>{"alice"});
    CHECK(after.group("datasci")->members.empty());
    // Locked and out of every group: the next plan has nothing more to do.
    const UsersPlan again = plan_users({alice}, observed_of(applied.files, {"alice", "carol"}, {}));
    CHECK(again.changes.empty());
    CHECK(again.orphaned == std::vector<std::string>{"carol"});
}

TEST_CASE("users plan: an account the agent did not make is never taken as an orphan",
          "[users-plan]") {
    // Marked as the agent's (anyone can chfn their own GECOS) but not in the state file.
    const AccountFiles files = files_with({{"mallory", 20005, "!", "", {}}});
    const UsersPlan plan = plan_users({}, observed_of(files, {}));
    CHECK(plan.changes.empty());
    CHECK(plan.orphaned.empty());
}

TEST_CASE("users plan: a deleted user is locked with the hash dropped, even an old-style lock",
          "[users-plan]") {
    RegistryUser dave = make_user("dave", 20003);
    dave.deleted = true;
    // Locked by an older agent: "!" in front of the hash, which an unlock would bring back.
    const AccountFiles old_lock = files_with({{"dave", 20003, "!$y$oldhash", "1", {}}});
    CHECK(descriptions(plan_users({dave}, observed_of(old_lock, {"dave"}))) ==
          std::vector<std::string>{"lock user dave"});
    const AccountFiles locked = files_with({{"dave", 20003, "!", "1", {}}});
    const UsersPlan settled = plan_users({dave}, observed_of(locked, {"dave"}));
    CHECK(settled.changes.empty());
    CHECK(settled.active.empty());
    REQUIRE(settled.inactive.size() == 1);
    CHECK(settled.orphaned.empty());  // deleted by deluser: not an orphan
}

TEST_CASE("users plan: a locked user added again is unlocked with the registry's hash",
          "[users-plan]") {
    const AccountFiles files = files_with({{"dave", 20003, "!", "1", {}}});
    RegistryUser dave = make_user("dave", 20003);
    const UsersPlan plan = plan_users({dave}, observed_of(files, {"dave"}));
    REQUIRE(plan.changes.size() == 1);
    const auto* unlock = std::get_if<UnlockAccount>(&plan.changes[0]);
    REQUIRE(unlock != nullptr);
    CHECK(unlock->hash.empty());
    dave.password_hash = "$y$new";
    const UsersPlan with_password = plan_users({dave}, observed_of(files, {"dave"}));
    CHECK(std::get<UnlockAccount>(with_password.changes[0]).hash == "$y$new");
}

TEST_CASE(
    "users plan: what an interrupted creation left is removed first, and only with the "
    "intent record",
    "[users-plan]") {
    // group and gshadow written, shadow and passwd not: a batch killed half way.
    AccountFiles files = files_with({});
    files.group += "bob:x:20001:\n";
    files.gshadow += "bob:!::\n";
    const RegistryUser bob = make_user("bob", 20001);

    const UsersPlan without = plan_users({bob}, observed_of(files, {}));
    CHECK(without.changes.empty());
    REQUIRE(without.conflicts.size() == 1);
    CHECK_THAT(without.conflicts[0], Catch::Contains("a local group 'bob' already exists"));

    UsersObserved observed = observed_of(files, {});
    observed.pending = {{"bob", 20001, 20001}};
    const UsersPlan with = plan_users({bob}, observed);
    CHECK(with.conflicts.empty());
    CHECK(descriptions(with) ==
          std::vector<std::string>{"remove what an interrupted pass left of user bob",
                                   "create user bob (uid 20001)", "set the groups of bob to none"});
    const AppliedAccounts applied = apply_account_changes(files, with.changes);
    for (const auto& outcome : applied.outcomes) {
        CHECK(outcome.ok);
    }
    CHECK(AccountView::parse(applied.files).user("bob")->uid == 20001);

    // An intent with other IDs is not this account's: still a conflict.
    observed.pending = {{"bob", 20009, 20009}};
    CHECK(plan_users({bob}, observed).conflicts.size() == 1);
}

TEST_CASE("users plan: group and gshadow out of step are put together again", "[users-plan]") {
    AccountFiles files = files_with({{"alice", 20000, "!", "", {"datasci"}}});
    // A pass killed between writing group and gshadow: alice in one, not the other.
    const auto at = files.gshadow.find("datasci:!::alice");
    files.gshadow.replace(at, 16, "datasci:!::");
    RegistryUser alice = make_user("alice", 20000);
    alice.groups = {"datasci"};
    const UsersPlan plan =
        plan_users({alice}, observed_of(files, {"alice"}, {{"alice", {"datasci"}}}));
    CHECK(descriptions(plan) == std::vector<std::string>{"set the groups of alice to datasci"});
    const AppliedAccounts applied = apply_account_changes(files, plan.changes);
    CHECK(*AccountView::parse(applied.files).gshadow_members("datasci") ==
          std::vector<std::string>{"alice"});
}

TEST_CASE("users plan: a name or ID taken outside the account files is a conflict",
          "[users-plan]") {
    UsersObserved observed = observed_of(files_with({}), {});
    observed.taken_elsewhere["erin"] = "pool user 'erin' is not created: its uid 20004 is taken";
    const UsersPlan plan = plan_users({make_user("erin", 20004)}, observed);
    CHECK(plan.changes.empty());
    CHECK(plan.conflicts ==
          std::vector<std::string>{"pool user 'erin' is not created: its uid 20004 is taken"});
}

TEST_CASE(
    "users plan: what an interrupted creation left goes even if the user is not created "
    "after all",
    "[users-plan]") {
    AccountFiles files = files_with({});
    files.group += "bob:x:20001:\n";
    files.gshadow += "bob:!::\n";
    files.shadow += "bob:!:19000:0:99999:7:::\n";
    RegistryUser bob = make_user("bob", 20001);
    bob.deleted = true;  // deleted before the next pass came
    UsersObserved observed = observed_of(files, {});
    observed.pending = {{"bob", 20001, 20001}};
    const UsersPlan plan = plan_users({bob}, observed);
    CHECK(descriptions(plan) ==
          std::vector<std::string>{"remove what an interrupted pass left of user bob"});
    const AppliedAccounts applied = apply_account_changes(files, plan.changes);
    CHECK(applied.files == files_with({}));
}

TEST_CASE("users plan: a user who changed their GECOS room field is still the agent's",
          "[users-plan]") {
    // chfn -r (allowed by the default CHFN_RESTRICT) turns the marker into "...,1,,".
    AccountFiles files = files_with({{"bob", 20001, "$y$hash", "", {}}});
    const auto at = files.passwd.find(std::string(k_managed_gecos) + ":/home/bob");
    files.passwd.insert(at + k_managed_gecos.size(), ",1,,");
    RegistryUser bob = make_user("bob", 20001);
    bob.deleted = true;
    const UsersPlan plan = plan_users({bob}, observed_of(files, {"bob"}));
    CHECK(plan.conflicts.empty());
    REQUIRE(descriptions(plan) == std::vector<std::string>{"lock user bob"});
    const AppliedAccounts applied = apply_account_changes(files, plan.changes);
    CHECK(applied.outcomes[0].ok);
    CHECK(AccountView::parse(applied.files).is_locked("bob"));
}
