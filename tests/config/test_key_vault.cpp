#include <catch2/catch.hpp>

#include <string>

#include <unistd.h>

#include <mutex>

#include "config/key_vault.h"
#include "engine/engine.h"
#include "mount/mounter.h"
#include "support/fake_clock.h"
#include "support/fake_http_server.h"
#include "support/linux_backends.h"
#include "support/sandbox.h"

using Catch::Matchers::Contains;
using dsvm::test::FakeClock;
using dsvm::test::FakeHttpServer;
using dsvm::test::RecordedRequest;
using dsvm::test::ScriptedResponse;

namespace dsvm {

using namespace dsvm::mount;
using namespace dsvm::users;
using namespace dsvm::config;
using namespace dsvm::engine;
namespace {

const std::string k_token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.sentinel-token-7f3a";
const std::string k_secret =
    "Sentinel+Storage+Key+9Qx0Zl3fVb7w2c/8mR1nT5yU6iO4pA3sD2fG1hJ0kLzXcVbNm0qWeRtYuIoP9w==";

std::string token_body(const std::string& token = k_token, const std::string& expires = "86399") {
    return R"({"access_token":")" + token + R"(","client_id":"0f7e3c2a","expires_in":")" + expires +
           R"(","expires_on":"1700086399","ext_expires_in":"86399","not_before":"1700000000",)"
           R"("resource":"https://vault.azure.net","token_type":"Bearer"})";
}

std::string secret_body(const std::string& value = k_secret) {
    return R"({"value":")" + value +
           R"(","id":"https://contoso.vault.azure.net/secrets/storage-key/0a1b2c",)"
           R"("attributes":{"enabled":true,"created":1700000000,"updated":1700000000,)"
           R"("recoveryLevel":"Recoverable+Purgeable"},"tags":{}})";
}

ScriptedResponse answer(int status, std::string body) {
    ScriptedResponse response;
    response.status = status;
    response.body = std::move(body);
    return response;
}

std::string vault_error(const std::string& code, const std::string& inner) {
    return R"({"error":{"code":")" + code + R"(","message":"Caller is not authorized",)" +
           R"("innererror":{"code":")" + inner + R"("}}})";
}

// A metadata service and a vault on loopback (plain HTTP: the client takes the vault's URL as
// given; TLS is tested in test_http.cpp and through the binary), and a client for them.
struct Rig {
    FakeHttpServer imds;
    FakeHttpServer vault{false};
    FakeClock clock;
    CurlHttpClient http;
    RetryPolicy policy;
    KeyVaultClient client;

    Rig()
        : client(http, clock, KeyVaultEndpoints{imds.base_url(), vault.base_url(), ""}, policy, 7) {
        imds.set_default(answer(200, token_body()));
        vault.set_default(answer(200, secret_body()));
    }

    VaultRead read(const std::string& client_id = "") {
        return client.read_secret("contoso", client_id, "storage-key");
    }
};

int count_token_requests(const std::vector<RecordedRequest>& requests) {
    int count = 0;
    for (const auto& request : requests) {
        count += request.target.rfind("/metadata/identity/oauth2/token?", 0) == 0 ? 1 : 0;
    }
    return count;
}

}  // namespace

TEST_CASE("key vault: a token from the identity endpoint, then the secret", "[vault]") {
    Rig rig;
    auto read = rig.read();
    REQUIRE(read.ok());
    CHECK(read.value.view() == k_secret);

    const auto token_requests = rig.imds.requests();
    REQUIRE(token_requests.size() == 1);
    CHECK(token_requests[0].target ==
          "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fvault."
          "azure.net");
    CHECK(token_requests[0].headers.at("metadata") == "true");
    const auto vault_requests = rig.vault.requests();
    REQUIRE(vault_requests.size() == 1);
    CHECK(vault_requests[0].target == "/secrets/storage-key?api-version=7.4");
    CHECK(vault_requests[0].headers.at("authorization") == "Bearer " + k_token);
    // The vault never sees the metadata header, the metadata service never the token.
    CHECK(vault_requests[0].headers.count("metadata") == 0);
    CHECK(token_requests[0].headers.count("authorization") == 0);
}

TEST_CASE("key vault: a user-assigned identity is asked for by client id", "[vault]") {
    Rig rig;
    REQUIRE(rig.read("0f7e3c2a-1b2c-4d5e-8f90-a1b2c3d4e5f6").ok());
    CHECK_THAT(rig.imds.requests().at(0).target,
               Contains("&client_id=0f7e3c2a-1b2c-4d5e-8f90-a1b2c3d4e5f6"));
}

TEST_CASE("key vault: the token is kept until five minutes before it expires", "[vault]") {
    Rig rig;
    rig.imds.set_default(answer(200, token_body(k_token, "3600")));
    REQUIRE(rig.read().ok());
    REQUIRE(rig.read().ok());
    CHECK(count_token_requests(rig.imds.requests()) == 1);
    rig.clock.advance(std::chrono::seconds(3600 - 300 - 1));
    REQUIRE(rig.read().ok());
    CHECK(count_token_requests(rig.imds.requests()) == 1);
    rig.clock.advance(std::chrono::seconds(2));
    REQUIRE(rig.read().ok());
    CHECK(count_token_requests(rig.imds.requests()) == 2);
    // Another identity needs its own token.
    REQUIRE(rig.read("0f7e3c2a-1b2c-4d5e-8f90-a1b2c3d4e5f6").ok());
    CHECK(count_token_requests(rig.imds.requests()) == 3);
}

TEST_CASE("key vault: no managed identity is one clear error", "[vault]") {
    Rig rig;
    rig.imds.set_default(
        answer(400, R"({"error":"invalid_request","error_description":"Identity not found"})"));
    auto read = rig.read();
    REQUIRE_FALSE(read.ok());
    CHECK(read.error.kind == VaultFailure::NoIdentity);
    CHECK_THAT(read.error.message, Contains("no managed identity"));
    CHECK_THAT(read.error.message, Contains("\"Identity not found\""));
    CHECK_THAT(read.error.message, Contains("az vmss identity assign"));
    CHECK(rig.vault.requests().empty());
    // Not retried: the identity is not about to appear.
    CHECK(rig.imds.requests().size() == 1);
}

TEST_CASE("key vault: the identity endpoint's 410 and 429 after boot are waited out", "[vault]") {
    Rig rig;
    rig.imds.enqueue(answer(410, ""));
    rig.imds.enqueue(answer(429, R"({"error":"too_many_requests"})"));
    rig.imds.enqueue(answer(500, R"({"error":"unknown_error"})"));
    auto read = rig.read();
    REQUIRE(read.ok());
    CHECK(rig.imds.requests().size() == 4);
    CHECK(rig.clock.sleeps().size() == 3);
}

TEST_CASE("key vault: an identity without access is told which role to give", "[vault]") {
    Rig rig;
    rig.vault.set_default(answer(403, vault_error("Forbidden", "ForbiddenByRbac")));
    auto read = rig.read();
    REQUIRE_FALSE(read.ok());
    CHECK(read.error.kind == VaultFailure::Denied);
    CHECK_THAT(read.error.message, Contains("secret storage-key in vault contoso"));
    CHECK_THAT(read.error.message, Contains("HTTP 403 Forbidden/ForbiddenByRbac"));
    CHECK_THAT(read.error.message, Contains("Key Vault Secrets User"));
    CHECK(rig.vault.requests().size() == 1);
}

TEST_CASE("key vault: a missing secret names the secret and how to store it", "[vault]") {
    Rig rig;
    rig.vault.set_default(answer(404, vault_error("SecretNotFound", "")));
    auto read = rig.read();
    REQUIRE_FALSE(read.ok());
    CHECK(read.error.kind == VaultFailure::NotFound);
    CHECK_THAT(read.error.message, Contains("vault contoso has no secret storage-key"));
    CHECK_THAT(read.error.message, Contains("SecretNotFound"));
    CHECK_THAT(read.error.message,
               Contains("az keyvault secret set --vault-name contoso --name storage-key"));
}

TEST_CASE("key vault: a disabled secret is told apart from a denied read", "[vault]") {
    Rig rig;
    rig.vault.set_default(answer(403, vault_error("Forbidden", "SecretDisabled")));
    auto read = rig.read();
    REQUIRE_FALSE(read.ok());
    CHECK(read.error.kind == VaultFailure::NotFound);
    CHECK_THAT(read.error.message, Contains("secret storage-key in vault contoso is disabled"));
    CHECK_THAT(read.error.message, Contains("--enabled true"));
}

TEST_CASE("key vault: a refused token is replaced once", "[vault]") {
    Rig rig;
    rig.vault.enqueue(answer(401, vault_error("Unauthorized", "TokenExpired")));
    auto read = rig.read();
    REQUIRE(read.ok());
    CHECK(count_token_requests(rig.imds.requests()) == 2);
    CHECK(rig.vault.requests().size() == 2);

    rig.vault.set_default(answer(401, vault_error("Unauthorized", "")));
    auto refused = rig.read();
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error.kind == VaultFailure::Denied);
    CHECK_THAT(refused.error.message, Contains("HTTP 401 Unauthorized"));
}

TEST_CASE("key vault: a throttling or failing vault is retried, then unreachable", "[vault]") {
    Rig rig;
    rig.vault.enqueue(answer(429, vault_error("Throttled", "")));
    rig.vault.enqueue(answer(503, ""));
    REQUIRE(rig.read().ok());
    CHECK(rig.vault.requests().size() == 3);

    rig.vault.set_default(answer(503, ""));
    auto read = rig.read();
    REQUIRE_FALSE(read.ok());
    CHECK(read.error.kind == VaultFailure::Unreachable);
    CHECK_THAT(read.error.message, Contains("vault contoso unavailable after"));
    CHECK_THAT(read.error.message, Contains("HTTP 503"));
}

TEST_CASE("key vault: a vault that does not answer is unreachable", "[vault]") {
    FakeHttpServer imds;
    imds.set_default(answer(200, token_body()));
    FakeClock clock;
    CurlHttpClient http;
    RetryPolicy policy;
    policy.deadline = std::chrono::seconds(5);
    KeyVaultClient client(
        http, clock,
        KeyVaultEndpoints{imds.base_url(),
                          "http://127.0.0.1:" + std::to_string(test::unused_loopback_port()), ""},
        policy, 1);
    auto read = client.read_secret("contoso", "", "storage-key");
    REQUIRE_FALSE(read.ok());
    CHECK(read.error.kind == VaultFailure::Unreachable);
    CHECK_THAT(read.error.message, Contains("vault contoso unreachable after"));
    CHECK_THAT(read.error.message, Contains("refused") || Contains("connect"));
}

TEST_CASE("key vault: an unusable answer is refused, and no value leaks into errors", "[vault]") {
    Rig rig;
    rig.vault.set_default(answer(200, secret_body(std::string(4097, 'k'))));
    auto big = rig.read();
    REQUIRE_FALSE(big.ok());
    CHECK(big.error.kind == VaultFailure::Unusable);
    CHECK_THAT(big.error.message, Contains("longer than 4096 bytes"));
    CHECK_THAT(big.error.message, !Contains("kkkk"));

    rig.vault.set_default(answer(200, R"({"value": ")" + k_secret + R"(", broken)"));
    auto broken = rig.read();
    REQUIRE_FALSE(broken.ok());
    CHECK_THAT(broken.error.message,
               Contains("vault contoso answered the read of secret storage-key with not a "
                        "JSON object"));
    CHECK_THAT(broken.error.message, !Contains(k_secret.substr(0, 20)));

    // A token response without a token, or with a token in an error.
    Rig other;
    other.imds.set_default(answer(200, R"({"access_token": ")" + k_token + R"("})"));
    auto no_expiry = other.read();
    REQUIRE_FALSE(no_expiry.ok());
    CHECK_THAT(no_expiry.error.message, Contains("unusable"));
    CHECK_THAT(no_expiry.error.message, !Contains(k_token));
}

}  // namespace dsvm

namespace dsvm {
namespace {

// nft as the guard finds it once loaded: `list table` shows the rule, everything else succeeds.
class LoadedGuardRunner final : public ProcessRunner {
  public:
    Result<CommandResult> run(const std::vector<std::string>& argv, std::string_view,
                              std::chrono::milliseconds) override {
        if (argv.size() > 1 && argv[1] == "list") {
            return CommandResult{
                0, "table ip dsvm_agent_metadata { ip daddr 169.254.169.254 meta skuid != 0 drop }",
                ""};
        }
        return CommandResult{0, "", ""};
    }
};

}  // namespace

TEST_CASE("key vault: a daemon reads on its schedule, again after a failure, and on request",
          "[vault]") {
    test::Sandbox sandbox;
    sandbox.write("etc/dsvm-agent/pool.json",
                  R"({"keyVault": {"vault": "contoso", "refreshInterval": 600, )"
                  R"("secrets": {"registryKey": "pool-registry-key"}}})");
    const std::string registry_key = "UmVnaXN0cnlLZXlGb3JUaGVTY2hlZHVsZVRlc3QwMTIzNDU=";
    FakeHttpServer imds;
    imds.set_default(answer(200, token_body()));
    FakeHttpServer vault(false);
    std::mutex mutex;
    ScriptedResponse vault_answer = answer(200, secret_body(registry_key));
    vault.set_handler([&](const RecordedRequest&) {
        std::lock_guard lock(mutex);
        return vault_answer;
    });
    const auto set_vault = [&](ScriptedResponse response) {
        std::lock_guard lock(mutex);
        vault_answer = std::move(response);
    };
    const auto reads = [&] { return vault.requests().size(); };

    LibmountMounter mounter;
    FakeClock clock;
    LoadedGuardRunner runner;
    CurlHttpClient http;
    KeyVaultClient client(http, clock, KeyVaultEndpoints{imds.base_url(), vault.base_url(), ""},
                          RetryPolicy{}, 3);
    test::LinuxBackends backends(Root(sandbox.path()), mounter, runner);
    Engine engine(Root(sandbox.path()), AgentPaths{},
                  {.share = backends.share,
                   .accounts = backends.accounts,
                   .runner = runner,
                   .clock = clock,
                   .names = std::make_shared<NoNameService>(),
                   .vault = &client,
                   .guard = &backends.guard});
    PassOptions daemon;
    daemon.full = false;
    const auto pass = [&](const PassOptions& options) {
        const PassOutcome outcome = engine.reconcile(options);
        INFO(outcome.status.message);
        return outcome.exit_status;
    };

    CHECK(pass(daemon) == 0);  // the first pass reads
    CHECK(reads() == 1);
    CHECK(sandbox.read("etc/dsvm-agent/credentials/registry.key") == registry_key + "\n");
    CHECK(pass(daemon) == 0);  // not due
    clock.advance(std::chrono::seconds(599));
    CHECK(pass(daemon) == 0);
    CHECK(reads() == 1);
    clock.advance(std::chrono::seconds(2));  // refreshInterval has passed
    CHECK(pass(daemon) == 0);
    CHECK(reads() == 2);

    // A failed read is tried again at the next pass, however recent.
    set_vault(answer(404, vault_error("SecretNotFound", "")));
    clock.advance(std::chrono::seconds(601));
    CHECK(pass(daemon) == 1);
    CHECK(pass(daemon) == 1);
    CHECK(reads() == 4);
    set_vault(answer(200, secret_body(registry_key)));
    CHECK(pass(daemon) == 0);
    CHECK(pass(daemon) == 0);
    CHECK(reads() == 5);

    // adduser and deluser read only when a key file is missing.
    PassOptions request;
    request.key_read = KeyRead::IfMissing;
    CHECK(pass(request) == 0);
    CHECK(reads() == 5);
    REQUIRE(::unlink(sandbox.path("etc/dsvm-agent/credentials/registry.key").c_str()) == 0);
    CHECK(pass(request) == 0);
    CHECK(reads() == 6);
    // And a daemon pass reads at once when one is missing, due or not.
    REQUIRE(::unlink(sandbox.path("etc/dsvm-agent/credentials/registry.key").c_str()) == 0);
    CHECK(pass(daemon) == 0);
    CHECK(reads() == 7);

    // reconcile, and `systemctl reload`, read whatever the schedule.
    PassOptions admin;
    admin.key_read = KeyRead::Always;
    CHECK(pass(admin) == 0);
    CHECK(reads() == 8);

    // The status of a pass that did not read says when the keys were last read.
    CHECK(pass(daemon) == 0);
    CHECK(reads() == 8);
    const auto status = engine.last_status();
    REQUIRE(status.ok());
    bool reported = false;
    for (const auto& source : status->sources) {
        reported =
            reported || (source.name == "Key Vault contoso" && source.state == SourceState::Used &&
                         source.detail.find("read ") != std::string::npos);
    }
    CHECK(reported);
}

}  // namespace dsvm
