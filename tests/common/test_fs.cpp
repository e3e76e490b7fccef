#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "common/fs.h"
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
