// `dsvm-agent extension ...` as the Azure guest agent runs it: the real binary, started in a
// handler directory whose HandlerEnvironment.json points at config, status and log folders, with
// the VM's certificate under /var/lib/waagent in a sandbox root and protected settings encrypted
// for it with OpenSSL's CMS API.
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/cms_identity.h"
#include "support/process.h"
#include "support/sandbox.h"

using namespace dsvm::test;
using nlohmann::json;

namespace {

const std::string k_key =
    "Xk9pQ2wE7rT4yU1iO8aS5dF3gH6jK0lZ2xC4vB7nM9qW1eR3tY5uI8oP0aS2dF4gH6jK8lZ0xC2vB4nM6qW8eR1"
    "==";
const std::string k_new_key =
    "Qw3rTy7uI0pA2sD4fG6hJ8kL1zX3cV5bN7mQ9wE2rT4yU6iO8pA0sD2fG4hJ6kL8zX0cV2bN4mQ6wE8rT0yU2i"
    "==";

const std::string k_credentials = "etc/dsvm-agent/credentials/acct.cred";
const std::string k_pool = "etc/dsvm-agent/pool.json";

json smb_pool() {
    return {{"share", {{"source", "//acct.file.core.windows.net/dsvmshare"}}},
            {"users", {{{"name", "alice"}, {"sudo", true}}}}};
}

std::string protected_json(const std::string& key) {
    return R"({"storageAccountKey": ")" + key + "\"}";
}

// A sandbox root holding the VM's certificate, and a handler directory beside it.
class ExtensionFixture {
  public:
    ExtensionFixture() {
        const Identity& vm = vm_identity();
        m_root.write("var/lib/waagent/" + vm.thumbprint + ".crt", vm.certificate_pem, 0644);
        m_root.write("var/lib/waagent/" + vm.thumbprint + ".prv", vm.key_pem, 0600);
        const json environment =
            json::array({{{"name", "Microsoft.DSVM.DsvmAgent"},
                          {"version", 1.0},
                          {"handlerEnvironment",
                           {{"logFolder", m_handler.path("logs")},
                            {"configFolder", m_handler.path("config")},
                            {"statusFolder", m_handler.path("status")},
                            {"heartbeatFile", m_handler.path("heartbeat.log")}}}}});
        m_handler.write("HandlerEnvironment.json", environment.dump(2));
        m_handler.mkdir("config");
        m_handler.mkdir("status");
    }

    // <seq>.settings with these handlerSettings.
    void write_handler_settings(int sequence, const json& handler_settings) {
        const json settings = {{"runtimeSettings", {{{"handlerSettings", handler_settings}}}}};
        m_handler.write("config/" + std::to_string(sequence) + ".settings", settings.dump(2));
    }

    // <seq>.settings with public settings and, when given, this plaintext encrypted for the VM.
    void write_settings(int sequence, const json& public_settings,
                        const std::optional<std::string>& plaintext) {
        json handler_settings = {{"publicSettings", public_settings}};
        if (plaintext) {
            handler_settings["protectedSettings"] =
                base64_encode(encrypt_for(vm_identity(), *plaintext));
            handler_settings["protectedSettingsCertThumbprint"] = vm_identity().thumbprint;
        }
        write_handler_settings(sequence, handler_settings);
    }

    // The agent in the handler directory, as the guest agent starts it.
    ProcessResult run(const std::string& operation,
                      const std::vector<std::string>& environment = {}) const {
        return run_process({"/usr/bin/env", "-C", m_handler.path(), DSVM_AGENT_BINARY, "--root",
                            m_root.path(), "--imds", "off", "extension", operation},
                           environment);
    }

    json status(int sequence) const {
        return json::parse(m_handler.read("status/" + std::to_string(sequence) + ".status"));
    }

    void install_unit() {
        m_root.write("lib/systemd/system/dsvm-agent.service",
                     "[Unit]\nDescription=dsvm-agent\n[Service]\nExecStart=/usr/sbin/dsvm-agent "
                     "run\n[Install]\nWantedBy=multi-user.target\n");
    }

    Sandbox& root() { return m_root; }
    Sandbox& handler() { return m_handler; }

  private:
    Sandbox m_root;
    Sandbox m_handler;
};

std::string status_of(const json& document) {
    return document[0]["status"]["status"].get<std::string>();
}
std::string message_of(const json& document) {
    return document[0]["status"]["formattedMessage"]["message"].get<std::string>();
}
json without_timestamp(json document) {
    document[0].erase("timestampUTC");
    return document;
}

void check_never_shows(ExtensionFixture& fixture, const ProcessResult& result,
                       const std::string& secret) {
    CHECK_THAT(result.out, !Catch::Contains(secret));
    CHECK_THAT(result.err, !Catch::Contains(secret));
    // The config folder holds the test's own input; what the agent writes is status and logs.
    CHECK(files_with_text(fixture.handler().path("status"), secret).empty());
    CHECK(files_with_text(fixture.handler().path("logs"), secret).empty());
}

}  // namespace

TEST_CASE("extension: enable writes pool.json and a root-only key that is nowhere else",
          "[extension]") {
    ExtensionFixture fixture;
    fixture.write_settings(0, smb_pool(), protected_json(k_key));
    const ProcessResult result = fixture.run("enable");
    INFO(result.err);
    REQUIRE(result.exit_code == 0);

    CHECK(json::parse(fixture.root().read(k_pool)) == smb_pool());
    const std::string credentials = fixture.root().path(k_credentials);
    CHECK(fixture.root().read(k_credentials) == "username=acct\npassword=" + k_key + "\n");
    CHECK(mode_of(credentials) == 0600);
    CHECK(stat_of(credentials).st_uid == 0);
    CHECK(mode_of(fixture.root().path("etc/dsvm-agent/credentials")) == 0700);
    CHECK(files_with_text(fixture.root().path(), k_key) == std::vector<std::string>{credentials});
    check_never_shows(fixture, result, k_key);

    const json status = fixture.status(0);
    CHECK(status_of(status) == "success");
    CHECK(status[0]["status"]["operation"] == "Enable");
    CHECK(status[0]["status"]["name"] == "Microsoft.DSVM.DsvmAgent");
    CHECK(status[0]["status"]["code"] == 0);
    CHECK_THAT(message_of(status), Catch::Contains("pool config written to "
                                                   "/etc/dsvm-agent/pool.json") &&
                                       Catch::Contains("/etc/dsvm-agent/credentials/acct.cred"));
    CHECK_THAT(result.out, Catch::Contains("extension enable: pool config written"));
    CHECK_THAT(fixture.handler().read("logs/dsvm-agent-extension.log"),
               Catch::Contains("pool config written"));
    CHECK(fixture.root().exists("var/lib/dsvm-agent/extension.json"));
}

TEST_CASE("extension: a second enable changes nothing but the status timestamp", "[extension]") {
    ExtensionFixture fixture;
    fixture.install_unit();
    fixture.write_settings(0, smb_pool(), protected_json(k_key));
    const ProcessResult first = fixture.run("enable");
    INFO(first.err);
    REQUIRE(first.exit_code == 0);
    // In a sandbox root the unit is enabled offline; nothing asks the host's systemd.
    CHECK(fixture.root().exists("etc/systemd/system/multi-user.target.wants/dsvm-agent.service"));
    CHECK_THAT(message_of(fixture.status(0)), Catch::Contains("starting it skipped"));
    const std::string before = tree_digest(fixture.root().path());
    const json first_status = fixture.status(0);

    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const ProcessResult second = fixture.run("enable");
    INFO(second.err);
    REQUIRE(second.exit_code == 0);
    CHECK(tree_digest(fixture.root().path()) == before);
    const json second_status = fixture.status(0);
    CHECK(status_of(second_status) == "success");
    CHECK_THAT(message_of(second_status), Catch::Contains("pool config unchanged") &&
                                              Catch::Contains("storage key for 'acct' unchanged"));
    // Only the messages that say "written" became "unchanged"; the shape is the same.
    CHECK(without_timestamp(second_status)[0]["status"]["substatus"].size() ==
          without_timestamp(first_status)[0]["status"]["substatus"].size());

    const ProcessResult third = fixture.run("enable");
    REQUIRE(third.exit_code == 0);
    CHECK(without_timestamp(fixture.status(0)) == without_timestamp(second_status));
}

TEST_CASE("extension: the settings file is ConfigSequenceNumber's, else the highest",
          "[extension]") {
    ExtensionFixture fixture;
    json one = smb_pool();
    one["share"]["mountPoint"] = "/datamnt/one";
    json two = smb_pool();
    two["share"]["mountPoint"] = "/datamnt/two";
    fixture.write_settings(1, one, protected_json(k_key));
    fixture.write_settings(2, two, protected_json(k_key));

    const ProcessResult highest = fixture.run("enable");
    INFO(highest.err);
    REQUIRE(highest.exit_code == 0);
    CHECK(json::parse(fixture.root().read(k_pool)) == two);
    CHECK(status_of(fixture.status(2)) == "success");
    CHECK_FALSE(fixture.handler().exists("status/1.status"));

    const ProcessResult chosen = fixture.run("enable", {"ConfigSequenceNumber=1"});
    INFO(chosen.err);
    REQUIRE(chosen.exit_code == 0);
    CHECK(json::parse(fixture.root().read(k_pool)) == one);
    CHECK(status_of(fixture.status(1)) == "success");

    // --handler-dir instead of the working directory.
    const ProcessResult elsewhere =
        run_process({DSVM_AGENT_BINARY, "--root", fixture.root().path(), "--imds", "off",
                     "extension", "enable", "--handler-dir", fixture.handler().path()},
                    {"ConfigSequenceNumber=2"});
    INFO(elsewhere.err);
    REQUIRE(elsewhere.exit_code == 0);
    CHECK(json::parse(fixture.root().read(k_pool)) == two);
}

TEST_CASE("extension: an NFS share needs no protected settings", "[extension]") {
    ExtensionFixture fixture;
    const json pool = {{"share", {{"source", "files.example.com:/exports/pool"}}}};
    fixture.write_settings(0, pool, std::nullopt);
    const ProcessResult result = fixture.run("enable");
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    CHECK(json::parse(fixture.root().read(k_pool)) == pool);
    CHECK_FALSE(fixture.root().exists("etc/dsvm-agent/credentials"));
    CHECK(status_of(fixture.status(0)) == "success");
}

namespace {

struct FailureCase {
    std::string name;
    // Prepares settings 1 (and anything else it needs in the root).
    std::function<void(ExtensionFixture&)> prepare;
    int exit_code;
    std::string says;
    int sequence = 1;
};

std::string der_for_vm(const std::string& plaintext) {
    return encrypt_for(vm_identity(), plaintext);
}

json encrypted_settings(const std::string& der, const std::string& thumbprint) {
    return {{"publicSettings", smb_pool()},
            {"protectedSettings", base64_encode(der)},
            {"protectedSettingsCertThumbprint", thumbprint}};
}

std::vector<FailureCase> failure_cases() {
    const std::string vm = vm_identity().thumbprint;
    const std::string other = other_identity().thumbprint;
    return {
        {"bad base64",
         [vm](ExtensionFixture& f) {
             f.write_handler_settings(1, {{"publicSettings", smb_pool()},
                                          {"protectedSettings", "MIIB!not*base64"},
                                          {"protectedSettingsCertThumbprint", vm}});
         },
         2, "protectedSettings is not base64"},
        {"a thumbprint with no certificate on this VM",
         [other](ExtensionFixture& f) {
             f.write_handler_settings(
                 1, encrypted_settings(der_for_vm(protected_json(k_new_key)), other));
         },
         1, "no certificate /var/lib/waagent/" + other + ".crt"},
        {"a certificate that is not a recipient",
         [other](ExtensionFixture& f) {
             f.root().write("var/lib/waagent/" + other + ".crt", other_identity().certificate_pem);
             f.root().write("var/lib/waagent/" + other + ".prv", other_identity().key_pem, 0600);
             f.write_handler_settings(
                 1, encrypted_settings(der_for_vm(protected_json(k_new_key)), other));
         },
         1, "not encrypted for the certificate"},
        {"truncated ciphertext",
         [vm](ExtensionFixture& f) {
             const std::string der = der_for_vm(protected_json(k_new_key));
             f.write_handler_settings(1, encrypted_settings(der.substr(0, der.size() / 2), vm));
         },
         2, "not CMS data"},
        {"corrupted ciphertext",
         [vm](ExtensionFixture& f) {
             // A byte of the next-to-last AES block: CBC carries the flip into the last block's
             // padding (the plaintext here leaves 15 bytes of it), which then cannot check out.
             std::string der = der_for_vm(protected_json(k_new_key));
             der[der.size() - 24] = static_cast<char>(der[der.size() - 24] ^ 0x5A);
             f.write_handler_settings(1, encrypted_settings(der, vm));
         },
         1, "cannot decrypt the protected settings"},
        {"plaintext that is not JSON",
         [](ExtensionFixture& f) {
             f.write_settings(1, smb_pool(), "storageAccountKey=" + k_new_key);
         },
         2, "the decrypted text is not a JSON object"},
        {"no storageAccountKey for an SMB share",
         [](ExtensionFixture& f) { f.write_settings(1, smb_pool(), std::string("{}")); }, 2,
         "is SMB and needs its storage key"},
        {"a key the credentials file cannot hold",
         [](ExtensionFixture& f) {
             f.write_settings(1, smb_pool(), protected_json(k_new_key + "\\nusername=root"));
         },
         2, "storageAccountKey: the storage key contains a line break"},
        {"invalid public settings",
         [](ExtensionFixture& f) {
             json pool = smb_pool();
             pool["share"]["mountPoint"] = "datamnt/share";
             f.write_settings(1, pool, protected_json(k_new_key));
         },
         2, "share.mountPoint"},
        {"a key in public settings",
         [](ExtensionFixture& f) {
             json pool = smb_pool();
             pool["share"]["storageAccountKey"] = k_new_key;
             f.write_settings(1, pool, protected_json(k_new_key));
         },
         2, "protected settings"},
        {"ConfigSequenceNumber naming a missing file", [](ExtensionFixture&) {}, 1,
         "7.settings does not exist", 7},
    };
}

}  // namespace

TEST_CASE("extension: a failed enable changes nothing and says why in the status", "[extension]") {
    for (const FailureCase& failure : failure_cases()) {
        INFO("case: " << failure.name);
        ExtensionFixture fixture;
        fixture.write_settings(0, smb_pool(), protected_json(k_key));
        REQUIRE(fixture.run("enable").exit_code == 0);
        failure.prepare(fixture);
        const std::string before = tree_digest(fixture.root().path());
        const std::string pool_before = fixture.root().read(k_pool);
        const std::string credentials_before = fixture.root().read(k_credentials);

        const ProcessResult result =
            fixture.run("enable", {"ConfigSequenceNumber=" + std::to_string(failure.sequence)});
        INFO(result.err);
        CHECK(result.exit_code == failure.exit_code);
        CHECK(tree_digest(fixture.root().path()) == before);
        CHECK(fixture.root().read(k_pool) == pool_before);
        CHECK(fixture.root().read(k_credentials) == credentials_before);

        const json status = fixture.status(failure.sequence);
        CHECK(status_of(status) == "error");
        CHECK(status[0]["status"]["code"] == failure.exit_code);
        CHECK_THAT(message_of(status), Catch::Contains(failure.says));
        CHECK_THAT(result.err, Catch::Contains(failure.says));
        check_never_shows(fixture, result, k_key);
        check_never_shows(fixture, result, k_new_key);
        CHECK(files_with_text(fixture.root().path(), k_new_key).empty());
    }
}

TEST_CASE("extension: a write that fails half-way puts the previous key file back", "[extension]") {
    ExtensionFixture fixture;
    fixture.write_settings(0, smb_pool(), protected_json(k_key));
    REQUIRE(fixture.run("enable").exit_code == 0);
    const struct stat key_before = stat_of(fixture.root().path(k_credentials));
    const std::string pool_before = fixture.root().read(k_pool);

    // The new key is stored first; then pool.json cannot be kept aside, because a directory
    // sits where its backup goes. The key file must be the old one again.
    fixture.root().mkdir("etc/dsvm-agent/pool.json.dsvm-previous/blocker");
    json pool = smb_pool();
    pool["share"]["mountPoint"] = "/datamnt/other";
    fixture.write_settings(1, pool, protected_json(k_new_key));
    const ProcessResult result = fixture.run("enable", {"ConfigSequenceNumber=1"});
    INFO(result.err);
    CHECK(result.exit_code == 1);
    CHECK(status_of(fixture.status(1)) == "error");
    CHECK(fixture.root().read(k_credentials) == "username=acct\npassword=" + k_key + "\n");
    const struct stat key_after = stat_of(fixture.root().path(k_credentials));
    CHECK(key_after.st_ino == key_before.st_ino);
    CHECK(key_after.st_mode == key_before.st_mode);
    CHECK(fixture.root().read(k_pool) == pool_before);
    CHECK(files_with_text(fixture.root().path(), k_new_key).empty());
    CHECK_FALSE(fixture.root().exists(k_credentials + ".dsvm-previous"));
    check_never_shows(fixture, result, k_new_key);
}

TEST_CASE("extension: uninstall removes what enable wrote and keeps everything else",
          "[extension]") {
    ExtensionFixture fixture;
    fixture.install_unit();
    fixture.write_settings(0, smb_pool(), protected_json(k_key));
    REQUIRE(fixture.run("enable").exit_code == 0);
    const std::string admin_key = fixture.root().write("etc/dsvm-agent/credentials/other.cred",
                                                       "username=other\npassword=x\n", 0600);

    const ProcessResult result = fixture.run("uninstall");
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    CHECK_FALSE(fixture.root().exists(k_pool));
    CHECK_FALSE(fixture.root().exists(k_credentials));
    CHECK_FALSE(fixture.root().exists("var/lib/dsvm-agent/extension.json"));
    CHECK_FALSE(
        fixture.root().exists("etc/systemd/system/multi-user.target.wants/dsvm-agent.service"));
    CHECK(fixture.root().read("etc/dsvm-agent/credentials/other.cred") ==
          "username=other\npassword=x\n");
    CHECK(files_with_text(fixture.root().path(), k_key).empty());
    const json status = fixture.status(0);
    CHECK(status_of(status) == "success");
    CHECK(status[0]["status"]["operation"] == "Uninstall");
    CHECK_THAT(message_of(status),
               Catch::Contains("/etc/dsvm-agent/credentials/acct.cred removed") &&
                   Catch::Contains("are kept"));
}

TEST_CASE("extension: uninstall keeps a pool.json edited after enable", "[extension]") {
    ExtensionFixture fixture;
    fixture.write_settings(0, smb_pool(), protected_json(k_key));
    REQUIRE(fixture.run("enable").exit_code == 0);
    fixture.root().write(k_pool, R"({"interval": 120})");
    const ProcessResult result = fixture.run("uninstall");
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    CHECK(fixture.root().read(k_pool) == R"({"interval": 120})");
    CHECK_FALSE(fixture.root().exists(k_credentials));
    const json status = fixture.status(0);
    bool warned = false;
    for (const auto& step : status[0]["status"]["substatus"]) {
        warned = warned || (step["status"] == "warning" &&
                            step["formattedMessage"]["message"].get<std::string>().find(
                                "changed after enable wrote it") != std::string::npos);
    }
    CHECK(warned);
}

TEST_CASE("extension: install prepares the directories, update succeeds, disable keeps the config",
          "[extension]") {
    ExtensionFixture fixture;
    fixture.install_unit();
    const ProcessResult installed = fixture.run("install", {"ConfigSequenceNumber=0"});
    INFO(installed.err);
    REQUIRE(installed.exit_code == 0);
    CHECK(mode_of(fixture.root().path("etc/dsvm-agent")) == 0755);
    CHECK(mode_of(fixture.root().path("etc/dsvm-agent/credentials")) == 0700);
    CHECK(status_of(fixture.status(0)) == "success");
    CHECK(fixture.status(0)[0]["status"]["operation"] == "Install");

    fixture.write_settings(0, smb_pool(), protected_json(k_key));
    REQUIRE(fixture.run("enable").exit_code == 0);
    const std::string pool = fixture.root().read(k_pool);
    const std::string wants = "etc/systemd/system/multi-user.target.wants/dsvm-agent.service";
    CHECK(fixture.root().exists(wants));

    const ProcessResult updated = fixture.run("update");
    REQUIRE(updated.exit_code == 0);
    CHECK(fixture.status(0)[0]["status"]["operation"] == "Update");
    CHECK(status_of(fixture.status(0)) == "success");

    const ProcessResult disabled = fixture.run("disable");
    INFO(disabled.err);
    REQUIRE(disabled.exit_code == 0);
    CHECK_FALSE(fixture.root().exists(wants));
    CHECK(fixture.root().read(k_pool) == pool);
    CHECK(fixture.root().exists(k_credentials));
    CHECK(fixture.status(0)[0]["status"]["operation"] == "Disable");
    CHECK_THAT(message_of(fixture.status(0)), Catch::Contains("config is kept"));
}

TEST_CASE("extension: an update keeps the config through the old version's uninstall",
          "[extension]") {
    // The guest agent's order: old disable, new update, old uninstall, new install, new enable.
    ExtensionFixture fixture;
    fixture.install_unit();
    fixture.write_settings(0, smb_pool(), protected_json(k_key));
    REQUIRE(fixture.run("enable").exit_code == 0);
    const std::string pool = fixture.root().read(k_pool);
    const std::string key_file = fixture.root().read(k_credentials);
    REQUIRE(fixture.run("disable").exit_code == 0);
    REQUIRE(fixture.run("update").exit_code == 0);
    CHECK(fixture.root().exists("var/lib/dsvm-agent/extension-update"));

    const ProcessResult uninstalled = fixture.run("uninstall");
    INFO(uninstalled.err);
    REQUIRE(uninstalled.exit_code == 0);
    CHECK(fixture.root().read(k_pool) == pool);
    CHECK(fixture.root().read(k_credentials) == key_file);
    CHECK_THAT(message_of(fixture.status(0)), Catch::Contains("an update is in progress"));

    REQUIRE(fixture.run("install").exit_code == 0);
    REQUIRE(fixture.run("enable").exit_code == 0);
    CHECK_FALSE(fixture.root().exists("var/lib/dsvm-agent/extension-update"));
    // Without an update in progress, uninstall removes what enable wrote again.
    REQUIRE(fixture.run("uninstall").exit_code == 0);
    CHECK_FALSE(fixture.root().exists(k_pool));
    CHECK_FALSE(fixture.root().exists(k_credentials));
}

TEST_CASE("extension: outside a handler directory it says where to run", "[extension]") {
    Sandbox root;
    Sandbox empty;
    const std::string before = tree_digest(root.path());
    const ProcessResult result =
        run_process({"/usr/bin/env", "-C", empty.path(), DSVM_AGENT_BINARY, "--root", root.path(),
                     "--imds", "off", "extension", "enable"});
    CHECK(result.exit_code == 2);
    CHECK_THAT(result.err, Catch::Contains("no HandlerEnvironment.json in " + empty.path()) &&
                               Catch::Contains("--handler-dir"));
    CHECK(tree_digest(root.path()) == before);
    CHECK(tree_digest(empty.path()).empty());
}

TEST_CASE("extension: --help teaches the operations, the files and the exit statuses",
          "[extension]") {
    const ProcessResult help = run_process({DSVM_AGENT_BINARY, "extension", "--help"});
    CHECK(help.exit_code == 0);
    for (const char* text :
         {"install", "enable", "disable", "uninstall", "update", "HandlerEnvironment.json",
          "/etc/dsvm-agent/pool.json", "storageAccountKey", "/var/lib/waagent/<thumbprint>",
          "Exit status", "--handler-dir"}) {
        CHECK_THAT(help.out, Catch::Contains(text));
    }
    const ProcessResult missing = run_process({DSVM_AGENT_BINARY, "extension"});
    CHECK(missing.exit_code == 2);
}
