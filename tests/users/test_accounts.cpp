#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/file_lock.h"
#include "support/fake_clock.h"
#include "support/process.h"
#include "support/sandbox.h"
#include "users/accounts.h"

using namespace dsvm;
using namespace dsvm::users;

namespace {

// A Debian 12 Azure image: base-passwd's users, systemd's, the admin user 'azureuser' and a
// hand-made user 'bob' the agent does not own.
const std::string k_passwd =
    "root:x:0:0:root:/root:/bin/bash\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "bin:x:2:2:bin:/bin:/usr/sbin/nologin\n"
    "sys:x:3:3:sys:/dev:/usr/sbin/nologin\n"
    "sync:x:4:65534:sync:/bin:/bin/sync\n"
    "games:x:5:60:games:/usr/games:/usr/sbin/nologin\n"
    "man:x:6:12:man:/var/cache/man:/usr/sbin/nologin\n"
    "lp:x:7:7:lp:/var/spool/lpd:/usr/sbin/nologin\n"
    "mail:x:8:8:mail:/var/mail:/usr/sbin/nologin\n"
    "news:x:9:9:news:/var/spool/news:/usr/sbin/nologin\n"
    "uucp:x:10:10:uucp:/var/spool/uucp:/usr/sbin/nologin\n"
    "proxy:x:13:13:proxy:/bin:/usr/sbin/nologin\n"
    "www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n"
    "backup:x:34:34:backup:/var/backups:/usr/sbin/nologin\n"
    "list:x:38:38:Mailing List Manager:/var/list:/usr/sbin/nologin\n"
    "irc:x:39:39:ircd:/run/ircd:/usr/sbin/nologin\n"
    "_apt:x:42:65534::/nonexistent:/usr/sbin/nologin\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    "systemd-network:x:998:998:systemd Network Management:/:/usr/sbin/nologin\n"
    "messagebus:x:100:107::/nonexistent:/usr/sbin/nologin\n"
    "sshd:x:101:65534::/run/sshd:/usr/sbin/nologin\n"
    "azureuser:x:1000:1000:Cloud Admin,,,:/home/azureuser:/bin/bash\n"
    "bob:x:1001:1001:Bob,,,:/home/bob:/bin/bash\n";

const std::string k_group =
    "root:x:0:\ndaemon:x:1:\nbin:x:2:\nsys:x:3:\nadm:x:4:azureuser\ntty:x:5:\ndisk:x:6:\n"
    "lp:x:7:\nmail:x:8:\nnews:x:9:\nuucp:x:10:\nman:x:12:\nproxy:x:13:\nkmem:x:15:\n"
    "dialout:x:20:azureuser\ncdrom:x:24:azureuser\nfloppy:x:25:azureuser\nsudo:x:27:azureuser\n"
    "audio:x:29:azureuser\ndip:x:30:azureuser\nwww-data:x:33:\nbackup:x:34:\nlist:x:38:\n"
    "irc:x:39:\nshadow:x:42:\nutmp:x:43:\nvideo:x:44:azureuser\nplugdev:x:46:azureuser\n"
    "staff:x:50:\ngames:x:60:\nusers:x:100:\nnogroup:x:65534:\nsystemd-journal:x:999:\n"
    "systemd-network:x:998:\nmessagebus:x:107:\nnetdev:x:108:azureuser\n"
    "datasci:x:997:azureuser\nazureuser:x:1000:\nbob:x:1001:\n";

const std::string k_shadow =
    "root:*:19750:0:99999:7:::\ndaemon:*:19750:0:99999:7:::\nbin:*:19750:0:99999:7:::\n"
    "sys:*:19750:0:99999:7:::\nsync:*:19750:0:99999:7:::\ngames:*:19750:0:99999:7:::\n"
    "man:*:19750:0:99999:7:::\nlp:*:19750:0:99999:7:::\nmail:*:19750:0:99999:7:::\n"
    "news:*:19750:0:99999:7:::\nuucp:*:19750:0:99999:7:::\nproxy:*:19750:0:99999:7:::\n"
    "www-data:*:19750:0:99999:7:::\nbackup:*:19750:0:99999:7:::\nlist:*:19750:0:99999:7:::\n"
    "irc:*:19750:0:99999:7:::\n_apt:*:19750:0:99999:7:::\nnobody:*:19750:0:99999:7:::\n"
    "systemd-network:!*:19750::::::\nmessagebus:!:19750::::::\nsshd:!:19750::::::\n"
    "azureuser:$y$j9T$Bq2.k1m0x6v5RzYtF3aW1/$Zp0o9cNwXh0bE7cQm8aT3dVt9yq1u2L3k4J5h6G7f8E:"
    "19751:0:99999:7:::\n"
    "bob:$6$rounds=5000$saltsalt$Vj3lqkYh0Q.xv0m8g1ZcQ:19752:0:99999:7:::\n";

const std::string k_gshadow =
    "root:*::\ndaemon:*::\nbin:*::\nsys:*::\nadm:*::azureuser\ntty:*::\ndisk:*::\nlp:*::\n"
    "mail:*::\nnews:*::\nuucp:*::\nman:*::\nproxy:*::\nkmem:*::\ndialout:*::azureuser\n"
    "cdrom:*::azureuser\nfloppy:*::azureuser\nsudo:*::azureuser\naudio:*::azureuser\n"
    "dip:*::azureuser\nwww-data:*::\nbackup:*::\nlist:*::\nirc:*::\nshadow:*::\nutmp:*::\n"
    "video:*::azureuser\nplugdev:*::azureuser\nstaff:*::\ngames:*::\nusers:*::\nnogroup:*::\n"
    "systemd-journal:!*::\nsystemd-network:!*::\nmessagebus:!::\nnetdev:!::azureuser\n"
    "datasci:!::azureuser\nazureuser:!::\nbob:!::\n";

AccountFiles debian_files() {
    AccountFiles files;
    files.passwd = k_passwd;
    files.group = k_group;
    files.shadow = k_shadow;
    files.gshadow = k_gshadow;
    return files;
}

CreateAccount pool_user(const std::string& name, std::uint32_t id) {
    CreateAccount create;
    create.name = name;
    create.uid = id;
    create.gid = id;
    create.home = "/home/" + name;
    return create;
}

long today() {
    return static_cast<long>(std::time(nullptr) / 86400);
}

// The text after `before`, failing unless `after` starts with it byte for byte.
std::string appended(const std::string& before, const std::string& after) {
    REQUIRE(after.substr(0, before.size()) == before);
    return after.substr(before.size());
}

std::string shadow_line(const std::string& text, const std::string& name) {
    const auto at = text.find("\n" + name + ":");
    REQUIRE(at != std::string::npos);
    return text.substr(at + 1, text.find('\n', at + 1) - at - 1);
}

std::string replace_line(std::string text, const std::string& old_line,
                         const std::string& new_line) {
    const auto at = text.find(old_line + "\n");
    REQUIRE(at != std::string::npos);
    return text.replace(at, old_line.size(), new_line);
}

AppliedAccounts apply_all(const AccountFiles& files, const std::vector<AccountChange>& changes) {
    auto applied = apply_account_changes(files, changes);
    REQUIRE(applied.outcomes.size() == changes.size());
    return applied;
}

// The fixture with pool user alice (uid 20000) already created by the agent.
AccountFiles with_alice() {
    auto applied = apply_all(debian_files(), {pool_user("alice", 20000)});
    REQUIRE(applied.outcomes[0].ok);
    return applied.files;
}

}  // namespace

TEST_CASE("accounts: creating a user appends to all four files and changes no other line",
          "[accounts]") {
    auto create = pool_user("alice", 20000);
    create.password_hash = "$y$j9T$abc$def";
    const long first_day = today();
    const auto applied = apply_all(debian_files(), {create});
    const long last_day = today();
    CHECK(applied.outcomes[0].ok);
    CHECK(applied.outcomes[0].action == "create user alice (uid 20000)");
    CHECK(appended(k_group, applied.files.group) == "alice:x:20000:\n");
    CHECK(appended(k_passwd, applied.files.passwd) ==
          "alice:x:20000:20000:dsvm-agent pool user:/home/alice:/bin/bash\n");
    CHECK(appended(k_gshadow, applied.files.gshadow) == "alice:!::\n");
    const std::string shadow = appended(k_shadow, applied.files.shadow);
    CHECK((shadow == "alice:$y$j9T$abc$def:" + std::to_string(first_day) + ":0:99999:7:::\n" ||
           shadow == "alice:$y$j9T$abc$def:" + std::to_string(last_day) + ":0:99999:7:::\n"));
}

// Given a fake clock, we expect a new account's last-change day to be that clock's day, not
// the machine's: the date is read through the Clock seam.
TEST_CASE("accounts: a new account's last-change day comes from the clock", "[accounts][clock]") {
    test::FakeClock clock;
    const long fake_day = static_cast<long>(
        std::chrono::duration_cast<std::chrono::hours>(clock.wall_now().time_since_epoch())
            .count() /
        24);
    REQUIRE(fake_day != today());
    const auto first = apply_account_changes(debian_files(), {pool_user("alice", 20000)}, clock);
    CHECK(appended(k_shadow, first.files.shadow) ==
          "alice:!:" + std::to_string(fake_day) + ":0:99999:7:::\n");
    clock.advance(std::chrono::hours(24));
    const auto next = apply_account_changes(debian_files(), {pool_user("alice", 20000)}, clock);
    CHECK(appended(k_shadow, next.files.shadow) ==
          "alice:!:" + std::to_string(fake_day + 1) + ":0:99999:7:::\n");
}

TEST_CASE("accounts: a user without a password gets '!' and a file's last line gets its newline",
          "[accounts]") {
    AccountFiles files = debian_files();
    files.passwd.pop_back();
    files.shadow.pop_back();
    const auto applied = apply_all(files, {pool_user("alice", 20000)});
    CHECK(applied.outcomes[0].ok);
    CHECK(appended(files.passwd + "\n", applied.files.passwd) ==
          "alice:x:20000:20000:dsvm-agent pool user:/home/alice:/bin/bash\n");
    CHECK(appended(files.shadow + "\n", applied.files.shadow).substr(0, 8) == "alice:!:");
}

TEST_CASE("accounts: a name, uid or gid that exists fails alone and the other changes apply",
          "[accounts]") {
    AccountFiles files = debian_files();
    // A stale shadow entry left by a half-removed user would shadow ours: the name is taken.
    files.shadow += "ghost:$6$old$hash:19000:0:99999:7:::\n";
    auto uid_clash = pool_user("carol", 1000);
    uid_clash.gid = 20010;
    auto gid_clash = pool_user("dave", 20011);
    gid_clash.gid = 1001;
    const auto applied = apply_all(
        files, {pool_user("bob", 20001), uid_clash, gid_clash, pool_user("datasci", 20002),
                pool_user("ghost", 20003), pool_user("alice", 20000)});
    const std::vector<std::string> errors{
        "cannot create user 'bob': the name already exists in /etc/passwd",
        "cannot create user 'carol': uid 1000 already belongs to 'azureuser'",
        "cannot create user 'dave': gid 1001 already belongs to 'bob'",
        "cannot create user 'datasci': the name already exists in /etc/group",
        "cannot create user 'ghost': the name already exists in /etc/shadow"};
    for (std::size_t i = 0; i < errors.size(); ++i) {
        CHECK_FALSE(applied.outcomes[i].ok);
        CHECK(applied.outcomes[i].error == errors[i]);
    }
    CHECK(applied.outcomes[5].ok);
    // Only alice's lines were added: the failed changes left no trace.
    CHECK(appended(files.passwd, applied.files.passwd) ==
          "alice:x:20000:20000:dsvm-agent pool user:/home/alice:/bin/bash\n");
    CHECK(appended(files.group, applied.files.group) == "alice:x:20000:\n");
    CHECK(appended(files.gshadow, applied.files.gshadow) == "alice:!::\n");
    CHECK(appended(files.shadow, applied.files.shadow).substr(0, 8) == "alice:!:");
}

TEST_CASE("accounts: a batch sees its own creations", "[accounts]") {
    auto second = pool_user("alice2", 20000);
    const auto applied =
        apply_all(debian_files(), {pool_user("alice", 20000), pool_user("alice", 20001), second});
    CHECK(applied.outcomes[0].ok);
    CHECK(applied.outcomes[1].error ==
          "cannot create user 'alice': the name already exists in /etc/passwd");
    CHECK(applied.outcomes[2].error ==
          "cannot create user 'alice2': uid 20000 already belongs to 'alice'");
}

TEST_CASE("accounts: bad names, ids, homes, shells and hashes are refused", "[accounts]") {
    std::vector<CreateAccount> bad;
    for (const std::string name : {"root", "Alice", "-rf", "", "a:b", "alice\nroot"}) {
        bad.push_back(pool_user(name, 20000));
    }
    bad.push_back(pool_user("alice", 0));
    bad.push_back(pool_user("alice", 4294967295U));
    bad.push_back(pool_user("alice", 20000));
    bad.back().home = "home/alice";
    bad.push_back(pool_user("alice", 20000));
    bad.back().home = "/home/alice:/bin/sh";
    bad.push_back(pool_user("alice", 20000));
    bad.back().shell = "/bin/bash\nroot::0:0::/:/bin/sh";
    bad.push_back(pool_user("alice", 20000));
    bad.back().shell = "bash";
    bad.push_back(pool_user("alice", 20000));
    bad.back().password_hash = "$6$x:0:0";
    for (const auto& create : bad) {
        INFO(create.name << " " << create.uid << " " << create.home << " " << create.shell);
        const auto applied = apply_all(debian_files(), {create});
        CHECK_FALSE(applied.outcomes[0].ok);
        CHECK_FALSE(applied.outcomes[0].error.empty());
        CHECK(applied.files == debian_files());
    }
}

TEST_CASE("accounts: passwords, locks and groups of accounts the agent did not create are refused",
          "[accounts]") {
    const AccountFiles files = with_alice();
    for (const std::string name : {"bob", "azureuser", "root", "nobody"}) {
        INFO(name);
        SetSupplementaryGroups groups;
        groups.user = name;
        groups.wanted = {"datasci"};
        groups.managed_groups = {"datasci", "video"};
        const auto applied = apply_all(files, {SetPasswordHash{name, "$y$j9T$x$y"},
                                               LockAccount{name}, UnlockAccount{name, {}}, groups});
        for (const auto& outcome : applied.outcomes) {
            CHECK_FALSE(outcome.ok);
            CHECK(outcome.error ==
                  "user '" + name + "' is not managed by dsvm-agent; it is left as it is");
        }
        CHECK(applied.files == files);
    }
    const auto missing = apply_all(files, {LockAccount{"zed"}});
    CHECK(missing.outcomes[0].error == "user 'zed' does not exist in /etc/passwd");
}

TEST_CASE("accounts: setting a password changes only that user's hash", "[accounts]") {
    const AccountFiles files = with_alice();
    const std::string old_line = shadow_line(files.shadow, "alice");
    const auto applied = apply_all(files, {SetPasswordHash{"alice", "$y$j9T$new$hash"}});
    CHECK(applied.outcomes[0].ok);
    CHECK(applied.outcomes[0].action == "set the password of alice");
    CHECK(applied.files.shadow ==
          replace_line(files.shadow, old_line, "alice:$y$j9T$new$hash" + old_line.substr(7)));
    CHECK(applied.files.passwd == files.passwd);
    CHECK(AccountView::parse(applied.files).password_hash("alice") == "$y$j9T$new$hash");
    // Setting the same hash again changes nothing.
    CHECK(apply_all(applied.files, {SetPasswordHash{"alice", "$y$j9T$new$hash"}}).files ==
          applied.files);
}

TEST_CASE("accounts: a lock drops the hash, so an unlock never brings an old password back",
          "[accounts]") {
    AccountFiles files = with_alice();
    files = apply_all(files, {SetPasswordHash{"alice", "$y$j9T$a$b"}}).files;
    const auto locked = apply_all(files, {LockAccount{"alice"}});
    CHECK(locked.outcomes[0].ok);
    const std::string line = shadow_line(locked.files.shadow, "alice");
    CHECK(line.substr(0, 8) == "alice:!:");
    CHECK(line.substr(line.size() - 6) == ":7::1:");
    CHECK(locked.files.shadow.find("$y$j9T$a$b") == std::string::npos);
    const AccountView view = AccountView::parse(locked.files);
    CHECK(view.is_locked("alice"));
    CHECK_FALSE(AccountView::parse(files).is_locked("alice"));
    CHECK(apply_all(locked.files, {LockAccount{"alice"}, LockAccount{"alice"}}).files ==
          locked.files);
    // A new hash while locked keeps the lock.
    const auto rehashed = apply_all(locked.files, {SetPasswordHash{"alice", "$y$j9T$c$d"}});
    CHECK(AccountView::parse(rehashed.files).password_hash("alice") == "!$y$j9T$c$d");

    // deluser then adduser without a password: the old one does not come back.
    const auto readded = apply_all(locked.files, {UnlockAccount{"alice", ""}});
    CHECK(AccountView::parse(readded.files).password_hash("alice") == "!");
    CHECK_FALSE(AccountView::parse(readded.files).is_locked("alice"));
    // With a password given again, that one.
    const auto unlocked = apply_all(
        locked.files, {UnlockAccount{"alice", "$y$j9T$a$b"}, UnlockAccount{"alice", "$y$j9T$a$b"}});
    CHECK(unlocked.files == files);
    // An unlock never writes an empty password field (a login without a password).
    const AccountFiles fresh = with_alice();
    const auto cycled = apply_all(fresh, {LockAccount{"alice"}, UnlockAccount{"alice", ""}});
    CHECK(AccountView::parse(cycled.files).password_hash("alice") == "!");
    CHECK(cycled.files == fresh);
    CHECK_FALSE(apply_all(fresh, {UnlockAccount{"alice", "bad:hash"}}).outcomes[0].ok);
}

TEST_CASE("accounts: what an interrupted creation left is removed, and only that", "[accounts]") {
    // Given a batch that wrote group and gshadow (zoe's group, zoe in datasci) but died before
    // shadow and passwd, we expect the leftovers removed and zoe created afresh in one batch.
    const AccountFiles before = debian_files();
    auto create = pool_user("zoe", 20009);
    SetSupplementaryGroups groups{"zoe", {"datasci"}, {"datasci"}};
    AccountFiles partial = apply_all(before, {create, groups}).files;
    partial.shadow = before.shadow;
    partial.passwd = before.passwd;
    REQUIRE(AccountView::parse(partial).group("zoe") != nullptr);

    const auto refused = apply_all(partial, {create});
    CHECK_FALSE(refused.outcomes[0].ok);  // the leftovers are in the way

    const auto finished =
        apply_all(partial, {RemovePartialAccount{"zoe", 20009, 20009}, create, groups});
    for (const auto& outcome : finished.outcomes) {
        INFO(outcome.action << ": " << outcome.error);
        CHECK(outcome.ok);
    }
    CHECK(finished.files == apply_all(before, {create, groups}).files);
    CHECK(describe(RemovePartialAccount{"zoe", 20009, 20009}) ==
          "remove what an interrupted pass left of user zoe");

    // Nothing is removed for an account that exists, nor a group with another gid.
    const AccountFiles whole = apply_all(before, {create}).files;
    const auto kept = apply_all(whole, {RemovePartialAccount{"zoe", 20009, 20009}});
    CHECK_FALSE(kept.outcomes[0].ok);
    CHECK(kept.files == whole);
    AccountFiles other = before;
    other.group += "bob:x:4242:\n";
    const auto other_kept = apply_all(other, {RemovePartialAccount{"zoe", 20009, 20009}});
    CHECK(other_kept.outcomes[0].ok);
    CHECK(other_kept.files.group == other.group);
}

TEST_CASE("accounts: gshadow members are seen apart from group members", "[accounts]") {
    AccountFiles files = debian_files();
    files.gshadow = replace_line(files.gshadow, "datasci:!::azureuser", "datasci:!::azureuser,yan");
    const AccountView view = AccountView::parse(files);
    REQUIRE(view.gshadow_members("datasci") != nullptr);
    CHECK(*view.gshadow_members("datasci") == std::vector<std::string>{"azureuser", "yan"});
    CHECK(view.group("datasci")->members == std::vector<std::string>{"azureuser"});
    CHECK(view.gshadow_members("nosuchgroup") == nullptr);
}

TEST_CASE("accounts: supplementary groups change only managed groups and report missing ones",
          "[accounts]") {
    AccountFiles files = with_alice();
    SetSupplementaryGroups join;
    join.user = "alice";
    join.wanted = {"datasci", "audio", "plugdev", "gpu"};
    join.managed_groups = {"datasci", "audio", "video", "gpu"};
    const auto joined = apply_all(files, {join});
    CHECK_FALSE(joined.outcomes[0].ok);
    CHECK(joined.outcomes[0].error == "group 'gpu' does not exist on this instance");
    CHECK(joined.outcomes[0].action == "set the groups of alice to datasci, audio, plugdev, gpu");
    std::string group =
        replace_line(files.group, "datasci:x:997:azureuser", "datasci:x:997:azureuser,alice");
    group = replace_line(group, "audio:x:29:azureuser", "audio:x:29:azureuser,alice");
    CHECK(joined.files.group == group);
    std::string gshadow =
        replace_line(files.gshadow, "datasci:!::azureuser", "datasci:!::azureuser,alice");
    gshadow = replace_line(gshadow, "audio:*::azureuser", "audio:*::azureuser,alice");
    CHECK(joined.files.gshadow == gshadow);
    CHECK(joined.files.passwd == files.passwd);
    CHECK(joined.files.shadow == files.shadow);
    // plugdev is in wanted but not managed: untouched.
    CHECK(AccountView::parse(joined.files).group("plugdev")->members ==
          std::vector<std::string>{"azureuser"});

    SetSupplementaryGroups leave = join;
    leave.wanted = {"audio"};
    leave.managed_groups = {"datasci", "audio", "video"};
    const auto left = apply_all(joined.files, {leave, leave});
    CHECK(left.outcomes[0].ok);
    const auto view = AccountView::parse(left.files);
    CHECK(view.group("datasci")->members == std::vector<std::string>{"azureuser"});
    CHECK(view.group("audio")->members == std::vector<std::string>{"azureuser", "alice"});
    CHECK(left.files.group ==
          replace_line(files.group, "audio:x:29:azureuser", "audio:x:29:azureuser,alice"));
}

TEST_CASE("accounts: comments, NIS entries and malformed lines survive every change",
          "[accounts]") {
    AccountFiles files = debian_files();
    const std::string odd_passwd =
        "# local accounts\n+@admins::::::\n-mallory\nbroken line without fields\n"
        "eve:x:1002:1002\nfrank:x:notanumber:1003::/home/frank:/bin/bash\n\n";
    files.passwd = odd_passwd + files.passwd;
    files.group = "# groups\n+:::\n" + files.group + "odd:x:\n";
    files.shadow = "+::::::::\n" + files.shadow;
    const auto created = apply_all(files, {pool_user("alice", 1002), pool_user("eve", 20002),
                                           pool_user("frank", 20003), pool_user("grace", 20004)});
    // uid 1002 belongs to the malformed eve line; eve and frank are taken names all the same.
    CHECK(created.outcomes[0].error ==
          "cannot create user 'alice': uid 1002 already belongs to 'eve'");
    CHECK(created.outcomes[1].error ==
          "cannot create user 'eve': the name already exists in /etc/passwd");
    CHECK(created.outcomes[2].error ==
          "cannot create user 'frank': the name already exists in /etc/passwd");
    CHECK(created.outcomes[3].ok);
    const auto locked = apply_all(created.files, {LockAccount{"grace"}});
    CHECK(appended(files.passwd, locked.files.passwd) ==
          "grace:x:20004:20004:dsvm-agent pool user:/home/grace:/bin/bash\n");
    CHECK(appended(files.group, locked.files.group) == "grace:x:20004:\n");
    CHECK(locked.files.shadow.substr(0, 10) == "+::::::::\n");
    const auto view = AccountView::parse(locked.files);
    CHECK(view.user("eve") == nullptr);
    CHECK(view.user("frank") == nullptr);
    CHECK(view.user("+@admins") == nullptr);
    CHECK(view.group("odd") == nullptr);
    CHECK(view.user("grace") != nullptr);
}

TEST_CASE("accounts: AccountView finds users, groups and hashes", "[accounts]") {
    const auto view = AccountView::parse(with_alice());
    CHECK(view.user_count() == 24);
    REQUIRE(view.user("azureuser") != nullptr);
    CHECK(view.user("azureuser")->uid == 1000);
    CHECK(view.user("azureuser")->gecos == "Cloud Admin,,,");
    CHECK(view.user("azureuser")->home == "/home/azureuser");
    REQUIRE(view.user_by_uid(65534) != nullptr);
    CHECK(view.user_by_uid(65534)->name == "nobody");
    CHECK(view.user_by_uid(20000)->shell == "/bin/bash");
    CHECK(view.user("mallory") == nullptr);
    CHECK(view.user_by_uid(4242) == nullptr);
    REQUIRE(view.group("datasci") != nullptr);
    CHECK(view.group("datasci")->gid == 997);
    CHECK(view.group_by_gid(42)->name == "shadow");
    CHECK(view.group("adm")->members == std::vector<std::string>{"azureuser"});
    CHECK(view.group("shadow")->members.empty());
    CHECK(view.group_by_gid(12345) == nullptr);
    CHECK(view.password_hash("root") == "*");
    CHECK(view.password_hash("alice") == "!");
    CHECK_FALSE(view.password_hash("mallory").has_value());
    CHECK(view.is_marked_managed("alice"));
    CHECK_FALSE(view.is_marked_managed("bob"));
    CHECK_FALSE(view.is_marked_managed("mallory"));
}

TEST_CASE("accounts: descriptions never show a password hash", "[accounts]") {
    auto create = pool_user("alice", 20000);
    create.password_hash = "$y$j9T$SECRET$hash";
    CHECK(describe(create) == "create user alice (uid 20000)");
    CHECK(describe(SetPasswordHash{"alice", "$y$j9T$SECRET$hash"}).find("SECRET") ==
          std::string::npos);
    CHECK(describe(LockAccount{"alice"}) == "lock user alice");
    CHECK(describe(UnlockAccount{"alice", "$y$SECRET"}) == "unlock user alice");
    CHECK(describe(SetSupplementaryGroups{"alice", {}, {"datasci"}}) ==
          "set the groups of alice to none");
}

TEST_CASE("accounts: ten thousand creates on ten thousand entries add ten thousand lines",
          "[accounts]") {
    AccountFiles files = debian_files();
    std::vector<AccountChange> changes;
    for (std::uint32_t i = 0; i < 10000; ++i) {
        const std::string old_name = "old" + std::to_string(i);
        const std::string id = std::to_string(30000 + i);
        files.passwd += old_name + ":x:" + id + ":" + id + "::/home/" + old_name + ":/bin/bash\n";
        files.group += old_name + ":x:" + id + ":\n";
        files.shadow += old_name + ":!:19750:0:99999:7:::\n";
        files.gshadow += old_name + ":!::\n";
        changes.push_back(pool_user("user" + std::to_string(i), 20000 + i));
    }
    const auto applied = apply_all(files, changes);
    const auto lines = [](const std::string& text) {
        return std::count(text.begin(), text.end(), '\n');
    };
    CHECK(std::all_of(applied.outcomes.begin(), applied.outcomes.end(),
                      [](const ActionOutcome& outcome) { return outcome.ok; }));
    CHECK(lines(applied.files.passwd) == lines(files.passwd) + 10000);
    CHECK(lines(applied.files.shadow) == lines(files.shadow) + 10000);
    CHECK(appended(files.group, applied.files.group).substr(0, 21) == "user0:x:20000:\nuser1:");
    const std::string last =
        "user9999:x:29999:29999:dsvm-agent pool user:/home/user9999:/bin/bash\n";
    CHECK(applied.files.passwd.substr(applied.files.passwd.size() - last.size()) == last);
}

namespace {

using dsvm::test::stat_of;

// The fixture as Debian installs it: passwd and group 0644 root:root, shadow and gshadow 0640
// root:shadow (gid 42).
Root install_debian(test::Sandbox& sandbox) {
    sandbox.write("etc/passwd", k_passwd, 0644);
    sandbox.write("etc/group", k_group, 0644);
    REQUIRE(::chown(sandbox.write("etc/shadow", k_shadow, 0640).c_str(), 0, 42) == 0);
    REQUIRE(::chown(sandbox.write("etc/gshadow", k_gshadow, 0640).c_str(), 0, 42) == 0);
    return Root(sandbox.path());
}

std::vector<ActionOutcome> commit_ok(const Root& root, const std::vector<AccountChange>& changes) {
    auto committed = commit_account_changes(root, changes);
    INFO((committed ? std::string() : committed.error().message));
    REQUIRE(committed.ok());
    return *committed;
}

std::vector<std::string> entries_of(const std::string& directory) {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(directory)) {
        names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
}

}  // namespace

TEST_CASE("accounts: committed files pass pwck and grpck", "[accounts]") {
    test::Sandbox sandbox;
    const Root root = install_debian(sandbox);
    auto carol = pool_user("carol", 20001);
    carol.password_hash = "$y$j9T$abc$def";
    const auto outcomes = commit_ok(
        root, {pool_user("alice", 20000), carol,
               SetSupplementaryGroups{"carol", {"datasci", "video"}, {"datasci", "video"}},
               LockAccount{"alice"}});
    for (const auto& outcome : outcomes) {
        CHECK(outcome.ok);
    }
    // pwck checks that every home and shell exists under the root, as on a real system.
    std::istringstream passwd(k_passwd);
    for (std::string line; std::getline(passwd, line);) {
        const auto fields = line.substr(line.find(":/") + 1);
        const std::string home = fields.substr(0, fields.find(':'));
        const std::string shell = fields.substr(fields.find(':') + 1);
        std::filesystem::create_directories(sandbox.path(home.substr(1)));
        if (!sandbox.exists(shell.substr(1))) {
            sandbox.write(shell.substr(1), "#!/bin/sh\n", 0755);
        }
    }
    CHECK(create_home(root, "/home/alice", 20000, 20000).value());
    CHECK(create_home(root, "/home/carol", 20001, 20001).value());
    const auto pwck = test::run_process({"/usr/sbin/pwck", "-r", "-R", sandbox.path()});
    INFO(pwck.out << pwck.err);
    CHECK(pwck.exit_code == 0);
    const auto grpck = test::run_process({"/usr/sbin/grpck", "-r", "-R", sandbox.path()});
    INFO(grpck.out << grpck.err);
    CHECK(grpck.exit_code == 0);
}

TEST_CASE("accounts: commit keeps modes and owners and backs up only the files it changed",
          "[accounts]") {
    test::Sandbox sandbox;
    const Root root = install_debian(sandbox);
    // A stricter gshadow than Debian's must stay as strict.
    REQUIRE(::chmod(sandbox.path("etc/gshadow").c_str(), 0600) == 0);
    REQUIRE(::chown(sandbox.path("etc/gshadow").c_str(), 0, 0) == 0);
    commit_ok(root, {pool_user("alice", 20000)});
    const std::string shadow_after_create = sandbox.read("etc/shadow");
    CHECK(commit_ok(root, {LockAccount{"alice"}})[0].ok);

    for (const std::string name : {"etc/passwd", "etc/group", "etc/passwd-", "etc/group-"}) {
        INFO(name);
        CHECK((stat_of(sandbox.path(name)).st_mode & 07777) == 0644);
        CHECK(stat_of(sandbox.path(name)).st_gid == 0);
    }
    for (const std::string name : {"etc/shadow", "etc/shadow-"}) {
        INFO(name);
        CHECK((stat_of(sandbox.path(name)).st_mode & 07777) == 0640);
        CHECK(stat_of(sandbox.path(name)).st_uid == 0);
        CHECK(stat_of(sandbox.path(name)).st_gid == 42);
    }
    for (const std::string name : {"etc/gshadow", "etc/gshadow-"}) {
        INFO(name);
        CHECK((stat_of(sandbox.path(name)).st_mode & 07777) == 0600);
        CHECK(stat_of(sandbox.path(name)).st_gid == 0);
    }
    // The lock changed only shadow, so only shadow's backup moved on.
    CHECK(sandbox.read("etc/passwd-") == k_passwd);
    CHECK(sandbox.read("etc/group-") == k_group);
    CHECK(sandbox.read("etc/gshadow-") == k_gshadow);
    CHECK(sandbox.read("etc/shadow-") == shadow_after_create);
    CHECK(shadow_line(sandbox.read("etc/shadow"), "alice").substr(0, 8) == "alice:!:");
    CHECK(entries_of(sandbox.path("etc")) ==
          std::vector<std::string>{".pwd.lock", "group", "group-", "gshadow", "gshadow-", "passwd",
                                   "passwd-", "shadow", "shadow-"});
    CHECK((stat_of(sandbox.path("etc/.pwd.lock")).st_mode & 07777) == 0600);
}

TEST_CASE("accounts: commit creates missing shadow files readable by the shadow group only",
          "[accounts]") {
    test::Sandbox sandbox;
    sandbox.write("etc/passwd", k_passwd, 0644);
    const bool shadow_group = GENERATE(true, false);
    sandbox.write("etc/group", shadow_group ? k_group : "root:x:0:\n", 0644);
    commit_ok(Root(sandbox.path()), {pool_user("alice", 20000)});
    for (const std::string name : {"etc/shadow", "etc/gshadow"}) {
        INFO(name << (shadow_group ? " with" : " without") << " a shadow group");
        CHECK((stat_of(sandbox.path(name)).st_mode & 07777) == (shadow_group ? 0640U : 0600U));
        CHECK(stat_of(sandbox.path(name)).st_gid == (shadow_group ? 42U : 0U));
        CHECK_FALSE(sandbox.exists(name + "-"));
    }
    CHECK(sandbox.read("etc/gshadow") == "alice:!::\n");
}

TEST_CASE("accounts: commit without a passwd file fails and writes nothing", "[accounts]") {
    test::Sandbox sandbox;
    sandbox.write("etc/group", k_group, 0644);
    const auto committed =
        commit_account_changes(Root(sandbox.path()), {pool_user("alice", 20000)});
    REQUIRE_FALSE(committed.ok());
    CHECK(committed.error().message.find(sandbox.path("etc/passwd")) != std::string::npos);
    CHECK(sandbox.read("etc/group") == k_group);
    CHECK_FALSE(sandbox.exists("etc/shadow"));
}

// Given another program (useradd, passwd) holding lckpwdf's lock for 300 ms, we expect commit to
// wait for it rather than write under it, then succeed.
TEST_CASE("accounts: commit waits while another program holds the account files lock",
          "[accounts]") {
    test::Sandbox sandbox;
    const Root root = install_debian(sandbox);
    const std::string lock_path = sandbox.path("etc/.pwd.lock");
    int ready[2];
    REQUIRE(::pipe(ready) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        const int fd = ::open(lock_path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        struct flock request {};
        request.l_type = F_WRLCK;
        request.l_whence = SEEK_SET;
        if (fd < 0 || ::fcntl(fd, F_SETLK, &request) != 0 || ::write(ready[1], "x", 1) != 1) {
            ::_exit(1);
        }
        ::usleep(300000);
        ::_exit(0);
    }
    Fd read_end(ready[0]);
    Fd write_end(ready[1]);
    write_end.reset();
    char byte = 0;
    REQUIRE(::read(read_end.get(), &byte, 1) == 1);
    const auto start = std::chrono::steady_clock::now();
    const auto outcomes = commit_ok(root, {pool_user("alice", 20000)});
    const auto waited = std::chrono::steady_clock::now() - start;
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(waited >= std::chrono::milliseconds(200));
    CHECK(outcomes[0].ok);
    CHECK(AccountView::parse(read_account_files(root).value()).is_marked_managed("alice"));
}

TEST_CASE("accounts: create_home copies skel with the user's owner and skel's modes",
          "[accounts]") {
    test::Sandbox sandbox;
    sandbox.write("etc/skel/.bashrc", "# bashrc\n", 0644);
    sandbox.write("etc/skel/.profile", "# profile\n", 0600);
    sandbox.write("etc/skel/.config/app/settings.ini", "[app]\n", 0640);
    REQUIRE(::chmod(sandbox.path("etc/skel/.config").c_str(), 0750) == 0);
    REQUIRE(::symlink(".bashrc", sandbox.path("etc/skel/.bash_aliases").c_str()) == 0);
    // A skel link to a system file is copied as a link; the file it names is not chowned.
    REQUIRE(::symlink(sandbox.path("etc/passwd").c_str(), sandbox.path("etc/skel/.pw").c_str()) ==
            0);
    sandbox.write("etc/passwd", k_passwd, 0644);
    const Root root(sandbox.path());

    const auto created = create_home(root, "/home/alice", 20000, 20001);
    REQUIRE(created.ok());
    CHECK(created.value());
    const auto check_entry = [&](const std::string& name, mode_t type, mode_t mode) {
        INFO(name);
        const auto info = stat_of(sandbox.path("home/alice/" + name));
        CHECK((info.st_mode & S_IFMT) == type);
        if (type != S_IFLNK) {
            CHECK((info.st_mode & 07777) == mode);
        }
        CHECK(info.st_uid == 20000);
        CHECK(info.st_gid == 20001);
    };
    check_entry(".", S_IFDIR, 0700);
    check_entry(".bashrc", S_IFREG, 0644);
    check_entry(".profile", S_IFREG, 0600);
    check_entry(".config", S_IFDIR, 0750);
    check_entry(".config/app", S_IFDIR, 0755);
    check_entry(".config/app/settings.ini", S_IFREG, 0640);
    check_entry(".bash_aliases", S_IFLNK, 0);
    check_entry(".pw", S_IFLNK, 0);
    CHECK(sandbox.read("home/alice/.config/app/settings.ini") == "[app]\n");
    CHECK(std::filesystem::read_symlink(sandbox.path("home/alice/.bash_aliases")) == ".bashrc");
    CHECK(stat_of(sandbox.path("etc/passwd")).st_uid == 0);
    CHECK((stat_of(sandbox.path("home")).st_mode & 07777) == 0755);
    CHECK(stat_of(sandbox.path("home")).st_uid == 0);
}

TEST_CASE("accounts: create_home without a skel makes an empty home", "[accounts]") {
    test::Sandbox sandbox;
    const auto created = create_home(Root(sandbox.path()), "/srv/users/bob", 20002, 20002);
    REQUIRE(created.ok());
    CHECK(created.value());
    CHECK(entries_of(sandbox.path("srv/users/bob")).empty());
    CHECK(stat_of(sandbox.path("srv/users/bob")).st_uid == 20002);
}

TEST_CASE("accounts: create_home leaves an existing home alone", "[accounts]") {
    test::Sandbox sandbox;
    sandbox.write("etc/skel/.bashrc", "# bashrc\n");
    sandbox.write("home/alice/notes.txt", "mine\n", 0600);
    sandbox.write("home/file", "not a directory\n");
    const std::string before = test::tree_digest(sandbox.path());
    for (const std::string home : {"/home/alice", "/home/file", "/home/alice/"}) {
        INFO(home);
        const auto created = create_home(Root(sandbox.path()), home, 20000, 20000);
        REQUIRE(created.ok());
        CHECK_FALSE(created.value());
    }
    CHECK(test::tree_digest(sandbox.path()) == before);
}

TEST_CASE("accounts: create_home never follows a planted symlink", "[accounts]") {
    test::Sandbox sandbox;
    sandbox.write("etc/skel/.bashrc", "# bashrc\n");
    sandbox.write("etc/shadow", k_shadow, 0640);
    sandbox.mkdir("home");
    REQUIRE(::symlink(sandbox.path("etc").c_str(), sandbox.path("home/mallory").c_str()) == 0);
    REQUIRE(::symlink(sandbox.path("etc").c_str(), sandbox.path("srv").c_str()) == 0);
    const std::string etc = test::tree_digest(sandbox.path("etc"));
    const Root root(sandbox.path());

    const auto planted_home = create_home(root, "/home/mallory", 20000, 20000);
    REQUIRE(planted_home.ok());
    CHECK_FALSE(planted_home.value());
    // A symlink as a parent is refused, not followed into etc.
    CHECK_FALSE(create_home(root, "/srv/mallory", 20000, 20000).ok());
    CHECK_FALSE(create_home(root, "/home/mallory/sub", 20000, 20000).ok());
    CHECK(test::tree_digest(sandbox.path("etc")) == etc);
}

TEST_CASE("accounts: create_home refuses paths that are not plain absolute paths", "[accounts]") {
    test::Sandbox sandbox;
    const std::string before = test::tree_digest(sandbox.path());
    for (const std::string& home :
         std::vector<std::string>{"", "/", "home/alice", "/home/../etc", "/home/./alice",
                                  "/home/al:ice", std::string("/home/al\nice")}) {
        INFO(home);
        const auto created = create_home(Root(sandbox.path()), home, 20000, 20000);
        REQUIRE_FALSE(created.ok());
        CHECK(created.error().kind == ErrorKind::Invalid);
    }
    CHECK(test::tree_digest(sandbox.path()) == before);
}

TEST_CASE("accounts: a system group takes the highest free gid below 1000, once", "[accounts]") {
    AccountFiles files;
    files.passwd = "root:x:0:0:root:/root:/bin/bash\n";
    files.group = "root:x:0:\nsystemd-journal:x:999:\n";
    files.shadow = "root:*:19000:0:99999:7:::\n";
    files.gshadow = "root:*::\n";
    const auto applied = apply_account_changes(
        files, {CreateSystemGroup{"dsvm-sudo"}, CreateSystemGroup{"dsvm-sudo"}});
    REQUIRE(applied.outcomes.size() == 2);
    CHECK(applied.outcomes[0].ok);
    CHECK(applied.outcomes[1].ok);
    CHECK(applied.files.group == files.group + "dsvm-sudo:x:998:\n");
    CHECK(applied.files.gshadow == files.gshadow + "dsvm-sudo:!::\n");
    CHECK(applied.files.passwd == files.passwd);
}

// Given another program holding lckpwdf's lock and never letting go, we expect commit to wait
// the documented 15 s on its Clock, in 10 ms pauses, then give up with its message and change
// nothing: 15 s of fake time in well under a second of real time. (An OFD lock conflicts with
// the classic record lock commit takes even within one process.)
TEST_CASE("accounts: commit gives up after 15 s on the clock when the lock stays held",
          "[accounts][clock]") {
    test::Sandbox sandbox;
    const Root root = install_debian(sandbox);
    Fd etc(::open(sandbox.path("etc").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    REQUIRE(etc);
    auto holder = lock_file_at(etc.get(), ".pwd.lock", ".pwd.lock", std::chrono::seconds(1));
    REQUIRE(holder.ok());
    const std::string before = test::tree_digest(sandbox.path("etc"));

    test::FakeClock clock;
    const auto started = clock.now();
    const auto real_start = std::chrono::steady_clock::now();
    const auto committed = commit_account_changes(root, {pool_user("alice", 20000)}, clock);
    const auto real_time = std::chrono::steady_clock::now() - real_start;

    REQUIRE_FALSE(committed.ok());
    CHECK(committed.error().message ==
          sandbox.path("etc/.pwd.lock") +
              " stayed locked by another program (useradd, passwd, vipw?) for 15 s; the account "
              "files were not changed");
    const auto waited = clock.now() - started;
    CHECK(waited >= std::chrono::seconds(15));
    CHECK(waited <= std::chrono::seconds(15) + std::chrono::milliseconds(10));
    REQUIRE_FALSE(clock.sleeps().empty());
    CHECK(std::all_of(clock.sleeps().begin(), clock.sleeps().end(),
                      [](auto pause) { return pause == std::chrono::milliseconds(10); }));
    CHECK(real_time < std::chrono::milliseconds(500));
    CHECK(test::tree_digest(sandbox.path("etc")) == before);
}
