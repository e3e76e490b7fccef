#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "common/fd.h"
#include "support/sandbox.h"
#include "users/registry.h"

using namespace dsvm;

namespace {

constexpr std::uint32_t k_uid_min = 20000;
constexpr std::uint32_t k_uid_max = 59999;

RegistryUser make_user(std::string name, std::uint32_t uid) {
    RegistryUser user;
    user.name = std::move(name);
    user.uid = uid;
    user.gid = uid;
    return user;
}

Registry make_registry(std::vector<RegistryUser> users) {
    Registry registry;
    registry.users = std::move(users);
    return registry;
}

using dsvm::test::stat_of;

using dsvm::test::mode_of;

// A change that adds one user under the lowest free uid: what adduser does.
std::function<Result<void>(Registry&)> add_user(std::string name) {
    return [name = std::move(name)](Registry& registry) -> Result<void> {
        auto uid = lowest_free_uid(registry, k_uid_min, k_uid_max);
        if (!uid) {
            return uid.error();
        }
        registry.users.push_back(make_user(name, *uid));
        return {};
    };
}

// Runs body in a forked child, which leaves through _exit with body's result: it never returns
// into Catch (no assertions, no sandbox destructors in the child).
template <class Body>
pid_t fork_child(Body body) {
    const pid_t pid = ::fork();
    if (pid == 0) {
        int code = 99;
        try {
            code = body();
        } catch (...) {
            code = 98;
        }
        ::_exit(code);
    }
    return pid;
}

// The child's exit code, or -1 when a signal ended it.
int wait_exit_code(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return -2;
        }
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool contains(const std::vector<std::string>& messages, const std::string& first,
              const std::string& second) {
    return std::any_of(messages.begin(), messages.end(), [&](const std::string& message) {
        return message.find(first) != std::string::npos &&
               message.find(second) != std::string::npos;
    });
}

}  // namespace

TEST_CASE("registry: render and parse round trip, byte for byte and in name order", "[registry]") {
    Registry registry;
    registry.generation = 42;
    RegistryUser bob = make_user("bob", 20001);
    bob.groups = {"docker", "video"};
    bob.deleted = true;
    RegistryUser alice = make_user("alice", 20000);
    alice.sudo = true;
    alice.ssh_keys = {"ssh-ed25519 AAAAC3Nza alice@laptop", "ssh-rsa AAAAB3Nza alice@work"};
    alice.password_hash = "$6$salt$hash";
    registry.users = {bob, alice};

    const std::string text = render_registry(registry);
    CHECK(text.back() == '\n');
    CHECK(text.find("\n  \"version\": 1,\n  \"generation\": 42,") != std::string::npos);
    CHECK(text.find("\"alice\"") < text.find("\"bob\""));
    CHECK(text.find("\"sshKeys\"") != std::string::npos);
    CHECK(text.find("\"passwordHash\": \"$6$salt$hash\"") != std::string::npos);

    auto parsed = parse_registry(text);
    REQUIRE(parsed.ok());
    CHECK(parsed->generation == 42);
    REQUIRE(parsed->users.size() == 2);
    CHECK(parsed->users[0] == alice);
    CHECK(parsed->users[1] == bob);
    CHECK(render_registry(*parsed) == text);

    // The same registry in another order renders to the same bytes.
    registry.users = {alice, bob};
    CHECK(render_registry(registry) == text);
}

TEST_CASE("registry: parse errors name the field", "[registry]") {
    const std::string alice = R"({"name": "alice", "uid": 20000})";
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"{\"version\": 1,", "not valid JSON"},
        {"[]", "must be a JSON object"},
        {R"({"generation": 0, "users": []})", "version is missing"},
        {R"({"version": 2, "generation": 0, "users": []})", "version 2 is not supported"},
        {R"({"version": 1, "users": []})", "generation is missing"},
        {R"({"version": 1, "generation": -1, "users": []})", "generation must be"},
        {R"({"version": 1, "generation": "3", "users": []})", "generation must be"},
        {R"({"version": 1, "generation": 0})", "users is missing"},
        {R"({"version": 1, "generation": 0, "users": {}})", "users must be a list"},
        {R"({"version": 1, "generation": 0, "users": [{"uid": 20000}]})",
         "users[0].name is missing"},
        {R"({"version": 1, "generation": 0, "users": [{"name": 7, "uid": 20000}]})",
         "users[0].name must be a string"},
        {R"({"version": 1, "generation": 0, "users": [{"name": "alice"}]})",
         "users[0] ('alice').uid is missing"},
        {R"({"version": 1, "generation": 0, "users": [{"name": "alice", "uid": "20000"}]})",
         "users[0] ('alice').uid must be an integer from 0 to 4294967295, not \"20000\""},
        {R"({"version": 1, "generation": 0, "users": [{"name": "alice", "uid": -1}]})",
         "users[0] ('alice').uid must be an integer"},
        {R"({"version": 1, "generation": 0, "users": [{"name": "alice", "uid": 4294967296}]})",
         "users[0] ('alice').uid must be an integer"},
        {R"({"version": 1, "generation": 0, "users": [{"name": "alice", "uid": 20000.5}]})",
         "users[0] ('alice').uid must be an integer"},
        {R"({"version": 1, "generation": 0, "users": [)" + alice +
             R"(, {"name": "bob", "uid": 1, "gid": -3}]})",
         "users[1] ('bob').gid must be"},
        {R"({"version": 1, "generation": 0, "users": [{"name": "a", "uid": 1, "sudo": "yes"}]})",
         "users[0] ('a').sudo must be true or false"},
        {R"({"version": 1, "generation": 0, "users": [{"name": "a", "uid": 1, "groups": [1]}]})",
         "users[0] ('a').groups must be a list of strings"},
        {R"({"version": 1, "generation": 0, "users": [{"name": "a", "uid": 1, "sshKeys": "k"}]})",
         "users[0] ('a').sshKeys must be a list of strings"},
        {R"({"version": 1, "generation": 0, "users": [{"name": "a", "uid": 1,
             "passwordHash": null}]})",
         "users[0] ('a').passwordHash must be a string"},
        {R"({"version": 1, "generation": 0, "users": [{"name": "a", "uid": 1, "deleted": 0}]})",
         "users[0] ('a').deleted must be true or false"},
        {R"({"version": 1, "generation": 0, "users": [{"name": "a\u0001", "uid": -1}]})",
         "users[0] ('a\\x01').uid"},
    };
    for (const auto& [text, expected] : cases) {
        INFO("text: " << text);
        const auto parsed = parse_registry(text);
        REQUIRE_FALSE(parsed.ok());
        CHECK(parsed.error().kind == ErrorKind::Runtime);
        CHECK_THAT(parsed.error().message, Catch::Contains(expected));
    }
}

TEST_CASE("registry: the largest uid fits and a missing gid means the uid", "[registry]") {
    const auto parsed = parse_registry(
        R"({"version": 1, "generation": 18446744073709551615,
            "users": [{"name": "alice", "uid": 4294967295}]})");
    REQUIRE(parsed.ok());
    CHECK(parsed->generation == 18446744073709551615ULL);
    REQUIRE(parsed->users.size() == 1);
    CHECK(parsed->users[0].uid == 4294967295U);
    CHECK(parsed->users[0].gid == 4294967295U);
}

TEST_CASE("registry: unknown keys from a newer agent are tolerated", "[registry]") {
    const auto parsed = parse_registry(R"({
        "version": 1, "generation": 3, "writtenBy": "dsvm-agent 9.0",
        "users": [{"name": "alice", "uid": 20000, "gid": 20000, "shell": "/bin/zsh",
                   "quota": {"gb": 10}, "sudo": true}]
    })");
    REQUIRE(parsed.ok());
    CHECK(parsed->generation == 3);
    REQUIRE(parsed->users.size() == 1);
    CHECK(parsed->users[0].name == "alice");
    CHECK(parsed->users[0].sudo);
}

TEST_CASE("registry: check rejects each broken rule and keeps the rest", "[registry]") {
    RegistryUser carol = make_user("carol", 20002);
    carol.gid = 20003;
    RegistryUser gina = make_user("gina", 20030);
    gina.password_hash = "$6$salt:hash";
    RegistryUser hank = make_user("hank", 20031);
    hank.ssh_keys = {"ssh-ed25519 AAAA hank", "ssh-ed25519 AAAA hank\nssh-rsa AAAA evil"};
    RegistryUser ivan = make_user("ivan", 20032);
    ivan.password_hash = "$6$salt$hash\nroot::0:0";
    RegistryUser judy = make_user("judy", 20033);
    judy.password_hash = "$6$salt$hash";
    judy.deleted = true;
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
    CHECK(checked.valid[1] == judy);  // a hash and a deleted flag are fine
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
    CHECK(contains(rejected, "'gina'", "passwordHash holds ':'"));
    CHECK(contains(rejected, "'hank'", "ssh key holds a line break"));
    CHECK(contains(rejected, "'ivan'", "passwordHash holds ':' or a control character"));
}

TEST_CASE("registry: check shows a hostile name escaped", "[registry]") {
    const CheckedRegistry checked =
        check_registry(make_registry({make_user("evil\n\x1b[2J", 20000)}), k_uid_min, k_uid_max);
    CHECK(checked.valid.empty());
    REQUIRE(checked.rejected.size() == 1);
    CHECK_THAT(checked.rejected[0], Catch::Contains("'evil\\x0a\\x1b[2J'"));
    CHECK(checked.rejected[0].find('\n') == std::string::npos);
}

TEST_CASE("registry: lowest free uid fills gaps and counts deleted users", "[registry]") {
    CHECK(*lowest_free_uid(Registry{}, k_uid_min, k_uid_max) == k_uid_min);

    RegistryUser deleted = make_user("gone", 20001);
    deleted.deleted = true;
    // Uids outside the range (a hand-made entry) neither count nor confuse the search.
    const Registry gap = make_registry({make_user("zed", 20003), make_user("amy", 20000), deleted,
                                        make_user("old", 500), make_user("far", 70000)});
    const auto free_uid = lowest_free_uid(gap, k_uid_min, k_uid_max);
    REQUIRE(free_uid.ok());
    CHECK(*free_uid == 20002);

    const auto full = lowest_free_uid(
        make_registry({make_user("a", 20000), deleted, make_user("c", 20002)}), 20000, 20002);
    REQUIRE_FALSE(full.ok());
    CHECK(full.error().kind == ErrorKind::Runtime);
    CHECK_THAT(full.error().message, Catch::Contains("20000-20002 is full"));

    // A range that ends at the largest uid must not wrap around to 0 when full.
    const auto top =
        lowest_free_uid(make_registry({make_user("top", 4294967295U)}), 4294967295U, 4294967295U);
    REQUIRE_FALSE(top.ok());
    CHECK_THAT(top.error().message, Catch::Contains("is full"));
}

TEST_CASE("registry: a share without a registry reads as empty", "[registry]") {
    test::Sandbox share;
    RegistryStore store(share.path());
    CHECK(store.registry_path() == share.path(".dsvm-agent/registry.json"));
    const auto registry = store.read();
    REQUIRE(registry.ok());
    CHECK(*registry == Registry{});
    const auto stamp = store.stamp();
    REQUIRE(stamp.ok());
    CHECK(stamp->empty());
    CHECK_FALSE(share.exists(".dsvm-agent"));  // reading creates nothing
}

TEST_CASE("registry: update creates a root-only directory and a 0600 registry", "[registry]") {
    test::Sandbox share;
    RegistryStore store(share.path());
    const mode_t old_umask = ::umask(0);
    const auto updated = store.update(add_user("alice"));
    ::umask(old_umask);
    REQUIRE(updated.ok());
    CHECK(updated->generation == 1);
    REQUIRE(updated->users.size() == 1);
    CHECK(updated->users[0] == make_user("alice", k_uid_min));

    const struct stat directory = stat_of(share.path(".dsvm-agent"));
    CHECK((directory.st_mode & 07777) == 0700);
    CHECK(directory.st_uid == ::geteuid());
    CHECK(mode_of(share.path(".dsvm-agent/registry.json")) == 0600);
    CHECK(mode_of(share.path(".dsvm-agent/registry.lock")) == 0600);
    CHECK(test::tree_digest(share.path()).find(".tmp.") == std::string::npos);

    const auto read = store.read();
    REQUIRE(read.ok());
    CHECK(*read == *updated);
    CHECK(share.read(".dsvm-agent/registry.json") == render_registry(*updated));

    // The stamp is the generation, written beside the registry after it.
    const auto stamp = store.stamp();
    REQUIRE(stamp.ok());
    CHECK(*stamp == "generation 1\n");
    CHECK(share.read(".dsvm-agent/generation") == "1\n");
    CHECK(mode_of(share.path(".dsvm-agent/generation")) == 0600);
}

TEST_CASE("registry: the generation grows only when something changed", "[registry]") {
    test::Sandbox share;
    RegistryStore store(share.path());
    REQUIRE(store.update(add_user("bob")).ok());
    REQUIRE(store.update(add_user("alice")).ok());
    const std::string bytes = share.read(".dsvm-agent/registry.json");
    const auto stamp = store.stamp();
    REQUIRE(stamp.ok());

    // Given changes that leave the content as it was (nothing, a reorder, a generation or
    // version bump), we expect no write at all.
    const std::vector<std::function<Result<void>(Registry&)>> no_ops = {
        [](Registry&) -> Result<void> { return {}; },
        [](Registry& registry) -> Result<void> {
            std::reverse(registry.users.begin(), registry.users.end());
            return {};
        },
        [](Registry& registry) -> Result<void> {
            registry.generation += 10;
            registry.version = 7;
            return {};
        },
    };
    for (const auto& no_op : no_ops) {
        const auto same = store.update(no_op);
        REQUIRE(same.ok());
        CHECK(same->generation == 2);
        CHECK(share.read(".dsvm-agent/registry.json") == bytes);
        CHECK(*store.stamp() == *stamp);
    }

    const auto changed = store.update([](Registry& registry) -> Result<void> {
        registry.users[0].sudo = true;
        return {};
    });
    REQUIRE(changed.ok());
    CHECK(changed->generation == 3);
    CHECK(*store.stamp() != *stamp);
    CHECK(store.read()->users[0].sudo);
}

TEST_CASE("registry: an error from the change writes nothing", "[registry]") {
    test::Sandbox share;
    RegistryStore store(share.path());
    REQUIRE(store.update(add_user("alice")).ok());
    const std::string before = test::tree_digest(share.path());

    const auto failed = store.update([](Registry& registry) -> Result<void> {
        registry.users.clear();
        return invalid("user 'bob' is not allowed");
    });
    REQUIRE_FALSE(failed.ok());
    CHECK(failed.error().kind == ErrorKind::Invalid);
    CHECK(failed.error().message == "user 'bob' is not allowed");
    CHECK(test::tree_digest(share.path()) == before);
    CHECK(store.read()->users.size() == 1);
}

TEST_CASE("registry: a corrupt registry stops the update rather than guess", "[registry]") {
    test::Sandbox share;
    share.mkdir(".dsvm-agent", 0700);
    share.write(".dsvm-agent/registry.json", R"({"version": 1, "generation": 4, "users": [)", 0600);
    RegistryStore store(share.path());
    bool ran = false;
    const auto updated = store.update([&](Registry&) -> Result<void> {
        ran = true;
        return {};
    });
    REQUIRE_FALSE(updated.ok());
    CHECK_FALSE(ran);
    CHECK_THAT(updated.error().message, Catch::Contains(store.registry_path()));
    CHECK_THAT(updated.error().message, Catch::Contains("not valid JSON"));
    CHECK(share.read(".dsvm-agent/registry.json") ==
          R"({"version": 1, "generation": 4, "users": [)");
    CHECK_FALSE(store.read().ok());
}

TEST_CASE("registry: a symlink in place of the registry or its directory is not followed",
          "[registry]") {
    test::Sandbox share;
    share.write("elsewhere/registry.json", render_registry(Registry{}), 0600);
    REQUIRE(::symlink(share.path("elsewhere").c_str(), share.path(".dsvm-agent").c_str()) == 0);
    RegistryStore store(share.path());
    const auto through_directory = store.update(add_user("alice"));
    REQUIRE_FALSE(through_directory.ok());
    CHECK_THAT(through_directory.error().message, Catch::Contains("is not a directory"));

    REQUIRE(::unlink(share.path(".dsvm-agent").c_str()) == 0);
    share.mkdir(".dsvm-agent", 0700);
    REQUIRE(::symlink(share.path("elsewhere/registry.json").c_str(),
                      share.path(".dsvm-agent/registry.json").c_str()) == 0);
    const auto through_file = store.update(add_user("alice"));
    REQUIRE_FALSE(through_file.ok());
    CHECK(share.read("elsewhere/registry.json") == render_registry(Registry{}));
}

TEST_CASE("registry: update takes back a .dsvm-agent that others can reach", "[registry]") {
    test::Sandbox share;
    const std::string directory = share.mkdir(".dsvm-agent", 0777);
    REQUIRE(::chmod(directory.c_str(), 0777) == 0);
    if (::geteuid() == 0) {
        REQUIRE(::chown(directory.c_str(), 12345, 12345) == 0);
    }
    RegistryStore store(share.path());
    REQUIRE(store.update(add_user("alice")).ok());
    const struct stat info = stat_of(directory);
    CHECK((info.st_mode & 07777) == 0700);
    CHECK(info.st_uid == ::geteuid());
    CHECK(info.st_gid == ::getegid());
}

TEST_CASE("registry: a .dsvm-agent that cannot be made root-only explains root_squash",
          "[registry]") {
    if (::geteuid() != 0) {
        WARN("needs root: the test plays a squashed root by switching to an unprivileged user");
        return;
    }
    // Given a directory root made, seen by a writer whose root is squashed to nobody (as an NFS
    // export with root_squash does), we expect the error to name the cause and the fix.
    test::Sandbox sandbox;
    REQUIRE(::chmod(sandbox.path().c_str(), 0755) == 0);
    const std::string share = sandbox.mkdir("share", 0755);
    // Either root made .dsvm-agent before the export squashed it, or it does not exist yet and
    // the squashed root cannot create it.
    const bool made_before = GENERATE(true, false);
    if (made_before) {
        sandbox.mkdir("share/.dsvm-agent", 0755);
    }
    const pid_t child = fork_child([&] {
        if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
            ::setresuid(65534, 65534, 65534) != 0) {
            return 10;
        }
        const auto updated = RegistryStore(share).update(add_user("alice"));
        if (updated.ok()) {
            return 11;
        }
        const std::string& message = updated.error().message;
        const bool explained = message.find(".dsvm-agent on the share cannot be made root-only") !=
                                   std::string::npos &&
                               message.find("export it with no_root_squash") != std::string::npos;
        return explained ? 0 : 12;
    });
    REQUIRE(child > 0);
    CHECK(wait_exit_code(child) == 0);
    CHECK_FALSE(sandbox.exists("share/.dsvm-agent/registry.json"));
}

TEST_CASE("registry: a reader never sees a partial registry", "[registry]") {
    test::Sandbox share;
    constexpr std::uint64_t k_writes = 200;
    constexpr std::size_t k_users = 20;
    // Every write stamps each user's hash with the new generation; a reader that mixed two
    // versions would see a torn file (it would not parse) or hashes that disagree.
    const auto hash_for = [](std::uint64_t generation) {
        return "$6$generation$" + std::to_string(generation);
    };
    const pid_t reader = fork_child([&] {
        const RegistryStore store(share.path());
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        std::uint64_t last_seen = 0;
        while (std::chrono::steady_clock::now() < deadline) {
            const auto registry = store.read();
            if (!registry.ok()) {
                return 1;
            }
            // Once there, the registry never vanishes nor goes back, even for a moment.
            if (registry->generation < last_seen) {
                return 5;
            }
            last_seen = registry->generation;
            if (registry->generation == 0) {
                continue;
            }
            if (registry->users.size() != k_users) {
                return 2;
            }
            for (const auto& user : registry->users) {
                if (user.password_hash != hash_for(registry->generation)) {
                    return 3;
                }
            }
            if (registry->generation == k_writes) {
                return 0;
            }
            // A breath between reads leaves the writer a core on a busy two-core machine.
            std::this_thread::sleep_for(std::chrono::microseconds(100));
        }
        return 4;
    });
    REQUIRE(reader > 0);
    // Long keys make the file span several pages, so a torn write would show.
    const std::string key = "ssh-ed25519 " + std::string(500, 'A');
    RegistryStore store(share.path());
    for (std::uint64_t write = 0; write < k_writes; ++write) {
        const auto updated = store.update([&](Registry& registry) -> Result<void> {
            while (registry.users.size() < k_users) {
                RegistryUser user =
                    make_user("user" + std::to_string(registry.users.size()),
                              k_uid_min + static_cast<std::uint32_t>(registry.users.size()));
                user.ssh_keys = {key};
                registry.users.push_back(user);
            }
            for (auto& user : registry.users) {
                user.password_hash = hash_for(registry.generation + 1);
            }
            return {};
        });
        REQUIRE(updated.ok());
    }
    CHECK(wait_exit_code(reader) == 0);
}

TEST_CASE("registry: concurrent writers from many processes never lose an update", "[registry]") {
    test::Sandbox share;
    constexpr int k_writers = 16;
    constexpr int k_updates = 10;
    // The children wait on a pipe, so they all start when the parent closes it.
    int gate[2] = {-1, -1};
    REQUIRE(::pipe(gate) == 0);
    Fd gate_read(gate[0]);
    Fd gate_write(gate[1]);
    std::vector<pid_t> writers;
    for (int writer = 0; writer < k_writers; ++writer) {
        const pid_t pid = fork_child([&] {
            gate_write.reset();
            char byte = 0;
            if (::read(gate_read.get(), &byte, 1) != 0) {
                return 20;
            }
            RegistryStore store(share.path());
            for (int update = 0; update < k_updates; ++update) {
                const std::string name =
                    "writer" + std::to_string(writer) + "-" + std::to_string(update);
                if (!store.update(add_user(name)).ok()) {
                    return 21;
                }
            }
            return 0;
        });
        REQUIRE(pid > 0);
        writers.push_back(pid);
    }
    gate_write.reset();
    for (const pid_t pid : writers) {
        CHECK(wait_exit_code(pid) == 0);
    }

    const auto registry = RegistryStore(share.path()).read();
    REQUIRE(registry.ok());
    CHECK(registry->generation == k_writers * k_updates);
    REQUIRE(registry->users.size() == k_writers * k_updates);
    std::set<std::uint32_t> uids;
    std::set<std::string> names;
    for (const auto& user : registry->users) {
        uids.insert(user.uid);
        names.insert(user.name);
    }
    CHECK(names.size() == k_writers * k_updates);
    CHECK(names.count("writer15-9") == 1);
    REQUIRE(uids.size() == k_writers * k_updates);
    CHECK(*uids.begin() == k_uid_min);
    CHECK(*uids.rbegin() == k_uid_min + k_writers * k_updates - 1);
    CHECK(check_registry(*registry, k_uid_min, k_uid_max).rejected.empty());
}

TEST_CASE("registry: threads of one process exclude each other too", "[registry]") {
    test::Sandbox share;
    constexpr int k_threads = 4;
    constexpr int k_updates = 10;
    std::vector<int> failures(k_threads, 0);
    std::vector<std::thread> threads;
    for (int thread = 0; thread < k_threads; ++thread) {
        threads.emplace_back([&, thread] {
            RegistryStore store(share.path());
            for (int update = 0; update < k_updates; ++update) {
                const std::string name =
                    "thread" + std::to_string(thread) + "-" + std::to_string(update);
                if (!store.update(add_user(name)).ok()) {
                    ++failures[static_cast<std::size_t>(thread)];
                }
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    CHECK(std::count(failures.begin(), failures.end(), 0) == k_threads);
    const auto registry = RegistryStore(share.path()).read();
    REQUIRE(registry.ok());
    CHECK(registry->generation == k_threads * k_updates);
    CHECK(registry->users.size() == k_threads * k_updates);
    CHECK(check_registry(*registry, k_uid_min, k_uid_max).rejected.empty());
}

TEST_CASE("registry: a writer killed while holding the lock leaves no stale lock", "[registry]") {
    test::Sandbox share;
    RegistryStore store(share.path());
    REQUIRE(store.update(add_user("alice")).ok());

    int held[2] = {-1, -1};
    REQUIRE(::pipe(held) == 0);
    Fd held_read(held[0]);
    Fd held_write(held[1]);
    const pid_t writer = fork_child([&] {
        held_read.reset();
        const auto updated = store.update([&](Registry& registry) -> Result<void> {
            registry.users.push_back(make_user("bob", 20001));
            const char byte = 'L';
            if (::write(held_write.get(), &byte, 1) == 1) {
                ::pause();
            }
            return {};
        });
        return updated.ok() ? 30 : 31;
    });
    REQUIRE(writer > 0);
    ScopeGuard reap([&] {
        ::kill(writer, SIGKILL);
        wait_exit_code(writer);
    });
    held_write.reset();
    pollfd ready{};
    ready.fd = held_read.get();
    ready.events = POLLIN;
    REQUIRE(::poll(&ready, 1, 5000) == 1);

    // While the writer is inside its change, the lock really is taken.
    Fd probe(::open(share.path(".dsvm-agent/registry.lock").c_str(), O_RDWR | O_CLOEXEC));
    REQUIRE(probe);
    struct flock lock {};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    CHECK(::fcntl(probe.get(), F_OFD_SETLK, &lock) == -1);
    probe.reset();

    REQUIRE(::kill(writer, SIGKILL) == 0);
    CHECK(wait_exit_code(writer) == -1);
    reap.dismiss();

    const auto start = std::chrono::steady_clock::now();
    const auto updated = store.update(add_user("carol"));
    const auto took = std::chrono::steady_clock::now() - start;
    REQUIRE(updated.ok());
    CHECK(took < std::chrono::milliseconds(500));
    CHECK(updated->generation == 2);  // the killed writer wrote nothing
    REQUIRE(updated->users.size() == 2);
    CHECK(updated->users[0].name == "alice");
    CHECK(updated->users[1] == make_user("carol", 20001));
    CHECK(test::tree_digest(share.path()).find(".tmp.") == std::string::npos);
}
