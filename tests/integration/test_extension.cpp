// `dsvm-agent extension ...` as the Azure guest agent runs it: the real binary, started in a
// handler directory whose HandlerEnvironment.json points at config, status and log folders, with
// the VM's certificate under /var/lib/waagent in a sandbox root and protected settings encrypted
// for it with OpenSSL's CMS API.
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
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
#include "users/registry_key.h"

using namespace dsvm::test;
using dsvm::users::registry_key_id;
using nlohmann::json;

namespace {

const std::string k_key =
    "Xk9pQ2wE7rT4yU1iO8aS5dF3gH6jK0lZ2xC4vB7nM9qW1eR3tY5uI8oP0aS2dF4gH6jK8lZ0xC2vB4nM6qW8eR1"
    "==";
const std::string k_new_key =
    "Qw3rTy7uI0pA2sD4fG6hJ8kL1zX3cV5bN7mQ9wE2rT4yU6iO8pA0sD2fG4hJ6kL8zX0cV2bN4mQ6wE8rT0yU2i"
    "==";

// Pool registry keys as `openssl rand -base64 32` makes them.
const std::string k_registry_key = "q3Vt8xYzR2m9Lk4Jp7Hn1Bw6Cf0Dg5Ea+Sb/Tc2Ud8E=";
const std::string k_old_registry_key = "Zr7Wq1Xe4Ny8Mu2Ko6Pi0Lj3Hh9Gg5Ff+Dd/Ss1Aa2B=";

const std::string k_credentials = "etc/dsvm-agent/credentials/acct.cred";
const std::string k_pool = "etc/dsvm-agent/pool.json";
const std::string k_registry_file = "etc/dsvm-agent/credentials/registry.key";
const std::string k_previous_registry_file = "etc/dsvm-agent/credentials/registry.previous.key";
const std::string k_record = "var/lib/dsvm-agent/extension.json";

json smb_pool() {
    return {{"share", {{"source", "//acct.file.core.windows.net/dsvmshare"}}},
            {"users", {{{"name", "alice"}, {"sudo", true}}}}};
}

std::string protected_json(const std::string& key) {
    return R"({"storageAccountKey": ")" + key + "\"}";
}

// Protected settings with a storage key and registry keys; an empty one is left out.
std::string protected_keys(const std::string& storage, const std::string& registry,
                           const std::string& previous = "") {
    json settings = json::object();
    for (const auto& [name, value] :
         {std::pair{"storageAccountKey", storage}, std::pair{"registryKey", registry},
          std::pair{"previousRegistryKey", previous}}) {
        if (!value.empty()) {
            settings[name] = value;
        }
    }
    return settings.dump();
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

    void write_status_file(int sequence, const std::string& text) {
        m_handler.write("status/" + std::to_string(sequence) + ".status", text);
    }

    bool status_exists(int sequence) const {
        return m_handler.exists("status/" + std::to_string(sequence) + ".status");
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
        {"a registry key that breaks its rule",
         [](ExtensionFixture& f) {
             f.write_settings(1, smb_pool(), protected_keys(k_new_key, "S3cr3tShortKey"));
         },
         2, "protected settings: registryKey: the registry key is 14 characters long"},
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

    const std::string record_before = fixture.root().read("var/lib/dsvm-agent/extension.json");

    // The record is written first; then pool.json cannot be kept, because a directory sits where
    // an earlier version kept its link (a leftover that must go first). The record must be put
    // back, and the key file, written last, never touched.
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
    CHECK(fixture.root().read("var/lib/dsvm-agent/extension.json") == record_before);
    CHECK(files_with_text(fixture.root().path(), k_new_key).empty());
    CHECK_FALSE(fixture.root().exists(k_credentials + ".dsvm-previous"));
    check_never_shows(fixture, result, k_new_key);
}

TEST_CASE("extension: enable killed at any moment leaves no copy of a key behind",
          "[extension][kill]") {
    // given enable rotating the key (the old key in place, a new one in the settings), killed
    // with SIGKILL at moments spread over its whole run, we expect each key only ever in the
    // credentials file, and the VM's private key only in its own file
    const auto prepare = [](ExtensionFixture& fixture) {
        fixture.write_settings(0, smb_pool(), protected_json(k_key));
        REQUIRE(fixture.run("enable").exit_code == 0);
        json pool = smb_pool();
        pool["share"]["mountPoint"] = "/datamnt/other";
        fixture.write_settings(1, pool, protected_json(k_new_key));
    };
    const auto start = [](ExtensionFixture& fixture) {
        return std::make_unique<Child>(
            std::vector<std::string>{"/usr/bin/env", "-C", fixture.handler().path(),
                                     DSVM_AGENT_BINARY, "--root", fixture.root().path(), "--imds",
                                     "off", "extension", "enable"},
            fixture.handler().path("agent.out"),
            std::vector<std::string>{"ConfigSequenceNumber=1"});
    };
    // A line from the middle of the private key: no header a certificate would share.
    const std::string& key_pem = vm_identity().key_pem;
    const auto middle = key_pem.find('\n', key_pem.size() / 2) + 1;
    const std::string private_line = key_pem.substr(middle, key_pem.find('\n', middle) - middle);
    REQUIRE(private_line.size() >= 40);

    // The median of five uninterrupted runs (run_process waits without polling).
    std::vector<std::chrono::microseconds> runs;
    for (int run = 0; run < 5; ++run) {
        ExtensionFixture fixture;
        prepare(fixture);
        const auto began = std::chrono::steady_clock::now();
        REQUIRE(fixture.run("enable", {"ConfigSequenceNumber=1"}).exit_code == 0);
        runs.push_back(std::chrono::duration_cast<std::chrono::microseconds>(
            std::chrono::steady_clock::now() - began));
    }
    std::sort(runs.begin(), runs.end());
    const auto whole = runs[runs.size() / 2];

    constexpr int k_kills = 60;
    int killed_midway = 0;
    int killed_in_the_instant = 0;
    for (int kill = 0; kill < k_kills; ++kill) {
        ExtensionFixture fixture;
        prepare(fixture);
        const std::string credentials = fixture.root().path(k_credentials);
        const std::string private_file =
            fixture.root().path("var/lib/waagent/" + vm_identity().thumbprint + ".prv");
        // From the start to a little past the end of an uninterrupted run.
        const auto delay = whole * kill / (k_kills - 6);
        auto child = start(fixture);
        std::this_thread::sleep_for(delay);
        child->signal(SIGKILL);
        const int exit_code = child->wait(30000);
        REQUIRE(exit_code != -2);
        killed_midway += exit_code == -1 ? 1 : 0;

        INFO("killed after " << delay.count() << " us of " << whole.count() << " us");
        // The one instant a second copy can exist (docs/operation.md, "Files"): the new key file
        // linked under its temporary name and not yet renamed over the old one. No syscall
        // replaces a name with an unnamed file, so it cannot be closed; it must be this run's
        // own temporary, root-only, and the next write of the file must remove it.
        const std::string own_temporary =
            credentials + ".tmp." + std::to_string(child->pid()) + ".";
        std::vector<std::string> leftovers;
        for (const std::string& key : {k_key, k_new_key}) {
            for (const auto& holder : files_with_text(fixture.root().path(), key)) {
                if (holder == credentials) {
                    continue;
                }
                CHECK_THAT(holder, Catch::StartsWith(own_temporary));
                CHECK(mode_of(holder) == 0600);
                leftovers.push_back(holder);
            }
            CHECK(files_with_text(fixture.handler().path("status"), key).empty());
            CHECK(files_with_text(fixture.handler().path("logs"), key).empty());
        }
        CHECK(files_with_text(fixture.root().path(), private_line) ==
              std::vector<std::string>{private_file});
        // Whatever moment it died at, the credentials file holds one whole key.
        const std::string stored = fixture.root().read(k_credentials);
        CHECK((stored == "username=acct\npassword=" + k_key + "\n" ||
               stored == "username=acct\npassword=" + k_new_key + "\n"));
        if (!leftovers.empty()) {
            ++killed_in_the_instant;
            REQUIRE(fixture.run("enable", {"ConfigSequenceNumber=1"}).exit_code == 0);
            CHECK(files_with_text(fixture.root().path(), k_key).empty());
            CHECK(files_with_text(fixture.root().path(), k_new_key) ==
                  std::vector<std::string>{credentials});
        }
    }
    INFO("runs of " << whole.count() << " us; " << killed_midway << " of " << k_kills
                    << " killed before they ended, " << killed_in_the_instant
                    << " between the link and the rename");
    // Not vacuous: runs vary with the machine's load, but most kills must land mid-run.
    CHECK(killed_midway >= k_kills / 4);
    // That instant is microseconds long: a copy caught more often was named for longer.
    CHECK(killed_in_the_instant <= 1);
}

TEST_CASE("extension: copies of a key left by a crash are removed by the next enable",
          "[extension][kill]") {
    // given what a killed enable can leave (a temporary of a process that is gone) and what an
    // earlier version left (a .dsvm-previous link), we expect the next enable to remove both
    ExtensionFixture fixture;
    fixture.write_settings(0, smb_pool(), protected_json(k_key));
    REQUIRE(fixture.run("enable").exit_code == 0);
    const pid_t gone = ::fork();
    if (gone == 0) {
        ::_exit(0);
    }
    int status = 0;
    ::waitpid(gone, &status, 0);
    const std::string crashed = k_credentials + ".tmp." + std::to_string(gone) + ".42";
    fixture.root().write(crashed, "username=acct\npassword=" + k_new_key + "\n", 0600);
    fixture.root().write(k_credentials + ".dsvm-previous",
                         "username=acct\npassword=" + k_key + "\n", 0600);

    fixture.write_settings(1, smb_pool(), protected_json(k_new_key));
    const ProcessResult result = fixture.run("enable", {"ConfigSequenceNumber=1"});
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    CHECK_FALSE(fixture.root().exists(crashed));
    CHECK_FALSE(fixture.root().exists(k_credentials + ".dsvm-previous"));
    CHECK(files_with_text(fixture.root().path(), k_key).empty());
    CHECK(files_with_text(fixture.root().path(), k_new_key) ==
          std::vector<std::string>{fixture.root().path(k_credentials)});
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

TEST_CASE("extension: a failed install reports its error for the sequence number", "[extension]") {
    ExtensionFixture fixture;
    fixture.root().write("etc/dsvm-agent", "a file where the config directory belongs\n");
    const ProcessResult installed = fixture.run("install", {"ConfigSequenceNumber=0"});
    INFO(installed.err);
    CHECK(installed.exit_code != 0);
    REQUIRE(fixture.status_exists(0));
    CHECK(status_of(fixture.status(0)) == "error");
    CHECK(fixture.status(0)[0]["status"]["operation"] == "Install");
    CHECK(fixture.status(0)[0]["status"]["code"] == installed.exit_code);
}

TEST_CASE("extension: a failed update reports its error for the sequence number", "[extension]") {
    ExtensionFixture fixture;
    fixture.root().write("var/lib/dsvm-agent", "a file where the state directory belongs\n");
    const ProcessResult updated = fixture.run("update", {"ConfigSequenceNumber=3"});
    INFO(updated.err);
    CHECK(updated.exit_code != 0);
    REQUIRE(fixture.status_exists(3));
    CHECK(status_of(fixture.status(3)) == "error");
    CHECK(fixture.status(3)[0]["status"]["operation"] == "Update");
}

TEST_CASE("extension: a successful install removes a status an older version left", "[extension]") {
    ExtensionFixture fixture;
    fixture.install_unit();
    fixture.write_status_file(0, R"([{"status": {"operation": "Disable", "status": "success"}}])");
    const ProcessResult installed = fixture.run("install", {"ConfigSequenceNumber=0"});
    INFO(installed.err);
    REQUIRE(installed.exit_code == 0);
    CHECK_FALSE(fixture.status_exists(0));
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
    // A successful install leaves the sequence number's status to enable (see run_extension).
    CHECK_FALSE(fixture.status_exists(0));

    fixture.write_settings(0, smb_pool(), protected_json(k_key));
    REQUIRE(fixture.run("enable").exit_code == 0);
    const std::string pool = fixture.root().read(k_pool);
    const std::string wants = "etc/systemd/system/multi-user.target.wants/dsvm-agent.service";
    CHECK(fixture.root().exists(wants));

    // The guest agent copies the old version's status files (its disable's) into the new
    // handler directory before the new update and install: on success they remove them, so
    // only the new enable can report the settings.
    REQUIRE(fixture.status_exists(0));
    const ProcessResult updated = fixture.run("update");
    REQUIRE(updated.exit_code == 0);
    CHECK_FALSE(fixture.status_exists(0));

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

TEST_CASE("extension: enable stores the registry key root-only and nowhere else",
          "[extension][registry]") {
    ExtensionFixture fixture;
    fixture.write_settings(0, smb_pool(), protected_keys(k_key, k_registry_key));
    const ProcessResult result = fixture.run("enable");
    INFO(result.err);
    REQUIRE(result.exit_code == 0);

    const std::string registry = fixture.root().path(k_registry_file);
    CHECK(fixture.root().read(k_registry_file) == k_registry_key + "\n");
    CHECK(mode_of(registry) == 0600);
    CHECK(stat_of(registry).st_uid == 0);
    CHECK_FALSE(fixture.root().exists(k_previous_registry_file));
    CHECK(files_with_text(fixture.root().path(), k_registry_key) ==
          std::vector<std::string>{registry});
    check_never_shows(fixture, result, k_registry_key);
    // The storage key is where it always was, and only there.
    CHECK(files_with_text(fixture.root().path(), k_key) ==
          std::vector<std::string>{fixture.root().path(k_credentials)});

    const std::string id = registry_key_id(k_registry_key);
    CHECK(status_of(fixture.status(0)) == "success");
    CHECK_THAT(message_of(fixture.status(0)),
               Catch::Contains("registry key " + id + " stored in " +
                               "/etc/dsvm-agent/credentials/registry.key (root only, mode 0600)"));
    // The record names the files, so that uninstall removes them.
    CHECK_THAT(fixture.root().read(k_record),
               Catch::Contains("/etc/dsvm-agent/credentials/registry.key"));
}

TEST_CASE("extension: a second enable with the same registry keys changes nothing",
          "[extension][registry]") {
    ExtensionFixture fixture;
    fixture.install_unit();
    fixture.write_settings(0, smb_pool(),
                           protected_keys(k_key, k_registry_key, k_old_registry_key));
    const ProcessResult first = fixture.run("enable");
    INFO(first.err);
    REQUIRE(first.exit_code == 0);
    const std::string before = tree_digest(fixture.root().path());

    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const ProcessResult second = fixture.run("enable");
    INFO(second.err);
    REQUIRE(second.exit_code == 0);
    CHECK(tree_digest(fixture.root().path()) == before);
    CHECK_THAT(message_of(fixture.status(0)),
               Catch::Contains("registry key " + registry_key_id(k_registry_key) + " unchanged") &&
                   Catch::Contains("storage key for 'acct' unchanged"));
    // Nothing changed, so the service is not reloaded for nothing.
    CHECK_THAT(message_of(fixture.status(0)), !Catch::Contains("reloaded"));
}

TEST_CASE("extension: previousRegistryKey is kept during a rotation and removed after it",
          "[extension][registry]") {
    // given a pool rotating its registry key (the old key, then the new one with the old as
    // previous, then the new one alone), we expect each key file to follow the settings and the
    // old key gone from the instance at the end
    ExtensionFixture fixture;
    fixture.write_settings(0, smb_pool(), protected_keys(k_key, k_old_registry_key));
    REQUIRE(fixture.run("enable").exit_code == 0);
    CHECK(fixture.root().read(k_registry_file) == k_old_registry_key + "\n");

    fixture.write_settings(1, smb_pool(),
                           protected_keys(k_key, k_registry_key, k_old_registry_key));
    const ProcessResult rotating = fixture.run("enable", {"ConfigSequenceNumber=1"});
    INFO(rotating.err);
    REQUIRE(rotating.exit_code == 0);
    CHECK(fixture.root().read(k_registry_file) == k_registry_key + "\n");
    CHECK(fixture.root().read(k_previous_registry_file) == k_old_registry_key + "\n");
    CHECK(mode_of(fixture.root().path(k_previous_registry_file)) == 0600);
    CHECK(files_with_text(fixture.root().path(), k_old_registry_key) ==
          std::vector<std::string>{fixture.root().path(k_previous_registry_file)});
    check_never_shows(fixture, rotating, k_old_registry_key);
    CHECK_THAT(
        message_of(fixture.status(1)),
        Catch::Contains("registry key " + registry_key_id(k_registry_key) + " stored") &&
            Catch::Contains("previous key " + registry_key_id(k_old_registry_key) + " kept"));

    fixture.write_settings(2, smb_pool(), protected_keys(k_key, k_registry_key));
    const ProcessResult rotated = fixture.run("enable", {"ConfigSequenceNumber=2"});
    INFO(rotated.err);
    REQUIRE(rotated.exit_code == 0);
    CHECK(fixture.root().read(k_registry_file) == k_registry_key + "\n");
    CHECK_FALSE(fixture.root().exists(k_previous_registry_file));
    CHECK(files_with_text(fixture.root().path(), k_old_registry_key).empty());
    CHECK_THAT(message_of(fixture.status(2)),
               Catch::Contains("previous key " + registry_key_id(k_old_registry_key) + " removed"));
}

TEST_CASE("extension: an invalid registry key exits 2 and writes nothing",
          "[extension][registry]") {
    const std::string short_key = "S3cr3tShortKey";
    const std::string spaced = "S3cr3tHalfOfAKey0123456789 abcdefOtherHalf0123456789";
    const std::vector<std::pair<std::string, std::string>> cases{
        {protected_keys(k_key, short_key), "registryKey: the registry key is 14 characters long"},
        {protected_keys(k_key, spaced), "registryKey: the registry key contains a space"},
        {protected_keys(k_key, k_registry_key, short_key),
         "previousRegistryKey: the registry key is 14 characters long"},
        {protected_keys(k_key, "", k_old_registry_key), "previousRegistryKey without registryKey"},
        {protected_keys(k_key, k_registry_key, k_registry_key),
         "previousRegistryKey is the same key as registryKey"},
    };
    for (const auto& [plaintext, says] : cases) {
        INFO("expecting: " << says);
        ExtensionFixture fixture;
        fixture.write_settings(0, smb_pool(), plaintext);
        const std::string before = tree_digest(fixture.root().path());
        const ProcessResult result = fixture.run("enable");
        INFO(result.err);
        CHECK(result.exit_code == 2);
        CHECK(tree_digest(fixture.root().path()) == before);
        const json status = fixture.status(0);
        CHECK(status_of(status) == "error");
        CHECK(status[0]["status"]["code"] == 2);
        CHECK_THAT(message_of(status), Catch::Contains(says));
        for (const std::string& secret :
             {short_key, std::string("S3cr3t"), std::string("OtherHalf"), k_registry_key,
              k_old_registry_key, k_key}) {
            check_never_shows(fixture, result, secret);
        }
    }
}

TEST_CASE("extension: a failed enable puts the registry key files back", "[extension][registry]") {
    // given an enable that stores new registry keys and then fails on the storage key, we expect
    // the registry key files as they were, and the new keys nowhere
    ExtensionFixture fixture;
    fixture.write_settings(0, smb_pool(), protected_keys(k_key, k_old_registry_key));
    REQUIRE(fixture.run("enable").exit_code == 0);
    const std::string pool_before = fixture.root().read(k_pool);
    const std::string record_before = fixture.root().read(k_record);

    // The storage key's file cannot be kept: a directory sits where an earlier version kept its
    // link (a leftover that must go first).
    fixture.root().mkdir(k_credentials + ".dsvm-previous/blocker");
    fixture.write_settings(1, smb_pool(),
                           protected_keys(k_new_key, k_registry_key, k_old_registry_key));
    const ProcessResult result = fixture.run("enable", {"ConfigSequenceNumber=1"});
    INFO(result.err);
    CHECK(result.exit_code == 1);
    CHECK(status_of(fixture.status(1)) == "error");
    CHECK(fixture.root().read(k_registry_file) == k_old_registry_key + "\n");
    CHECK(mode_of(fixture.root().path(k_registry_file)) == 0600);
    CHECK_FALSE(fixture.root().exists(k_previous_registry_file));
    CHECK(files_with_text(fixture.root().path(), k_registry_key).empty());
    CHECK(fixture.root().read(k_credentials) == "username=acct\npassword=" + k_key + "\n");
    CHECK(fixture.root().read(k_pool) == pool_before);
    CHECK(fixture.root().read(k_record) == record_before);
    check_never_shows(fixture, result, k_registry_key);
}

TEST_CASE("extension: uninstall removes the registry key files enable wrote",
          "[extension][registry]") {
    ExtensionFixture fixture;
    fixture.install_unit();
    fixture.write_settings(0, smb_pool(),
                           protected_keys(k_key, k_registry_key, k_old_registry_key));
    REQUIRE(fixture.run("enable").exit_code == 0);
    REQUIRE(fixture.root().exists(k_previous_registry_file));

    const ProcessResult result = fixture.run("uninstall");
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    CHECK_FALSE(fixture.root().exists(k_registry_file));
    CHECK_FALSE(fixture.root().exists(k_previous_registry_file));
    CHECK_FALSE(fixture.root().exists(k_credentials));
    for (const std::string& key : {k_registry_key, k_old_registry_key, k_key}) {
        CHECK(files_with_text(fixture.root().path(), key).empty());
    }
    CHECK_THAT(message_of(fixture.status(0)),
               Catch::Contains("/etc/dsvm-agent/credentials/registry.key removed") &&
                   Catch::Contains("/etc/dsvm-agent/credentials/registry.previous.key removed"));
}

TEST_CASE("extension: enable without registryKey leaves a hand-set registry key alone",
          "[extension][registry]") {
    // given a key an admin set by hand (`dsvm-agent registry set-key`) and settings without
    // registryKey, we expect enable to say which key the instance holds and to leave both files
    // as they are, and uninstall, which removes only what enable wrote, to keep them
    ExtensionFixture fixture;
    REQUIRE(dsvm::users::write_registry_keys(dsvm::Root(fixture.root().path()), k_registry_key,
                                             k_old_registry_key)
                .ok());
    const struct stat key_before = stat_of(fixture.root().path(k_registry_file));
    const struct stat previous_before = stat_of(fixture.root().path(k_previous_registry_file));

    fixture.write_settings(0, smb_pool(), protected_json(k_key));
    const ProcessResult result = fixture.run("enable");
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    for (const auto& [file, before] : {std::pair{k_registry_file, key_before},
                                       std::pair{k_previous_registry_file, previous_before}}) {
        const struct stat after = stat_of(fixture.root().path(file));
        CHECK(after.st_ino == before.st_ino);
        CHECK(after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);
        CHECK(after.st_mode == before.st_mode);
    }
    CHECK(fixture.root().read(k_registry_file) == k_registry_key + "\n");
    CHECK(fixture.root().read(k_previous_registry_file) == k_old_registry_key + "\n");
    check_never_shows(fixture, result, k_registry_key);
    CHECK_THAT(message_of(fixture.status(0)),
               Catch::Contains("registry key " + registry_key_id(k_registry_key) +
                               " on this instance left as it is"));

    REQUIRE(fixture.run("uninstall").exit_code == 0);
    CHECK(fixture.root().read(k_registry_file) == k_registry_key + "\n");
    CHECK(fixture.root().read(k_previous_registry_file) == k_old_registry_key + "\n");
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
