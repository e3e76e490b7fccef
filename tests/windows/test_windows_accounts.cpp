// WindowsAccounts over the recording FakeAccountApi (wine implements none of the SAM's changing
// calls, docs/windows.md): what it plans, says, calls and reports.
#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/deadline.h"
#include "support/fake_account_api.h"
#include "support/fake_clock.h"
#include "support/known_accounts.h"
#include "users/name_service.h"
#include "windows/account_plan.h"
#include "windows/windows_accounts.h"

using namespace dsvm;
using namespace dsvm::windows_platform;
using dsvm::test::FakeAccountApi;
using dsvm::test::KnownAccounts;
using dsvm::test::registry_user;
using users::RegistryUser;

namespace {

// Everything plan() needs but the backend never asks on Windows.
struct Names {
    DeadlineGate gate{"the name service"};
    engine::NameLookup lookup{std::make_shared<users::NoNameService>(), gate};
};

// An account the agent made earlier, with its profile.
void add_agent_account(FakeAccountApi& api, const std::string& name, std::uint32_t uid,
                       std::uint32_t flags = k_new_account_flags) {
    api.add_local_user(name, flags, marker_comment(uid), "C:\\Users\\" + name);
}

std::vector<std::string> lines_of(const WindowsAccounts& accounts, const users::UsersPlan& plan) {
    std::vector<std::string> lines;
    for (const auto& change : plan.changes) {
        lines.push_back(accounts.describe(change));
    }
    return lines;
}

bool none_holds(const std::vector<std::string>& texts, std::string_view part) {
    for (const auto& text : texts) {
        if (text.find(part) != std::string::npos) {
            return false;
        }
    }
    return true;
}

struct Passed {
    engine::AccountsPlanned planned;
    std::vector<ActionOutcome> outcomes;
};

// plan() then commit(), as a pass runs them.
Passed pass(WindowsAccounts& accounts, const std::vector<RegistryUser>& valid,
            const KnownAccounts& known) {
    Names names;
    test::FakeClock clock;
    auto planned = accounts.plan(valid, known.view(), names.lookup);
    REQUIRE(planned.ok());
    auto outcomes = accounts.commit(planned->plan.changes, clock);
    REQUIRE(outcomes.ok());
    return {std::move(*planned), std::move(*outcomes)};
}

}  // namespace

TEST_CASE("windows accounts: a registry password hash is never passed as a password",
          "[windows-accounts]") {
    FakeAccountApi api;
    api.never_a_password(std::string(test::k_registry_hash));
    add_agent_account(api, "bob", 20001, k_new_account_flags | k_account_disabled);
    add_agent_account(api, "carol", 20002);
    WindowsAccounts accounts(api);
    RegistryUser carol = registry_user("carol", 20002);
    carol.deleted = true;

    // alice is created, bob enabled again, carol disabled: each gets a password of its own.
    const Passed passed =
        pass(accounts, {registry_user("alice", 20000), registry_user("bob", 20001), carol},
             {{"bob", "carol"}, {}, {}});
    // And a SetPasswordHash handed in anyway is refused without a call.
    test::FakeClock clock;
    const auto refused =
        accounts.commit({users::SetPasswordHash{"bob", std::string(test::k_registry_hash)},
                         users::UnlockAccount{"bob", std::string(test::k_registry_hash)}},
                        clock);

    REQUIRE(refused.ok());
    REQUIRE(refused->size() == 2);
    CHECK_FALSE((*refused)[0].ok);
    CHECK((*refused)[0].error.find("crypt hash") != std::string::npos);
    CHECK((*refused)[1].ok);
    CHECK(none_holds(api.calls, "password=HASH"));
    CHECK(none_holds(api.calls, "password=weak"));
    CHECK(none_holds(api.calls, "$y$"));
    std::vector<std::string> passwords;
    for (const auto& call : api.calls) {
        if (call.find("password=") != std::string::npos) {
            passwords.push_back(call.substr(0, call.find(' ', call.find(' ') + 1)));
        }
    }
    // alice's creation, bob's enabling, carol's disabling, then bob's enabling once more.
    CHECK(passwords == std::vector<std::string>{"add_user alice", "set_password bob",
                                                "set_password carol", "set_password bob"});
    for (const auto& outcome : passed.outcomes) {
        CHECK(outcome.ok);
    }
}

TEST_CASE(
    "windows accounts: a lock disables first, then changes the password, and an unlock the "
    "other way round",
    "[windows-accounts]") {
    FakeAccountApi api;
    add_agent_account(api, "alice", 20000);
    add_agent_account(api, "bob", 20001, k_new_account_flags | k_account_disabled);
    WindowsAccounts accounts(api);
    test::FakeClock clock;

    const auto outcomes =
        accounts.commit({users::LockAccount{"alice"}, users::UnlockAccount{"bob", {}}}, clock);

    REQUIRE(outcomes.ok());
    std::vector<std::string> changing = api.changing_calls();
    CHECK(changing ==
          std::vector<std::string>{"set_flags alice 0x10203", "set_password alice password=set",
                                   "set_password bob password=set", "set_flags bob 0x10201"});
    CHECK((api.user("alice")->flags & k_account_disabled) != 0);
    CHECK((api.user("bob")->flags & k_account_disabled) == 0);
}

TEST_CASE(
    "windows accounts: names over 20 characters, system names and names taken in another "
    "case are refused",
    "[windows-accounts]") {
    FakeAccountApi api;
    api.add_local_user("Dave", k_new_account_flags);
    add_agent_account(api, "erin", 20004);
    api.add_local_group("data", "S-1-5-21-1-2-3-1010");
    WindowsAccounts accounts(api);
    Names names;
    const std::set<std::string> managed{"erin"};

    CHECK(accounts.limits().max_name == 20);
    CHECK_FALSE(accounts.limits().pool_passwords);
    const auto too_long = accounts.check_new_name("abcdefghijklmnopqrstu", managed, names.lookup);
    REQUIRE_FALSE(too_long);
    CHECK(too_long.error().kind == ErrorKind::Invalid);
    CHECK(too_long.error().message.find("21 characters") != std::string::npos);
    CHECK(accounts.check_new_name("abcdefghijklmnopqrst", managed, names.lookup));
    const auto reserved = accounts.check_new_name("defaultaccount", managed, names.lookup);
    REQUIRE_FALSE(reserved);
    CHECK(reserved.error().message.find("Windows system account") != std::string::npos);
    const auto other_case = accounts.check_new_name("dave", managed, names.lookup);
    REQUIRE_FALSE(other_case);
    CHECK(other_case.error().message.find("a local account 'Dave' already exists") !=
          std::string::npos);
    const auto group = accounts.check_new_name("data", managed, names.lookup);
    REQUIRE_FALSE(group);
    CHECK(group.error().message.find("a local group 'data' already exists") != std::string::npos);
    CHECK(accounts.check_new_name("erin", managed, names.lookup));
    CHECK_FALSE(accounts.check_new_name("erin", {}, names.lookup));
    CHECK(api.changing_calls().empty());
}

TEST_CASE("windows accounts: a password on the command line is refused without being shown",
          "[windows-accounts]") {
    FakeAccountApi api;
    WindowsAccounts accounts(api);

    const auto hashed = accounts.hash_password("Secret-Passw0rd!");

    REQUIRE_FALSE(hashed);
    CHECK(hashed.error().kind == ErrorKind::Invalid);
    CHECK(hashed.error().message.starts_with(
        "a pool password is a crypt hash, which cannot set a Windows password"));
    CHECK(hashed.error().message.find("Secret-Passw0rd!") == std::string::npos);
    CHECK(api.calls.empty());
}

TEST_CASE("windows accounts: sudo users are put in Administrators by its SID, whatever its name",
          "[windows-accounts]") {
    FakeAccountApi api;
    api.add_local_group("Administratoren", std::string(k_administrators_sid));
    WindowsAccounts accounts(api);

    const Passed passed =
        pass(accounts, {registry_user("alice", 20000, true), registry_user("bob", 20001)}, {});

    CHECK(lines_of(accounts, passed.planned.plan) ==
          std::vector<std::string>{"create user alice (pool uid 20000)",
                                   "add alice to Remote Desktop Users, Administrators (dsvm-sudo)",
                                   "create user bob (pool uid 20001)",
                                   "add bob to Remote Desktop Users"});
    CHECK(api.is_member(std::string(k_administrators_sid), "alice"));
    CHECK_FALSE(api.is_member(std::string(k_administrators_sid), "bob"));
    CHECK(api.group(std::string(k_administrators_sid))->name == "Administratoren");
    for (const auto& call : api.calls) {
        if (call.starts_with("add_member") || call.starts_with("remove_member")) {
            CHECK(call.find(" S-1-5-32-") != std::string::npos);
        }
    }
}

TEST_CASE("windows accounts: every active user is in Remote Desktop Users", "[windows-accounts]") {
    FakeAccountApi api;
    add_agent_account(api, "alice", 20000);
    add_agent_account(api, "bob", 20001);
    api.add_local_member(std::string(k_remote_desktop_users_sid), "bob");
    WindowsAccounts accounts(api);

    const Passed passed = pass(
        accounts,
        {registry_user("alice", 20000), registry_user("bob", 20001), registry_user("carol", 20002)},
        {{"alice", "bob"}, {{"bob", {"Remote Desktop Users"}}}, {}});

    for (const char* user : {"alice", "bob", "carol"}) {
        CHECK(api.is_member(std::string(k_remote_desktop_users_sid), user));
    }
    // bob was in it: nothing is asked of him.
    CHECK(none_holds(api.changing_calls(), " bob"));
    CHECK(passed.outcomes.size() == 3);
}

TEST_CASE(
    "windows accounts: a deleted user is disabled with a new random password and removed "
    "from its groups",
    "[windows-accounts]") {
    FakeAccountApi api;
    add_agent_account(api, "alice", 20000);
    api.add_local_group("data", "S-1-5-21-1-2-3-1010");
    api.add_local_member(std::string(k_administrators_sid), "alice");
    api.add_local_member(std::string(k_remote_desktop_users_sid), "alice");
    api.add_local_member("data", "alice");
    WindowsAccounts accounts(api);
    RegistryUser alice = registry_user("alice", 20000, true);
    alice.deleted = true;

    const Passed passed =
        pass(accounts, {alice},
             {{"alice"}, {{"alice", {"Remote Desktop Users", "data", "dsvm-sudo"}}}, {}});

    CHECK(lines_of(accounts, passed.planned.plan) ==
          std::vector<std::string>{"disable user alice with a new random password",
                                   "remove alice from Remote Desktop Users, data, Administrators "
                                   "(dsvm-sudo)"});
    CHECK(api.changing_calls() ==
          std::vector<std::string>{"set_flags alice 0x10203", "set_password alice password=set",
                                   "remove_member S-1-5-32-555 alice", "remove_member data alice",
                                   "remove_member S-1-5-32-544 alice"});
    CHECK(passed.planned.plan.inactive.size() == 1);
    REQUIRE(passed.outcomes.size() == 2);
    CHECK(passed.outcomes[0].ok);
    CHECK(passed.outcomes[1].ok);
}

TEST_CASE("windows accounts: an account a killed pass made in full is adopted, not made again",
          "[windows-accounts]") {
    FakeAccountApi api;
    add_agent_account(api, "alice", 20000);
    WindowsAccounts accounts(api);
    Names names;
    KnownAccounts known{{}, {}, {{"alice", 20000, 20000}}};

    auto planned = accounts.plan({registry_user("alice", 20000)}, known.view(), names.lookup);

    REQUIRE(planned.ok());
    CHECK(planned->adopted == std::vector<std::string>{"alice"});
    CHECK(lines_of(accounts, planned->plan) ==
          std::vector<std::string>{"add alice to Remote Desktop Users"});
    known.adopt = false;
    auto dry = accounts.plan({registry_user("alice", 20000)}, known.view(), names.lookup);
    REQUIRE(dry.ok());
    CHECK(dry->adopted.empty());
    CHECK(api.changing_calls().empty());
}

TEST_CASE("windows accounts: a dry run (plan, describe, differs) calls no changing API",
          "[windows-accounts]") {
    FakeAccountApi api;
    add_agent_account(api, "alice", 20000);
    add_agent_account(api, "carol", 20002);
    WindowsAccounts accounts(api);
    Names names;
    KnownAccounts known{{"alice", "carol"}, {}, {}};
    known.adopt = false;
    RegistryUser carol = registry_user("carol", 20002);
    carol.deleted = true;

    auto planned =
        accounts.plan({registry_user("alice", 20000, true), registry_user("bob", 20001), carol},
                      known.view(), names.lookup);
    REQUIRE(planned.ok());
    const auto lines = lines_of(accounts, planned->plan);
    std::vector<bool> differ;
    for (const char* user : {"alice", "bob"}) {
        const std::string home = accounts.home_of(user);
        for (const engine::HomeStep& step :
             {engine::HomeStep(engine::CreateHome{user, home, 0, 0}),
              engine::HomeStep(
                  engine::WriteKeys{user, home, 0, 0, {std::string(test::k_user_key)}}),
              engine::HomeStep(engine::LinkNotebooks{user, home, 0, 0,
                                                     "//acct.file.core.windows.net/pool/alice"})}) {
            auto answer = accounts.differs(step);
            differ.push_back(answer.ok() ? *answer : false);
        }
    }
    for (const auto& step : {engine::HomeStep(engine::WriteKeys{"carol", "", 0, 0, {}, true})}) {
        REQUIRE(accounts.differs(step).ok());
    }

    CHECK(lines == std::vector<std::string>{
                       "add alice to Remote Desktop Users, Administrators (dsvm-sudo)",
                       "create user bob (pool uid 20001)", "add bob to Remote Desktop Users",
                       "disable user carol with a new random password"});
    // alice has a profile but no keys or link yet; bob has no account, so nothing.
    CHECK(differ == std::vector<bool>{false, true, true, true, true, true});
    CHECK(api.changing_calls().empty());
    CHECK(none_holds(api.calls, "random"));
}

TEST_CASE("windows accounts: commit gives one outcome per change, in order, past a failed call",
          "[windows-accounts]") {
    FakeAccountApi api;
    api.fail("add_user bob", 5);
    WindowsAccounts accounts(api);

    const Passed passed = pass(
        accounts,
        {registry_user("alice", 20000), registry_user("bob", 20001), registry_user("carol", 20002)},
        {});

    REQUIRE(passed.outcomes.size() == 6);
    const std::vector<std::string> lines = lines_of(accounts, passed.planned.plan);
    for (std::size_t i = 0; i < passed.outcomes.size(); ++i) {
        CHECK(passed.outcomes[i].action == lines[i]);
    }
    CHECK(passed.outcomes[0].ok);
    CHECK(passed.outcomes[1].ok);
    CHECK_FALSE(passed.outcomes[2].ok);
    CHECK(passed.outcomes[2].action == "create user bob (pool uid 20001)");
    CHECK(passed.outcomes[2].error.find("error 5") != std::string::npos);
    // bob's groups fail too: there is no bob.
    CHECK_FALSE(passed.outcomes[3].ok);
    CHECK(passed.outcomes[4].ok);
    CHECK(passed.outcomes[5].ok);
    CHECK(api.user("carol") != nullptr);
}

TEST_CASE("windows accounts: commit changes nothing when the SAM cannot be read",
          "[windows-accounts]") {
    FakeAccountApi api;
    api.fail("users", 5);
    WindowsAccounts accounts(api);
    test::FakeClock clock;

    const auto outcomes = accounts.commit({users::LockAccount{"alice"}}, clock);

    REQUIRE_FALSE(outcomes);
    CHECK(outcomes.error().message.find("cannot read the local accounts") != std::string::npos);
    CHECK(api.changing_calls().empty());
}

TEST_CASE("windows accounts: a group that does not exist is reported by its change",
          "[windows-accounts]") {
    FakeAccountApi api;
    add_agent_account(api, "alice", 20000);
    api.add_local_member(std::string(k_remote_desktop_users_sid), "alice");
    WindowsAccounts accounts(api);
    RegistryUser alice = registry_user("alice", 20000);
    alice.groups = {"data"};

    const Passed passed = pass(accounts, {alice}, {{"alice"}, {}, {}});

    REQUIRE(passed.outcomes.size() == 1);
    CHECK_FALSE(passed.outcomes[0].ok);
    CHECK(passed.outcomes[0].error == "group data does not exist on this instance");
}

TEST_CASE("windows accounts: describe never shows a password or a hash", "[windows-accounts]") {
    FakeAccountApi api;
    WindowsAccounts accounts(api);
    const std::string hash(test::k_registry_hash);

    const std::vector<std::string> lines = {
        accounts.describe(users::CreateAccount{"alice", 20000, 20000, "", "", hash}),
        accounts.describe(users::SetPasswordHash{"alice", hash}),
        accounts.describe(users::UnlockAccount{"alice", hash}),
        accounts.describe(users::LockAccount{"alice"}),
        accounts.describe(users::CreateSystemGroup{"dsvm-sudo"}),
        accounts.describe(users::RemovePartialAccount{"alice", 20000, 20000}),
        accounts.describe(users::SetSupplementaryGroups{
            "alice", {"dsvm-sudo"}, {"Remote Desktop Users", "dsvm-sudo"}})};

    CHECK(none_holds(lines, "$"));
    CHECK(none_holds(lines, "salt"));
    CHECK(lines[1] == "set the password of alice (not done on Windows)");
    CHECK(lines[2] == "enable user alice with a new random password");
    // Without a plan, a group it did not look at counts as a change.
    CHECK(lines[6] ==
          "add alice to Administrators (dsvm-sudo); remove alice from Remote "
          "Desktop Users");
}

TEST_CASE(
    "windows accounts: the profile comes from CreateProfile, and home_of names the usual folder "
    "until then",
    "[windows-accounts]") {
    FakeAccountApi api;
    api.add_local_user("alice", k_new_account_flags, marker_comment(20000));
    api.add_local_user("bob", k_new_account_flags, marker_comment(20001), "C:\\Users\\bob.DSVM");
    WindowsAccounts accounts(api);
    Names names;
    const KnownAccounts known{{"alice", "bob"}, {}, {}};
    REQUIRE(accounts.plan({}, known.view(), names.lookup).ok());

    CHECK(accounts.home_of("alice") == "C:\\Users\\alice");
    CHECK(accounts.home_of("bob") == "C:\\Users\\bob.DSVM");
    const engine::CreateHome alice{"alice", "/home/alice", 20000, 20000};
    CHECK(*accounts.differs(alice));
    CHECK(api.changing_calls().empty());
    auto made = accounts.apply(alice);
    REQUIRE(made.ok());
    CHECK(*made);
    CHECK(api.user("alice")->profile == "C:\\Users\\alice");
    CHECK_FALSE(*accounts.differs(alice));
    auto again = accounts.apply(alice);
    REQUIRE(again.ok());
    CHECK_FALSE(*again);
    CHECK_FALSE(*accounts.differs(engine::CreateHome{"bob", "C:\\Users\\bob", 0, 0}));
}

TEST_CASE(
    "windows accounts: keys are the managed block of the profile's authorized_keys, private "
    "to the user",
    "[windows-accounts]") {
    FakeAccountApi api;
    add_agent_account(api, "alice", 20000);
    api.set_keys("C:\\Users\\alice", {true, "ssh-rsa AAAAB3Nza own@key\n", true});
    WindowsAccounts accounts(api);
    const engine::WriteKeys write{"alice", "/home/alice", 0, 0, {std::string(test::k_user_key)}};

    REQUIRE(*accounts.differs(write));
    auto written = accounts.apply(write);
    REQUIRE(written.ok());
    CHECK(*written);
    const std::string text = api.keys("C:\\Users\\alice")->text;
    CHECK(text.starts_with("ssh-rsa AAAAB3Nza own@key\n# BEGIN dsvm-agent managed keys\n"));
    CHECK(text.find(std::string(test::k_user_key)) != std::string::npos);
    CHECK_FALSE(*accounts.differs(write));
    CHECK_FALSE(*accounts.apply(write));

    // An access list someone widened is put back, even with the same content.
    api.set_keys("C:\\Users\\alice", {true, text, false});
    CHECK(*accounts.differs(write));
    CHECK(*accounts.apply(write));

    const engine::WriteKeys removal{"alice", "", 0, 0, {}, true};
    CHECK(*accounts.apply(removal));
    CHECK(api.keys("C:\\Users\\alice")->text == "ssh-rsa AAAAB3Nza own@key\n");
    CHECK(std::count(api.calls.begin(), api.calls.end(), "write_keys C:\\Users\\alice alice") == 3);
}

TEST_CASE("windows accounts: no keys file is made for a removal or a user without keys",
          "[windows-accounts]") {
    FakeAccountApi api;
    add_agent_account(api, "alice", 20000);
    api.add_local_user("bob", k_new_account_flags, marker_comment(20001));  // no profile
    WindowsAccounts accounts(api);

    CHECK_FALSE(*accounts.apply(engine::WriteKeys{"alice", "", 0, 0, {}, true}));
    CHECK_FALSE(*accounts.apply(engine::WriteKeys{"alice", "", 0, 0, {}}));
    CHECK_FALSE(*accounts.apply(engine::WriteKeys{"bob", "", 0, 0, {}, true}));
    CHECK_FALSE(*accounts.differs(engine::WriteKeys{"bob", "", 0, 0, {}}));
    CHECK_FALSE(*accounts.apply(engine::WriteKeys{"bob", "", 0, 0, {}}));
    CHECK(*accounts.differs(engine::WriteKeys{"bob", "", 0, 0, {std::string(test::k_user_key)}}));
    const auto no_profile =
        accounts.apply(engine::WriteKeys{"bob", "", 0, 0, {std::string(test::k_user_key)}});
    REQUIRE_FALSE(no_profile);
    CHECK(no_profile.error().message.find("has no profile") != std::string::npos);
    CHECK(api.changing_calls().empty());
}

TEST_CASE(
    "windows accounts: an administrator's keys are reported, since OpenSSH reads "
    "administrators_authorized_keys for them",
    "[windows-accounts]") {
    FakeAccountApi api;
    add_agent_account(api, "alice", 20000);
    api.add_local_member(std::string(k_administrators_sid), "alice");
    WindowsAccounts accounts(api);
    const engine::WriteKeys write{"alice", "", 0, 0, {std::string(test::k_user_key)}};

    const auto looked = accounts.differs(write);
    const auto written = accounts.apply(write);

    REQUIRE_FALSE(looked);
    REQUIRE_FALSE(written);
    CHECK(written.error().message.find(
              "Windows OpenSSH reads %ProgramData%\\ssh\\administrators_authorized_keys") !=
          std::string::npos);
    CHECK(written.error().message.find("does not write that file") != std::string::npos);
    // The profile's keys are written all the same; nothing else is.
    CHECK(api.changing_calls() == std::vector<std::string>{"write_keys C:\\Users\\alice alice"});
    // Removing keys is no matter for OpenSSH's shared file.
    CHECK(accounts.apply(engine::WriteKeys{"alice", "", 0, 0, {}, true}).ok());
}

TEST_CASE("windows accounts: a junction in the profile is refused for keys and the link",
          "[windows-accounts]") {
    FakeAccountApi api;
    add_agent_account(api, "alice", 20000);
    api.junction_in("C:\\Users\\alice");
    WindowsAccounts accounts(api);

    const auto keys =
        accounts.apply(engine::WriteKeys{"alice", "", 0, 0, {std::string(test::k_user_key)}});
    const auto link = accounts.apply(
        engine::LinkNotebooks{"alice", "", 0, 0, "\\\\acct.file.core.windows.net\\pool\\alice"});

    REQUIRE_FALSE(keys);
    CHECK(keys.error().message.find("is a link or junction") != std::string::npos);
    REQUIRE_FALSE(link);
    CHECK(link.error().message.find("a folder on the way is a link or junction") !=
          std::string::npos);
}

TEST_CASE("windows accounts: the notebook link targets the share's folder in NT form",
          "[windows-accounts]") {
    FakeAccountApi api;
    add_agent_account(api, "alice", 20000);
    WindowsAccounts accounts(api);
    const engine::LinkNotebooks step{"alice", "/home/alice", 0, 0,
                                     "//acct.file.core.windows.net/pool/notebooks/alice"};
    const std::string nt = "\\??\\UNC\\acct.file.core.windows.net\\pool\\notebooks\\alice";

    CHECK(*accounts.differs(step));
    auto made = accounts.apply(step);
    REQUIRE(made.ok());
    CHECK(*made);
    CHECK(api.link("C:\\Users\\alice")->target == nt);
    CHECK(api.changing_calls() ==
          std::vector<std::string>{"make_link C:\\Users\\alice notebooks\\remote " + nt});
    CHECK_FALSE(*accounts.differs(step));
    CHECK_FALSE(*accounts.apply(step));

    SECTION("another link is replaced") {
        api.set_link("C:\\Users\\alice", {LinkKind::Link, "\\??\\C:\\Windows\\System32"});
        CHECK(*accounts.differs(step));
        CHECK(*accounts.apply(step));
        CHECK(api.link("C:\\Users\\alice")->target == nt);
    }
    SECTION("a folder with content is left as it is") {
        api.set_link("C:\\Users\\alice", {LinkKind::Other, ""});
        const auto looked = accounts.differs(step);
        REQUIRE_FALSE(looked);
        CHECK(looked.error().message ==
              "C:\\Users\\alice\\notebooks\\remote exists and is not a link; it is left as "
              "it is (move it away to get the link to the share)");
        CHECK_FALSE(accounts.apply(step));
    }
    SECTION("a target that is no folder on a share is refused") {
        const auto refused =
            accounts.apply(engine::LinkNotebooks{"alice", "", 0, 0, "/datamnt/pool/alice"});
        REQUIRE_FALSE(refused);
        CHECK(refused.error().kind == ErrorKind::Invalid);
    }
}

TEST_CASE("windows accounts: sudoAuthentication none cannot be honoured, and nothing changes",
          "[windows-accounts]") {
    FakeAccountApi api;
    WindowsAccounts accounts(api);

    CHECK_FALSE(accounts.sudo_rule_present());
    CHECK(accounts.sync_sudo_rule(users::SudoAuthentication::Password).empty());
    const auto none = accounts.sync_sudo_rule(users::SudoAuthentication::None);

    REQUIRE(none.size() == 1);
    CHECK_FALSE(none[0].ok);
    CHECK(none[0].error.find("UAC") != std::string::npos);
    CHECK(api.calls.empty());
}

TEST_CASE("windows accounts: the stamp changes with the users, their flags and group members",
          "[windows-accounts]") {
    FakeAccountApi api;
    add_agent_account(api, "alice", 20000);
    WindowsAccounts accounts(api);

    const std::string first = accounts.stamp();
    CHECK(accounts.stamp() == first);
    REQUIRE(api.set_flags("alice", k_new_account_flags | k_account_disabled) == 0);
    const std::string disabled = accounts.stamp();
    CHECK(disabled != first);
    api.add_local_member(std::string(k_remote_desktop_users_sid), "alice");
    const std::string member = accounts.stamp();
    CHECK(member != disabled);
    api.fail("users", 5);
    CHECK(accounts.stamp() != accounts.stamp());
}

TEST_CASE("windows accounts: find reads the pool uid, the marker and the lock from the SAM",
          "[windows-accounts]") {
    FakeAccountApi api;
    add_agent_account(api, "alice", 20000, k_new_account_flags | k_account_disabled);
    api.add_local_user("Bob", k_new_account_flags, marker_comment(20001));
    WindowsAccounts accounts(api);

    const auto found = accounts.find({"alice", "bob", "carol"});

    REQUIRE(found.ok());
    REQUIRE(found->size() == 2);
    const engine::LocalAccount alice = found->at("alice");
    CHECK(alice.pool_uid == 20000);
    CHECK(alice.marked);
    CHECK(alice.locked);
    // Another case is not the agent's account.
    CHECK_FALSE(found->at("bob").marked);
}
