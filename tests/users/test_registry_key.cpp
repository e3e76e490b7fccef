#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include <catch2/catch.hpp>

#include "support/registry_fixture.h"
#include "support/sandbox.h"
#include "users/registry_key.h"

using namespace dsvm;
using namespace dsvm::users;
using dsvm::test::k_other_key;
using dsvm::test::k_pool_key;

TEST_CASE("registry key: the rule names the problem, never the key", "[registry]") {
    CHECK(check_registry_key(k_pool_key).ok());
    CHECK(check_registry_key(std::string(256, 'k')).ok());
    const std::string short_key = "tooshort-but-secret";
    for (const auto& [key, expected] :
         {std::pair<std::string, std::string>{short_key, "is 19 characters long"},
          {std::string(257, 'k'), "is 257 characters long"},
          {std::string(40, 'k') + " " + std::string(10, 'k'), "contains a space"},
          {std::string(40, 'k') + "\n", "control character"},
          {std::string(40, 'k') + "\xc3\xa9", "non-ASCII"}}) {
        const auto checked = check_registry_key(key);
        REQUIRE_FALSE(checked.ok());
        CHECK(checked.error().kind == ErrorKind::Invalid);
        CHECK_THAT(checked.error().message,
                   Catch::Contains(expected) && Catch::Contains("openssl rand -base64 32"));
        CHECK(checked.error().message.find(key.substr(0, 8)) == std::string::npos);
    }
}

TEST_CASE("registry key: the id names a key without revealing it", "[registry]") {
    const std::string id = registry_key_id(k_pool_key);
    CHECK(id.size() == 16);
    CHECK(id.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(registry_key_id(k_pool_key) == id);
    CHECK(registry_key_id(k_other_key) != id);
    // The id is part of the registry's format, shared by every instance and version: the first
    // 8 bytes of SHA-256("dsvm-agent registry key id" NUL key), in hex.
    CHECK(id == "25b5ed8edf305c6b");
}

TEST_CASE("registry key: written root-only, read back, previous kept or dropped", "[registry]") {
    test::Sandbox sandbox;
    const Root root(sandbox.path());
    auto none = read_registry_keys(root);
    REQUIRE(none.ok());
    CHECK(none->current.empty());
    CHECK(none->previous.empty());

    REQUIRE(write_registry_keys(root, k_pool_key, k_other_key).ok());
    CHECK(test::mode_of(sandbox.path("etc/dsvm-agent/credentials")) == 0700);
    CHECK(test::mode_of(sandbox.path("etc/dsvm-agent/credentials/registry.key")) == 0600);
    CHECK(sandbox.read("etc/dsvm-agent/credentials/registry.key") ==
          std::string(k_pool_key) + "\n");
    auto keys = read_registry_keys(root);
    REQUIRE(keys.ok());
    CHECK(keys->current.view() == k_pool_key);
    CHECK(keys->current_id == registry_key_id(k_pool_key));
    CHECK(keys->previous.view() == k_other_key);
    CHECK(keys->previous_id == registry_key_id(k_other_key));

    REQUIRE(write_registry_keys(root, k_other_key, {}).ok());
    CHECK_FALSE(sandbox.exists("etc/dsvm-agent/credentials/registry.previous.key"));
    keys = read_registry_keys(root);
    REQUIRE(keys.ok());
    CHECK(keys->current.view() == k_other_key);
    CHECK(keys->previous.empty());

    // A bad key changes nothing.
    const std::string before = test::tree_digest(sandbox.path());
    CHECK(write_registry_keys(root, "short", {}).error().kind == ErrorKind::Invalid);
    CHECK(write_registry_keys(root, k_pool_key, "short").error().kind == ErrorKind::Invalid);
    CHECK(test::tree_digest(sandbox.path()) == before);
}

TEST_CASE("registry key: a key file others can read, or a link, is refused", "[registry]") {
    test::Sandbox sandbox;
    const Root root(sandbox.path());
    REQUIRE(write_registry_keys(root, k_pool_key, {}).ok());
    const std::string file = sandbox.path("etc/dsvm-agent/credentials/registry.key");

    REQUIRE(::chmod(file.c_str(), 0644) == 0);
    auto readable = read_registry_keys(root);
    REQUIRE_FALSE(readable.ok());
    CHECK_THAT(readable.error().message,
               Catch::Contains("mode 0600") && Catch::Contains("chmod 600"));
    CHECK(readable.error().message.find(std::string(k_pool_key)) == std::string::npos);

    REQUIRE(::unlink(file.c_str()) == 0);
    sandbox.write("elsewhere.key", std::string(k_other_key) + "\n", 0600);
    REQUIRE(::symlink(sandbox.path("elsewhere.key").c_str(), file.c_str()) == 0);
    auto linked = read_registry_keys(root);
    REQUIRE_FALSE(linked.ok());
    CHECK_THAT(linked.error().message, Catch::Contains("symlink"));

    REQUIRE(::unlink(file.c_str()) == 0);
    sandbox.write("etc/dsvm-agent/credentials/registry.key", "short\n", 0600);
    auto invalid_key = read_registry_keys(root);
    REQUIRE_FALSE(invalid_key.ok());
    CHECK_THAT(invalid_key.error().message, Catch::Contains("registry.key: the registry key is"));

    REQUIRE(::chmod(sandbox.path("etc/dsvm-agent/credentials").c_str(), 0777) == 0);
    auto open_directory = read_registry_keys(root);
    REQUIRE_FALSE(open_directory.ok());
    CHECK_THAT(open_directory.error().message, Catch::Contains("lets group or others write"));
}
