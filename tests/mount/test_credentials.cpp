#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>
#include <utility>
#include <vector>

#include "common/fd.h"
#include "common/fs.h"
#include "mount/credentials.h"
#include "support/sandbox.h"

using namespace dsvm;
using namespace dsvm::mount;

namespace {

// An Azure-style storage key: 64 random bytes in base64, 88 characters ending "==".
const std::string k_azure_key =
    "q8Zr0mWl1vYb3Xk5N2pT7cJf9Hs4Ad6Eu0Gi1Ko3Lm5Nn7Pp9Qr2St4Uv6Wx8Yz0Ab1Cd3Ef5Gh7Ij9Kl1Mn3Op5Q"
    "==";
// A marker that must never appear in an error, however the key is malformed.
const std::string k_marker = "Zq7SECRETx";

constexpr std::string_view k_file = "etc/dsvm-agent/credentials/acct.cred";
constexpr std::string_view k_dir = "etc/dsvm-agent/credentials";

using dsvm::test::stat_of;

using dsvm::test::mode_of;

CredentialsFile inspect_ok(const Root& root, std::string_view name) {
    auto inspected = inspect_credentials(root, name);
    INFO((inspected ? std::string() : inspected.error().message));
    REQUIRE(inspected.ok());
    return *inspected;
}

// Given a sandbox with acct's file written by the agent, we expect it to be secure; the tests
// below then break one property at a time.
void write_acct(const test::Sandbox& sandbox) {
    REQUIRE(write_credentials(Root(sandbox.path()), "acct", "acct", k_azure_key).ok());
    REQUIRE(inspect_ok(Root(sandbox.path()), "acct").secure);
}

}  // namespace

TEST_CASE("credentials: names are account or server names, never paths", "[credentials]") {
    const std::string longest(63, 'a');
    for (const std::string& good :
         std::vector<std::string>{"acct", "my-server.example", "10.0.0.5", "A_b-9", longest}) {
        INFO(good);
        CHECK(check_credentials_name(good).ok());
    }
    const std::string too_long(64, 'a');
    for (const std::string& bad : std::vector<std::string>{
             "", "../x", "a/b", ".hidden", "a..b", too_long, "a b", "-x", "x\n", "acct.cred/"}) {
        INFO(bad);
        const auto checked = check_credentials_name(bad);
        REQUIRE_FALSE(checked.ok());
        CHECK(checked.error().kind == ErrorKind::Invalid);
        CHECK_THAT(checked.error().message, Catch::Contains("[A-Za-z0-9][A-Za-z0-9._-]{0,62}"));
    }
    // The offending value is named, with control characters escaped.
    CHECK_THAT(check_credentials_name("a b").error().message, Catch::Contains("'a b'"));
    CHECK_THAT(check_credentials_name("x\n").error().message, Catch::Contains("'x\\x0a'"));
}

TEST_CASE("credentials: a key never reaches the error message", "[credentials]") {
    CHECK(check_storage_key(k_azure_key).ok());
    CHECK(check_storage_key(std::string(4096, 'k')).ok());
    CHECK(check_storage_key("a key with inner spaces").ok());
    const std::vector<std::string> bad_keys = {
        "",
        k_marker + "\nusername=root",
        k_marker + std::string(1, '\0') + "tail",
        " " + k_marker,
        k_marker + " ",
        k_marker + std::string(4097 - k_marker.size(), 'k'),
        k_marker + "\xc3\xa9",
        k_marker + "\r",
        k_marker + "\t",
    };
    for (const auto& key : bad_keys) {
        INFO("key of " << key.size() << " bytes");
        const auto checked = check_storage_key(key);
        REQUIRE_FALSE(checked.ok());
        CHECK(checked.error().kind == ErrorKind::Invalid);
        CHECK_THAT(checked.error().message, Catch::Contains("storage key"));
        CHECK_THAT(checked.error().message, !Catch::Contains(k_marker));
        CHECK_THAT(checked.error().message, !Catch::Contains("username=root"));
    }
}

TEST_CASE("credentials: the file format and path are mount.cifs's", "[credentials]") {
    CHECK(credentials_path("acct") == "/etc/dsvm-agent/credentials/acct.cred");
    CHECK(render_credentials("acct", "k==") == "username=acct\npassword=k==\n");
}

TEST_CASE("credentials: write makes a 0700 directory and a 0600 file even under umask 0",
          "[credentials]") {
    test::Sandbox sandbox;
    const mode_t old_umask = ::umask(0);
    ScopeGuard restore_umask([&] { ::umask(old_umask); });
    REQUIRE(write_credentials(Root(sandbox.path()), "acct", "storageuser", k_azure_key).ok());
    CHECK(mode_of(sandbox.path(k_dir)) == 0700);
    CHECK(mode_of(sandbox.path(k_file)) == 0600);
    CHECK(stat_of(sandbox.path(k_file)).st_uid == 0);
    CHECK(sandbox.read(k_file) == "username=storageuser\npassword=" + k_azure_key + "\n");
    // The parent is an ordinary config directory, not a secret one.
    CHECK(mode_of(sandbox.path("etc/dsvm-agent")) == 0755);
}

TEST_CASE("credentials: invalid input writes nothing and never shows the key", "[credentials]") {
    test::Sandbox sandbox;
    const Root root(sandbox.path());
    const std::string before = test::tree_digest(sandbox.path());
    struct Case {
        std::string name;
        std::string username;
        std::string key;
    };
    const std::vector<Case> cases = {
        {"../etc/passwd", "acct", k_azure_key},
        {"acct", "root\npassword=x", k_azure_key},
        {"acct", "acct", k_marker + "\nusername=root"},
        {"acct", "acct", ""},
    };
    for (const auto& bad : cases) {
        INFO(bad.name << " / " << bad.username);
        const auto written = write_credentials(root, bad.name, bad.username, bad.key);
        REQUIRE_FALSE(written.ok());
        CHECK(written.error().kind == ErrorKind::Invalid);
        CHECK_THAT(written.error().message, !Catch::Contains(k_marker));
        CHECK_THAT(written.error().message, !Catch::Contains(k_azure_key));
    }
    CHECK(test::tree_digest(sandbox.path()) == before);
}

TEST_CASE("credentials: a rewrite replaces the file atomically and changes the stamp",
          "[credentials]") {
    test::Sandbox sandbox;
    const Root root(sandbox.path());
    write_acct(sandbox);
    const CredentialsFile first = inspect_ok(root, "acct");
    CHECK_FALSE(first.stamp.empty());
    CHECK_THAT(first.stamp, !Catch::Contains(k_azure_key));
    REQUIRE(write_credentials(root, "acct", "acct", "second-key==").ok());
    const CredentialsFile second = inspect_ok(root, "acct");
    CHECK(second.stamp != first.stamp);
    CHECK(second.secure);
    CHECK(mode_of(sandbox.path(k_file)) == 0600);
    CHECK(sandbox.read(k_file) == "username=acct\npassword=second-key==\n");
    CHECK(test::tree_digest(sandbox.path()).find(".tmp.") == std::string::npos);
    // Inspecting twice without a change gives the same stamp: it is safe to store and compare.
    CHECK(inspect_ok(root, "acct").stamp == second.stamp);
}

TEST_CASE("credentials: write narrows a wider credentials directory to 0700", "[credentials]") {
    test::Sandbox sandbox;
    sandbox.mkdir(k_dir, 0755);
    REQUIRE(::chmod(sandbox.path(k_dir).c_str(), 0777) == 0);
    REQUIRE(write_credentials(Root(sandbox.path()), "acct", "acct", k_azure_key).ok());
    CHECK(mode_of(sandbox.path(k_dir)) == 0700);
    CHECK(inspect_ok(Root(sandbox.path()), "acct").secure);
}

TEST_CASE("credentials: write refuses a credentials directory that is a symlink", "[credentials]") {
    test::Sandbox sandbox;
    sandbox.mkdir("elsewhere", 0755);
    sandbox.mkdir("etc/dsvm-agent", 0755);
    REQUIRE(::symlink(sandbox.path("elsewhere").c_str(), sandbox.path(k_dir).c_str()) == 0);
    const auto written = write_credentials(Root(sandbox.path()), "acct", "acct", k_azure_key);
    REQUIRE_FALSE(written.ok());
    CHECK_THAT(written.error().message,
               Catch::Contains("/etc/dsvm-agent/credentials is a symlink"));
    CHECK_THAT(written.error().message, !Catch::Contains(sandbox.path()));
    CHECK_FALSE(sandbox.exists("elsewhere/acct.cred"));
}

TEST_CASE("credentials: a missing file names the command that creates it", "[credentials]") {
    test::Sandbox sandbox;
    const auto inspected = inspect_credentials(Root(sandbox.path()), "acct");
    REQUIRE_FALSE(inspected.ok());
    CHECK(inspected.error().kind == ErrorKind::Runtime);
    CHECK_THAT(inspected.error().message, Catch::Contains("/etc/dsvm-agent/credentials/acct.cred"));
    CHECK_THAT(inspected.error().message,
               Catch::Contains("dsvm-agent credentials set acct --key-stdin"));
    const auto bad = inspect_credentials(Root(sandbox.path()), "../acct");
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().kind == ErrorKind::Invalid);
}

TEST_CASE("credentials: the agent's own file is secure, owned by root, mode 0600",
          "[credentials]") {
    test::Sandbox sandbox;
    write_acct(sandbox);
    const CredentialsFile file = inspect_ok(Root(sandbox.path()), "acct");
    CHECK(file.name == "acct");
    CHECK(file.path == "/etc/dsvm-agent/credentials/acct.cred");
    CHECK(file.mode == 0600);
    CHECK(file.owner == 0);
    CHECK(file.problem.empty());
}

TEST_CASE("credentials: any group or other bit makes a file insecure, with the chmod fix",
          "[credentials]") {
    for (const mode_t mode : {mode_t{0644}, mode_t{0640}, mode_t{0604}, mode_t{0610}}) {
        INFO(std::oct << mode);
        test::Sandbox sandbox;
        write_acct(sandbox);
        REQUIRE(::chmod(sandbox.path(k_file).c_str(), mode) == 0);
        const CredentialsFile file = inspect_ok(Root(sandbox.path()), "acct");
        CHECK_FALSE(file.secure);
        CHECK(file.mode == mode);
        CHECK_THAT(file.problem,
                   Catch::Contains("chmod 600 /etc/dsvm-agent/credentials/acct.cred"));
        // Paths are as the admin sees them inside the root, never the sandbox's real path.
        CHECK_THAT(file.problem, !Catch::Contains(sandbox.path()));
    }
}

TEST_CASE("credentials: a symlink is insecure even to a safe file", "[credentials]") {
    test::Sandbox sandbox;
    write_acct(sandbox);
    REQUIRE(::rename(sandbox.path(k_file).c_str(),
                     sandbox.path(std::string(k_dir) + "/real").c_str()) == 0);
    REQUIRE(::symlink("real", sandbox.path(k_file).c_str()) == 0);
    const CredentialsFile file = inspect_ok(Root(sandbox.path()), "acct");
    CHECK_FALSE(file.secure);
    CHECK_THAT(file.problem, Catch::Contains("is a symlink; replace it with a regular file"));
}

TEST_CASE("credentials: a credentials directory writable by others makes files insecure",
          "[credentials]") {
    test::Sandbox sandbox;
    write_acct(sandbox);
    REQUIRE(::chmod(sandbox.path(k_dir).c_str(), 0777) == 0);
    const CredentialsFile file = inspect_ok(Root(sandbox.path()), "acct");
    CHECK_FALSE(file.secure);
    CHECK_THAT(file.problem, Catch::Contains("the directory /etc/dsvm-agent/credentials is "
                                             "writable by others"));
    CHECK_THAT(file.problem, Catch::Contains("chmod 700 /etc/dsvm-agent/credentials"));
}

TEST_CASE("credentials: a file owned by another user is insecure", "[credentials]") {
    test::Sandbox sandbox;
    write_acct(sandbox);
    REQUIRE(::lchown(sandbox.path(k_file).c_str(), 65534, 65534) == 0);
    const CredentialsFile file = inspect_ok(Root(sandbox.path()), "acct");
    CHECK_FALSE(file.secure);
    CHECK(file.owner == 65534);
    CHECK_THAT(file.problem, Catch::Contains("uid 65534"));
    CHECK_THAT(file.problem,
               Catch::Contains("chown root:root /etc/dsvm-agent/credentials/acct.cred"));
}

TEST_CASE("credentials: list is sorted by name and ignores files that are not credentials",
          "[credentials]") {
    test::Sandbox sandbox;
    const Root root(sandbox.path());
    // Enough names that directory order is all but certain to differ from sorted order.
    for (const char* name :
         {"zeta", "acct", "10.0.0.5", "mid", "beta", "Yankee", "x-ray", "omega", "c.d"}) {
        REQUIRE(write_credentials(root, name, "user", k_azure_key).ok());
    }
    sandbox.write(std::string(k_dir) + "/notes.txt", "x", 0600);
    sandbox.write(std::string(k_dir) + "/acct.cred.tmp.123", "x", 0600);
    sandbox.write(std::string(k_dir) + "/.cred", "x", 0600);
    sandbox.write(std::string(k_dir) + "/bad name.cred", "x", 0600);
    sandbox.mkdir(std::string(k_dir) + "/sub", 0700);
    REQUIRE(::chmod(sandbox.path(std::string(k_dir) + "/mid.cred").c_str(), 0644) == 0);
    const auto listed = list_credentials(root);
    REQUIRE(listed.ok());
    std::vector<std::string> names;
    for (const auto& file : *listed) {
        names.push_back(file.name);
        CHECK(file.secure == (file.name != "mid"));
    }
    CHECK(names == std::vector<std::string>{"10.0.0.5", "Yankee", "acct", "beta", "c.d", "mid",
                                            "omega", "x-ray", "zeta"});
}

TEST_CASE("credentials: list of an absent directory is empty", "[credentials]") {
    test::Sandbox sandbox;
    const auto listed = list_credentials(Root(sandbox.path()));
    REQUIRE(listed.ok());
    CHECK(listed->empty());
    CHECK_FALSE(sandbox.exists("etc"));
}

TEST_CASE("credentials: read gives the stored user name and exactly the key", "[credentials]") {
    test::Sandbox sandbox;
    write_acct(sandbox);

    auto stored = read_credentials(Root(sandbox.path()), "acct");

    INFO((stored ? std::string() : stored.error().message));
    REQUIRE(stored.ok());
    CHECK(stored->username == "acct");
    CHECK(stored->key.view() == k_azure_key);
    CHECK(stored->key.capacity() == k_azure_key.size());
}

TEST_CASE("credentials: read refuses an insecure file before it reads the key", "[credentials]") {
    test::Sandbox sandbox;
    REQUIRE(write_credentials(Root(sandbox.path()), "acct", "acct", k_marker).ok());
    REQUIRE(::chmod(sandbox.path(k_file).c_str(), 0644) == 0);

    const auto stored = read_credentials(Root(sandbox.path()), "acct");

    REQUIRE_FALSE(stored.ok());
    CHECK(stored.error().kind == ErrorKind::Runtime);
    CHECK_THAT(stored.error().message,
               Catch::StartsWith("refusing to use /etc/dsvm-agent/credentials/acct.cred: ") &&
                   Catch::Contains("chmod 600"));
    CHECK_THAT(stored.error().message, !Catch::Contains(k_marker));
}

TEST_CASE("credentials: read refuses a file that is not one username= and one password= line",
          "[credentials]") {
    // Given each content in a secure file, we expect a refusal naming the line or the missing
    // one, and never the key.
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"username=acct\npasword=" + k_marker + "\n", "line 2 is neither"},
        {"username=acct\npassword=" + k_marker + "\npassword=" + k_marker + "\n",
         "line 3 is neither"},
        {"username=acct\n", "it has no password= line"},
        {"password=" + k_marker + "\n", "it has no username= line"},
        {"username=acct\npassword= " + k_marker + "\n", "line 2: the storage key starts"},
        // The user name line is never echoed: a mistyped file may hold the key there.
        {"username=ac ct\npassword=" + k_marker + "\n",
         "line 1: the user name breaks the rules for names"},
        {"username=" + k_marker + " x\npassword=" + k_marker + "\n",
         "line 1: the user name breaks the rules for names"},
    };
    for (const auto& [content, expected] : cases) {
        INFO(expected);
        test::Sandbox sandbox;
        write_acct(sandbox);
        REQUIRE(write_file_atomic(sandbox.path(k_file), content, 0600).ok());

        const auto stored = read_credentials(Root(sandbox.path()), "acct");

        REQUIRE_FALSE(stored.ok());
        CHECK_THAT(stored.error().message,
                   Catch::StartsWith("refusing to use /etc/dsvm-agent/credentials/acct.cred: ") &&
                       Catch::Contains(expected) &&
                       Catch::EndsWith("credentials set acct --key-stdin`"));
        CHECK_THAT(stored.error().message, !Catch::Contains(k_marker));
    }
}
