#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/registry_fixture.h"
#include "users/registry_format.h"

using namespace dsvm;
using namespace dsvm::users;
using dsvm::test::k_other_key;
using dsvm::test::k_pool_key;
using dsvm::test::keys_of;
using dsvm::test::make_user;

namespace {

Registry sample() {
    Registry registry;
    registry.generation = 42;
    registry.next_uid = 20002;
    RegistryUser bob = make_user("bob", 20001);
    bob.groups = {"datasci", "video"};
    bob.deleted = true;
    RegistryUser alice = make_user("alice", 20000);
    alice.sudo = true;
    alice.ssh_keys = {"ssh-ed25519 AAAAC3Nza alice@laptop", "ssh-rsa AAAAB3Nza alice@work"};
    alice.password_hash = "$6$salt$hash";
    registry.users = {bob, alice};
    return registry;
}

Verification verify(std::string_view text, std::string_view current,
                    std::string_view previous = {}) {
    auto file = parse_registry_file(text);
    REQUIRE(file.ok());
    return verify_registry_file(*file, *keys_of(current, previous));
}

// The text with one occurrence of `from` replaced by `to` (which must be there).
std::string edited(std::string text, const std::string& from, const std::string& to) {
    const auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    return text.replace(at, from.size(), to);
}

}  // namespace

TEST_CASE("registry format: render, parse and verify round trip in name order", "[registry]") {
    const Registry registry = sample();
    const std::string text = render_registry_file(registry, k_pool_key);
    CHECK(text.back() == '\n');
    CHECK(text.find("\n  \"version\": 2,\n  \"keyId\": \"" + registry_key_id(k_pool_key)) !=
          std::string::npos);
    CHECK(text.find("\"alice\"") < text.find("\"bob\""));
    CHECK(text.find(std::string(k_pool_key)) == std::string::npos);  // never the key itself

    auto parsed = parse_registry_file(text);
    REQUIRE(parsed.ok());
    CHECK(parsed->version == 2);
    CHECK(parsed->registry.generation == 42);
    CHECK(parsed->registry.next_uid == 20002);
    REQUIRE(parsed->registry.users.size() == 2);
    CHECK(parsed->registry.users[0] == registry.users[1]);
    CHECK(parsed->registry.users[1] == registry.users[0]);
    CHECK(parsed->mac == registry_signature(registry, k_pool_key));
    CHECK(verify_registry_file(*parsed, *keys_of(k_pool_key)).trust == RegistryTrust::Verified);
    CHECK(render_registry_file(parsed->registry, k_pool_key) == text);
}

TEST_CASE("registry format: any change without the key fails the signature", "[registry]") {
    const std::string text = render_registry_file(sample(), k_pool_key);
    // Given each edit a writer of the share could make, we expect the signature to fail.
    const std::vector<std::pair<std::string, std::string>> edits = {
        {"\"sudo\": false", "\"sudo\": true"},         // give bob sudo
        {"\"datasci\"", "\"sudo\""},                   // a group
        {"\"uid\": 20001", "\"uid\": 20005"},          // a UID
        {"\"deleted\": true", "\"deleted\": false"},   // undelete
        {"\"generation\": 42", "\"generation\": 43"},  // a newer generation
        {"\"nextUid\": 20002", "\"nextUid\": 20000"},  // free UIDs again
        {"$6$salt$hash", "$6$evil$hash"},              // a password
        {"alice@work", "mallory@laptop"},              // a key
        {"\"passwordHash\": \"$6$salt$hash\",",
         "\"extra\": 1,\n      \"passwordHash\": \"$6$salt$hash\","},
    };
    for (const auto& [from, to] : edits) {
        INFO(from << " -> " << to);
        CHECK(verify(edited(text, from, to), k_pool_key).trust == RegistryTrust::BadSignature);
    }
    // A new entry, and a removed one.
    auto document = nlohmann::json::parse(text);
    auto added = document;
    added["registry"]["users"].push_back({{"name", "mallory"}, {"uid", 20009}, {"sudo", true}});
    CHECK(verify(added.dump(), k_pool_key).trust == RegistryTrust::BadSignature);
    auto removed = document;
    removed["registry"]["users"].erase(0);
    CHECK(verify(removed.dump(), k_pool_key).trust == RegistryTrust::BadSignature);
    // A signature of the attacker's own making, with a key the pool does not hold.
    Registry forged = sample();
    forged.users[0].sudo = true;
    CHECK(verify(render_registry_file(forged, k_other_key), k_pool_key).trust ==
          RegistryTrust::UnknownKey);
    // ... even when it claims the pool key's id.
    CHECK(verify(edited(render_registry_file(forged, k_other_key), registry_key_id(k_other_key),
                        registry_key_id(k_pool_key)),
                 k_pool_key)
              .trust == RegistryTrust::BadSignature);
}

TEST_CASE("registry format: layout is not content", "[registry]") {
    // Given the same registry re-serialised (keys reordered, no indentation), we expect it to
    // verify: what is signed is the value, not the bytes.
    const std::string text = render_registry_file(sample(), k_pool_key);
    const auto compact = nlohmann::json::parse(text).dump();
    CHECK(verify(compact, k_pool_key).trust == RegistryTrust::Verified);
    const auto wide = nlohmann::json::parse(text).dump(8);
    CHECK(verify(wide, k_pool_key).trust == RegistryTrust::Verified);
}

TEST_CASE("registry format: the previous key verifies during a rotation", "[registry]") {
    const std::string text = render_registry_file(sample(), k_other_key);
    const Verification old_key = verify(text, k_pool_key, k_other_key);
    CHECK(old_key.trust == RegistryTrust::Verified);
    CHECK(old_key.previous_key);
    CHECK(verify(text, k_pool_key).trust == RegistryTrust::UnknownKey);
    const Verification current =
        verify(render_registry_file(sample(), k_pool_key), k_pool_key, k_other_key);
    CHECK(current.trust == RegistryTrust::Verified);
    CHECK_FALSE(current.previous_key);
}

TEST_CASE("registry format: version 1 is read, never trusted", "[registry]") {
    const std::string v1 = R"({"version": 1, "generation": 7, "users": [
        {"name": "alice", "uid": 20000, "gid": 20000, "sudo": true}]})";
    auto file = parse_registry_file(v1);
    REQUIRE(file.ok());
    CHECK(file->version == 1);
    CHECK(file->registry.generation == 7);
    REQUIRE(file->registry.users.size() == 1);
    const Verification verification = verify_registry_file(*file, *keys_of(k_pool_key));
    CHECK(verification.trust == RegistryTrust::Unsigned);
    const std::string problem = trust_problem(verification, *file, *keys_of(k_pool_key),
                                              "/share/.dsvm-agent/registry.json");
    CHECK_THAT(problem, Catch::StartsWith("registry refused: pool registry /share/") &&
                            Catch::Contains("is not signed") &&
                            Catch::Contains("dsvm-agent registry sign"));
    CHECK(problem.find('\n') == std::string::npos);
}

TEST_CASE("registry format: every refusal is one line naming the fix", "[registry]") {
    const auto keys = keys_of(k_pool_key);
    auto unknown = parse_registry_file(render_registry_file(sample(), k_other_key));
    REQUIRE(unknown.ok());
    const std::string unknown_problem =
        trust_problem(verify_registry_file(*unknown, *keys), *unknown, *keys, "/s/registry.json");
    CHECK_THAT(unknown_problem,
               Catch::Contains("signed with registry key " + registry_key_id(k_other_key)) &&
                   Catch::Contains("it holds " + registry_key_id(k_pool_key)));
    auto bad = parse_registry_file(
        edited(render_registry_file(sample(), k_pool_key), "\"sudo\": false", "\"sudo\": true"));
    REQUIRE(bad.ok());
    const std::string bad_problem =
        trust_problem(verify_registry_file(*bad, *keys), *bad, *keys, "/s/registry.json");
    CHECK_THAT(bad_problem, Catch::Contains("fails its signature check") &&
                                Catch::Contains("nothing is applied"));
}

TEST_CASE("registry format: parse errors name the field", "[registry]") {
    const std::string head = R"({"version": 2, "keyId": "0123456789abcdef", "hmacSha256": ")" +
                             std::string(64, 'a') + R"(", "registry": )";
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"{\"version\": 1,", "not valid JSON"},
        {"[]", "must be a JSON object"},
        {R"({"generation": 0, "users": []})", "version is missing"},
        {R"({"version": 3, "generation": 0, "users": []})", "version 3 is not supported"},
        {R"({"version": 1, "users": []})", "generation is missing"},
        {R"({"version": 1, "generation": -1, "users": []})", "generation must be"},
        {R"({"version": 1, "generation": 0})", "users is missing"},
        {R"({"version": 1, "generation": 0, "users": {}})", "users must be a list"},
        {R"({"version": 1, "generation": 0, "users": [{"uid": 20000}]})",
         "users[0].name is missing"},
        {R"({"version": 1, "generation": 0, "users": [{"name": "alice", "uid": "20000"}]})",
         "users[0] ('alice').uid must be an integer from 0 to 4294967295, not \"20000\""},
        {R"({"version": 1, "generation": 0, "users": [{"name": "a", "uid": 1, "groups": [1]}]})",
         "users[0] ('a').groups must be a list of at most 64 strings"},
        {R"({"version": 1, "generation": 0, "users": [{"name": "a", "uid": 1, "deleted": 0}]})",
         "users[0] ('a').deleted must be true or false"},
        {R"({"version": 1, "generation": 0, "users": [{"name": "a\u0001", "uid": -1}]})",
         "users[0] ('a\\x01').uid"},
        {R"({"version": 2, "hmacSha256": "x", "registry": {}})", "keyId is missing"},
        {R"({"version": 2, "keyId": "XYZ", "hmacSha256": "x", "registry": {}})",
         "keyId must be 16 lower-case hex digits"},
        {R"({"version": 2, "keyId": "0123456789abcdef", "hmacSha256": "x", "registry": {}})",
         "hmacSha256 must be 64 lower-case hex digits"},
        {head + "[]}", "registry must be an object"},
        {head + R"({"users": []}})", "registry.generation is missing"},
        {head + R"({"generation": 1, "nextUid": -1, "users": []}})", "registry.nextUid must be"},
        {head + R"({"generation": 1, "users": [{"name": "a"}]}})",
         "registry: users[0] ('a').uid is missing"},
    };
    for (const auto& [text, expected] : cases) {
        INFO("text: " << text);
        const auto parsed = parse_registry_file(text);
        REQUIRE_FALSE(parsed.ok());
        CHECK(parsed.error().kind == ErrorKind::Runtime);
        CHECK_THAT(parsed.error().message, Catch::Contains(expected));
    }
}

TEST_CASE("registry format: a deeply nested or huge file is refused, not followed down",
          "[registry]") {
    // 200,000 levels: nlohmann parses it iteratively, but copying or printing it would recurse
    // once per level and overflow the stack.
    const std::string deep = R"({"version": 1, "generation": 0, "users": [)" +
                             std::string(200000, '[') + std::string(200000, ']') + "]}";
    const auto parsed = parse_registry_file(deep);
    REQUIRE_FALSE(parsed.ok());
    CHECK_THAT(parsed.error().message, Catch::Contains("nested 200002 levels deep"));

    const std::string huge(k_max_registry_bytes + 1, ' ');
    const auto big = parse_registry_file(huge);
    REQUIRE_FALSE(big.ok());
    CHECK_THAT(big.error().message, Catch::Contains("bytes long; at most"));
}

TEST_CASE("registry format: unknown keys from a newer agent are tolerated", "[registry]") {
    const auto parsed = parse_registry_file(R"({
        "version": 1, "generation": 3, "writtenBy": "dsvm-agent 9.0",
        "users": [{"name": "alice", "uid": 20000, "gid": 20000, "shell": "/bin/zsh",
                   "quota": {"gb": 10}, "sudo": true}]
    })");
    REQUIRE(parsed.ok());
    REQUIRE(parsed->registry.users.size() == 1);
    CHECK(parsed->registry.users[0].sudo);
    // In a signed registry they are signed too, and still verify.
    auto document = nlohmann::json::parse(render_registry_file(sample(), k_pool_key));
    document["registry"]["writtenBy"] = "dsvm-agent 9.0";
    auto body = document["registry"];
    document["hmacSha256"] = hmac_sha256_hex(k_pool_key, "dsvm-agent registry 2\n" + body.dump());
    CHECK(verify(document.dump(), k_pool_key).trust == RegistryTrust::Verified);
}
