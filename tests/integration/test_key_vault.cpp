// Keys from Azure Key Vault through the real binary: a fake metadata service with the identity
// endpoint and a fake vault over TLS on loopback, its certificate from a CA made for the test.
// The share is mounted through the recording helper, which reports what it read from the
// credentials file as a digest.
#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "common/digest.h"
#include "integration/agent_fixture.h"
#include "integration/recording_helper.h"
#include "support/test_tls.h"
#include "users/registry_key.h"

using namespace dsvm;
using namespace dsvm::mount;
using namespace dsvm::users;
using namespace dsvm::test;
using Catch::Contains;

namespace {

constexpr const char* k_source = "//acct.file.core.windows.net/dsvmshare";
// Shaped like storage keys and a token; unique enough to grep for.
const std::string k_key =
    "VmF1bHRLZXlPbmVBYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3ODlBQkNERUZHSElKS0xNTk9QUVJTVA==";
const std::string k_new_key =
    "VmF1bHRLZXlUd29BYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3ODlBQkNERUZHSElKS0xNTk9QUVJTVA==";
const std::string k_token = "eyJ0eXAiOiJKV1QifQ.c2VudGluZWwtdG9rZW4tZm9yLWRzdm0tYWdlbnQ.sig";

ScriptedResponse answer(int status, std::string body) {
    ScriptedResponse response;
    response.status = status;
    response.body = std::move(body);
    return response;
}

// A pool whose storage key is secret "storage-key" in vault "contoso-pool", with a metadata
// service that hands out tokens and a vault that serves what the test sets.
class VaultPool {
  public:
    explicit VaultPool(const TestCa& vault_ca = test_ca())
        : m_vault(FakeHttpServerOptions{
              false, issue_server_certificate(vault_ca, {"localhost"}, {"127.0.0.1"})}) {
        m_ca_file = m_fixture.sandbox().write("test-ca.pem", test_ca().certificate_pem);
        serve_pool(R"({"dsvmPool": {"share": {"source": ")" + std::string(k_source) +
                   R"("}, "keyVault": {"vault": "contoso-pool", "secrets": )"
                   R"({"storageAccountKey": "storage-key"}}}})");
        m_fixture.imds().set_handler([this](const RecordedRequest& request) {
            std::lock_guard lock(m_mutex);
            if (request.target.rfind("/metadata/identity/oauth2/token?", 0) == 0) {
                return m_token_answer;
            }
            return answer(200, m_document);
        });
        m_vault.set_handler([this](const RecordedRequest& request) {
            std::lock_guard lock(m_mutex);
            if (request.headers.count("authorization") == 0 ||
                request.headers.at("authorization") != "Bearer " + k_token) {
                return answer(401, R"({"error":{"code":"Unauthorized"}})");
            }
            if (request.target == "/secrets/storage-key?api-version=7.4") {
                return m_vault_answer;
            }
            for (const auto& [name, value] : m_other_secrets) {
                if (request.target == "/secrets/" + name + "?api-version=7.4") {
                    return answer(200, R"({"value":")" + value + R"("})");
                }
            }
            return answer(404, R"({"error":{"code":"SecretNotFound"}})");
        });
        set_secret(k_key);
        set_token(answer(200, R"({"access_token":")" + k_token +
                                  R"(","expires_in":"86399","token_type":"Bearer"})"));
    }

    static const TestCa& test_ca() {
        static const TestCa ca = make_test_ca("dsvm-agent test vault CA");
        return ca;
    }

    // The instance metadata served from now on: no tags, this userData.
    void serve_pool(const std::string& user_data) {
        std::lock_guard lock(m_mutex);
        m_document = imds_document({}, user_data);
    }

    void set_secret(const std::string& value) {
        set_vault(answer(200, R"({"value":")" + value +
                                  R"(","id":"https://contoso-pool.vault.azure.net/secrets/)"
                                  R"(storage-key/1","attributes":{"enabled":true}})"));
    }
    // Another secret in the vault (the registry keys).
    void set_other_secret(const std::string& name, const std::string& value) {
        std::lock_guard lock(m_mutex);
        m_other_secrets[name] = value;
    }
    void set_vault(ScriptedResponse response) {
        std::lock_guard lock(m_mutex);
        m_vault_answer = std::move(response);
    }
    void set_token(ScriptedResponse response) {
        std::lock_guard lock(m_mutex);
        m_token_answer = std::move(response);
    }

    std::vector<std::string> args(std::vector<std::string> arguments,
                                  const std::string& vault_url = "") const {
        std::vector<std::string> out = m_fixture.args(
            {"--test-key-vault-url", vault_url.empty() ? m_vault.base_url() : vault_url,
             "--test-key-vault-ca", m_ca_file});
        out.insert(out.end(), arguments.begin(), arguments.end());
        return out;
    }
    ProcessResult agent(std::vector<std::string> arguments) const {
        return run_agent(args(std::move(arguments)));
    }

    nlohmann::json status() const {
        const auto result = agent({"status", "--json"});
        INFO(result.out << result.err);
        REQUIRE(result.exit_code == 0);
        return nlohmann::json::parse(result.out);
    }

    AgentFixture& fixture() { return m_fixture; }
    Sandbox& sandbox() { return m_fixture.sandbox(); }
    FakeHttpServer& vault() { return m_vault; }
    const std::string& ca_file() const { return m_ca_file; }

  private:
    AgentFixture m_fixture;
    FakeHttpServer m_vault;
    std::string m_ca_file;
    std::mutex m_mutex;
    ScriptedResponse m_vault_answer;
    std::map<std::string, std::string> m_other_secrets;
    ScriptedResponse m_token_answer;
    std::string m_document;
};

std::string credentials_digest(const std::string& key) {
    return sha256_hex("username=acct\npassword=" + key + "\n");
}

// The problems of the last pass that mention the vault.
std::vector<std::string> vault_problems(const nlohmann::json& status) {
    std::vector<std::string> out;
    for (const auto& problem : status["problems"]) {
        const auto text = problem.get<std::string>();
        if (text.rfind("keyVault: ", 0) == 0) {
            out.push_back(text);
        }
    }
    return out;
}

// A TCP connection to 169.254.169.254:80 from a child running as `uid`: whether it was made
// within a second (a dropped SYN is never answered).
bool connects_as(uid_t uid) {
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        if (uid != 0 &&
            (::setgroups(0, nullptr) != 0 || ::setgid(uid) != 0 || ::setuid(uid) != 0)) {
            ::_exit(3);
        }
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(80);
        ::inet_pton(AF_INET, "169.254.169.254", &address.sin_addr);
        if (fd < 0 ||
            (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 &&
             errno != EINPROGRESS)) {
            ::_exit(2);
        }
        pollfd wait{fd, POLLOUT, 0};
        int error = 0;
        socklen_t length = sizeof error;
        const bool made = ::poll(&wait, 1, 1000) == 1 &&
                          ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 &&
                          error == 0;
        ::_exit(made ? 0 : 1);
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) <= 1);
    return WEXITSTATUS(status) == 0;
}

// The metadata service's address on this namespace's loopback, with a listener on port 80
// (connections complete in the kernel's backlog; nothing is ever read).
class MetadataAddress {
  public:
    MetadataAddress() {
        const auto added =
            run_process({"/usr/sbin/ip", "address", "add", "169.254.169.254/32", "dev", "lo"});
        INFO(added.err);
        REQUIRE(added.exit_code == 0);
        m_listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(80);
        ::inet_pton(AF_INET, "169.254.169.254", &address.sin_addr);
        REQUIRE(::bind(m_listener, reinterpret_cast<const sockaddr*>(&address), sizeof address) ==
                0);
        REQUIRE(::listen(m_listener, 16) == 0);
    }
    ~MetadataAddress() {
        ::close(m_listener);
        run_process({"/usr/sbin/ip", "address", "del", "169.254.169.254/32", "dev", "lo"});
    }
    MetadataAddress(const MetadataAddress&) = delete;
    MetadataAddress& operator=(const MetadataAddress&) = delete;

  private:
    int m_listener = -1;
};

bool has_action(const nlohmann::json& status, const std::string& text) {
    for (const auto& action : status["actions"]) {
        if (action["action"].get<std::string>().find(text) != std::string::npos) {
            return true;
        }
    }
    return false;
}

}  // namespace

TEST_CASE("key vault: once keyVault is set only root reaches the metadata service", "[vault]") {
    // This runs in the test binary's own network namespace (main.cpp): the table the agent
    // loads never reaches the host.
    MetadataAddress metadata;
    constexpr uid_t k_nobody = 65534;
    REQUIRE(connects_as(k_nobody));  // no guard yet: anyone may ask for a token
    REQUIRE(connects_as(0));

    VaultPool pool;
    RecordingHelper helper(pool.sandbox());
    const auto first = pool.agent({"reconcile"});
    INFO(first.out << first.err);
    REQUIRE(first.exit_code == 0);
    CHECK_FALSE(connects_as(k_nobody));
    CHECK(connects_as(0));
    CHECK(has_action(pool.status(), "only root may reach the metadata service"));
    CHECK(mode_of(pool.sandbox().path("var/lib/dsvm-agent/metadata-guard.nft")) == 0600);

    // In place: the next pass finds it and changes nothing.
    const auto second = pool.agent({"reconcile"});
    CHECK(second.out == "no changes\n");

    // Gone from the kernel (a reboot before the boot unit ran, or an admin): loaded again.
    REQUIRE(
        run_process({"/usr/sbin/nft", "delete", "table", "ip", "dsvm_agent_metadata"}).exit_code ==
        0);
    REQUIRE(connects_as(k_nobody));
    const auto again = pool.agent({"reconcile"});
    INFO(again.out << again.err);
    CHECK(again.exit_code == 0);
    CHECK_FALSE(connects_as(k_nobody));

    // keyVault dropped from the config (the key now set by hand): the guard goes with it.
    REQUIRE(run_process({DSVM_AGENT_BINARY, "--root", pool.sandbox().path(), "credentials", "set",
                         "acct", "--key-stdin"},
                        {}, k_key + "\n")
                .exit_code == 0);
    pool.serve_pool(R"({"dsvmPool": {"share": {"source": ")" + std::string(k_source) + R"("}}})");
    const auto dropped = run_agent(pool.fixture().args({"reconcile"}));
    INFO(dropped.out << dropped.err);
    CHECK(dropped.exit_code == 0);
    CHECK(connects_as(k_nobody));
    CHECK_FALSE(pool.sandbox().exists("var/lib/dsvm-agent/metadata-guard.nft"));
}

TEST_CASE("key vault: the storage key from the vault mounts the share, a new secret remounts",
          "[vault]") {
    VaultPool pool;
    RecordingHelper helper(pool.sandbox());

    const auto first = pool.agent({"reconcile"});
    INFO(first.out << first.err << helper.log_text());
    REQUIRE(first.exit_code == 0);
    auto calls = helper.calls();
    REQUIRE(calls.size() == 1);
    CHECK(calls[0].credentials_sha256 == credentials_digest(k_key));
    CHECK(pool.fixture().mounts_at("/datamnt/dsvmshare") == 1);
    CHECK(mode_of(pool.sandbox().path("etc/dsvm-agent/credentials/acct.cred")) == 0600);
    const auto status = pool.status();
    bool reported = false;
    for (const auto& source : status["sources"]) {
        reported =
            reported || (source["name"] == "Key Vault contoso-pool" && source["state"] == "used" &&
                         source["detail"].get<std::string>().find(
                             "storageAccountKey stored in "
                             "/etc/dsvm-agent/credentials/acct.cred") != std::string::npos);
    }
    CHECK(reported);

    // Unchanged: read again, nothing rewritten, nothing remounted.
    const auto stamp = stat_of(pool.sandbox().path("etc/dsvm-agent/credentials/acct.cred"));
    const auto same = pool.agent({"reconcile"});
    INFO(same.out << same.err);
    CHECK(same.exit_code == 0);
    CHECK(same.out == "no changes\n");
    CHECK(helper.calls().size() == 1);
    CHECK(stat_of(pool.sandbox().path("etc/dsvm-agent/credentials/acct.cred")).st_ino ==
          stamp.st_ino);

    // Rotated in the vault: the next pass stores the new key and remounts with it.
    pool.set_secret(k_new_key);
    const auto rotated = pool.agent({"reconcile"});
    INFO(rotated.out << rotated.err);
    CHECK(rotated.exit_code == 0);
    CHECK_THAT(rotated.out, Contains("(the credentials changed)"));
    calls = helper.calls();
    REQUIRE(calls.size() == 2);
    CHECK(calls[1].credentials_sha256 == credentials_digest(k_new_key));
    CHECK(pool.fixture().mounts_at("/datamnt/dsvmshare") == 1);
}

TEST_CASE("key vault: a secret stored with a trailing newline is the key without it", "[vault]") {
    VaultPool pool;
    RecordingHelper helper(pool.sandbox());
    pool.set_secret(k_key + "\\n");
    const auto pass = pool.agent({"reconcile"});
    INFO(pass.out << pass.err);
    REQUIRE(pass.exit_code == 0);
    REQUIRE(helper.calls().size() == 1);
    CHECK(helper.calls()[0].credentials_sha256 == credentials_digest(k_key));
}

TEST_CASE("key vault: the token and the secret are in no log, status, argv or other file",
          "[vault]") {
    VaultPool pool;
    RecordingHelper helper(pool.sandbox());
    const auto pass = run_agent(pool.args({"--log-level", "trace", "reconcile"}));
    INFO(pass.out << pass.err);
    REQUIRE(pass.exit_code == 0);
    const auto status = pool.agent({"status", "--json"});
    const auto human = pool.agent({"status"});
    const auto listing = pool.agent({"credentials", "list", "--json"});
    // A failing read logs too: the errors must not carry them either.
    pool.set_vault(answer(403, R"({"error":{"code":"Forbidden","message":")" + k_key + R"("}})"));
    const auto denied = run_agent(pool.args({"--log-level", "trace", "reconcile"}));
    const auto denied_status = pool.agent({"status", "--json"});
    CHECK(denied.exit_code == 1);

    for (const std::string& secret : {k_key, k_token}) {
        for (const auto& text : {pass.out, pass.err, status.out, human.out, listing.out, denied.out,
                                 denied.err, denied_status.out, helper.log_text()}) {
            CHECK_THAT(text, !Contains(secret));
        }
        for (const auto& call : helper.calls()) {
            for (const auto& arg : call.args) {
                CHECK_THAT(arg, !Contains(secret));
            }
            for (const auto& variable : call.environment) {
                CHECK_THAT(variable, !Contains(secret));
            }
        }
    }
    CHECK(files_with_text(pool.sandbox().path(), k_token).empty());
    const auto holders = files_with_text(pool.sandbox().path(), k_key);
    REQUIRE(holders.size() == 1);
    CHECK(holders[0] == pool.sandbox().path("etc/dsvm-agent/credentials/acct.cred"));
}

TEST_CASE("key vault: each failure is one clear line, and the last good key stays mounted",
          "[vault]") {
    VaultPool pool;
    RecordingHelper helper(pool.sandbox());
    REQUIRE(pool.agent({"reconcile"}).exit_code == 0);
    REQUIRE(helper.calls().size() == 1);
    const std::string before = tree_digest(pool.sandbox().path("etc/dsvm-agent"));

    struct Case {
        const char* what;
        std::function<void()> arrange;
        std::string vault_url;
        std::string expected;
    };
    const std::string unreachable = "https://127.0.0.1:" + std::to_string(unused_loopback_port());
    const std::vector<Case> cases{
        {"no identity",
         [&] {
             pool.set_token(answer(
                 400, R"({"error":"invalid_request","error_description":"Identity not found"})"));
         },
         "",
         "keyVault: no managed identity to read Key Vault with: the metadata service answered "
         "HTTP 400 \"Identity not found\""},
        {"no access",
         [&] {
             pool.set_vault(answer(403, R"({"error":{"code":"Forbidden","innererror":)"
                                        R"({"code":"ForbiddenByRbac"}}})"));
         },
         "",
         "keyVault: this VM's managed identity may not read secret storage-key in vault "
         "contoso-pool (HTTP 403 Forbidden/ForbiddenByRbac): give it the Key Vault Secrets User "
         "role"},
        {"no secret",
         [&] { pool.set_vault(answer(404, R"({"error":{"code":"SecretNotFound"}})")); }, "",
         "keyVault: vault contoso-pool has no secret storage-key (HTTP 404 SecretNotFound)"},
        {"unreachable", [] {}, unreachable, "keyVault: vault contoso-pool unreachable after"},
    };
    for (const Case& item : cases) {
        item.arrange();
        const auto pass = run_agent(pool.args({"reconcile"}, item.vault_url));
        INFO(item.what << ": " << pass.out << pass.err);
        CHECK(pass.exit_code == 1);
        const auto problems = vault_problems(pool.status());
        REQUIRE(problems.size() == 1);
        CHECK_THAT(problems[0], Contains(item.expected));
        CHECK_THAT(problems[0], Contains("the key this instance holds stays in use"));
        CHECK(problems[0].find('\n') == std::string::npos);
        CHECK(pool.fixture().mounts_at("/datamnt/dsvmshare") == 1);
        CHECK(helper.calls().size() == 1);
        CHECK(tree_digest(pool.sandbox().path("etc/dsvm-agent")) == before);
        // Back to a working vault for the next case.
        pool.set_token(answer(200, R"({"access_token":")" + k_token +
                                       R"(","expires_in":"86399","token_type":"Bearer"})"));
        pool.set_secret(k_key);
    }
}

TEST_CASE("key vault: a vault whose certificate the agent cannot verify is refused", "[vault]") {
    const TestCa other = make_test_ca("an untrusted CA");
    VaultPool pool(other);  // the vault's certificate is from `other`; the agent trusts test_ca()
    RecordingHelper helper(pool.sandbox());

    const auto pass = pool.agent({"reconcile"});
    INFO(pass.out << pass.err);
    CHECK(pass.exit_code == 1);
    const auto problems = vault_problems(pool.status());
    REQUIRE(problems.size() == 1);
    CHECK_THAT(problems[0], Contains("keyVault: vault contoso-pool unreachable after"));
    CHECK_THAT(problems[0], Contains("certificate"));
    CHECK(pool.vault().requests().empty());
    CHECK_FALSE(pool.sandbox().exists("etc/dsvm-agent/credentials/acct.cred"));
    CHECK(helper.calls().empty());

    // Nor with the system's CA store, which has never heard of either test CA.
    std::vector<std::string> system_store =
        pool.fixture().args({"--test-key-vault-url", pool.vault().base_url(), "reconcile"});
    const auto again = run_agent(system_store);
    INFO(again.out << again.err);
    CHECK(again.exit_code == 1);
    CHECK(pool.vault().requests().empty());
    CHECK_FALSE(pool.sandbox().exists("etc/dsvm-agent/credentials/acct.cred"));
}

TEST_CASE("key vault: the test-only vault options take only https and an existing CA file",
          "[vault]") {
    VaultPool pool;
    const auto plain =
        run_agent(pool.fixture().args({"--test-key-vault-url", "http://127.0.0.1:1", "reconcile"}));
    CHECK(plain.exit_code == 2);
    CHECK_THAT(plain.err, Contains("must be an https:// URL"));
    const auto no_ca = run_agent(pool.fixture().args(
        {"--test-key-vault-ca", pool.sandbox().path("missing.pem"), "reconcile"}));
    CHECK(no_ca.exit_code == 2);
    CHECK_THAT(no_ca.err, Contains("must be an existing PEM file"));
}

TEST_CASE("key vault: the registry keys come from the vault, the previous one only in a rotation",
          "[vault]") {
    VaultPool pool;
    RecordingHelper helper(pool.sandbox());
    const std::string current = "Q3VycmVudFJlZ2lzdHJ5S2V5Rm9yVGhlUG9vbDAxMjM0NTY3ODk=";
    const std::string previous = "UHJldmlvdXNSZWdpc3RyeUtleUZvclRoZVBvb2wwMTIzNDU2Nzg=";
    pool.set_other_secret("pool-registry-key", current);
    pool.set_other_secret("pool-registry-key-old", previous);
    const std::string share = R"({"dsvmPool": {"share": {"source": ")" + std::string(k_source) +
                              R"("}, "keyVault": {"vault": "contoso-pool", "secrets": )";
    pool.serve_pool(share +
                    R"({"storageAccountKey": "storage-key", "registryKey": )"
                    R"("pool-registry-key", "previousRegistryKey": "pool-registry-key-old"}}}})");

    const auto rotation = pool.agent({"reconcile"});
    INFO(rotation.out << rotation.err);
    CHECK(rotation.exit_code == 0);
    auto held = read_registry_keys(Root(pool.sandbox().path()));
    REQUIRE(held.ok());
    CHECK(held->current.view() == current);
    CHECK(held->previous.view() == previous);
    CHECK(mode_of(pool.sandbox().path("etc/dsvm-agent/credentials/registry.key")) == 0600);
    CHECK(mode_of(pool.sandbox().path("etc/dsvm-agent/credentials/registry.previous.key")) == 0600);
    // Only ids are shown.
    const std::string status_text = pool.agent({"status", "--json"}).out;
    CHECK_THAT(status_text, Contains("registry key " + registry_key_id(current) + " stored"));
    CHECK_THAT(status_text, !Contains(current) && !Contains(previous));

    // The rotation is over: without previousRegistryKey, the previous key file goes.
    pool.serve_pool(share + R"({"storageAccountKey": "storage-key", "registryKey": )"
                            R"("pool-registry-key"}}}})");
    const auto done = pool.agent({"reconcile"});
    INFO(done.out << done.err);
    CHECK(done.exit_code == 0);
    held = read_registry_keys(Root(pool.sandbox().path()));
    REQUIRE(held.ok());
    CHECK(held->current.view() == current);
    CHECK(held->previous.empty());
    CHECK_FALSE(pool.sandbox().exists("etc/dsvm-agent/credentials/registry.previous.key"));
}

TEST_CASE("key vault: a pass that cannot load the metadata guard reads no key and makes nothing",
          "[vault]") {
    VaultPool pool;
    RecordingHelper helper(pool.sandbox());
    // nft, as broken as a missing kernel module makes it: bound over the real one in the test's
    // own mount namespace.
    const std::string broken = pool.sandbox().write(
        "nft.sh",
        "#!/bin/sh\necho 'Error: Could not process rule: Operation not supported' >&2\n"
        "exit 1\n",
        0755);
    REQUIRE(::mount(broken.c_str(), "/usr/sbin/nft", nullptr, MS_BIND, nullptr) == 0);
    const auto pass = pool.agent({"reconcile"});
    ::umount2("/usr/sbin/nft", MNT_DETACH);
    INFO(pass.out << pass.err);
    CHECK(pass.exit_code == 1);
    const auto status = pool.status();
    CHECK(status["result"] == "failed");
    const auto problems = vault_problems(status);
    REQUIRE(problems.size() == 1);
    CHECK_THAT(problems[0], Contains("pool users can ask the metadata service for this VM's "
                                     "managed identity token"));
    CHECK_THAT(problems[0], Contains("Operation not supported"));
    CHECK(pool.vault().requests().empty());
    CHECK_FALSE(pool.sandbox().exists("etc/dsvm-agent/credentials/acct.cred"));
    CHECK(helper.calls().empty());
}
