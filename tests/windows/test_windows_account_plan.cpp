// plan_windows_users on canned SAM views: the Windows sibling of tests/users/test_account_plan.cpp.
#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "support/known_accounts.h"
#include "windows/account_plan.h"

using namespace dsvm;
using namespace dsvm::windows_platform;
using dsvm::test::KnownAccounts;
using dsvm::test::registry_user;
using users::RegistryUser;

namespace {

constexpr std::uint32_t k_enabled = 0x10201;
constexpr std::uint32_t k_disabled = 0x10203;

// A fresh server: Administrator and Guest; Administrators localized, as on a German system.
SamView fresh_sam() {
    SamView sam;
    sam.users = {{"Administrator", k_enabled, "Built-in account", "C:\\Users\\Administrator"},
                 {"Guest", k_disabled, "", ""}};
    sam.local_groups = {"Administratoren", "Remote Desktop Users", "Users"};
    sam.groups["dsvm-sudo"] = {true, "Administratoren", "S-1-5-32-544", {"Administrator"}};
    sam.groups[std::string(k_remote_desktop_group)] = {
        true, "Remote Desktop Users", "S-1-5-32-555", {}};
    return sam;
}

SamUser agent_account(const std::string& name, std::uint32_t uid, std::uint32_t flags = k_enabled) {
    return {name, flags, marker_comment(uid), "C:\\Users\\" + name};
}

template <class T>
std::vector<T> changes_of(const users::UsersPlan& plan) {
    std::vector<T> out;
    for (const auto& change : plan.changes) {
        if (const auto* found = std::get_if<T>(&change)) {
            out.push_back(*found);
        }
    }
    return out;
}

bool has_conflict(const users::UsersPlan& plan, const std::string& part) {
    for (const auto& conflict : plan.conflicts) {
        if (conflict.find(part) != std::string::npos) {
            return true;
        }
    }
    return false;
}

// What no Windows plan may hold, whatever its input.
void check_windows_vocabulary(const users::UsersPlan& plan) {
    CHECK(changes_of<users::SetPasswordHash>(plan).empty());
    CHECK(changes_of<users::CreateSystemGroup>(plan).empty());
    CHECK(changes_of<users::RemovePartialAccount>(plan).empty());
    for (const auto& create : changes_of<users::CreateAccount>(plan)) {
        CHECK(create.password_hash.empty());
    }
    for (const auto& unlock : changes_of<users::UnlockAccount>(plan)) {
        CHECK(unlock.hash.empty());
    }
}

}  // namespace

TEST_CASE(
    "windows users plan: a new pool user is created with its pool uid, without the "
    "registry's hash, and put in Remote Desktop Users",
    "[windows-accounts]") {
    const KnownAccounts known;

    const auto plan =
        plan_windows_users({registry_user("alice", 20000)}, fresh_sam(), known.view());

    const auto created = changes_of<users::CreateAccount>(plan);
    REQUIRE(created.size() == 1);
    CHECK(created[0].name == "alice");
    CHECK(created[0].uid == 20000);
    CHECK(created[0].password_hash.empty());
    CHECK(created[0].shell.empty());
    CHECK(plan.created == std::set<std::string>{"alice"});
    CHECK(plan.creating == std::vector<users::PendingAccount>{{"alice", 20000, 20000}});
    const auto groups = changes_of<users::SetSupplementaryGroups>(plan);
    REQUIRE(groups.size() == 1);
    CHECK(groups[0].wanted == std::vector<std::string>{"Remote Desktop Users"});
    CHECK(groups[0].managed_groups ==
          std::vector<std::string>{"Remote Desktop Users", "dsvm-sudo"});
    REQUIRE(plan.active.size() == 1);
    CHECK(plan.conflicts.empty());
    check_windows_vocabulary(plan);
}

TEST_CASE(
    "windows users plan: over 20 characters, a system account's name, or a name taken in "
    "another case is a conflict",
    "[windows-accounts]") {
    SamView sam = fresh_sam();
    sam.users.push_back({"Carol", k_enabled, "", ""});
    sam.local_groups.push_back("data");
    const KnownAccounts known{{"carol"}, {}, {}};

    const auto plan = plan_windows_users(
        {registry_user("abcdefghijklmnopqrstu", 20000),
         registry_user("abcdefghijklmnopqrst", 20001), registry_user("administrator", 20002),
         registry_user("wdagutilityaccount", 20003), registry_user("guest", 20004),
         registry_user("carol", 20005), registry_user("data", 20006)},
        sam, known.view());

    CHECK(has_conflict(plan, "'abcdefghijklmnopqrstu' has 21 characters"));
    CHECK(has_conflict(plan, "'administrator' is the name of a Windows system account"));
    CHECK(has_conflict(plan, "'wdagutilityaccount' is the name of a Windows system account"));
    CHECK(has_conflict(plan, "'guest' is the name of a Windows system account"));
    CHECK(
        has_conflict(plan, "local account 'Carol' already exists, and Windows names ignore case"));
    CHECK(has_conflict(plan, "a local group 'data' already exists"));
    // Only the 20-character name is made.
    const auto created = changes_of<users::CreateAccount>(plan);
    REQUIRE(created.size() == 1);
    CHECK(created[0].name == "abcdefghijklmnopqrst");
    CHECK(plan.conflicts.size() == 6);
    check_windows_vocabulary(plan);
}

TEST_CASE("windows users plan: sudo is Administrators, found by SID whatever its name",
          "[windows-accounts]") {
    SamView sam = fresh_sam();
    sam.users.push_back(agent_account("alice", 20000));
    sam.users.push_back(agent_account("bob", 20001));
    sam.groups["dsvm-sudo"].members.push_back("bob");
    sam.groups[std::string(k_remote_desktop_group)].members = {"alice", "bob"};
    const KnownAccounts known{
        {"alice", "bob"}, {{"bob", {"Remote Desktop Users", "dsvm-sudo"}}}, {}};

    // alice gains sudo; bob has it already, in the group the system calls Administratoren.
    const auto plan =
        plan_windows_users({registry_user("alice", 20000, true), registry_user("bob", 20001, true)},
                           sam, known.view());

    const auto groups = changes_of<users::SetSupplementaryGroups>(plan);
    REQUIRE(groups.size() == 1);
    CHECK(groups[0].user == "alice");
    CHECK(groups[0].wanted == std::vector<std::string>{"Remote Desktop Users", "dsvm-sudo"});
    CHECK(group_reference("dsvm-sudo") == "S-1-5-32-544");
    CHECK(group_reference("Remote Desktop Users") == "S-1-5-32-555");
    CHECK(group_reference("data") == "data");
    CHECK(shown_group("dsvm-sudo") == "Administrators (dsvm-sudo)");
    CHECK(plan.active.size() == 2);
    check_windows_vocabulary(plan);
}

TEST_CASE("windows users plan: every active user is in Remote Desktop Users, and is put back",
          "[windows-accounts]") {
    SamView sam = fresh_sam();
    sam.users.push_back(agent_account("alice", 20000));
    sam.users.push_back(agent_account("bob", 20001));
    sam.groups[std::string(k_remote_desktop_group)].members = {"bob"};
    const KnownAccounts known{
        {"alice", "bob"},
        {{"alice", {"Remote Desktop Users"}}, {"bob", {"Remote Desktop Users"}}},
        {}};

    // Someone took alice out of Remote Desktop Users.
    const auto plan = plan_windows_users(
        {registry_user("alice", 20000), registry_user("bob", 20001)}, sam, known.view());

    const auto groups = changes_of<users::SetSupplementaryGroups>(plan);
    REQUIRE(groups.size() == 1);
    CHECK(groups[0].user == "alice");
    CHECK(groups[0].wanted == std::vector<std::string>{"Remote Desktop Users"});
}

TEST_CASE(
    "windows users plan: a deleted user is disabled and taken out of every group the agent "
    "gave it",
    "[windows-accounts]") {
    SamView sam = fresh_sam();
    sam.users.push_back(agent_account("alice", 20000));
    sam.groups["dsvm-sudo"].members.push_back("alice");
    sam.groups[std::string(k_remote_desktop_group)].members = {"alice"};
    sam.groups["data"] = {true, "data", "S-1-5-21-1-2-3-1010", {"alice"}};
    const KnownAccounts known{
        {"alice"}, {{"alice", {"Remote Desktop Users", "data", "dsvm-sudo"}}}, {}};
    RegistryUser deleted = registry_user("alice", 20000, true);
    deleted.deleted = true;

    const auto plan = plan_windows_users({deleted}, sam, known.view());

    const auto locks = changes_of<users::LockAccount>(plan);
    REQUIRE(locks.size() == 1);
    CHECK(locks[0].name == "alice");
    const auto groups = changes_of<users::SetSupplementaryGroups>(plan);
    REQUIRE(groups.size() == 1);
    CHECK(groups[0].wanted.empty());
    CHECK(groups[0].managed_groups ==
          std::vector<std::string>{"Remote Desktop Users", "data", "dsvm-sudo"});
    REQUIRE(plan.inactive.size() == 1);
    CHECK(plan.active.empty());
    check_windows_vocabulary(plan);
}

TEST_CASE(
    "windows users plan: a deleted user already disabled and out of its groups is left as it "
    "is",
    "[windows-accounts]") {
    SamView sam = fresh_sam();
    sam.users.push_back(agent_account("alice", 20000, k_disabled));
    const KnownAccounts known{{"alice"}, {}, {}};
    RegistryUser deleted = registry_user("alice", 20000);
    deleted.deleted = true;

    const auto plan = plan_windows_users({deleted}, sam, known.view());

    CHECK(plan.changes.empty());
    CHECK(plan.inactive.size() == 1);
}

TEST_CASE(
    "windows users plan: an account whose registry entry vanished is locked and loses its "
    "groups",
    "[windows-accounts]") {
    SamView sam = fresh_sam();
    sam.users.push_back(agent_account("alice", 20000));
    sam.users.push_back({"bob", k_enabled, "", ""});  // not the agent's
    sam.groups[std::string(k_remote_desktop_group)].members = {"alice", "bob"};
    const KnownAccounts known{{"alice", "bob"}, {{"alice", {"Remote Desktop Users"}}}, {}};

    const auto plan = plan_windows_users({}, sam, known.view());

    CHECK(plan.orphaned == std::vector<std::string>{"alice"});
    const auto locks = changes_of<users::LockAccount>(plan);
    REQUIRE(locks.size() == 1);
    CHECK(locks[0].name == "alice");
    REQUIRE(plan.inactive.size() == 1);
    CHECK(plan.inactive[0].uid == 20000);
    const auto groups = changes_of<users::SetSupplementaryGroups>(plan);
    REQUIRE(groups.size() == 1);
    CHECK(groups[0].user == "alice");
}

TEST_CASE(
    "windows users plan: a disabled user added again is enabled, never with the registry's "
    "hash",
    "[windows-accounts]") {
    SamView sam = fresh_sam();
    sam.users.push_back(agent_account("alice", 20000, k_disabled));
    sam.users.push_back(agent_account("bob", 20001));
    sam.groups[std::string(k_remote_desktop_group)].members = {"bob"};
    const KnownAccounts known{{"alice", "bob"}, {}, {}};
    RegistryUser bob = registry_user("bob", 20001);
    bob.password_hash = "$6$another$hash";  // changed in the registry: not applied on Windows

    const auto plan = plan_windows_users({registry_user("alice", 20000), bob}, sam, known.view());

    const auto unlocks = changes_of<users::UnlockAccount>(plan);
    REQUIRE(unlocks.size() == 1);
    CHECK(unlocks[0].name == "alice");
    CHECK(unlocks[0].hash.empty());
    check_windows_vocabulary(plan);
}

TEST_CASE(
    "windows users plan: an account the agent did not make, or with another pool uid, is "
    "left alone",
    "[windows-accounts]") {
    SamView sam = fresh_sam();
    sam.users.push_back({"alice", k_enabled, "Alice's own account", ""});  // unmarked
    sam.users.push_back(agent_account("bob", 20001));                      // marked, not managed
    sam.users.push_back(agent_account("carol", 30000));                    // another pool uid
    sam.users.push_back({"dave", k_enabled, "dsvm-agent pool user; pool uid x", ""});
    const KnownAccounts known{{"alice", "carol", "dave"}, {}, {}};

    const auto plan =
        plan_windows_users({registry_user("alice", 20000), registry_user("bob", 20001),
                            registry_user("carol", 20002), registry_user("dave", 20003)},
                           sam, known.view());

    CHECK(plan.changes.empty());
    CHECK(plan.active.empty());
    CHECK(has_conflict(plan, "local account 'alice' was not created by dsvm-agent"));
    CHECK(has_conflict(plan, "local account 'bob' was not created by dsvm-agent"));
    CHECK(has_conflict(plan, "account 'carol' has pool uid 30000 here but 20002"));
    CHECK(has_conflict(plan, "account 'dave' has pool uid none here but 20003"));
}

TEST_CASE("windows users plan: a pool uid another local account holds is a conflict",
          "[windows-accounts]") {
    SamView sam = fresh_sam();
    sam.users.push_back(agent_account("olduser", 20000));
    const KnownAccounts known{{"olduser"}, {}, {}};
    RegistryUser old = registry_user("olduser", 20000);
    old.deleted = true;

    const auto plan = plan_windows_users({old, registry_user("newuser", 20000)}, sam, known.view());

    CHECK(has_conflict(plan,
                       "uid 20000 of pool user 'newuser' is already the pool uid of local "
                       "account 'olduser'"));
    CHECK(changes_of<users::CreateAccount>(plan).empty());
}

TEST_CASE(
    "windows users plan: a complete account a killed pass made is adopted, only with the "
    "recorded uid",
    "[windows-accounts]") {
    SamView sam = fresh_sam();
    sam.users.push_back(agent_account("alice", 20000));
    sam.users.push_back(agent_account("bob", 20009));
    KnownAccounts known{
        {}, {}, {{"alice", 20000, 20000}, {"bob", 20001, 20001}, {"carol", 20002, 20002}}};

    SECTION("adopted in a real pass") {
        CHECK(adoptable_accounts(sam, known.view()) == std::vector<std::string>{"alice"});
        const auto plan =
            plan_windows_users({registry_user("alice", 20000), registry_user("bob", 20001),
                                registry_user("carol", 20002)},
                               sam, known.view());
        // alice: taken over and put in her groups; bob: a uid that is not the recorded one;
        // carol: never made, so simply made (there is nothing partial to remove on Windows).
        const auto created = changes_of<users::CreateAccount>(plan);
        REQUIRE(created.size() == 1);
        CHECK(created[0].name == "carol");
        CHECK(has_conflict(plan, "local account 'bob' was not created by dsvm-agent"));
        CHECK_FALSE(has_conflict(plan, "'alice'"));
        const auto groups = changes_of<users::SetSupplementaryGroups>(plan);
        REQUIRE(groups.size() == 2);
        CHECK(groups[0].user == "alice");
        CHECK(plan.active.size() == 2);
        check_windows_vocabulary(plan);
    }
    SECTION("not in a dry run, which records nothing") {
        known.adopt = false;
        const auto plan = plan_windows_users({registry_user("alice", 20000)}, sam, known.view());
        CHECK(has_conflict(plan, "local account 'alice' was not created by dsvm-agent"));
        CHECK(plan.changes.empty());
    }
}

TEST_CASE("windows users plan: built-in and administrator groups are never granted through groups",
          "[windows-accounts]") {
    SamView sam = fresh_sam();
    sam.users.push_back(agent_account("alice", 20000));
    sam.groups["backup"] = {true, "Backup Operators", "S-1-5-32-551", {}};
    sam.groups["docker-users"] = {true, "docker-users", "S-1-5-21-1-2-3-1011", {}};
    sam.groups["data"] = {true, "data", "S-1-5-21-1-2-3-1010", {}};
    const KnownAccounts known{{"alice"}, {}, {}};
    RegistryUser alice = registry_user("alice", 20000);
    alice.groups = {"backup", "data", "docker-users"};

    const auto plan = plan_windows_users({alice}, sam, known.view());

    CHECK(has_conflict(plan,
                       "group 'backup' of pool user 'alice' is the built-in Windows group "
                       "'Backup Operators' (S-1-5-32-551)"));
    CHECK(has_conflict(plan, "group 'docker-users' of pool user 'alice' gives administrator"));
    const auto groups = changes_of<users::SetSupplementaryGroups>(plan);
    REQUIRE(groups.size() == 1);
    CHECK(groups[0].wanted == std::vector<std::string>{"Remote Desktop Users", "data"});
}

TEST_CASE(
    "windows users plan: a wanted group that does not exist is planned every pass, to be "
    "reported",
    "[windows-accounts]") {
    SamView sam = fresh_sam();
    sam.users.push_back(agent_account("alice", 20000));
    sam.groups[std::string(k_remote_desktop_group)].members = {"alice"};
    sam.groups["data"] = {};
    const KnownAccounts known{{"alice"}, {{"alice", {"Remote Desktop Users", "data"}}}, {}};
    RegistryUser alice = registry_user("alice", 20000);
    alice.groups = {"data"};

    const auto plan = plan_windows_users({alice}, sam, known.view());

    CHECK(changes_of<users::SetSupplementaryGroups>(plan).size() == 1);
}

TEST_CASE("windows accounts: the admin comment marks the account and holds its pool uid",
          "[windows-accounts]") {
    CHECK(marker_comment(20000) == "dsvm-agent pool user; pool uid 20000");
    const Marker marker = read_marker(marker_comment(4294967295U));
    CHECK(marker.marked);
    CHECK(marker.uid == 4294967295U);

    CHECK(read_marker("dsvm-agent pool user").marked);
    CHECK_FALSE(read_marker("dsvm-agent pool user").uid);
    CHECK_FALSE(read_marker("dsvm-agent pool user; pool uid 4294967296").uid);
    CHECK_FALSE(read_marker("dsvm-agent pool user; pool uid 12x").uid);
    CHECK_FALSE(read_marker("dsvm-agent pool user; pool uid +12").uid);
    CHECK_FALSE(read_marker("dsvm-agent pool users").marked);
    CHECK_FALSE(read_marker("Built-in account for administering the computer").marked);
    CHECK_FALSE(read_marker("").marked);
}
