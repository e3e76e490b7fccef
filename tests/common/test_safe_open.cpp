#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "common/safe_open.h"
#include "support/sandbox.h"

using namespace dsvm;
using namespace dsvm::test;

TEST_CASE("safe_open: a symlink anywhere below the top is refused", "[safe-open]") {
    Sandbox sandbox;
    sandbox.mkdir("home/alice");
    sandbox.mkdir("etc");
    std::filesystem::create_directory_symlink(sandbox.path("etc"), sandbox.path("home/link"));
    CHECK(open_directory_below(sandbox.path(), "/home/alice").ok());
    const auto linked = open_directory_below(sandbox.path(), "/home/link");
    REQUIRE_FALSE(linked.ok());
    CHECK_THAT(linked.error().message, Catch::Contains("home/link: it is a symlink"));
    const auto dotdot = open_directory_below(sandbox.path(), "/home/../etc");
    REQUIRE_FALSE(dotdot.ok());
    CHECK(dotdot.error().kind == ErrorKind::Invalid);
    // Refused before anything is made: not even the components before the "..".
    const auto making = make_directories_below(sandbox.path(), "/new/../etc", 0700);
    REQUIRE_FALSE(making.ok());
    CHECK(making.error().kind == ErrorKind::Invalid);
    CHECK_FALSE(sandbox.exists("new"));
    const auto missing_top = open_directory_below(sandbox.path("absent"), "a/../b");
    REQUIRE_FALSE(missing_top.ok());
    CHECK(missing_top.error().kind == ErrorKind::Invalid);
}

TEST_CASE("safe_open: removing a tree removes links, never what they point to", "[safe-open]") {
    Sandbox sandbox;
    sandbox.write("etc/passwd", "root:x:0:0::/root:/bin/bash\n");
    sandbox.write("share/notebooks/alice/a.ipynb", "{}");
    sandbox.write("share/notebooks/alice/deep/b.ipynb", "{}");
    std::filesystem::create_directory_symlink(sandbox.path("etc"),
                                              sandbox.path("share/notebooks/alice/evil"));
    std::filesystem::create_symlink(sandbox.path("etc/passwd"),
                                    sandbox.path("share/notebooks/alice/deep/passwd"));
    const std::string etc_before = tree_digest(sandbox.path("etc"));

    Fd notebooks(::open(sandbox.path("share/notebooks").c_str(), O_RDONLY | O_DIRECTORY));
    REQUIRE(notebooks.valid());
    REQUIRE(remove_tree_at(notebooks.get(), "alice", "notebooks/alice").ok());
    CHECK_FALSE(sandbox.exists("share/notebooks/alice"));
    CHECK(tree_digest(sandbox.path("etc")) == etc_before);
    CHECK(sandbox.read("etc/passwd") == "root:x:0:0::/root:/bin/bash\n");
    // Missing is fine; a plain file is removed on its own.
    CHECK(remove_tree_at(notebooks.get(), "alice", "notebooks/alice").ok());
    sandbox.write("share/notebooks/file", "x");
    CHECK(remove_tree_at(notebooks.get(), "file", "notebooks/file").ok());
    CHECK_FALSE(sandbox.exists("share/notebooks/file"));
}

TEST_CASE("safe_open: the untrusted reader refuses links, FIFOs, devices and big files",
          "[safe-open]") {
    Sandbox sandbox;
    sandbox.write("dir/plain", "hello");
    sandbox.write("outside", "secret");
    std::filesystem::create_symlink(sandbox.path("outside"), sandbox.path("dir/link"));
    REQUIRE(::mkfifo(sandbox.path("dir/fifo").c_str(), 0600) == 0);
    sandbox.write("dir/big", std::string(2000, 'x'));
    Fd dir(::open(sandbox.path("dir").c_str(), O_RDONLY | O_DIRECTORY));
    REQUIRE(dir.valid());
    UntrustedFile rules;
    rules.max_bytes = 1000;

    const auto plain = read_untrusted_file_at(dir.get(), "plain", "dir/plain", rules);
    REQUIRE(plain.ok());
    CHECK(plain->found);
    CHECK(plain->text == "hello");
    const auto missing = read_untrusted_file_at(dir.get(), "missing", "dir/missing", rules);
    REQUIRE(missing.ok());
    CHECK_FALSE(missing->found);
    CHECK(read_untrusted_file_at(dir.get(), "link", "dir/link", rules).error().message ==
          "refusing dir/link: it is a symlink");
    // Opening a FIFO for reading would block until a writer came; it is refused at once.
    CHECK(read_untrusted_file_at(dir.get(), "fifo", "dir/fifo", rules).error().message ==
          "refusing dir/fifo: it is not a regular file");
    CHECK_THAT(read_untrusted_file_at(dir.get(), "big", "dir/big", rules).error().message,
               Catch::Contains("2000 bytes long; at most 1000"));
    if (::geteuid() == 0) {
        // A device node is never opened (opening one can have effects of its own).
        REQUIRE(::mknod(sandbox.path("dir/null").c_str(), S_IFCHR | 0600, makedev(1, 3)) == 0);
        CHECK(read_untrusted_file_at(dir.get(), "null", "dir/null", rules).error().message ==
              "refusing dir/null: it is not a regular file");
    }
}

TEST_CASE("safe_open: where owners mean something, the untrusted reader checks them",
          "[safe-open]") {
    Sandbox sandbox;
    sandbox.write("dir/open", "x", 0666);
    sandbox.write("dir/private", "x", 0600);
    REQUIRE(::chmod(sandbox.path("dir/open").c_str(), 0666) == 0);
    Fd dir(::open(sandbox.path("dir").c_str(), O_RDONLY | O_DIRECTORY));
    UntrustedFile rules;
    rules.check_owner = true;
    rules.owner = ::geteuid();
    CHECK(read_untrusted_file_at(dir.get(), "private", "dir/private", rules).ok());
    CHECK_THAT(read_untrusted_file_at(dir.get(), "open", "dir/open", rules).error().message,
               Catch::Contains("mode 0666 lets group or others write it"));
    rules.owner = ::geteuid() + 1;
    CHECK_THAT(read_untrusted_file_at(dir.get(), "private", "dir/private", rules).error().message,
               Catch::Contains("it is owned by uid"));
}

TEST_CASE("safe_open: a tree nested too deeply is refused, not followed down", "[safe-open]") {
    Sandbox sandbox;
    std::string deep = "top";
    for (int level = 0; level < 200; ++level) {
        deep += "/d";
    }
    sandbox.mkdir(deep);
    Fd dir(::open(sandbox.path().c_str(), O_RDONLY | O_DIRECTORY));
    const auto removed = remove_tree_at(dir.get(), "top", "top");
    REQUIRE_FALSE(removed.ok());
    CHECK_THAT(removed.error().message, Catch::Contains("more than 128 levels deep"));
    CHECK(sandbox.exists("top"));
}

namespace {

// The pid of a process that has ended (a child, reaped).
long ended_pid() {
    const pid_t child = ::fork();
    if (child == 0) {
        ::_exit(0);
    }
    ::waitpid(child, nullptr, 0);
    return child;
}

}  // namespace

TEST_CASE("safe_open: a directory made beside leftovers removes those of ended processes only",
          "[safe-open]") {
    Sandbox sandbox;
    const std::string dead = ".home.dsvm-agent-new.tmp." + std::to_string(ended_pid()) + ".17";
    const std::string live = ".home.dsvm-agent-new.tmp." + std::to_string(::getpid()) + ".18";
    sandbox.mkdir(dead + "/half");
    sandbox.mkdir(live);
    sandbox.mkdir(".home.dsvm-agent-new");  // an earlier version's fixed name
    const Fd top(::open(sandbox.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    bool created = false;
    const auto made =
        open_or_create_directory_at(top.get(), "home", 0750, ::getuid(), ::getgid(), created);
    REQUIRE(made.ok());
    CHECK(created);
    struct stat info {};
    REQUIRE(::stat(sandbox.path("home").c_str(), &info) == 0);
    CHECK((info.st_mode & 07777) == 0750);
    CHECK_FALSE(sandbox.exists(dead));
    CHECK_FALSE(sandbox.exists(".home.dsvm-agent-new"));
    CHECK(sandbox.exists(live));  // a running process's: not ours to remove
    // Nothing of this call's own is left beside it.
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(sandbox.path())) {
        names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    CHECK(names == std::vector<std::string>{live, "home"});
}

TEST_CASE("safe_open: processes making the same directory at once all get it", "[safe-open]") {
    // As instances do with a user's notebook folder on the share: every maker opens the one
    // directory, exactly one made it, and no temporary is left.
    Sandbox sandbox;
    for (int round = 0; round < 20; ++round) {
        const std::string name = "folder" + std::to_string(round);
        constexpr int k_makers = 4;
        std::vector<pid_t> makers;
        for (int i = 0; i < k_makers; ++i) {
            const pid_t child = ::fork();
            if (child == 0) {
                const Fd top(::open(sandbox.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
                bool created = false;
                const auto made = open_or_create_directory_at(top.get(), name, 0700, ::getuid(),
                                                              ::getgid(), created);
                ::_exit(!made.ok() ? 3 : created ? 1 : 0);
            }
            makers.push_back(child);
        }
        int made_it = 0;
        for (const pid_t maker : makers) {
            int status = 0;
            ::waitpid(maker, &status, 0);
            REQUIRE(WIFEXITED(status));
            REQUIRE(WEXITSTATUS(status) != 3);
            made_it += WEXITSTATUS(status);
        }
        CHECK(made_it == 1);
    }
    std::size_t entries = 0;
    for (const auto& entry : std::filesystem::directory_iterator(sandbox.path())) {
        CHECK(entry.path().filename().string().rfind("folder", 0) == 0);
        ++entries;
    }
    CHECK(entries == 20);
}
