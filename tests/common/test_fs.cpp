#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/file_lock.h"
#include "common/fs.h"
#include "support/fake_clock.h"
#include "support/sandbox.h"

using namespace dsvm;

namespace {

using dsvm::test::mode_of;

}  // namespace

TEST_CASE("fs: atomic write creates the file with exactly the mode asked", "[fs]") {
    test::Sandbox sandbox;
    const std::string path = sandbox.path("secret");
    const mode_t old_umask = ::umask(0);
    REQUIRE(write_file_atomic(path, "one", 0600).ok());
    ::umask(old_umask);
    CHECK(mode_of(path) == 0600);
    CHECK(sandbox.read("secret") == "one");
}

TEST_CASE("fs: atomic write replaces content and leaves no temporary file", "[fs]") {
    test::Sandbox sandbox;
    const std::string path = sandbox.write("file", "old", 0644);
    REQUIRE(write_file_atomic(path, "new", 0640).ok());
    CHECK(sandbox.read("file") == "new");
    CHECK(mode_of(path) == 0640);
    CHECK(test::tree_digest(sandbox.path()).find(".tmp.") == std::string::npos);
}

TEST_CASE("fs: atomic write into a missing directory fails naming the path", "[fs]") {
    test::Sandbox sandbox;
    const auto written = write_file_atomic(sandbox.path("no/such/file"), "x", 0644);
    REQUIRE_FALSE(written.ok());
    CHECK_THAT(written.error().message, Catch::Contains(sandbox.path("no/such/file")));
}

TEST_CASE("fs: make_directories creates parents and refuses a file in the way", "[fs]") {
    test::Sandbox sandbox;
    REQUIRE(make_directories(sandbox.path("a/b/c"), 0750).ok());
    CHECK(is_directory(sandbox.path("a/b/c")));
    CHECK(mode_of(sandbox.path("a/b/c")) == 0750);
    REQUIRE(make_directories(sandbox.path("a/b/c"), 0700).ok());
    CHECK(mode_of(sandbox.path("a/b/c")) == 0750);  // existing directories are left alone
    sandbox.write("f", "x");
    const auto made = make_directories(sandbox.path("f/g"), 0755);
    REQUIRE_FALSE(made.ok());
    CHECK_THAT(made.error().message, Catch::Contains("not a directory"));
}

TEST_CASE("fs: reading a missing file is found=false, a directory is an error", "[fs]") {
    test::Sandbox sandbox;
    const auto missing = read_file_if_exists(sandbox.path("nope"));
    REQUIRE(missing.ok());
    CHECK_FALSE(missing->found);
    CHECK_FALSE(read_file(sandbox.path("nope")).ok());
    sandbox.mkdir("dir");
    const auto directory = read_file_if_exists(sandbox.path("dir"));
    REQUIRE_FALSE(directory.ok());
    CHECK_THAT(directory.error().message, Catch::Contains("not a regular file"));
}

TEST_CASE("fs: the tree digest sees a changed byte, mode or new file", "[fs]") {
    test::Sandbox sandbox;
    sandbox.write("a/file", "abc");
    const std::string before = test::tree_digest(sandbox.path());
    CHECK(test::tree_digest(sandbox.path()) == before);
    ::chmod(sandbox.path("a/file").c_str(), 0600);
    const std::string after_chmod = test::tree_digest(sandbox.path());
    CHECK(after_chmod != before);
    sandbox.write("a/other", "");
    CHECK(test::tree_digest(sandbox.path()) != after_chmod);
}

namespace {

// A pid that ran and is gone: a child that exited and was reaped.
pid_t dead_pid() {
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::_exit(0);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return pid;
}

std::vector<std::string> names_in(const std::string& directory) {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(directory)) {
        names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
}

}  // namespace

TEST_CASE("fs: while the new content is written and synced, it has no name", "[fs]") {
    // given the check that runs right before the new file takes a name, we expect the directory
    // to hold nothing new yet: a crash up to that moment leaves no copy behind
    test::Sandbox sandbox;
    sandbox.write("dir/file", "old", 0600);
    std::vector<std::string> seen;
    SECTION("replacing a file") {
        ReplaceOptions options;
        options.mode = 0600;
        options.check_before_rename = [&]() -> Result<void> {
            seen = names_in(sandbox.path("dir"));
            return {};
        };
        Fd directory(::open(sandbox.path("dir").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        REQUIRE(replace_file_at(directory.get(), "file", "new", options, "dir").ok());
        CHECK(seen == std::vector<std::string>{"file"});
        CHECK(sandbox.read("dir/file") == "new");
    }
    SECTION("creating one") {
        ReplaceOptions options;
        options.check_before_rename = [&]() -> Result<void> {
            seen = names_in(sandbox.path("dir"));
            return {};
        };
        Fd directory(::open(sandbox.path("dir").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        REQUIRE(replace_file_at(directory.get(), "other", "new", options, "dir").ok());
        CHECK(seen == std::vector<std::string>{"file"});
        CHECK(sandbox.read("dir/other") == "new");
    }
}

TEST_CASE("fs: a refused check before the rename leaves the directory as it was", "[fs]") {
    test::Sandbox sandbox;
    sandbox.write("dir/file", "old", 0644);
    const std::string before = test::tree_digest(sandbox.path());
    ReplaceOptions options;
    options.check_before_rename = [] { return Result<void>(failure("changed meanwhile")); };
    Fd directory(::open(sandbox.path("dir").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    const auto replaced = replace_file_at(directory.get(), "file", "new", options, "dir");
    REQUIRE_FALSE(replaced.ok());
    CHECK(replaced.error().message == "changed meanwhile");
    CHECK(test::tree_digest(sandbox.path()) == before);
}

TEST_CASE("fs: a crashed writer's temporary is removed by the next write, a live one's kept",
          "[fs]") {
    test::Sandbox sandbox;
    const std::string path = sandbox.write("file", "old", 0600);
    const std::string crashed = "file.tmp." + std::to_string(dead_pid()) + ".12345";
    const std::string earlier_version = "file.tmp.987654321";
    const std::string running = "file.tmp." + std::to_string(::getpid()) + ".777";
    const std::string other_file = "other.tmp.1.2";
    for (const auto& name : {crashed, earlier_version, running, other_file}) {
        sandbox.write(name, "secret", 0600);
    }
    REQUIRE(write_file_atomic(path, "new", 0600).ok());
    CHECK(sandbox.read("file") == "new");
    CHECK_FALSE(sandbox.exists(crashed));
    CHECK_FALSE(sandbox.exists(earlier_version));
    CHECK(sandbox.exists(running));
    CHECK(sandbox.exists(other_file));
}

TEST_CASE("fs: a fixed temporary name still works, a stale one is replaced", "[fs]") {
    test::Sandbox sandbox;
    sandbox.write("dir/keys", "old", 0644);
    sandbox.write("dir/keys.tmp", "stale", 0644);
    ReplaceOptions options;
    options.mode = 0640;
    // Another owner when the tests run as root; our own otherwise (unit tests need no root).
    const bool root = ::geteuid() == 0;
    options.uid = root ? 1234 : ::geteuid();
    options.gid = root ? 5678 : ::getegid();
    options.temporary = "keys.tmp";
    Fd directory(::open(sandbox.path("dir").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    REQUIRE(replace_file_at(directory.get(), "keys", "new", options, "dir").ok());
    CHECK(sandbox.read("dir/keys") == "new");
    CHECK_FALSE(sandbox.exists("dir/keys.tmp"));
    const struct stat info = test::stat_of(sandbox.path("dir/keys"));
    CHECK((info.st_mode & 07777) == 0640);
    CHECK(info.st_uid == options.uid);
    CHECK(info.st_gid == options.gid);
}

// Given a lock held elsewhere (an OFD lock of another open file description excludes us even in
// this process), we expect lock_file_at to wait out exactly its limit on the Clock it is given,
// in pauses of at most 20 ms, and give up with the documented message: 30 s of fake time in
// well under a second of real time.
TEST_CASE("file lock: a held lock is waited for on the clock, then given up", "[fs][lock]") {
    test::Sandbox sandbox;
    Fd directory(::open(sandbox.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    REQUIRE(directory);
    auto holder = lock_file_at(directory.get(), "pass.lock", "pass.lock", std::chrono::seconds(1));
    REQUIRE(holder.ok());

    test::FakeClock clock;
    const auto started = clock.now();
    const auto real_start = std::chrono::steady_clock::now();
    const auto locked = lock_file_at(directory.get(), "pass.lock", "the pass lock",
                                     std::chrono::seconds(30), {}, clock);
    const auto real_time = std::chrono::steady_clock::now() - real_start;

    REQUIRE_FALSE(locked.ok());
    CHECK(locked.error().message ==
          "cannot lock the pass lock: another process has held it for 30 s");
    const auto waited = clock.now() - started;
    CHECK(waited >= std::chrono::seconds(30));
    CHECK(waited <= std::chrono::seconds(30) + std::chrono::milliseconds(20));
    REQUIRE_FALSE(clock.sleeps().empty());
    CHECK(clock.sleeps().front() == std::chrono::milliseconds(1));
    CHECK(std::all_of(clock.sleeps().begin(), clock.sleeps().end(), [](auto pause) {
        return pause >= std::chrono::milliseconds(1) && pause <= std::chrono::milliseconds(20);
    }));
    CHECK(real_time < std::chrono::milliseconds(500));
}

namespace {

// A FakeClock that lets the holder's lock go once `after` of fake time has passed.
class ReleasingClock final : public Clock {
  public:
    ReleasingClock(Fd& holder, std::chrono::milliseconds after)
        : m_holder(holder), m_after(after) {}
    std::chrono::steady_clock::time_point now() override { return m_fake.now(); }
    std::chrono::system_clock::time_point wall_now() override { return m_fake.wall_now(); }
    void sleep_for(std::chrono::milliseconds duration) override {
        m_fake.sleep_for(duration);
        if (m_fake.now() - std::chrono::steady_clock::time_point{} >= m_after) {
            m_holder.reset();
        }
    }

  private:
    test::FakeClock m_fake;
    Fd& m_holder;
    std::chrono::milliseconds m_after;
};

}  // namespace

TEST_CASE("file lock: a lock let go during the wait is taken", "[fs][lock]") {
    test::Sandbox sandbox;
    Fd directory(::open(sandbox.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    REQUIRE(directory);
    auto holder =
        lock_file_at(directory.get(), "fstab.lock", "fstab.lock", std::chrono::seconds(1));
    REQUIRE(holder.ok());

    ReleasingClock clock(*holder, std::chrono::milliseconds(200));
    const auto locked = lock_file_at(directory.get(), "fstab.lock", "fstab.lock",
                                     std::chrono::seconds(30), {}, clock);
    INFO((locked ? std::string() : locked.error().message));
    REQUIRE(locked.ok());
    const auto waited = clock.now() - std::chrono::steady_clock::time_point{};
    CHECK(waited >= std::chrono::milliseconds(200));
    CHECK(waited < std::chrono::milliseconds(250));
}

TEST_CASE("fs: a directory's names are listed, and an open file is told by its name", "[fs]") {
    test::Sandbox dir;
    dir.write("a", "1");
    dir.write("b", "2");
    dir.mkdir("sub");
    Fd directory(::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    REQUIRE(directory);
    for (int twice = 0; twice < 2; ++twice) {  // the listing leaves the descriptor as it was
        auto names = directory_names_at(directory.get(), dir.path());
        REQUIRE(names.ok());
        std::sort(names->begin(), names->end());
        CHECK(*names == std::vector<std::string>{"a", "b", "sub"});
    }
    Fd file(::open(dir.path("a").c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(file);
    CHECK(same_file_at(file.get(), directory.get(), "a"));
    CHECK_FALSE(same_file_at(file.get(), directory.get(), "b"));
    CHECK_FALSE(same_file_at(file.get(), directory.get(), "missing"));
    REQUIRE(::rename(dir.path("a").c_str(), dir.path("c").c_str()) == 0);
    dir.write("a", "1");
    CHECK_FALSE(same_file_at(file.get(), directory.get(), "a"));  // same name and bytes, not it
    CHECK(same_file_at(file.get(), directory.get(), "c"));
    REQUIRE(::symlink("c", dir.path("link").c_str()) == 0);
    CHECK_FALSE(same_file_at(file.get(), directory.get(), "link"));  // the link, not its target

    Fd closed(::open(dir.path("sub").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    REQUIRE(closed);
    const int stale = closed.get();
    closed.reset();
    const auto failed = directory_names_at(stale, "sub");
    REQUIRE_FALSE(failed.ok());
    CHECK_THAT(failed.error().message, Catch::StartsWith("cannot list sub: "));
}

TEST_CASE("fs: an absolute path starts with a slash on Linux", "[fs]") {
    CHECK(is_absolute_path("/var/lib/waagent/Microsoft.DSVM.DsvmAgent-1.0"));
    CHECK_FALSE(is_absolute_path("C:\\Packages\\Plugins"));
    CHECK_FALSE(is_absolute_path("var/lib"));
    CHECK_FALSE(is_absolute_path(""));
}
