#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>

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
