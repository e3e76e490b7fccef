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
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "common/fd.h"
#include "common/file_lock.h"
#include "support/fake_clock.h"
#include "support/registry_fixture.h"
#include "support/sandbox.h"
#include "users/registry_store.h"

using namespace dsvm;
using namespace dsvm::users;
using dsvm::test::k_other_key;
using dsvm::test::k_pool_key;
using dsvm::test::keys_of;
using dsvm::test::make_user;
using dsvm::test::mode_of;
using dsvm::test::stat_of;

namespace {

constexpr std::uint32_t k_uid_min = 20000;
constexpr std::uint32_t k_uid_max = 59999;

// A store on a share with POSIX owners (NFS, bind) holding the pool key.
RegistryStore store_of(const std::string& share, bool posix = true,
                       std::string_view key = k_pool_key) {
    return RegistryStore({share, posix}, keys_of(key));
}

// A change that adds one user under the next free uid: what adduser does.
std::function<Result<void>(Registry&)> add_user(std::string name) {
    return [name = std::move(name)](Registry& registry) -> Result<void> {
        auto added = find_or_add_user(registry, name, k_uid_min, k_uid_max);
        return added ? Result<void>() : Result<void>(added.error());
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

bool becomes_nobody() {
    return ::setgroups(0, nullptr) == 0 && ::setresgid(65534, 65534, 65534) == 0 &&
           ::setresuid(65534, 65534, 65534) == 0;
}

}  // namespace

TEST_CASE("registry store: a share without a registry reads as absent", "[registry]") {
    test::Sandbox share;
    const RegistryStore store = store_of(share.path());
    CHECK(store.registry_path() == share.path(".dsvm-agent/registry.json"));
    const auto loaded = store.load();
    REQUIRE(loaded.ok());
    CHECK_FALSE(loaded->exists);
    CHECK(loaded->verified());
    CHECK(loaded->registry() == Registry{});
    const auto stamp = store.stamp();
    REQUIRE(stamp.ok());
    CHECK(stamp->empty());
    CHECK_FALSE(share.exists(".dsvm-agent"));  // reading creates nothing
}

TEST_CASE("registry store: update creates a root-only directory and a signed 0600 registry",
          "[registry]") {
    test::Sandbox share;
    RegistryStore store = store_of(share.path());
    const mode_t old_umask = ::umask(0);
    const auto updated = store.update(add_user("alice"));
    ::umask(old_umask);
    REQUIRE(updated.ok());
    CHECK(updated->registry().generation == 1);
    CHECK(updated->registry().next_uid == k_uid_min + 1);
    REQUIRE(updated->registry().users.size() == 1);
    CHECK(updated->registry().users[0] == make_user("alice", k_uid_min));

    const struct stat directory = stat_of(share.path(".dsvm-agent"));
    CHECK((directory.st_mode & 07777) == 0700);
    CHECK(directory.st_uid == ::geteuid());
    CHECK(mode_of(share.path(".dsvm-agent/registry.json")) == 0600);
    CHECK(mode_of(share.path(".dsvm-agent/registry.lock")) == 0600);
    CHECK(test::tree_digest(share.path()).find(".tmp") == std::string::npos);

    const auto loaded = store.load();
    REQUIRE(loaded.ok());
    CHECK(loaded->exists);
    CHECK(loaded->verification.trust == RegistryTrust::Verified);
    CHECK(loaded->registry() == updated->registry());
    CHECK(loaded->file.mac == updated->file.mac);
    CHECK(share.read(".dsvm-agent/registry.json") ==
          render_registry_file(updated->registry(), k_pool_key));

    // The stamp starts with the generation, written beside the registry after it.
    const auto stamp = store.stamp();
    REQUIRE(stamp.ok());
    CHECK_THAT(*stamp, Catch::StartsWith("generation 1 "));
    CHECK(share.read(".dsvm-agent/generation") == "1\n");
}

TEST_CASE("registry store: the generation grows only when something changed", "[registry]") {
    test::Sandbox share;
    RegistryStore store = store_of(share.path());
    REQUIRE(store.update(add_user("bob")).ok());
    REQUIRE(store.update(add_user("alice")).ok());
    const std::string bytes = share.read(".dsvm-agent/registry.json");
    const auto stamp = store.stamp();
    REQUIRE(stamp.ok());

    // Given changes that leave the content as it was (nothing, a reorder, a generation bump),
    // we expect no write at all.
    const std::vector<std::function<Result<void>(Registry&)>> no_ops = {
        [](Registry&) -> Result<void> { return {}; },
        [](Registry& registry) -> Result<void> {
            std::reverse(registry.users.begin(), registry.users.end());
            return {};
        },
        [](Registry& registry) -> Result<void> {
            registry.generation += 10;
            return {};
        },
    };
    for (const auto& no_op : no_ops) {
        const auto same = store.update(no_op);
        REQUIRE(same.ok());
        CHECK(same->registry().generation == 2);
        CHECK(share.read(".dsvm-agent/registry.json") == bytes);
        CHECK(*store.stamp() == *stamp);
    }

    const auto changed = store.update([](Registry& registry) -> Result<void> {
        registry.users[0].sudo = true;
        return {};
    });
    REQUIRE(changed.ok());
    CHECK(changed->registry().generation == 3);
    CHECK(*store.stamp() != *stamp);
    CHECK(store.load()->registry().users[0].sudo);
}

TEST_CASE("registry store: an error from the change writes nothing", "[registry]") {
    test::Sandbox share;
    RegistryStore store = store_of(share.path());
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
}

TEST_CASE("registry store: without a key nothing is written", "[registry]") {
    test::Sandbox share;
    RegistryStore store({share.path(), true}, keys_of({}));
    const auto updated = store.update(add_user("alice"));
    REQUIRE_FALSE(updated.ok());
    CHECK_THAT(updated.error().message,
               Catch::Contains("no registry key") && Catch::Contains("registry set-key"));
    CHECK_FALSE(share.exists(".dsvm-agent"));
}

TEST_CASE("registry store: a registry it cannot verify is not changed", "[registry]") {
    test::Sandbox share;
    REQUIRE(store_of(share.path(), true, k_other_key).update(add_user("alice")).ok());
    const std::string before = share.read(".dsvm-agent/registry.json");
    RegistryStore store = store_of(share.path());
    const auto loaded = store.load();
    REQUIRE(loaded.ok());
    CHECK_FALSE(loaded->verified());
    CHECK(loaded->verification.trust == RegistryTrust::UnknownKey);
    const auto updated = store.update(add_user("bob"));
    REQUIRE_FALSE(updated.ok());
    CHECK_THAT(updated.error().message, Catch::Contains("registry refused"));
    CHECK(share.read(".dsvm-agent/registry.json") == before);

    // registry sign --accept-unverified takes it as it is, at a generation above what was seen,
    // but only the very content reviewed (named by its digest).
    RegistryUpdate sign;
    sign.accept_unsigned = true;
    sign.accept_unverified = true;
    sign.force_write = true;
    sign.min_generation = 10;
    const auto unreviewed = store.update([](Registry&) { return Result<void>(); }, sign);
    REQUIRE_FALSE(unreviewed.ok());
    CHECK(unreviewed.error().kind == ErrorKind::Invalid);
    CHECK_THAT(unreviewed.error().message,
               Catch::Contains("--expect") && Catch::Contains(loaded->file.digest));
    sign.expect_digest = "0000000000000000";
    CHECK_THAT(store.update([](Registry&) { return Result<void>(); }, sign).error().message,
               Catch::Contains("it changed since; review it again"));
    CHECK(share.read(".dsvm-agent/registry.json") == before);
    sign.expect_digest = loaded->file.digest;
    const auto signed_registry = store.update([](Registry&) { return Result<void>(); }, sign);
    REQUIRE(signed_registry.ok());
    CHECK(signed_registry->registry().generation == 10);
    CHECK(store.load()->verification.trust == RegistryTrust::Verified);
}

TEST_CASE("registry store: an unsigned registry from version 1 is signed only on request",
          "[registry]") {
    test::Sandbox share;
    share.mkdir(".dsvm-agent", 0700);
    share.write(".dsvm-agent/registry.json",
                R"({"version": 1, "generation": 4, "users": [
                    {"name": "alice", "uid": 20003, "gid": 20003, "sudo": true}]})",
                0600);
    RegistryStore store = store_of(share.path());
    CHECK(store.load()->verification.trust == RegistryTrust::Unsigned);
    REQUIRE_FALSE(store.update(add_user("bob")).ok());
    RegistryUpdate sign;
    sign.accept_unsigned = true;
    sign.force_write = true;
    sign.expect_digest = store.load()->file.digest;
    const auto signed_registry = store.update([](Registry&) { return Result<void>(); }, sign);
    REQUIRE(signed_registry.ok());
    CHECK(signed_registry->registry().generation == 5);
    CHECK(signed_registry->registry().pool_id.size() == 32);
    // The high-water mark starts above every UID the old registry held.
    CHECK(signed_registry->registry().next_uid == 20004);
    const auto bob = store.update(add_user("bob"));
    REQUIRE(bob.ok());
    CHECK(bob->registry().users[1] == make_user("bob", 20004));
}

TEST_CASE("registry store: signing an older, validly signed copy needs its review", "[registry]") {
    // A backup put back: signed with the pool key, but older than what this instance saw.
    test::Sandbox share;
    RegistryStore store = store_of(share.path());
    REQUIRE(store.update(add_user("alice")).ok());
    const auto loaded = store.load();
    RegistryUpdate sign;
    sign.force_write = true;
    sign.review_older = true;
    sign.share_source = "/srv/share";
    sign.seen = {"/srv/share", loaded->registry().pool_id, 7, std::string(64, 'a')};
    sign.min_generation = 8;
    const auto unreviewed = store.update([](Registry&) { return Result<void>(); }, sign);
    REQUIRE_FALSE(unreviewed.ok());
    CHECK_THAT(unreviewed.error().message, Catch::Contains("--expect"));
    sign.expect_digest = loaded->file.digest;
    const auto accepted = store.update([](Registry&) { return Result<void>(); }, sign);
    REQUIRE(accepted.ok());
    CHECK(accepted->registry().generation == 8);
    CHECK(accepted->registry().pool_id == loaded->registry().pool_id);
}

TEST_CASE("registry store: an update refuses a registry older than the one seen", "[registry]") {
    test::Sandbox share;
    RegistryStore store = store_of(share.path());
    REQUIRE(store.update(add_user("alice")).ok());
    RegistryUpdate options;
    options.check_seen = true;
    options.share_source = "/srv/share";
    options.seen = {"/srv/share", store.load()->registry().pool_id, 5, std::string(64, 'a')};
    const auto refused = store.update(add_user("bob"), options);
    REQUIRE_FALSE(refused.ok());
    CHECK_THAT(refused.error().message, Catch::Contains("went back to generation 1"));
    CHECK(store.load()->registry().users.size() == 1);
}

TEST_CASE("registry store: a corrupt registry stops the update rather than guess", "[registry]") {
    test::Sandbox share;
    share.mkdir(".dsvm-agent", 0700);
    share.write(".dsvm-agent/registry.json", R"({"version": 2, "generation": 4, "users": [)", 0600);
    RegistryStore store = store_of(share.path());
    bool ran = false;
    const auto updated = store.update([&](Registry&) -> Result<void> {
        ran = true;
        return {};
    });
    REQUIRE_FALSE(updated.ok());
    CHECK_FALSE(ran);
    CHECK_THAT(updated.error().message,
               Catch::Contains(store.registry_path()) && Catch::Contains("not valid JSON"));
    CHECK_FALSE(store.load().ok());
}

TEST_CASE("registry store: a symlink, a FIFO or a device is never followed or opened",
          "[registry]") {
    test::Sandbox share;
    test::Sandbox elsewhere;
    elsewhere.write("registry.json", render_registry_file(Registry{}, k_pool_key), 0600);
    RegistryStore store = store_of(share.path());

    SECTION("the directory is a symlink") {
        REQUIRE(::symlink(elsewhere.path().c_str(), share.path(".dsvm-agent").c_str()) == 0);
        for (const auto& error : {store.load().ok() ? std::string() : store.load().error().message,
                                  store.update(add_user("alice")).error().message}) {
            CHECK_THAT(error, Catch::Contains("symlink or not a directory"));
        }
    }
    SECTION("the registry is a symlink") {
        share.mkdir(".dsvm-agent", 0700);
        REQUIRE(::symlink(elsewhere.path("registry.json").c_str(),
                          share.path(".dsvm-agent/registry.json").c_str()) == 0);
        CHECK_THAT(store.load().error().message, Catch::Contains("it is a symlink"));
        REQUIRE_FALSE(store.update(add_user("alice")).ok());
    }
    SECTION("the registry and the generation are FIFOs") {
        share.mkdir(".dsvm-agent", 0700);
        REQUIRE(::mkfifo(share.path(".dsvm-agent/registry.json").c_str(), 0600) == 0);
        REQUIRE(::mkfifo(share.path(".dsvm-agent/generation").c_str(), 0600) == 0);
        // Reading either would block forever; both answer at once.
        CHECK_THAT(store.load().error().message, Catch::Contains("not a regular file"));
        const auto stamp = store.stamp();
        REQUIRE(stamp.ok());
        CHECK_THAT(*stamp, Catch::StartsWith("generation ?"));
    }
    SECTION("the generation is a symlink to a local file") {
        REQUIRE(store.update(add_user("alice")).ok());
        elsewhere.write("secret", "the content of a local file\n", 0600);
        REQUIRE(::unlink(share.path(".dsvm-agent/generation").c_str()) == 0);
        REQUIRE(::symlink(elsewhere.path("secret").c_str(),
                          share.path(".dsvm-agent/generation").c_str()) == 0);
        const auto stamp = store.stamp();
        REQUIRE(stamp.ok());
        CHECK(stamp->find("local file") == std::string::npos);
        CHECK_THAT(*stamp, Catch::StartsWith("generation ?"));
    }
    CHECK(elsewhere.read("registry.json") == render_registry_file(Registry{}, k_pool_key));
}

TEST_CASE("registry store: on a POSIX share, a .dsvm-agent someone else made is refused",
          "[registry]") {
    if (::geteuid() != 0) {
        WARN("needs root: the test plays another owner with chown");
        return;
    }
    test::Sandbox share;
    const std::string directory = share.mkdir(".dsvm-agent", 0700);
    REQUIRE(::chown(directory.c_str(), 65534, 65534) == 0);
    RegistryStore store = store_of(share.path());
    const auto updated = store.update(add_user("alice"));
    REQUIRE_FALSE(updated.ok());
    CHECK_THAT(updated.error().message,
               Catch::Contains("owned by uid 65534, not root") && Catch::Contains("move it away"));
    CHECK_FALSE(store.load().ok());
    CHECK(stat_of(directory).st_uid == 65534);  // not taken over
    CHECK_FALSE(share.exists(".dsvm-agent/registry.json"));

    // Ours but group-writable: a writer narrows it, a reader refuses until then.
    REQUIRE(::chown(directory.c_str(), 0, 0) == 0);
    REQUIRE(::chmod(directory.c_str(), 0775) == 0);
    CHECK_THAT(store.load().error().message, Catch::Contains("lets group or others write"));
    REQUIRE(store.update(add_user("alice")).ok());
    CHECK(mode_of(directory) == 0700);

    // A registry file that is not root's is refused too.
    REQUIRE(::chown(share.path(".dsvm-agent/registry.json").c_str(), 65534, 65534) == 0);
    CHECK_THAT(store.load().error().message, Catch::Contains("owned by uid 65534"));
}

TEST_CASE("registry store: on SMB owners are fiction, and the signature still holds",
          "[registry]") {
    // An SMB share mounted file_mode=0777 shows every file as root's and writable by all.
    test::Sandbox share;
    RegistryStore smb = store_of(share.path(), false);
    REQUIRE(smb.update(add_user("alice")).ok());
    REQUIRE(::chmod(share.path(".dsvm-agent").c_str(), 0777) == 0);
    REQUIRE(::chmod(share.path(".dsvm-agent/registry.json").c_str(), 0777) == 0);
    const auto loaded = smb.load();
    REQUIRE(loaded.ok());
    CHECK(loaded->verified());
    REQUIRE(smb.update(add_user("bob")).ok());
    CHECK(mode_of(share.path(".dsvm-agent")) == 0777);  // an SMB client's chmod does nothing
}

TEST_CASE("registry store: a .dsvm-agent that cannot be made root-only explains root_squash",
          "[registry]") {
    if (::geteuid() != 0) {
        WARN("needs root: the test plays a squashed root by switching to an unprivileged user");
        return;
    }
    // Given a writer whose root is squashed to nobody (as an NFS export with root_squash does),
    // we expect the error to name the cause and the fix.
    test::Sandbox sandbox;
    REQUIRE(::chmod(sandbox.path().c_str(), 0755) == 0);
    const std::string share = sandbox.mkdir("share", 0755);
    const pid_t child = fork_child([&] {
        if (!becomes_nobody()) {
            return 10;
        }
        const auto updated = store_of(share).update(add_user("alice"));
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
    CHECK_FALSE(sandbox.exists("share/.dsvm-agent"));
}

TEST_CASE("registry store: a reader never sees a partial registry", "[registry]") {
    test::Sandbox share;
    constexpr std::uint64_t k_writes = 200;
    constexpr std::size_t k_users = 20;
    // Every write stamps each user's hash with the new generation; a reader that mixed two
    // versions would see a torn file (it would not parse or verify) or hashes that disagree.
    const auto hash_for = [](std::uint64_t generation) {
        return "$6$generation$" + std::to_string(generation);
    };
    const pid_t reader = fork_child([&] {
        const RegistryStore store = store_of(share.path());
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        std::uint64_t last_seen = 0;
        while (std::chrono::steady_clock::now() < deadline) {
            const auto loaded = store.load();
            if (!loaded.ok() || !loaded->verified()) {
                return 1;
            }
            const Registry& registry = loaded->registry();
            // Once there, the registry never vanishes nor goes back, even for a moment.
            if (registry.generation < last_seen) {
                return 5;
            }
            last_seen = registry.generation;
            if (registry.generation == 0) {
                continue;
            }
            if (registry.users.size() != k_users) {
                return 2;
            }
            for (const auto& user : registry.users) {
                if (user.password_hash != hash_for(registry.generation)) {
                    return 3;
                }
            }
            if (registry.generation == k_writes) {
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
    RegistryStore store = store_of(share.path());
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

TEST_CASE("registry store: concurrent writers from many processes never lose an update",
          "[registry]") {
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
            RegistryStore store = store_of(share.path());
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

    const auto loaded = store_of(share.path()).load();
    REQUIRE(loaded.ok());
    REQUIRE(loaded->verified());
    const Registry& registry = loaded->registry();
    CHECK(registry.generation == k_writers * k_updates);
    REQUIRE(registry.users.size() == k_writers * k_updates);
    std::set<std::uint32_t> uids;
    for (const auto& user : registry.users) {
        uids.insert(user.uid);
    }
    REQUIRE(uids.size() == k_writers * k_updates);
    CHECK(*uids.begin() == k_uid_min);
    CHECK(*uids.rbegin() == k_uid_min + k_writers * k_updates - 1);
    CHECK(check_registry(registry, k_uid_min, k_uid_max).rejected.empty());
}

TEST_CASE("registry store: threads of one process exclude each other too", "[registry]") {
    test::Sandbox share;
    constexpr int k_threads = 4;
    constexpr int k_updates = 10;
    std::vector<int> failures(k_threads, 0);
    std::vector<std::thread> threads;
    for (int thread = 0; thread < k_threads; ++thread) {
        threads.emplace_back([&, thread] {
            RegistryStore store = store_of(share.path());
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
    const auto loaded = store_of(share.path()).load();
    REQUIRE(loaded.ok());
    CHECK(loaded->registry().generation == k_threads * k_updates);
    CHECK(loaded->registry().users.size() == k_threads * k_updates);
}

// Given another instance holding the registry's lock, we expect an update to give up after
// 30 s on the store's clock, naming the lock and the filesystems without locks, with nothing
// written: 30 s of fake time in well under a second.
TEST_CASE("registry store: an update gives up after 30 s on the clock when the lock stays held",
          "[registry][clock]") {
    test::Sandbox share;
    REQUIRE(store_of(share.path()).update(add_user("alice")).ok());
    Fd directory(::open(share.path(".dsvm-agent").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    REQUIRE(directory);
    auto holder = lock_file_at(directory.get(), "registry.lock", "held", std::chrono::seconds(1));
    REQUIRE(holder.ok());
    const std::string before = test::tree_digest(share.path());

    test::FakeClock clock;
    RegistryStore store({share.path(), true}, keys_of(k_pool_key), clock);
    const auto started = clock.now();
    const auto real_start = std::chrono::steady_clock::now();
    const auto updated = store.update(add_user("bob"));
    const auto real_time = std::chrono::steady_clock::now() - real_start;

    REQUIRE_FALSE(updated.ok());
    CHECK_THAT(updated.error().message,
               Catch::StartsWith("cannot lock " + share.path(".dsvm-agent/registry.lock") +
                                 ": another process has held it for 30 s"));
    const auto waited = clock.now() - started;
    CHECK(waited >= std::chrono::seconds(30));
    CHECK(waited <= std::chrono::seconds(31));
    CHECK(real_time < std::chrono::milliseconds(500));
    CHECK(test::tree_digest(share.path()) == before);
}

// A Clock whose first sleep runs `first` (the lock wait's first pause, here).
class ActingClock final : public Clock {
  public:
    explicit ActingClock(std::function<void()> first) : m_first(std::move(first)) {}
    std::chrono::steady_clock::time_point now() override { return m_clock.now(); }
    std::chrono::system_clock::time_point wall_now() override { return m_clock.wall_now(); }
    void sleep_for(std::chrono::milliseconds duration) override {
        m_clock.sleep_for(duration);
        if (m_first) {
            std::exchange(m_first, nullptr)();
        }
    }

  private:
    test::FakeClock m_clock;
    std::function<void()> m_first;
};

// Under the lock the registry is read through .dsvm-agent opened again by its path (so that an
// NFS client asks the server for it), which must hold the locked registry.lock. Given the
// directory, or the lock file in it, swapped for another while the update waited for its lock,
// we expect a refusal naming the directory, and no registry written anywhere.
TEST_CASE("registry store: a .dsvm-agent or lock replaced while the lock is awaited is refused",
          "[registry][clock]") {
    test::Sandbox share;
    REQUIRE(store_of(share.path()).update(add_user("alice")).ok());
    Fd directory(::open(share.path(".dsvm-agent").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    REQUIRE(directory);
    auto holder = lock_file_at(directory.get(), "registry.lock", "held", std::chrono::seconds(1));
    REQUIRE(holder.ok());
    const std::string before = share.read(".dsvm-agent/registry.json");

    std::function<void()> swap;
    std::string old_registry;
    SECTION("the directory") {
        swap = [&] {
            REQUIRE(::rename(share.path(".dsvm-agent").c_str(), share.path("old").c_str()) == 0);
            REQUIRE(::mkdir(share.path(".dsvm-agent").c_str(), 0700) == 0);
            share.write(".dsvm-agent/registry.lock", "", 0600);
        };
        old_registry = "old/registry.json";
    }
    SECTION("the lock file in it") {
        swap = [&] {
            REQUIRE(::rename(share.path(".dsvm-agent/registry.lock").c_str(),
                             share.path(".dsvm-agent/old.lock").c_str()) == 0);
            share.write(".dsvm-agent/registry.lock", "", 0600);
        };
        old_registry = ".dsvm-agent/registry.json";
    }
    ActingClock clock([&] {
        swap();
        holder->reset();  // the lock awaited is free now
    });
    RegistryStore store({share.path(), true}, keys_of(k_pool_key), clock);
    const auto updated = store.update(add_user("bob"));

    REQUIRE_FALSE(updated.ok());
    CHECK(updated.error().message == share.path(".dsvm-agent") +
                                         " was replaced while this instance held its lock; "
                                         "try again");
    CHECK(share.read(old_registry) == before);
    CHECK(test::files_with_text(share.path(), "bob").empty());
}

TEST_CASE("registry store: a writer killed while holding the lock leaves no stale lock",
          "[registry]") {
    test::Sandbox share;
    RegistryStore store = store_of(share.path());
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
    CHECK(updated->registry().generation == 2);  // the killed writer wrote nothing
    REQUIRE(updated->registry().users.size() == 2);
    CHECK(updated->registry().users[1] == make_user("carol", 20001));
}
