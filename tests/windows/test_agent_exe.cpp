// The Windows exe as an admin runs it, under wine: `version` and `--help` of dsvm-agent.exe
// itself, and a dry run of the same command line on the recording fakes of the system's APIs
// (dsvm-agent-fakes.exe: wine has no SMB mapping provider and stubs the account API) against a
// metadata service on loopback with an SMB pool. The storage key goes in on standard input and
// must come out in no output. Then the extension handler as the Windows guest agent runs it: on
// the fakes (the SCM, and CryptDecryptMessage for the test messages of
// tests/data/protected-settings/) and, up to the certificate store, on dsvm-agent.exe itself.
#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "common/fs.h"
#include "common/process.h"
#include "common/root.h"
#include "mount/credentials.h"
#include "support/loopback_server_win32.h"
#include "support/temporary_directory_win32.h"
#include "users/registry_key.h"

using namespace dsvm;
using namespace dsvm::test;

namespace {

// Wine shows the host's / as drive Z:.
std::string windows_path(const char* host_path) {
    return std::string("Z:") + host_path;
}

std::string base64(std::string_view text) {
    static constexpr char k_alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    for (std::size_t i = 0; i < text.size(); i += 3) {
        const std::size_t left = text.size() - i;
        std::uint32_t chunk = static_cast<unsigned char>(text[i]) << 16;
        chunk |= left > 1 ? static_cast<unsigned char>(text[i + 1]) << 8 : 0;
        chunk |= left > 2 ? static_cast<unsigned char>(text[i + 2]) : 0;
        out += k_alphabet[(chunk >> 18) & 63];
        out += k_alphabet[(chunk >> 12) & 63];
        out += left > 1 ? k_alphabet[(chunk >> 6) & 63] : '=';
        out += left > 2 ? k_alphabet[chunk & 63] : '=';
    }
    return out;
}

// The metadata document of a Windows pool instance whose userData holds the pool config `pool`.
std::string imds_document(const std::string& pool) {
    return R"({"compute": {"name": "pool_4", "osType": "Windows", "tagsList": [], "userData": ")" +
           base64(R"({"dsvmPool": )" + pool + "}") +
           R"(", "vmId": "02aab8a4-74ef-476e-8182-f6d2ba4166a6"}})";
}

CommandResult run(const std::vector<std::string>& argv, std::string_view input = {}) {
    SystemProcessRunner runner;
    auto ran = runner.run(argv, input, std::chrono::seconds(60));
    REQUIRE(ran);
    return *ran;
}

bool contains(const std::string& text, std::string_view part) {
    return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("windows exe: version and --help run, and --help names the Windows root", "[agent-exe]") {
    const std::string exe = windows_path(DSVM_AGENT_EXE);
    const CommandResult version = run({exe, "version"});
    INFO(version.err);
    CHECK(version.exit_code == 0);
    CHECK(contains(version.out, DSVM_AGENT_VERSION));

    const CommandResult help = run({exe, "--help"});
    INFO(help.err);
    CHECK(help.exit_code == 0);
    CHECK(contains(help.out, "reconcile"));
    CHECK(contains(help.out, "adduser"));
    CHECK(contains(help.out, "default C:/ProgramData/dsvm-agent"));

    // `run` is the service's: from a console it says how to start the service.
    const CommandResult daemon = run({exe, "run"});
    CHECK(daemon.exit_code == 2);
    CHECK(contains(daemon.err, "sc.exe start dsvm-agent"));
}

TEST_CASE("windows exe: a dry run lists the mapping, the users' homes and links, and shows no key",
          "[agent-exe]") {
    const std::string exe = windows_path(DSVM_AGENT_FAKES_EXE);
    const std::string key = "c3RvcmFnZS1rZXktZm9yLWEtZHJ5LXJ1bi0wMTIzNDU2Nzg5YWJjZGVm+/==";
    TemporaryDirectory root;

    const CommandResult set =
        run({exe, "--root", root.path(), "credentials", "set", "acct", "--key-stdin"}, key + "\n");
    INFO(set.out << set.err);
    REQUIRE(set.exit_code == 0);

    LoopbackServer imds;
    const std::string pool =
        R"({"share": {"source": "//acct.file.core.windows.net/pool", "smbAccess": "shared"},
            "users": [{"name": "alice", "sshKeys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOVBMq5Mpj6TIleWKV4Qi3ll8n4jG+wePC90IL4Y6klz alice@laptop"]},
                      {"name": "bob", "sudo": true}]})";
    // One answer per pass: the metadata client asks once when it is answered.
    imds.enqueue({200, imds_document(pool)});
    const CommandResult dry =
        run({exe, "--root", root.path(), "--imds", imds.base_url(), "reconcile", "--dry-run"});
    INFO(dry.out << dry.err);
    CHECK(dry.exit_code == 0);
    CHECK_FALSE(imds.requests().empty());
    CHECK(contains(dry.out, "map //acct.file.core.windows.net/pool"));
    CHECK(contains(dry.out, "SMB global mapping"));
    CHECK(contains(dry.out, "alice"));
    CHECK(contains(dry.out, "bob"));
    CHECK(contains(dry.out,
                   "notebooks/remote to \\\\acct.file.core.windows.net\\pool\\notebooks\\alice"));
    CHECK_FALSE(contains(dry.out + dry.err, key));
    CHECK_FALSE(contains(dry.out + dry.err, key.substr(0, 16)));
    // A dry run writes nothing, not even the status file.
    CHECK_FALSE(path_exists(root / "var/lib/dsvm-agent/status.json"));

    // A pass under a --root other than the agent's own maps nothing and creates no account: the
    // mappings and accounts are the machine's.
    imds.enqueue({200, imds_document(pool)});
    const CommandResult pass =
        run({exe, "--root", root.path(), "--imds", imds.base_url(), "reconcile"});
    INFO(pass.out << pass.err);
    CHECK(pass.exit_code == 1);
    CHECK(contains(pass.out + pass.err, "is the machine's, not --root's"));
    CHECK_FALSE(contains(pass.out + pass.err, "create user alice"));
    CHECK_FALSE(contains(pass.out + pass.err, key));

    // Without smbAccess "shared" the pool cannot be served by a Windows instance: refused with
    // the setting named, exit 2.
    const std::string per_user = R"({"share": {"source": "//acct.file.core.windows.net/pool"}})";
    imds.enqueue({200, imds_document(per_user)});
    const CommandResult refused =
        run({exe, "--root", root.path(), "--imds", imds.base_url(), "reconcile", "--dry-run"});
    INFO(refused.out << refused.err);
    CHECK(refused.exit_code == 2);
    CHECK(contains(refused.out + refused.err, "smbAccess"));
}

namespace {

constexpr const char* k_thumbprint = "9C231D95FF510D83493608A93CBFB366E1AC9124";
// The keys in tests/data/protected-settings/settings.json, which the fakes exe's
// CryptDecryptMessage gives for settings.aes256.der.
constexpr const char* k_storage_key = "dGhyb3ctYXdheSB0ZXN0IGtleSwgbm90IGEgc2VjcmV0";
constexpr const char* k_registry_key = "throw-away-registry-key-for-tests-only-0123456789";

std::string read_whole(const std::string& path) {
    auto text = read_file_if_exists(path);
    REQUIRE(text);
    return text->found ? text->text : std::string();
}

std::string test_data(const std::string& name) {
    return read_whole(windows_path(DSVM_TEST_DATA_DIR) + "/protected-settings/" + name);
}

// JSON text for a Windows path: backslashes, as the guest agent writes them.
std::string json_path(std::string path) {
    std::string out;
    for (const char c : path) {
        out += c == '/' || c == '\\' ? std::string("\\\\") : std::string(1, c);
    }
    return out;
}

// A handler directory as the Windows guest agent makes one (C:\Packages\Plugins\<Publisher>.
// <Type>\<version>\), in a scratch folder: HandlerEnvironment.json naming its RuntimeSettings,
// Status and log folders, and RuntimeSettings\0.settings.
struct HandlerDir {
    explicit HandlerDir(const TemporaryDirectory& scratch)
        : dir(scratch / "Packages/Plugins/Microsoft.DSVM.DsvmAgent/1.0.0"),
          logs(scratch / "WindowsAzure/Logs/Plugins/Microsoft.DSVM.DsvmAgent/1.0.0") {
        REQUIRE(make_directories(dir + "/RuntimeSettings", 0755));
        REQUIRE(write_file_atomic(
            dir + "/HandlerEnvironment.json",
            R"([{"name": "Microsoft.DSVM.DsvmAgent", "version": 1.0, "handlerEnvironment": {"logFolder": ")" +
                json_path(logs) + R"(", "configFolder": ")" + json_path(dir + "/RuntimeSettings") +
                R"(", "statusFolder": ")" + json_path(dir + "/Status") +
                R"(", "heartbeatFile": ")" + json_path(dir + "/HeartBeat.Json") + R"("}}])",
            0644));
    }
    void settings(const std::string& public_settings, const std::string& protected_der) {
        REQUIRE(write_file_atomic(
            dir + "/RuntimeSettings/0.settings",
            R"({"runtimeSettings": [{"handlerSettings": {"publicSettings": )" + public_settings +
                R"(, "protectedSettings": ")" + base64(protected_der) +
                R"(", "protectedSettingsCertThumbprint": ")" + k_thumbprint + R"("}}]})",
            0644));
    }
    std::string status() const { return read_whole(dir + "/Status/0.status"); }
    std::string log() const { return read_whole(logs + "/dsvm-agent-extension.log"); }

    std::string dir;
    std::string logs;
};

constexpr const char* k_smb_pool =
    R"({"share": {"source": "//acct.file.core.windows.net/pool", "smbAccess": "shared"}})";

// The fake SCM's lines on standard error, which a Windows console stream ends with CR LF.
std::string scm_calls(const CommandResult& result) {
    std::string text;
    for (const char c : result.err) {
        if (c != '\r') {
            text += c;
        }
    }
    return text;
}

void check_no_key(const std::string& text) {
    CHECK_FALSE(contains(text, k_storage_key));
    CHECK_FALSE(contains(text, std::string(k_storage_key).substr(0, 16)));
    CHECK_FALSE(contains(text, k_registry_key));
}

}  // namespace

TEST_CASE(
    "windows exe: extension enable writes pool.json and the keys privately, tells the service, "
    "reports success, and shows no key",
    "[agent-exe][extension]") {
    const std::string exe = windows_path(DSVM_AGENT_FAKES_EXE);
    TemporaryDirectory scratch;
    const std::string root = scratch / "ProgramData/dsvm-agent";
    REQUIRE(make_directories(root, 0755));
    HandlerDir handler(scratch);
    handler.settings(k_smb_pool, test_data("settings.aes256.der"));

    const CommandResult enabled = run(
        {exe, "--fake-default-root", root, "extension", "enable", "--handler-dir", handler.dir});
    INFO(enabled.out << enabled.err);
    CHECK(enabled.exit_code == 0);
    CHECK(contains(read_whole(root + "/etc/dsvm-agent/pool.json"),
                   "//acct.file.core.windows.net/pool"));
    // read_credentials refuses a file anyone but the administrators may read.
    const auto stored = mount::read_credentials(Root(root), "acct");
    REQUIRE(stored.ok());
    CHECK(stored->key.view() == k_storage_key);
    const auto registry = users::read_registry_keys(Root(root));
    REQUIRE(registry.ok());
    CHECK(registry->current.view() == k_registry_key);
    const std::string status = handler.status();
    CHECK(contains(status, R"("status": "success")"));
    CHECK(contains(status, R"("operation": "Enable")"));
    // The MSI leaves the service automatic and running: a new config is a reconcile now.
    CHECK(contains(scm_calls(enabled), "fake SCM: query dsvm-agent\n"));
    CHECK(contains(scm_calls(enabled), "fake SCM: control dsvm-agent 128\n"));
    CHECK_FALSE(contains(scm_calls(enabled), "fake SCM: start dsvm-agent"));
    CHECK(contains(handler.log(), "pool config written to"));
    for (const std::string& text : {enabled.out + enabled.err, status, handler.log(),
                                    read_whole(root + "/etc/dsvm-agent/pool.json"),
                                    read_whole(root + "/var/lib/dsvm-agent/extension.json")}) {
        check_no_key(text);
    }

    // The guest agent runs enable again on every boot: nothing changes, the service is left.
    const CommandResult again = run(
        {exe, "--fake-default-root", root, "extension", "enable", "--handler-dir", handler.dir});
    INFO(again.out << again.err);
    CHECK(again.exit_code == 0);
    CHECK(contains(again.out, "pool config unchanged"));
    CHECK(contains(again.out, "already running"));
    CHECK_FALSE(contains(scm_calls(again), "fake SCM: control"));

    // disable stops the service and keeps it from starting at boot.
    const CommandResult disabled = run(
        {exe, "--fake-default-root", root, "extension", "disable", "--handler-dir", handler.dir});
    INFO(disabled.out << disabled.err);
    CHECK(disabled.exit_code == 0);
    CHECK(contains(scm_calls(disabled), "fake SCM: start-type dsvm-agent on-demand\n"));
    CHECK(contains(scm_calls(disabled), "fake SCM: control dsvm-agent 1\n"));
    CHECK(path_exists(root + "/etc/dsvm-agent/pool.json"));
}

TEST_CASE(
    "windows exe: extension enable refuses bad settings with exit 2, status error, and writes "
    "nothing",
    "[agent-exe][extension]") {
    const std::string exe = windows_path(DSVM_AGENT_FAKES_EXE);
    TemporaryDirectory scratch;
    const std::string root = scratch / "ProgramData/dsvm-agent";
    REQUIRE(make_directories(root, 0755));
    HandlerDir handler(scratch);
    const std::string der = test_data("settings.aes256.der");

    struct Case {
        std::string public_settings;
        std::string rule;
    };
    const Case cases[] = {
        // A key in the public settings, which anyone who can read the VM reads.
        {R"({"share": {"source": "//acct.file.core.windows.net/pool", "smbAccess": "shared"},
             "storageAccountKey": "abc"})",
         "storageAccountKey"},
        // Windows serves an SMB share only as one global mapping for every user.
        {R"({"share": {"source": "//acct.file.core.windows.net/pool"}})", "smbAccess"},
        {R"({"share": {"source": "//acct.file.core.windows.net/pool", "smbAccess": "shared"},
             "interval": -5})",
         "interval"},
        // Windows has no metadata guard, so its passes never read a vault.
        {R"({"share": {"source": "//acct.file.core.windows.net/pool", "smbAccess": "shared"},
             "keyVault": {"vault": "contoso-pool-kv",
                          "secrets": {"storageAccountKey": "storage-key"}}})",
         "keyVault: not supported on this platform"},
    };
    for (const Case& bad : cases) {
        handler.settings(bad.public_settings, der);
        const CommandResult refused = run({exe, "--fake-default-root", root, "extension", "enable",
                                           "--handler-dir", handler.dir});
        INFO(bad.public_settings << "\n" << refused.out << refused.err);
        CHECK(refused.exit_code == 2);
        CHECK(contains(refused.err, bad.rule));
        const std::string status = handler.status();
        CHECK(contains(status, R"("status": "error")"));
        CHECK(contains(status, R"("code": 2)"));
        CHECK(contains(status, bad.rule));
        CHECK_FALSE(path_exists(root + "/etc/dsvm-agent/pool.json"));
        CHECK_FALSE(path_exists(root + "/etc/dsvm-agent/credentials/acct.cred"));
        CHECK_FALSE(path_exists(root + "/etc/dsvm-agent/credentials/registry.key"));
        CHECK_FALSE(contains(scm_calls(refused), "fake SCM: control"));
        CHECK_FALSE(contains(scm_calls(refused), "fake SCM: start"));
        for (const std::string& text : {refused.out + refused.err, status, handler.log()}) {
            check_no_key(text);
        }
    }

    // Protected settings that are not base64.
    REQUIRE(write_file_atomic(
        handler.dir + "/RuntimeSettings/0.settings",
        std::string(R"({"runtimeSettings": [{"handlerSettings": {"publicSettings": )") +
            k_smb_pool +
            R"(, "protectedSettings": "not base64!", "protectedSettingsCertThumbprint": ")" +
            k_thumbprint + R"("}}]})",
        0644));
    const CommandResult garbled = run(
        {exe, "--fake-default-root", root, "extension", "enable", "--handler-dir", handler.dir});
    INFO(garbled.out << garbled.err);
    CHECK(garbled.exit_code == 2);
    CHECK(contains(garbled.err, "protectedSettings is not base64"));
    CHECK(contains(handler.status(), R"("status": "error")"));
    CHECK_FALSE(path_exists(root + "/etc/dsvm-agent/pool.json"));
}

TEST_CASE(
    "windows exe: dsvm-agent.exe runs the extension handler, looks for the certificate in the "
    "machine's personal store, and leaves the machine's service alone under another --root",
    "[agent-exe][extension]") {
    const std::string exe = windows_path(DSVM_AGENT_EXE);
    TemporaryDirectory scratch;
    const std::string root = scratch / "root";
    REQUIRE(make_directories(root, 0755));
    HandlerDir handler(scratch);
    handler.settings(k_smb_pool, test_data("settings.aes256.der"));

    // The wine prefix's LocalMachine\My has no such certificate (or, in a new prefix, the store
    // is not made yet): a runtime error, nothing written.
    const CommandResult missing =
        run({exe, "--root", root, "extension", "enable", "--handler-dir", handler.dir});
    INFO(missing.out << missing.err);
    CHECK(missing.exit_code == 1);
    CHECK(contains(missing.err, "LocalMachine\\My"));
    CHECK(contains(handler.status(), R"("status": "error")"));
    CHECK_FALSE(path_exists(root + "/etc/dsvm-agent/pool.json"));

    // install makes the config folders; disable under a sandbox root skips the machine's service.
    const CommandResult installed =
        run({exe, "--root", root, "extension", "install", "--handler-dir", handler.dir});
    INFO(installed.out << installed.err);
    CHECK(installed.exit_code == 0);
    CHECK(path_exists(root + "/etc/dsvm-agent/credentials"));
    const CommandResult disabled =
        run({exe, "--root", root, "extension", "disable", "--handler-dir", handler.dir});
    INFO(disabled.out << disabled.err);
    CHECK(disabled.exit_code == 0);
    CHECK(contains(disabled.out, "stopping it skipped"));
}
