#include <fcntl.h>
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
