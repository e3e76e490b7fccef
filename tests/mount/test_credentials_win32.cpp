// The credentials files on Windows, under a Root in %TEMP%, run under wine: the same format and
// path as on Linux, private by access list instead of owner and mode.
#include <windows.h>

#include <catch2/catch.hpp>

#include "common/root.h"
#include "mount/credentials.h"
#include "support/temporary_directory_win32.h"

namespace dsvm::mount {

TEST_CASE("windows credentials: a written file is private, listed, and holds its key",
          "[win32][credentials]") {
    test::TemporaryDirectory dir;
    const Root root(dir.path());
    CHECK(list_credentials(root)->empty());
    REQUIRE(write_credentials(root, "poolstorage", "poolstorage", "c2VjcmV0a2V5"));
    auto text = read_file(root.path(credentials_path("poolstorage")));
    REQUIRE(text);
    CHECK(*text == render_credentials("poolstorage", "c2VjcmV0a2V5"));
    auto file = inspect_credentials(root, "poolstorage");
    REQUIRE(file);
    INFO(file->problem);
    CHECK(file->secure);
    CHECK(file->mode == 0600);
    CHECK(credentials_hold(root, "poolstorage", "poolstorage", "c2VjcmV0a2V5"));
    CHECK_FALSE(credentials_hold(root, "poolstorage", "poolstorage", "c2VjcmV0a2V6"));

    const std::string first = file->stamp;
    REQUIRE(write_credentials(root, "poolstorage", "poolstorage", "b3RoZXJrZXk="));
    CHECK(inspect_credentials(root, "poolstorage")->stamp != first);

    REQUIRE(write_credentials(root, "other", "other", "a2V5"));
    REQUIRE(write_file_atomic(root.path("/etc/dsvm-agent/credentials/notes.txt"), "x", 0600));
    auto listed = list_credentials(root);
    REQUIRE(listed);
    REQUIRE(listed->size() == 2);
    CHECK((*listed)[0].name == "other");
    CHECK((*listed)[1].name == "poolstorage");
}

TEST_CASE("windows credentials: a file others may read is not secure, and says how to fix it",
          "[win32][credentials]") {
    test::TemporaryDirectory dir;
    const Root root(dir.path());
    REQUIRE(write_credentials(root, "poolstorage", "poolstorage", "c2VjcmV0a2V5"));
    // Replaced by a file whose access list lets Everyone read it.
    const std::string path = root.path(credentials_path("poolstorage"));
    REQUIRE(remove_file_if_exists(path));
    test::write_with_security(path, render_credentials("poolstorage", "c2VjcmV0a2V5"),
                              L"D:P(A;;FA;;;SY)(A;;FR;;;WD)");
    auto file = inspect_credentials(root, "poolstorage");
    REQUIRE(file);
    CHECK_FALSE(file->secure);
    CHECK(file->problem.find("icacls") != std::string::npos);
    CHECK(file->problem.find("c2VjcmV0a2V5") == std::string::npos);
    CHECK_FALSE(credentials_hold(root, "poolstorage", "poolstorage", "c2VjcmV0a2V5"));
    auto missing = inspect_credentials(root, "absent");
    REQUIRE_FALSE(missing);
    CHECK(missing.error().message.find("credentials set absent --key-stdin") != std::string::npos);
}

TEST_CASE("windows credentials: read gives the key of a private file, refuses one others may read",
          "[win32][credentials]") {
    test::TemporaryDirectory dir;
    const Root root(dir.path());
    REQUIRE(write_credentials(root, "poolstorage", "poolstorage", "c2VjcmV0a2V5"));

    auto stored = read_credentials(root, "poolstorage");

    INFO((stored ? std::string() : stored.error().message));
    REQUIRE(stored);
    CHECK(stored->username == "poolstorage");
    CHECK(stored->key.view() == "c2VjcmV0a2V5");
    const std::string path = root.path(credentials_path("poolstorage"));
    REQUIRE(remove_file_if_exists(path));
    test::write_with_security(path, render_credentials("poolstorage", "c2VjcmV0a2V5"),
                              L"D:P(A;;FA;;;SY)(A;;FR;;;WD)");
    const auto refused = read_credentials(root, "poolstorage");
    REQUIRE_FALSE(refused);
    CHECK_THAT(refused.error().message,
               Catch::StartsWith("refusing to use /etc/dsvm-agent/credentials/poolstorage.cred: "));
    CHECK(refused.error().message.find("c2VjcmV0a2V5") == std::string::npos);
}

}  // namespace dsvm::mount
