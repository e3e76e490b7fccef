// The extension handler's parts on canned text and in-memory keys: HandlerEnvironment.json,
// settings selection, settings files, base64, the protected settings' plaintext, the status
// document, the record, CMS decryption, service control through a recording runner, and the
// files an enable keeps in memory while it replaces them.
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <fcntl.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <ctime>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/fs.h"
#include "extension/crypto_posix.h"
#include "extension/files.h"
#include "extension/handler.h"
#include "extension/record.h"
#include "extension/settings.h"
#include "extension/status.h"
#include "extension/systemd_service.h"
#include "support/cms_identity.h"
#include "support/fake_clock.h"
#include "support/recording_runner.h"
#include "support/sandbox.h"

using namespace dsvm;
using namespace dsvm::extension;
using namespace dsvm::test;
using nlohmann::json;

namespace {

RecipientKeys keys_of(const Identity& identity) {
    RecipientKeys keys;
    keys.certificate_name = "/var/lib/waagent/" + identity.thumbprint + ".crt";
    keys.certificate_pem = identity.certificate_pem;
    keys.key_name = "/var/lib/waagent/" + identity.thumbprint + ".prv";
    keys.key_pem = SecretBytes(identity.key_pem.size());
    keys.key_pem.append(identity.key_pem);
    return keys;
}

const std::string k_key =
    "Xk9pQ2wE7rT4yU1iO8aS5dF3gH6jK0lZ2xC4vB7nM9qW1eR3tY5uI8oP0aS2dF4gH6jK8lZ0xC2vB4nM6qW8eR1"
    "==";

// Pool registry keys as `openssl rand -base64 32` makes them.
const std::string k_registry_key = "q3Vt8xYzR2m9Lk4Jp7Hn1Bw6Cf0Dg5Ea+Sb/Tc2Ud8E=";
const std::string k_previous_registry_key = "Zr7Wq1Xe4Ny8Mu2Ko6Pi0Lj3Hh9Gg5Ff+Dd/Ss1Aa2B=";

const std::string k_environment = R"([{
  "name": "Microsoft.DSVM.DsvmAgent",
  "version": 1.0,
  "handlerEnvironment": {
    "logFolder": "/var/log/azure/Microsoft.DSVM.DsvmAgent",
    "configFolder": "/var/lib/waagent/Microsoft.DSVM.DsvmAgent-1.0/config",
    "statusFolder": "/var/lib/waagent/Microsoft.DSVM.DsvmAgent-1.0/status",
    "heartbeatFile": "/var/lib/waagent/Microsoft.DSVM.DsvmAgent-1.0/heartbeat.log",
    "eventsFolder": "/var/log/azure/Microsoft.DSVM.DsvmAgent/events"
  }
}])";

// Records every systemctl command and answers with a fixed result.
using FakeRunner = RecordingRunner;

using Commands = std::vector<std::vector<std::string>>;

// run_extension as the Linux exe runs it for a sandbox root: the root's units changed offline.
int run_offline(const Root& root, const ExtensionRequest& request, ProcessRunner& runner,
                Clock& clock) {
    SystemdService service({root, true}, runner);
    return run_extension(root, request, {service, clock, decrypt_protected_settings, nullptr});
}

}  // namespace

TEST_CASE("extension: HandlerEnvironment.json gives the guest agent's folders", "[extension]") {
    const auto parsed = parse_handler_environment(k_environment);
    REQUIRE(parsed.ok());
    CHECK(parsed->name == "Microsoft.DSVM.DsvmAgent");
    CHECK(parsed->config_folder == "/var/lib/waagent/Microsoft.DSVM.DsvmAgent-1.0/config");
    CHECK(parsed->status_folder == "/var/lib/waagent/Microsoft.DSVM.DsvmAgent-1.0/status");
    CHECK(parsed->log_folder == "/var/log/azure/Microsoft.DSVM.DsvmAgent");
    CHECK(parsed->heartbeat_file == "/var/lib/waagent/Microsoft.DSVM.DsvmAgent-1.0/heartbeat.log");

    // Given only the required folders, we expect no log folder rather than an error.
    const auto minimal = parse_handler_environment(
        R"([{"handlerEnvironment": {"configFolder": "/c", "statusFolder": "/s"}}])");
    REQUIRE(minimal.ok());
    CHECK(minimal->log_folder.empty());
    CHECK(minimal->name.empty());
}

TEST_CASE("extension: a broken HandlerEnvironment.json names the field and the rule",
          "[extension]") {
    const auto message = [](std::string_view text) {
        const auto parsed = parse_handler_environment(text);
        REQUIRE_FALSE(parsed.ok());
        CHECK(parsed.error().kind == ErrorKind::Invalid);
        return parsed.error().message;
    };
    CHECK_THAT(message("{"), Catch::Contains("not valid JSON"));
    CHECK_THAT(message(R"({"handlerEnvironment": {}})"), Catch::Contains("JSON array"));
    CHECK_THAT(message("[]"), Catch::Contains("JSON array"));
    CHECK_THAT(message(R"([{"name": "x"}])"), Catch::Contains("handlerEnvironment is missing"));
    CHECK_THAT(message(R"([{"handlerEnvironment": {"configFolder": "/c"}}])"),
               Catch::Contains("statusFolder is missing"));
    CHECK_THAT(
        message(R"([{"handlerEnvironment": {"configFolder": "config", "statusFolder": "/s"}}])"),
        Catch::Contains("configFolder 'config' must be an absolute path"));
    CHECK_THAT(message(R"([{"handlerEnvironment": {"configFolder": "/c", "statusFolder": "/s",
                           "logFolder": 3}}])"),
               Catch::Contains("logFolder: expected a string"));
}

TEST_CASE("extension: the sequence number comes from the environment, else the highest file",
          "[extension]") {
    const std::vector<std::string> names{
        ".",          "..",           "0.settings", "10.settings",
        "9.settings", "HandlerState", "x.settings", "11.settings.bak",
        ".settings"};
    const auto highest = choose_settings(std::nullopt, names);
    REQUIRE(highest.ok());
    REQUIRE(highest->has_value());
    CHECK(**highest == SettingsChoice{10, "10.settings"});

    // The environment wins even over higher-numbered files, and even when its file is missing:
    // the guest agent said which settings this command is for.
    const auto from_env = choose_settings(std::string("3"), names);
    REQUIRE(from_env.ok());
    CHECK(**from_env == SettingsChoice{3, "3.settings"});

    const auto none = choose_settings(std::nullopt, {"HandlerState", "x.settings"});
    REQUIRE(none.ok());
    CHECK_FALSE(none->has_value());

    for (const char* bad : {"", "-1", "1.5", "3 ", "abc", "1234567890123456789"}) {
        const auto refused = choose_settings(std::string(bad), names);
        REQUIRE_FALSE(refused.ok());
        CHECK(refused.error().kind == ErrorKind::Invalid);
        CHECK_THAT(refused.error().message, Catch::Contains("ConfigSequenceNumber"));
    }
}

TEST_CASE("extension: a settings file gives public settings, protected data and thumbprint",
          "[extension]") {
    const std::string thumbprint(40, 'A');
    const auto parsed = parse_settings(R"({"runtimeSettings": [{"handlerSettings": {
        "publicSettings": {"share": {"source": "//acct.file.core.windows.net/s"}},
        "protectedSettings": "MIIB",
        "protectedSettingsCertThumbprint": ")" +
                                       thumbprint + R"("}}]})");
    REQUIRE(parsed.ok());
    CHECK(parsed->public_settings["share"]["source"] == "//acct.file.core.windows.net/s");
    CHECK(parsed->protected_settings == "MIIB");
    CHECK(parsed->thumbprint == thumbprint);

    // Given no settings at all (an extension deployed without any), we expect an empty config.
    const auto empty = parse_settings(R"({"runtimeSettings": [{"handlerSettings": {
        "publicSettings": null}}]})");
    REQUIRE(empty.ok());
    CHECK(empty->public_settings == json::object());
    CHECK(empty->protected_settings.empty());
}

TEST_CASE("extension: a broken settings file names what is wrong", "[extension]") {
    const auto message = [](const std::string& handler_settings) {
        const auto parsed = parse_settings(R"({"runtimeSettings": [{"handlerSettings": )" +
                                           handler_settings + "}]}");
        REQUIRE_FALSE(parsed.ok());
        CHECK(parsed.error().kind == ErrorKind::Invalid);
        return parsed.error().message;
    };
    CHECK_THAT(message(R"({"publicSettings": "share=x"})"),
               Catch::Contains("publicSettings: expected an object"));
    CHECK_THAT(message(R"({"protectedSettings": 5})"),
               Catch::Contains("protectedSettings: expected a string"));
    CHECK_THAT(message(R"({"protectedSettings": "MIIB"})"),
               Catch::Contains("protectedSettingsCertThumbprint is missing"));
    CHECK_THAT(message(R"({"protectedSettings": "MIIB",
                          "protectedSettingsCertThumbprint": "../../etc/shadow"})"),
               Catch::Contains("must be 40 or 64 hexadecimal digits"));
    CHECK_THAT(message("[]"), Catch::Contains("handlerSettings is missing"));
    CHECK_FALSE(parse_settings("{}").ok());
    CHECK_FALSE(parse_settings("not json").ok());
}

TEST_CASE("extension: base64 decodes the RFC 4648 vectors and refuses what is not base64",
          "[extension]") {
    CHECK(*base64_decode("Zg==") == "f");
    CHECK(*base64_decode("Zm8=") == "fo");
    CHECK(*base64_decode("Zm9v") == "foo");
    CHECK(*base64_decode("Zm9vYg==") == "foob");
    CHECK(*base64_decode("Zm9vYmE=") == "fooba");
    CHECK(*base64_decode("Zm9vYmFy") == "foobar");
    CHECK(*base64_decode(" Zm9v\r\nYmFy\n") == "foobar");

    std::mt19937 random(42);
    for (size_t length : {1u, 2u, 3u, 100u, 1000u}) {
        std::string bytes(length, '\0');
        for (auto& byte : bytes) {
            byte = static_cast<char>(random() & 0xFF);
        }
        const auto decoded = base64_decode(base64_encode(bytes));
        REQUIRE(decoded.ok());
        CHECK(*decoded == bytes);
    }

    const auto message = [](std::string_view text) {
        const auto decoded = base64_decode(text);
        REQUIRE_FALSE(decoded.ok());
        CHECK(decoded.error().kind == ErrorKind::Invalid);
        return decoded.error().message;
    };
    CHECK_THAT(message("Zm9v!mFy"), Catch::Contains("unexpected character '!'"));
    CHECK_THAT(message("Zm9vY"), Catch::Contains("not a multiple of 4"));
    CHECK_THAT(message("Z==="), Catch::Contains("misplaced '=' padding"));
    CHECK_THAT(message("Zg==Zm9v"), Catch::Contains("data after '=' padding"));
    CHECK_THAT(message(""), Catch::Contains("empty"));
}

TEST_CASE("extension: the protected settings' plaintext gives the key, escapes undone",
          "[extension]") {
    const auto parsed = parse_protected_settings(R"({"storageAccountKey": ")" + k_key + "\"}");
    REQUIRE(parsed.ok());
    REQUIRE(parsed->storage_key);
    CHECK(parsed->storage_key->view() == k_key);

    // .NET serialisers escape '+' and '/'; a BOM and whitespace are allowed around the object.
    const auto escaped = parse_protected_settings(
        "\xEF\xBB\xBF\n { \"storageAccountKey\" : \"ab\\u002Bcd\\/ef\\u00e9\\ud83d\\ude00\" } \n");
    REQUIRE(escaped.ok());
    CHECK(escaped->storage_key->view() == "ab+cd/ef\xC3\xA9\xF0\x9F\x98\x80");

    const auto empty = parse_protected_settings("{}");
    REQUIRE(empty.ok());
    CHECK_FALSE(empty->storage_key);
}

TEST_CASE("extension: protected settings that are not the expected JSON are refused unseen",
          "[extension]") {
    const std::string secret = "S3cr3tValue";
    const auto message = [&](const std::string& text) {
        const auto parsed = parse_protected_settings(text);
        REQUIRE_FALSE(parsed.ok());
        CHECK(parsed.error().kind == ErrorKind::Invalid);
        CHECK_THAT(parsed.error().message, !Catch::Contains(secret));
        return parsed.error().message;
    };
    CHECK_THAT(message("storageAccountKey=" + secret), Catch::Contains("not a JSON object"));
    CHECK_THAT(message(R"({"storageAccountKey": ")" + secret), Catch::Contains("not terminated"));
    CHECK_THAT(message(R"({"storageAccountKey": ")" + secret + R"("} trailing)"),
               Catch::Contains("text follows the object"));
    CHECK_THAT(message(R"({"storageAccountKey": ")" + secret + R"(\q"})"),
               Catch::Contains("unknown escape"));
    CHECK_THAT(message(R"({"storageAccountKey": ")" + secret + R"(\ud83d"})"),
               Catch::Contains("surrogate"));
    CHECK_THAT(message(R"({"storageAccountKey": ")" + secret + "\n\"}"),
               Catch::Contains("control character"));
    CHECK_THAT(message(R"({"storageAccountKey": 12})"), Catch::Contains("expected a string"));
    // An unknown key is still refused, and the message lists every key the settings may hold.
    CHECK_THAT(message(R"({"storageAccountName": ")" + secret + R"("})"),
               Catch::Contains("unknown key 'storageAccountName'") &&
                   Catch::Contains("storageAccountKey, registryKey and previousRegistryKey"));
    CHECK_THAT(message(R"({"storageAccountKey": "a", "storageAccountKey": "b"})"),
               Catch::Contains("appears twice"));
    CHECK_THAT(message(R"({"registryKey": ")" + k_registry_key + R"(", "registryKey": ")" +
                       k_previous_registry_key + R"("})"),
               Catch::Contains("registryKey appears twice"));
    CHECK_THAT(message(R"({"registryKey": ")" + k_registry_key + R"(", "previousRegistryKey": ")" +
                       k_previous_registry_key + R"(", "previousRegistryKey": ")" +
                       k_previous_registry_key + R"("})"),
               Catch::Contains("previousRegistryKey appears twice"));
    CHECK_THAT(message(R"({"registryKey": 12})"),
               Catch::Contains("registryKey: expected a string"));
    CHECK_THAT(message(R"({"storageAccountKey": "a" "x": 1})"), Catch::Contains("no ',' or '}'"));
}

TEST_CASE("extension: the protected settings give the registry keys beside the storage key",
          "[extension]") {
    const auto all = parse_protected_settings(
        R"({"storageAccountKey": ")" + k_key + R"(", "registryKey": ")" + k_registry_key +
        R"(", "previousRegistryKey": ")" + k_previous_registry_key + "\"}");
    REQUIRE(all.ok());
    REQUIRE(all->storage_key);
    CHECK(all->storage_key->view() == k_key);
    REQUIRE(all->registry_key);
    CHECK(all->registry_key->view() == k_registry_key);
    REQUIRE(all->previous_registry_key);
    CHECK(all->previous_registry_key->view() == k_previous_registry_key);

    // Given only a registry key (an NFS share takes no storage key), we expect just that one;
    // escapes are undone in it as in the storage key.
    std::string escaped = k_registry_key;
    escaped.replace(escaped.find('+'), 1, "\\u002B");
    escaped.replace(escaped.find('/'), 1, "\\/");
    const auto alone = parse_protected_settings(R"({"registryKey": ")" + escaped + "\"}");
    REQUIRE(alone.ok());
    CHECK_FALSE(alone->storage_key);
    REQUIRE(alone->registry_key);
    CHECK(alone->registry_key->view() == k_registry_key);
    CHECK_FALSE(alone->previous_registry_key);

    // An empty previousRegistryKey is none: the template passes its optional parameter always.
    const auto no_previous = parse_protected_settings(R"({"registryKey": ")" + k_registry_key +
                                                      R"(", "previousRegistryKey": ""})");
    REQUIRE(no_previous.ok());
    REQUIRE(no_previous->registry_key);
    CHECK_FALSE(no_previous->previous_registry_key);
}

TEST_CASE("extension: a registry key that breaks its rule is refused without showing it",
          "[extension]") {
    // given registry keys that break the rule (32 to 256 printable ASCII characters, no spaces),
    // we expect Invalid naming the field and the rule, and no part of the key in the message
    const std::string with_space = "S3cr3tHalfOfAKey0123456789 abcdefOtherHalf0123456789";
    const std::string with_accent = "S3cr3tRegistryKey0123456789abcdef\\u00e9";
    const std::string short_key = "S3cr3tShortKey";
    const auto message = [&](const std::string& text) {
        const auto parsed = parse_protected_settings(text);
        REQUIRE_FALSE(parsed.ok());
        CHECK(parsed.error().kind == ErrorKind::Invalid);
        for (const std::string& shown : {k_registry_key, k_previous_registry_key, short_key,
                                         std::string("S3cr3t"), std::string("OtherHalf")}) {
            CHECK_THAT(parsed.error().message, !Catch::Contains(shown));
        }
        return parsed.error().message;
    };
    const auto registry_only = [](const std::string& key) {
        return R"({"registryKey": ")" + key + "\"}";
    };
    CHECK_THAT(message(registry_only(short_key)),
               Catch::Contains("registryKey: the registry key is 14 characters long") &&
                   Catch::Contains("openssl rand -base64 32"));
    CHECK_THAT(message(registry_only(std::string(257, 'k'))),
               Catch::Contains("257 characters long"));
    CHECK_THAT(message(registry_only(with_space)),
               Catch::Contains("registryKey: the registry key contains a space"));
    CHECK_THAT(message(registry_only(with_accent)), Catch::Contains("non-ASCII"));
    CHECK_THAT(message(R"({"registryKey": ")" + k_registry_key + R"(", "previousRegistryKey": ")" +
                       short_key + R"("})"),
               Catch::Contains("previousRegistryKey: the registry key is 14 characters long"));

    // A previous key alone has no current key to go with it, and a previous key that is the
    // current one is a rotation gone wrong: registries signed with the old key would not verify.
    CHECK_THAT(message(R"({"previousRegistryKey": ")" + k_previous_registry_key + R"("})"),
               Catch::Contains("previousRegistryKey without registryKey"));
    CHECK_THAT(message(R"({"registryKey": ")" + k_registry_key + R"(", "previousRegistryKey": ")" +
                       k_registry_key + R"("})"),
               Catch::Contains("previousRegistryKey is the same key as registryKey"));
}

TEST_CASE("extension: the status document has the guest agent's shape", "[extension]") {
    ExtensionStatus status;
    status.name = "Microsoft.DSVM.DsvmAgent";
    status.operation = "Enable";
    status.status = HandlerStatus::Error;
    status.code = 2;
    status.message = std::string(10000, 'm');
    for (int i = 0; i < 20; ++i) {
        status.substatus.push_back({"step " + std::to_string(i), HandlerStatus::Success, "done"});
    }
    status.substatus[1].status = HandlerStatus::Warning;
    const json document = status_document(status, "2026-11-27T11:10:27Z");
    REQUIRE(document.is_array());
    REQUIRE(document.size() == 1);
    CHECK(document[0]["version"] == 1.0);
    CHECK(document[0]["timestampUTC"] == "2026-11-27T11:10:27Z");
    const json& inner = document[0]["status"];
    CHECK(inner["name"] == "Microsoft.DSVM.DsvmAgent");
    CHECK(inner["operation"] == "Enable");
    CHECK(inner["status"] == "error");
    CHECK(inner["code"] == 2);
    CHECK(inner["formattedMessage"]["lang"] == "en-US");
    CHECK(inner["formattedMessage"]["message"].get<std::string>().size() == 4096);
    REQUIRE(inner["substatus"].size() == 16);
    CHECK(inner["substatus"][0]["name"] == "step 0");
    CHECK(inner["substatus"][0]["status"] == "success");
    CHECK(inner["substatus"][1]["status"] == "warning");
    CHECK(inner["substatus"][0]["formattedMessage"]["message"] == "done");
    CHECK(document.dump().size() < 128 * 1024);

    CHECK(to_string(HandlerStatus::Transitioning) == "transitioning");
    CHECK(to_string(HandlerStatus::Success) == "success");
}

TEST_CASE("extension: the status file is written atomically as <seq>.status", "[extension]") {
    test::Sandbox sandbox;
    ExtensionStatus status;
    status.status = HandlerStatus::Success;
    status.message = "ok";
    REQUIRE(write_status(sandbox.path("status"), 7, status, "2026-11-27T11:10:27Z").ok());
    const json document = json::parse(sandbox.read("status/7.status"));
    CHECK(document[0]["status"]["status"] == "success");
    CHECK(test::mode_of(sandbox.path("status/7.status")) == 0644);
}

TEST_CASE("extension: the record round-trips and a damaged one is an error", "[extension]") {
    ExtensionRecord record;
    record.config_file = "/etc/dsvm-agent/pool.json";
    record.config_sha256 = sha256_hex("{}\n");
    record.credentials = {"acct", "other"};
    record.registry_keys = {"/etc/dsvm-agent/credentials/registry.key",
                            "/etc/dsvm-agent/credentials/registry.previous.key"};
    const auto parsed = parse_record(render_record(record), "extension.json");
    REQUIRE(parsed.ok());
    CHECK(*parsed == record);
    CHECK_THAT(render_record(record), Catch::Contains("registryKeys"));

    // A record written before enable stored registry keys lists none.
    const auto earlier = parse_record(
        R"({"version": 1, "poolConfig": null, "credentials": ["acct"]})", "extension.json");
    REQUIRE(earlier.ok());
    CHECK(earlier->registry_keys.empty());

    CHECK(parse_record(render_record(ExtensionRecord{}), "x").ok());
    for (const char* damaged :
         {"nope", "[]", R"({"version": 2})", R"({"version": "1"})",
          R"({"version": 1, "credentials": ["../../etc/shadow"]})",
          R"({"version": 1, "registryKeys": ["/etc/shadow"]})",
          R"({"version": 1, "registryKeys": "/etc/dsvm-agent/credentials/registry.key"})",
          R"({"version": 1, "poolConfig": {"path": "relative", "sha256": "x"}})"}) {
        const auto refused = parse_record(damaged, "extension.json");
        REQUIRE_FALSE(refused.ok());
        CHECK_THAT(refused.error().message, Catch::Contains("extension.json is damaged"));
    }
}

TEST_CASE("extension: CMS round trip through the VM's certificate", "[extension][cms]") {
    const Identity& vm = vm_identity();
    const std::string plaintext = R"({"storageAccountKey": ")" + k_key + "\"}";
    const auto decrypted = cms_decrypt(encrypt_for(vm, plaintext), keys_of(vm));
    REQUIRE(decrypted.ok());
    CHECK(decrypted->view() == plaintext);

    const auto thumbprint =
        certificate_thumbprint(vm.certificate_pem, ThumbprintDigest::Sha1, "vm.crt");
    REQUIRE(thumbprint.ok());
    CHECK(*thumbprint == vm.thumbprint);
    const auto sha256 =
        certificate_thumbprint(vm.certificate_pem, ThumbprintDigest::Sha256, "vm.crt");
    REQUIRE(sha256.ok());
    CHECK(sha256->size() == 64);
    CHECK_FALSE(certificate_thumbprint("not a certificate", ThumbprintDigest::Sha1, "vm.crt").ok());
}

TEST_CASE("extension: CMS data for another certificate, or damaged, is refused",
          "[extension][cms]") {
    const Identity& vm = vm_identity();
    const Identity& other = other_identity();
    const std::string der = encrypt_for(other, R"({"storageAccountKey": "abc"})");

    const auto not_for_us = cms_decrypt(der, keys_of(vm));
    REQUIRE_FALSE(not_for_us.ok());
    CHECK(not_for_us.error().kind == ErrorKind::Runtime);
    CHECK_THAT(not_for_us.error().message, Catch::Contains("not encrypted for the certificate"));

    // The right certificate with the wrong private key.
    RecipientKeys mismatched = keys_of(other);
    mismatched.key_pem = SecretBytes(vm.key_pem.size());
    mismatched.key_pem.append(vm.key_pem);
    const auto wrong_key = cms_decrypt(der, mismatched);
    REQUIRE_FALSE(wrong_key.ok());
    CHECK_THAT(wrong_key.error().message, Catch::Contains("does not belong to the certificate"));

    const auto truncated = cms_decrypt(der.substr(0, der.size() / 2), keys_of(other));
    REQUIRE_FALSE(truncated.ok());
    CHECK(truncated.error().kind == ErrorKind::Invalid);
    CHECK_THAT(truncated.error().message, Catch::Contains("not CMS data"));

    // A flipped byte in the encrypted content: it decrypts to garbage or not at all, never to
    // the original plaintext.
    std::string flipped = der;
    flipped[flipped.size() - 20] = static_cast<char>(flipped[flipped.size() - 20] ^ 0x5A);
    const auto corrupted = cms_decrypt(flipped, keys_of(other));
    if (corrupted.ok()) {
        CHECK_FALSE(parse_protected_settings(corrupted->view()).ok());
    } else {
        CHECK_THAT(corrupted.error().message, Catch::Contains("cannot decrypt"));
    }

    RecipientKeys no_key = keys_of(other);
    no_key.key_pem = SecretBytes(5);
    no_key.key_pem.append("junk!");
    const auto unreadable = cms_decrypt(der, no_key);
    REQUIRE_FALSE(unreadable.ok());
    CHECK_THAT(unreadable.error().message, Catch::Contains("holds no unencrypted PEM private key"));
}

TEST_CASE("extension: decryption finds the certificate files by thumbprint under the root",
          "[extension][cms]") {
    const Identity& vm = vm_identity();
    test::Sandbox sandbox;
    const Root root(sandbox.path());
    const std::string der = encrypt_for(vm, "{}");

    const auto missing = decrypt_protected_settings(root, vm.thumbprint, der);
    REQUIRE_FALSE(missing.ok());
    CHECK_THAT(missing.error().message,
               Catch::Contains("no certificate /var/lib/waagent/" + vm.thumbprint + ".crt"));

    sandbox.write("var/lib/waagent/" + vm.thumbprint + ".crt", vm.certificate_pem);
    const auto no_key = decrypt_protected_settings(root, vm.thumbprint, der);
    REQUIRE_FALSE(no_key.ok());
    CHECK_THAT(no_key.error().message, Catch::Contains("no private key"));

    sandbox.write("var/lib/waagent/" + vm.thumbprint + ".prv", vm.key_pem, 0600);
    // A lowercase thumbprint in the settings finds the guest agent's uppercase files.
    std::string lower = vm.thumbprint;
    for (auto& c : lower) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    const auto decrypted = decrypt_protected_settings(root, lower, der);
    REQUIRE(decrypted.ok());
    CHECK(decrypted->view() == "{}");

    // A certificate file whose content is another certificate.
    const Identity& other = other_identity();
    sandbox.write("var/lib/waagent/" + other.thumbprint + ".crt", vm.certificate_pem);
    sandbox.write("var/lib/waagent/" + other.thumbprint + ".prv", vm.key_pem, 0600);
    const auto swapped = decrypt_protected_settings(root, other.thumbprint, der);
    REQUIRE_FALSE(swapped.ok());
    CHECK_THAT(swapped.error().message, Catch::Contains("has thumbprint " + vm.thumbprint));
}

TEST_CASE("extension: SecretBytes never grows and moves its bytes", "[extension]") {
    SecretBytes bytes(4);
    CHECK(bytes.append("abc"));
    CHECK_FALSE(bytes.append("de"));
    CHECK(bytes.push_back('d'));
    CHECK_FALSE(bytes.push_back('e'));
    CHECK(bytes.view() == "abcd");
    SecretBytes moved(std::move(bytes));
    CHECK(moved.view() == "abcd");
    CHECK(bytes.empty());  // NOLINT(bugprone-use-after-move): the move leaves it empty
}

TEST_CASE("extension: enable starts or reloads the running service", "[extension][service]") {
    test::Sandbox sandbox;
    sandbox.write("lib/systemd/system/dsvm-agent.service", "[Service]\n");
    // A sandbox that stands for the running system: the runner is a fake, so nothing reaches
    // the host's systemd.
    const ServiceTarget online{Root(sandbox.path()), false};

    FakeRunner changed;
    const auto reloaded = SystemdService(online, changed).start(ConfigChange::Changed);
    REQUIRE(reloaded.ok());
    CHECK(changed.commands_ran ==
          Commands{{"/bin/systemctl", "enable", "--quiet", "dsvm-agent.service"},
                   {"/bin/systemctl", "--no-block", "reload-or-restart", "dsvm-agent.service"}});
    CHECK_THAT(*reloaded, Catch::Contains("reloaded"));

    FakeRunner unchanged;
    REQUIRE(SystemdService(online, unchanged).start(ConfigChange::None).ok());
    CHECK(unchanged.commands_ran ==
          Commands{{"/bin/systemctl", "enable", "--quiet", "dsvm-agent.service"},
                   {"/bin/systemctl", "--no-block", "start", "dsvm-agent.service"}});

    FakeRunner stopping;
    REQUIRE(SystemdService(online, stopping).stop().ok());
    CHECK(stopping.commands_ran ==
          Commands{{"/bin/systemctl", "disable", "--now", "--quiet", "dsvm-agent.service"}});
}

TEST_CASE("extension: in a sandbox root the service is only enabled offline",
          "[extension][service]") {
    test::Sandbox sandbox;
    const ServiceTarget offline{Root(sandbox.path()), true};

    FakeRunner absent;
    const auto skipped = SystemdService(offline, absent).start(ConfigChange::Changed);
    REQUIRE(skipped.ok());
    CHECK(absent.commands_ran.empty());
    CHECK_THAT(*skipped, Catch::Contains("not installed") && Catch::Contains("skipped"));

    sandbox.write("usr/lib/systemd/system/dsvm-agent.service", "[Service]\n");
    FakeRunner present;
    const auto enabled = SystemdService(offline, present).start(ConfigChange::Changed);
    REQUIRE(enabled.ok());
    CHECK(present.commands_ran == Commands{{"/bin/systemctl", "--root=" + sandbox.path(), "enable",
                                            "--quiet", "dsvm-agent.service"}});
    CHECK_THAT(*enabled, Catch::Contains("starting it skipped"));

    FakeRunner stopping;
    REQUIRE(SystemdService(offline, stopping).stop().ok());
    CHECK(stopping.commands_ran == Commands{{"/bin/systemctl", "--root=" + sandbox.path(),
                                             "disable", "--quiet", "dsvm-agent.service"}});
}

TEST_CASE("extension: a missing unit or a failing systemctl is a runtime error with its output",
          "[extension][service]") {
    test::Sandbox sandbox;
    const ServiceTarget online{Root(sandbox.path()), false};
    FakeRunner runner;
    const auto missing = SystemdService(online, runner).start(ConfigChange::None);
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().kind == ErrorKind::Runtime);
    CHECK_THAT(missing.error().message, Catch::Contains("install the dsvm-agent package"));
    CHECK(runner.commands_ran.empty());
    const auto nothing_to_stop = SystemdService(online, runner).stop();
    REQUIRE(nothing_to_stop.ok());
    CHECK_THAT(*nothing_to_stop, Catch::Contains("nothing to stop"));

    sandbox.write("etc/systemd/system/dsvm-agent.service", "[Service]\n");
    FakeRunner failing(
        CommandResult{1, "", "Failed to connect to bus: No such file or directory\n"});
    const auto failed = SystemdService(online, failing).start(ConfigChange::None);
    REQUIRE_FALSE(failed.ok());
    CHECK_THAT(failed.error().message,
               Catch::Contains("systemctl enable --quiet dsvm-agent.service failed (exit status 1)"
                               ": Failed to connect to bus"));
    CHECK(failing.commands_ran.size() == 1);
}

TEST_CASE("extension: a kept file stays in memory, never beside it, and undo puts it back",
          "[extension][files]") {
    // given a file kept while replaced, we expect no second file in its directory at any time
    // (a crash would leave it, with a key in it), and the same bytes and mode after an undo
    Sandbox sandbox;
    const std::string path = sandbox.write("etc/acct.cred", "password=old\n", 0640);
    {
        FileTransaction transaction;
        REQUIRE(transaction.keep(path).ok());
        REQUIRE(write_file_atomic(path, "password=new\n", 0600).ok());
        CHECK(files_with_text(sandbox.path(), "password=") == std::vector<std::string>{path});
    }
    CHECK(sandbox.read("etc/acct.cred") == "password=old\n");
    CHECK(mode_of(path) == 0640);
    CHECK(files_with_text(sandbox.path(), "password=") == std::vector<std::string>{path});
}

TEST_CASE("extension: undo removes a file that was not there, commit keeps the new ones",
          "[extension][files]") {
    Sandbox sandbox;
    sandbox.mkdir("etc");
    const std::string created = sandbox.path("etc/new.json");
    const std::string replaced = sandbox.write("etc/pool.json", "old", 0644);
    {
        FileTransaction transaction;
        REQUIRE(transaction.keep(created).ok());
        REQUIRE(write_file_atomic(created, "x", 0644).ok());
    }
    CHECK_FALSE(sandbox.exists("etc/new.json"));
    {
        FileTransaction transaction;
        REQUIRE(transaction.keep(replaced).ok());
        REQUIRE(write_file_atomic(replaced, "new", 0644).ok());
        transaction.commit();
    }
    CHECK(sandbox.read("etc/pool.json") == "new");
}

TEST_CASE("extension: a .dsvm-previous link left by an earlier version is removed when kept",
          "[extension][files]") {
    Sandbox sandbox;
    const std::string path = sandbox.write("etc/acct.cred", "password=new\n", 0600);
    sandbox.write("etc/acct.cred.dsvm-previous", "password=old\n", 0600);
    FileTransaction transaction;
    REQUIRE(transaction.keep(path).ok());
    CHECK_FALSE(sandbox.exists("etc/acct.cred.dsvm-previous"));
    transaction.commit();
}

// Given an update marker written 59 minutes ago by the clock's time, we expect uninstall to
// keep everything (an update is in progress); two minutes later by the same clock the marker is
// stale, removed, and uninstall goes on. The window is measured on the Clock, not the machine's
// time: the fake clock's date is years away from the real one.
TEST_CASE("extension: the update window is measured on the clock", "[extension][clock]") {
    test::Sandbox sandbox;
    const std::string handler_dir = sandbox.mkdir("handler");
    sandbox.mkdir("handler/config");
    sandbox.write("handler/HandlerEnvironment.json",
                  R"([{"handlerEnvironment": {"configFolder": ")" + handler_dir +
                      R"(/config", "statusFolder": ")" + handler_dir + R"(/status"}}])");
    const Root root(sandbox.mkdir("root"));
    const std::string marker = "root/var/lib/dsvm-agent/extension-update";
    ExtensionRequest request;
    request.handler_dir = handler_dir;
    test::FakeClock clock;

    request.operation = ExtensionOperation::Update;
    FakeRunner updating;
    REQUIRE(run_offline(root, request, updating, clock) == 0);
    const std::time_t written = std::chrono::system_clock::to_time_t(clock.wall_now());
    CHECK(sandbox.read(marker) == std::to_string(written) + "\n");

    // The marker's age is its modification time against the clock's.
    const timespec times[2] = {{written - 59 * 60, 0}, {written - 59 * 60, 0}};
    REQUIRE(::utimensat(AT_FDCWD, sandbox.path(marker).c_str(), times, 0) == 0);
    request.operation = ExtensionOperation::Uninstall;
    FakeRunner keeping;
    REQUIRE(run_offline(root, request, keeping, clock) == 0);
    CHECK(sandbox.exists(marker));
    CHECK(keeping.commands_ran.empty());

    clock.advance(std::chrono::minutes(2));
    FakeRunner removing;
    REQUIRE(run_offline(root, request, removing, clock) == 0);
    CHECK_FALSE(sandbox.exists(marker));
}
