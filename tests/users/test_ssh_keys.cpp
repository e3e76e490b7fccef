#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <future>

#include "common/fd.h"
#include "support/sandbox.h"
#include "users/ssh_keys.h"

using namespace dsvm;
using namespace dsvm::users;
using namespace std::chrono_literals;

namespace {

constexpr uid_t k_uid = 4242;
constexpr gid_t k_gid = 4343;
const std::string k_begin = std::string(k_keys_begin) + "\n";
const std::string k_end = std::string(k_keys_end) + "\n";
const std::string k_user_key = "ssh-ed25519 AAAAuser alice@laptop\n";

std::string block(const std::vector<std::string>& keys) {
    std::string text = k_begin;
    for (const auto& key : keys) {
        text += key + "\n";
    }
    return text + k_end;
}

// A sandbox root with an etc/ to prove untouched and a home owned by the pool user.
class Home {
  public:
    Home() {
        sandbox.write("etc/passwd", "root:x:0:0:root:/root:/bin/bash\n", 0644);
        sandbox.write("etc/shadow", "root:$y$j9T$secret:19000:0:99999:7:::\n", 0640);
        sandbox.mkdir("home/alice", 0755);
        own(sandbox.path("home/alice"));
    }

    Result<bool> write(const std::vector<std::string>& keys,
                       std::string_view home = "/home/alice") {
        return write_authorized_keys(Root(sandbox.path()), home, k_uid, k_gid, keys);
    }
    std::string etc_digest() const { return test::tree_digest(sandbox.path("etc")); }
    static void own(const std::string& path, uid_t uid = k_uid) {
        REQUIRE(::lchown(path.c_str(), uid, k_gid) == 0);
    }

    test::Sandbox sandbox;
};

using dsvm::test::stat_of;

// A refusal: an error that says why, and nothing under etc/ touched.
void check_refused(Home& home, const std::string& why) {
    const std::string before = home.etc_digest();
    auto written = home.write({"ssh-ed25519 AAAAmanaged pool"});
    REQUIRE_FALSE(written.ok());
    CHECK(written.error().kind == ErrorKind::Runtime);
    CHECK_THAT(written.error().message, Catch::Contains("refusing"));
    CHECK_THAT(written.error().message, Catch::Contains(why));
    CHECK(home.etc_digest() == before);
    CHECK(home.sandbox.read("etc/passwd") == "root:x:0:0:root:/root:/bin/bash\n");
}

}  // namespace

TEST_CASE("ssh-keys: merge into an empty file adds one block", "[ssh-keys]") {
    CHECK(merge_authorized_keys("", {"ssh-rsa AAAA1 a", "ssh-ed25519 AAAA2 b"}) ==
          block({"ssh-rsa AAAA1 a", "ssh-ed25519 AAAA2 b"}));
    CHECK(merge_authorized_keys("", {}).empty());
}

TEST_CASE("ssh-keys: merge keeps the user's keys before and after the block", "[ssh-keys]") {
    CHECK(merge_authorized_keys(k_user_key, {"k1"}) == k_user_key + block({"k1"}));
    // A last line without a newline gets one, so the block starts on its own line.
    CHECK(merge_authorized_keys("ssh-rsa AAAAu u", {"k1"}) == "ssh-rsa AAAAu u\n" + block({"k1"}));
    const std::string current = "first\n" + block({"old"}) + "# my comment\nlast-no-newline";
    CHECK(merge_authorized_keys(current, {"new1", "new2"}) ==
          "first\n" + block({"new1", "new2"}) + "# my comment\nlast-no-newline");
}

TEST_CASE("ssh-keys: merge with no keys removes the block and only the block", "[ssh-keys]") {
    CHECK(merge_authorized_keys(k_user_key + block({"old"}) + "after\n", {}) ==
          k_user_key + "after\n");
    CHECK(merge_authorized_keys(block({"old"}), {}).empty());
    CHECK(merge_authorized_keys(k_user_key, {}) == k_user_key);
}

TEST_CASE("ssh-keys: merge is idempotent", "[ssh-keys]") {
    const std::vector<std::string> keys = {"k1", "k2"};
    for (const std::string& current :
         {std::string(), k_user_key, std::string("no-newline"),
          k_user_key + block({"old"}) + "tail\n", "u\n" + k_begin + "orphan\n",
          block({"a"}) + "u\n" + block({"b"}), "crlf\r\n" + k_end + "stray end\n"}) {
        const std::string once = merge_authorized_keys(current, keys);
        CHECK(merge_authorized_keys(once, keys) == once);
        const std::string removed = merge_authorized_keys(once, {});
        CHECK(merge_authorized_keys(removed, {}) == removed);
    }
}

TEST_CASE("ssh-keys: an unterminated begin marker and what follows stay the user's", "[ssh-keys]") {
    // given a begin marker whose end was deleted, we expect nothing after it to be dropped
    // (it may be the user's keys) and a fresh block at the end.
    const std::string current = "u1\n" + k_begin + "maybe-user-key\n";
    const std::string merged = merge_authorized_keys(current, {"k1"});
    CHECK(merged == current + block({"k1"}));
    CHECK(merge_authorized_keys(merged, {"k2"}) == current + block({"k2"}));
    CHECK(merge_authorized_keys(merged, {}) == current);
}

TEST_CASE("ssh-keys: duplicated blocks collapse into the first one's place", "[ssh-keys]") {
    const std::string current = "a\n" + block({"x"}) + "b\n" + block({"y"}) + "c\n";
    CHECK(merge_authorized_keys(current, {"k"}) == "a\n" + block({"k"}) + "b\nc\n");
    CHECK(merge_authorized_keys(current, {}) == "a\nb\nc\n");
}

TEST_CASE("ssh-keys: CRLF lines are kept byte for byte and CRLF markers still match",
          "[ssh-keys]") {
    const std::string current = "u1\r\n" + std::string(k_keys_begin) + "\r\nold\r\n" +
                                std::string(k_keys_end) + "\r\nu2\r\n";
    CHECK(merge_authorized_keys(current, {"k"}) == "u1\r\n" + block({"k"}) + "u2\r\n");
    CHECK(merge_authorized_keys("u1\r\nu2\r\n", {"k"}) == "u1\r\nu2\r\n" + block({"k"}));
}

TEST_CASE("ssh-keys: keys that would break the block are left out", "[ssh-keys]") {
    const std::vector<std::string> keys = {"good", "evil\n" + std::string(k_keys_end),
                                           "",     std::string(k_keys_end),
                                           "cr\r", std::string("nul\0x", 5)};
    CHECK(merge_authorized_keys("", keys) == block({"good"}));
    CHECK(merge_authorized_keys("", {"", std::string(k_keys_begin)}).empty());
}

TEST_CASE("ssh-keys: write creates .ssh 0700 and the file 0600 owned by the user", "[ssh-keys]") {
    Home home;
    auto written = home.write({"ssh-ed25519 AAAAk1 pool"});
    INFO((written ? std::string() : written.error().message));
    REQUIRE(written.ok());
    CHECK(*written);
    const auto ssh = stat_of(home.sandbox.path("home/alice/.ssh"));
    CHECK(S_ISDIR(ssh.st_mode));
    CHECK((ssh.st_mode & 07777) == 0700);
    CHECK(ssh.st_uid == k_uid);
    CHECK(ssh.st_gid == k_gid);
    const auto file = stat_of(home.sandbox.path("home/alice/.ssh/authorized_keys"));
    CHECK(S_ISREG(file.st_mode));
    CHECK((file.st_mode & 07777) == 0600);
    CHECK(file.st_uid == k_uid);
    CHECK(file.st_gid == k_gid);
    CHECK(home.sandbox.read("home/alice/.ssh/authorized_keys") ==
          block({"ssh-ed25519 AAAAk1 pool"}));
    CHECK_FALSE(home.sandbox.exists("home/alice/.ssh/authorized_keys.dsvm-agent.tmp"));
}

TEST_CASE("ssh-keys: a second write with the same keys writes nothing", "[ssh-keys]") {
    Home home;
    REQUIRE(home.write({"k1"}).ok());
    const std::string before = test::tree_digest(home.sandbox.path());
    auto again = home.write({"k1"});
    REQUIRE(again.ok());
    CHECK_FALSE(*again);
    CHECK(test::tree_digest(home.sandbox.path()) == before);
}

TEST_CASE("ssh-keys: the user's own keys survive writes and removal", "[ssh-keys]") {
    Home home;
    home.sandbox.mkdir("home/alice/.ssh", 0700);
    Home::own(home.sandbox.path("home/alice/.ssh"));
    home.sandbox.write("home/alice/.ssh/authorized_keys", k_user_key, 0644);
    Home::own(home.sandbox.path("home/alice/.ssh/authorized_keys"));
    REQUIRE(home.write({"k1"}).ok());
    CHECK(home.sandbox.read("home/alice/.ssh/authorized_keys") == k_user_key + block({"k1"}));
    auto removed = home.write({});
    REQUIRE(removed.ok());
    CHECK(*removed);
    CHECK(home.sandbox.read("home/alice/.ssh/authorized_keys") == k_user_key);
}

TEST_CASE("ssh-keys: no keys and no file creates nothing", "[ssh-keys]") {
    Home home;
    const std::string before = test::tree_digest(home.sandbox.path());
    auto written = home.write({});
    REQUIRE(written.ok());
    CHECK_FALSE(*written);
    CHECK(test::tree_digest(home.sandbox.path()) == before);
    CHECK_FALSE(home.sandbox.exists("home/alice/.ssh"));
}

TEST_CASE("ssh-keys: .ssh as a symlink to etc is refused", "[ssh-keys]") {
    Home home;
    REQUIRE(::symlink(home.sandbox.path("etc").c_str(),
                      home.sandbox.path("home/alice/.ssh").c_str()) == 0);
    check_refused(home, "symlink");
    CHECK_FALSE(home.sandbox.exists("etc/authorized_keys"));
}

TEST_CASE("ssh-keys: authorized_keys as a symlink to etc/passwd is refused", "[ssh-keys]") {
    Home home;
    home.sandbox.mkdir("home/alice/.ssh", 0700);
    Home::own(home.sandbox.path("home/alice/.ssh"));
    REQUIRE(::symlink(home.sandbox.path("etc/passwd").c_str(),
                      home.sandbox.path("home/alice/.ssh/authorized_keys").c_str()) == 0);
    check_refused(home, "symlink");
}

TEST_CASE("ssh-keys: a symlinked home, or a symlink above it, is refused", "[ssh-keys]") {
    Home home;
    home.sandbox.mkdir("elsewhere/bob", 0755);
    Home::own(home.sandbox.path("elsewhere/bob"));
    SECTION("the home itself") {
        REQUIRE(::symlink(home.sandbox.path("elsewhere/bob").c_str(),
                          home.sandbox.path("home/bob").c_str()) == 0);
        const std::string before = home.etc_digest();
        auto written = home.write({"k"}, "/home/bob");
        REQUIRE_FALSE(written.ok());
        CHECK_THAT(written.error().message, Catch::Contains("home/bob: it is a symlink"));
        CHECK(home.etc_digest() == before);
    }
    SECTION("a directory above it") {
        REQUIRE(::symlink(home.sandbox.path("elsewhere").c_str(),
                          home.sandbox.path("users").c_str()) == 0);
        auto written = home.write({"k"}, "/users/bob");
        REQUIRE_FALSE(written.ok());
        CHECK_THAT(written.error().message, Catch::Contains("/users: it is a symlink"));
    }
    CHECK_FALSE(home.sandbox.exists("elsewhere/bob/.ssh"));
}

TEST_CASE("ssh-keys: a home or .ssh owned by someone else is refused", "[ssh-keys]") {
    Home home;
    SECTION("home") {
        Home::own(home.sandbox.path("home/alice"), 4343);
        check_refused(home, "owned by uid 4343, not 4242");
        CHECK_FALSE(home.sandbox.exists("home/alice/.ssh"));
    }
    SECTION(".ssh") {
        home.sandbox.mkdir("home/alice/.ssh", 0700);
        check_refused(home, ".ssh: it is owned by uid 0, not 4242");
    }
    SECTION("authorized_keys hard-linked to etc/shadow") {
        home.sandbox.mkdir("home/alice/.ssh", 0700);
        Home::own(home.sandbox.path("home/alice/.ssh"));
        REQUIRE(::link(home.sandbox.path("etc/shadow").c_str(),
                       home.sandbox.path("home/alice/.ssh/authorized_keys").c_str()) == 0);
        check_refused(home, "owned by uid 0");
        CHECK_THAT(home.sandbox.read("etc/shadow"), Catch::Contains("secret"));
    }
}

TEST_CASE("ssh-keys: a user's file with a second hard link is refused", "[ssh-keys]") {
    Home home;
    home.sandbox.mkdir("home/alice/.ssh", 0700);
    Home::own(home.sandbox.path("home/alice/.ssh"));
    home.sandbox.write("home/alice/.ssh/authorized_keys", k_user_key, 0600);
    Home::own(home.sandbox.path("home/alice/.ssh/authorized_keys"));
    REQUIRE(::link(home.sandbox.path("home/alice/.ssh/authorized_keys").c_str(),
                   home.sandbox.path("home/alice/other").c_str()) == 0);
    check_refused(home, "2 hard links");
}

TEST_CASE("ssh-keys: a .ssh writable by group or others is refused", "[ssh-keys]") {
    Home home;
    home.sandbox.mkdir("home/alice/.ssh", 0700);
    Home::own(home.sandbox.path("home/alice/.ssh"));
    REQUIRE(::chmod(home.sandbox.path("home/alice/.ssh").c_str(), 0777) == 0);
    check_refused(home, "writable by group or others");
    CHECK_FALSE(home.sandbox.exists("home/alice/.ssh/authorized_keys"));
}

TEST_CASE("ssh-keys: authorized_keys as a directory is refused", "[ssh-keys]") {
    Home home;
    home.sandbox.mkdir("home/alice/.ssh/authorized_keys", 0700);
    Home::own(home.sandbox.path("home/alice/.ssh"));
    Home::own(home.sandbox.path("home/alice/.ssh/authorized_keys"));
    check_refused(home, "not a regular file");
}

TEST_CASE("ssh-keys: authorized_keys as a FIFO is refused without hanging", "[ssh-keys]") {
    Home home;
    home.sandbox.mkdir("home/alice/.ssh", 0700);
    Home::own(home.sandbox.path("home/alice/.ssh"));
    const std::string fifo = home.sandbox.path("home/alice/.ssh/authorized_keys");
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    Home::own(fifo);
    const std::string before = home.etc_digest();
    auto pending = std::async(std::launch::async, [&] { return home.write({"k"}); });
    const bool finished = pending.wait_for(5s) == std::future_status::ready;
    if (!finished) {
        // Release the blocked open so the test fails instead of hanging.
        Fd writer(::open(fifo.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC));
    }
    REQUIRE(finished);
    auto written = pending.get();
    REQUIRE_FALSE(written.ok());
    CHECK_THAT(written.error().message, Catch::Contains("not a regular file"));
    CHECK(home.etc_digest() == before);
    CHECK(S_ISFIFO(stat_of(fifo).st_mode));
}

TEST_CASE("ssh-keys: a home path with .. or a missing home is an error", "[ssh-keys]") {
    Home home;
    auto dotdot = home.write({"k"}, "/home/alice/../../etc");
    REQUIRE_FALSE(dotdot.ok());
    CHECK(dotdot.error().kind == ErrorKind::Invalid);
    auto missing = home.write({"k"}, "/home/nobody");
    REQUIRE_FALSE(missing.ok());
    CHECK_THAT(missing.error().message, Catch::Contains("home/nobody"));
    CHECK_FALSE(home.sandbox.exists("home/nobody"));
}
