#include <algorithm>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "support/registry_fixture.h"
#include "users/registry.h"

using namespace dsvm;
using namespace dsvm::users;
using dsvm::test::make_user;

namespace {

constexpr std::uint32_t k_uid_min = 20000;
constexpr std::uint32_t k_uid_max = 59999;
constexpr const char* k_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGs5dGVzdGtleWZvcmFsaWNl alice";

Registry make_registry(std::vector<RegistryUser> users) {
    Registry registry;
    registry.users = std::move(users);
    return registry;
}

bool contains(const std::vector<std::string>& messages, const std::string& first,
              const std::string& second) {
    return std::any_of(messages.begin(), messages.end(), [&](const std::string& message) {
        return message.find(first) != std::string::npos &&
               message.find(second) != std::string::npos;
    });
}

}  // namespace

TEST_CASE("registry: check rejects each broken rule and keeps the rest", "[registry]") {
    RegistryUser carol = make_user("carol", 20002);
    carol.gid = 20003;
    RegistryUser gina = make_user("gina", 20030);
    gina.password_hash = "$6$salt:hash";
    RegistryUser hank = make_user("hank", 20031);
    hank.ssh_keys = {k_key, std::string(k_key) + "\nssh-rsa AAAA evil"};
    RegistryUser ivan = make_user("ivan", 20032);
    ivan.password_hash = "$6$salt$hash\nroot::0:0";
    RegistryUser judy = make_user("judy", 20033);
    judy.password_hash = "$6$salt$hash";
    judy.deleted = true;
    judy.ssh_keys = {k_key};
    judy.groups = {"datasci"};
    const Registry registry = make_registry({
        make_user("alice", 20000),
        make_user("bob", 100),
        carol,
        make_user("-rf", 20004),
        make_user("Alice", 20005),
        make_user("root", 20006),
        make_user("dave", 20010),
        make_user("dave", 20011),
        make_user("erin", 20020),
        make_user("frank", 20020),
        gina,
        hank,
        ivan,
        judy,
        make_user("kim", 59999),
    });

    const CheckedRegistry checked = check_registry(registry, k_uid_min, k_uid_max);
    REQUIRE(checked.valid.size() == 3);
    CHECK(checked.valid[0] == registry.users[0]);
    CHECK(checked.valid[1] == judy);  // a hash, keys, a group and a deleted flag are fine
    CHECK(checked.valid[2].name == "kim");
    const auto& rejected = checked.rejected;
    CHECK(rejected.size() == 12);
    CHECK(contains(rejected, "'bob'", "uid 100 is outside the pool's range 20000-59999"));
    CHECK(contains(rejected, "'carol'", "gid 20003 differs from uid 20002"));
    CHECK(contains(rejected, "'-rf'", "must match ^[a-z_][a-z0-9_-]{0,31}$"));
    CHECK(contains(rejected, "'Alice'", "must match ^[a-z_][a-z0-9_-]{0,31}$"));
    CHECK(contains(rejected, "'root'", "reserved"));
    CHECK(std::count_if(rejected.begin(), rejected.end(), [](const std::string& message) {
              return message.find("'dave'") != std::string::npos &&
                     message.find("name is used by 2 entries") != std::string::npos;
          }) == 2);
    CHECK(contains(rejected, "'erin'", "uid 20020 is used by 2 entries"));
    CHECK(contains(rejected, "'frank'", "uid 20020 is used by 2 entries"));
    CHECK(contains(rejected, "'gina'", "passwordHash"));
    CHECK(contains(rejected, "'hank'", "sshKeys[1]: contains a line break"));
    CHECK(contains(rejected, "'ivan'", "holds ':' or a control character"));
}

TEST_CASE("registry: groups and keys pass the same rules as the pool config", "[registry]") {
    // Given entries a writer of the share could have made, we expect each refused with its
    // reason: sudo comes only from "sudo": true, and a key is a key.
    RegistryUser mallory = make_user("mallory", 20000);
    mallory.groups = {"sudo", "shadow", "root"};
    RegistryUser oscar = make_user("oscar", 20001);
    oscar.groups = {"docker"};
    RegistryUser peggy = make_user("peggy", 20002);
    peggy.groups = {"Bad Group"};
    RegistryUser trent = make_user("trent", 20003);
    trent.ssh_keys = {"command=\"/bin/sh\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA x"};
    RegistryUser victor = make_user("victor", 20004);
    victor.ssh_keys = {"not a key"};
    RegistryUser walter = make_user("walter", 20005);
    walter.groups = {"datasci", "video"};
    walter.ssh_keys = {k_key};
    const CheckedRegistry checked = check_registry(
        make_registry({mallory, oscar, peggy, trent, victor, walter}), k_uid_min, k_uid_max);
    REQUIRE(checked.valid.size() == 1);
    CHECK(checked.valid[0].name == "walter");
    const auto& rejected = checked.rejected;
    REQUIRE(rejected.size() == 5);
    CHECK(contains(rejected, "'mallory'", "groups[0]: group 'sudo' is privileged"));
    CHECK(contains(rejected, "'mallory'", "groups[1]: group 'shadow' is privileged"));
    CHECK(contains(rejected, "'mallory'", "groups[2]: group 'root' is privileged"));
    CHECK(contains(rejected, "'oscar'", "group 'docker' is privileged"));
    CHECK(contains(rejected, "'peggy'", "group name 'Bad Group' is not allowed"));
    CHECK(contains(rejected, "'trent'", "sshKeys[0]"));
    CHECK(contains(rejected, "'victor'", "sshKeys[0]"));
}

TEST_CASE("registry: an entry beyond the per-user limits is refused", "[registry]") {
    RegistryUser many_groups = make_user("gus", 20000);
    many_groups.groups.assign(k_max_user_groups + 1, "datasci");
    RegistryUser many_keys = make_user("kay", 20001);
    many_keys.ssh_keys.assign(k_max_user_keys + 1, k_key);
    RegistryUser long_hash = make_user("lee", 20002);
    long_hash.password_hash = "$y$" + std::string(k_max_password_hash, 'a');
    const CheckedRegistry checked =
        check_registry(make_registry({many_groups, many_keys, long_hash}), k_uid_min, k_uid_max);
    CHECK(checked.valid.empty());
    CHECK(contains(checked.rejected, "'gus'", "65 groups; at most 64"));
    CHECK(contains(checked.rejected, "'kay'", "65 SSH keys; at most 64"));
    CHECK(contains(checked.rejected, "'lee'", "passwordHash is longer than 512"));
}

TEST_CASE("registry: check shows a hostile name escaped", "[registry]") {
    const CheckedRegistry checked =
        check_registry(make_registry({make_user("evil\n\x1b[2J", 20000)}), k_uid_min, k_uid_max);
    CHECK(checked.valid.empty());
    REQUIRE(checked.rejected.size() == 1);
    CHECK_THAT(checked.rejected[0], Catch::Contains("'evil\\x0a\\x1b[2J'"));
    CHECK(checked.rejected[0].find('\n') == std::string::npos);
    CHECK(checked.rejected[0].find('\x1b') == std::string::npos);
}

TEST_CASE("registry: a UID is never handed out twice, even when its entry is gone", "[registry]") {
    CHECK(*next_free_uid(Registry{}, k_uid_min, k_uid_max) == k_uid_min);

    // Above every entry, deleted ones included, and above the high-water mark: a removed or
    // lost entry never frees its UID.
    RegistryUser deleted = make_user("gone", 20007);
    deleted.deleted = true;
    Registry registry = make_registry({make_user("amy", 20000), deleted});
    CHECK(*next_free_uid(registry, k_uid_min, k_uid_max) == 20008);
    registry.users.pop_back();  // the entry with 20007 vanished
    registry.next_uid = 20008;
    CHECK(*next_free_uid(registry, k_uid_min, k_uid_max) == 20008);
    // UIDs this instance knows were the pool's are skipped too.
    CHECK(*next_free_uid(registry, k_uid_min, k_uid_max, {20008, 20009, 20011}) == 20010);
    // A range that starts higher starts there.
    CHECK(*next_free_uid(registry, 30000, 39999) == 30000);

    const auto full = next_free_uid(make_registry({make_user("a", 20000)}), 20000, 20000);
    REQUIRE_FALSE(full.ok());
    CHECK(full.error().kind == ErrorKind::Runtime);
    CHECK_THAT(full.error().message,
               Catch::Contains("20000-20000 is used up") && Catch::Contains("widen uidRange"));

    // A range that ends at the largest uid must not wrap around to 0 when used up.
    const auto top =
        next_free_uid(make_registry({make_user("top", 4294967295U)}), 4294967295U, 4294967295U);
    REQUIRE_FALSE(top.ok());
    CHECK_THAT(top.error().message, Catch::Contains("is used up"));
}

TEST_CASE("registry: adding a user raises the high-water mark", "[registry]") {
    Registry registry;
    auto added = find_or_add_user(registry, "alice", k_uid_min, k_uid_max);
    REQUIRE(added.ok());
    CHECK((*added)->uid == k_uid_min);
    CHECK((*added)->gid == k_uid_min);
    CHECK(registry.next_uid == k_uid_min + 1);
    auto again = find_or_add_user(registry, "alice", k_uid_min, k_uid_max);
    REQUIRE(again.ok());
    CHECK(registry.users.size() == 1);
    CHECK(registry.next_uid == k_uid_min + 1);
}

TEST_CASE("registry: a registry that vanished or went back in time is refused", "[registry]") {
    const std::string pool(32, 'p');
    const SeenRegistry seen{"//acct.file.core.windows.net/pool", pool, 42, std::string(64, 'a')};
    const std::string share = seen.share;
    const auto copy = [&](std::uint64_t generation, char mac) {
        return RegistryIdentity{true, pool, generation, std::string(64, mac)};
    };

    CHECK(check_not_older(seen, share, copy(42, 'a')).ok());
    CHECK(check_not_older(seen, share, copy(43, 'b')).ok());

    const auto vanished = check_not_older(seen, share, RegistryIdentity{});
    REQUIRE_FALSE(vanished.ok());
    CHECK_THAT(vanished.error().message,
               Catch::Contains("has disappeared") && Catch::Contains("generation 42") &&
                   Catch::Contains("registry sign --generation 43 --expect"));
    const auto older = check_not_older(seen, share, copy(41, 'c'));
    REQUIRE_FALSE(older.ok());
    CHECK_THAT(older.error().message, Catch::Contains("went back to generation 41") &&
                                          Catch::Contains("by someone who can write the share"));
    const auto forked = check_not_older(seen, share, copy(42, 'c'));
    REQUIRE_FALSE(forked.ok());
    CHECK_THAT(forked.error().message, Catch::Contains("differs from the one this instance saw"));

    // An old copy of the same pool is refused on another share too (a share source changed by
    // a tag, or spelt another way) ...
    CHECK_FALSE(check_not_older(seen, "othernfs:/export", copy(41, 'c')).ok());
    // ... while another pool, or no registry, on another share starts afresh.
    CHECK(check_not_older(seen, "othernfs:/export",
                          RegistryIdentity{true, std::string(32, 'q'), 1, std::string(64, 'd')})
              .ok());
    CHECK(check_not_older(seen, "othernfs:/export", RegistryIdentity{}).ok());
    CHECK(check_not_older(SeenRegistry{}, share, RegistryIdentity{}).ok());
}

TEST_CASE("registry: a new pool id is 32 hex digits, different every time", "[registry]") {
    const std::string first = new_pool_id();
    CHECK(first.size() == 32);
    CHECK(first.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(new_pool_id() != first);
}
