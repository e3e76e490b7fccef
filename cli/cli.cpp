#include "cli/cli.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <random>
#include <tuple>
#include <utility>
#include <vector>

#include "cli/credentials_command.h"
#include "cli/registry_command.h"
#include "cli/user_commands.h"
#include "common/fs.h"
#include "engine/engine.h"
#include "engine/pass_report.h"
#include "extension/handler.h"
#include "service/daemon.h"
#include "service/logging.h"

#ifndef DSVM_AGENT_VERSION
#define DSVM_AGENT_VERSION "0.0.0"
#endif

namespace dsvm::cli {

using namespace dsvm::mount;
using namespace dsvm::users;
using namespace dsvm::config;
using namespace dsvm::engine;
using namespace dsvm::extension;
using namespace dsvm::service;

namespace {

constexpr const char* k_default_imds = "http://169.254.169.254";

struct GlobalOptions {
    std::string root = "/";
    std::string config = "/etc/dsvm-agent/pool.json";
    std::string imds = k_default_imds;
    int imds_timeout = 90;
    std::string state_dir = "/var/lib/dsvm-agent";
    std::string log_level = "info";
    // Tests only: where the fake Key Vault listens, and the CA its certificate chains to.
    std::string test_key_vault_url;
    std::string test_key_vault_ca;
};

constexpr const char* k_footer = R"(Files (inside --root):
  /etc/dsvm-agent/pool.json           local pool config (overrides metadata, field by field)
  /var/lib/dsvm-agent/status.json     the last pass's result, as 'status' shows it
  /var/lib/dsvm-agent/state.json      what the agent manages on this instance

Config sources, later overriding earlier: IMDS tags (dsvm-share, dsvm-share-type,
dsvm-mount-point, dsvm-users), IMDS userData {"dsvmPool": {...}}, then pool.json.
Secrets never come from instance metadata; a config that carries one is refused.

Exit status: 0 success, 1 a runtime failure (status says which), 2 bad usage or input.

Examples:
  dsvm-agent reconcile --dry-run       show what a pass would do
  dsvm-agent status                    what the last pass did
  dsvm-agent --imds off reconcile      use only /etc/dsvm-agent/pool.json)";

constexpr const char* k_extension_footer =
    R"(The Azure guest agent runs these in the handler directory (HandlerEnvironment.json).
enable reads <configFolder>/<seq>.settings (seq from $ConfigSequenceNumber, else the highest):
  publicSettings     a pool config (docs/pool-config.md), written to /etc/dsvm-agent/pool.json
  protectedSettings  {"storageAccountKey": "...", "registryKey": "...",
                     "previousRegistryKey": "..."} (each optional) encrypted for the VM's
                     certificate (/var/lib/waagent/<thumbprint>.crt and .prv): the storage key
                     stored for an SMB share in /etc/dsvm-agent/credentials/<account>.cred, the
                     pool's registry key in /etc/dsvm-agent/credentials/registry.key (and
                     registry.previous.key during a rotation), root only, mode 0600
It checks and decrypts everything before it writes anything, then enables and starts (or
reloads) dsvm-agent.service, which does the mounting. With --root other than /, the service is
only enabled offline (systemctl --root). Every command writes <statusFolder>/<seq>.status
(success or error, with the reason) when a sequence number is known, and logs to
<logFolder>/dsvm-agent-extension.log. No key appears in output, logs or status.
uninstall removes what enable recorded in /var/lib/dsvm-agent/extension.json; pool users,
their homes and the share's data are kept.

Exit status: 0 success, 1 a runtime failure (certificate, decryption, disk, service),
2 invalid settings or handler files (nothing was changed).

Example (by hand, as the guest agent would):
  cd /var/lib/waagent/<Publisher>.<Type>-<version> && ConfigSequenceNumber=0 \
    dsvm-agent extension enable
See docs/extension.md.)";

Result<void> check_absolute(const std::string& option, const std::string& value) {
    if (value.empty() || value.front() != '/') {
        return invalid(option + " '" + value +
                       "' must be an absolute path (it is taken inside --root)");
    }
    return {};
}

// Validates the global options and resolves the root to a canonical path, so mount points
// compare equal to what the kernel reports in mountinfo.
Result<Root> check_globals(const GlobalOptions& options) {
    if (auto checked = check_absolute("--config", options.config); !checked) {
        return checked.error();
    }
    if (auto checked = check_absolute("--state-dir", options.state_dir); !checked) {
        return checked.error();
    }
    if (options.imds != "off" && options.imds.rfind("http://", 0) != 0 &&
        options.imds.rfind("https://", 0) != 0) {
        return invalid("--imds '" + options.imds +
                       "' must be an http:// or https:// URL, or 'off'");
    }
    if (!options.test_key_vault_url.empty() &&
        options.test_key_vault_url.rfind("https://", 0) != 0) {
        return invalid("--test-key-vault-url '" + options.test_key_vault_url +
                       "' must be an https:// URL: secrets are only read over TLS");
    }
    if (!options.test_key_vault_ca.empty() &&
        (!path_exists(options.test_key_vault_ca) || is_directory(options.test_key_vault_ca))) {
        return invalid("--test-key-vault-ca '" + options.test_key_vault_ca +
                       "' must be an existing PEM file");
    }
    if (options.imds_timeout < 1 || options.imds_timeout > 3600) {
        return invalid("--imds-timeout " + std::to_string(options.imds_timeout) +
                       " must be between 1 and 3600 seconds");
    }
    // realpath(3): symlinks resolved, the directory must exist.
    std::error_code unresolved;
    const std::string resolved =
        std::filesystem::canonical(options.root, unresolved).generic_string();
    if (unresolved || !is_directory(resolved)) {
        return invalid("--root '" + options.root + "' must be an existing directory");
    }
    return Root(resolved);
}

int show_status(Engine& engine, bool as_json) {
    auto status = engine.last_status();
    if (!status) {
        spdlog::error("{}", status.error().message);
        return 1;
    }
    const std::optional<bool> mounted_now = engine.share_mounted_now(*status);
    if (as_json) {
        auto out = to_json(*status);
        out["live"] = {
            {"shareMounted", mounted_now ? nlohmann::json(*mounted_now) : nlohmann::json(nullptr)}};
        fmt::print("{}\n", out.dump(2));
    } else {
        fmt::print("{}", render_status(*status, mounted_now));
    }
    return 0;
}

}  // namespace

int run_cli(int argc, char** argv, Platform& platform) {
    CLI::App app{
        "dsvm-agent keeps a pool's Data Science VMs alike: it reads the pool config from instance\n"
        "metadata and /etc/dsvm-agent/pool.json, mounts the pool's share and reports what it did.",
        "dsvm-agent"};
    app.footer(k_footer);
    app.require_subcommand(0, 1);
    app.fallthrough();
    GlobalOptions options;
    options.root = platform.default_root;
    app.add_option("--root", options.root,
                   "Directory every path is taken inside (default " + platform.default_root +
                       "; a sandbox for tests)");
    app.add_option("--config", options.config, "Local pool config, inside the root")
        ->capture_default_str();
    app.add_option("--imds", options.imds,
                   "Instance metadata base URL, or 'off' to use local config only")
        ->capture_default_str();
    app.add_option("--imds-timeout", options.imds_timeout,
                   "Seconds to keep retrying instance metadata before using the cached copy")
        ->capture_default_str();
    app.add_option("--state-dir", options.state_dir, "State and status directory, inside the root")
        ->capture_default_str();
    app.add_option("--log-level", options.log_level, "error, warning, info, debug or trace")
        ->capture_default_str();
    // Hidden, for tests that run a fake vault on loopback (docs/security.md): production reads
    // https://<vault>.vault.azure.net verified against the system's CA store, and nothing else.
    app.add_option("--test-key-vault-url", options.test_key_vault_url,
                   "Tests only: the Key Vault base URL (https://) instead of the vault's own")
        ->group("");
    app.add_option("--test-key-vault-ca", options.test_key_vault_ca,
                   "Tests only: the CA bundle the test vault is verified against")
        ->group("");

    auto* run = app.add_subcommand(
        "run", "Daemon: reconcile now and every interval; SIGHUP reconciles at once");
    auto* reconcile = app.add_subcommand("reconcile", "Run one pass: observe, plan, apply, report");
    bool dry_run = false;
    reconcile->add_flag("--dry-run,-n", dry_run, "Print the plan; change and write nothing");
    auto* status =
        app.add_subcommand("status", "Show the last pass: config sources, share, errors");
    bool as_json = false;
    status->add_flag("--json", as_json, "Machine-readable output");
    auto* mount = app.add_subcommand(
        "mount", "Mount the pool's share: a whole pass, as reconcile (the users need the share)");
    auto* unmount = app.add_subcommand(
        "unmount", "Unmount the share the agent mounted (the next pass mounts it again)");
    auto* version = app.add_subcommand("version", "Print the version");

    auto* adduser = app.add_subcommand(
        "adduser", "Add a pool user (same UID on every instance); this instance applies it now");
    AddUserRequest add_request;
    adduser->add_option("NAME", add_request.name, "User name: ^[a-z_][a-z0-9_-]{0,31}$")
        ->required();
    adduser->add_flag("--sudo", add_request.sudo, "Member of dsvm-sudo (sudo for any command)");
    adduser->add_option("--ssh-key", add_request.ssh_key_file,
                        "File of OpenSSH public keys, or - for standard input");
    adduser->add_flag("--password-stdin", add_request.password_stdin,
                      "Read a password from standard input (a prompt without echo on a terminal)");
    adduser->add_option("--groups", add_request.groups,
                        "Comma-separated local groups to join (must exist on the instance)");
    adduser->footer(
        "Running adduser again for an existing pool user updates it (--sudo, keys, groups,\n"
        "password); users listed in the pool config take sudo, groups and keys from it.");
    auto* deluser = app.add_subcommand(
        "deluser", "Lock a pool user on every instance; its UID is never reused");
    std::string del_name;
    bool remove_notebooks = false;
    deluser->add_option("NAME", del_name, "Pool user name")->required();
    deluser->add_flag("--remove-notebooks", remove_notebooks,
                      "Also delete the user's notebook folder on the share");
    auto* users = app.add_subcommand("users", "Pool users from the registry, and their state here");
    bool users_json = false;
    users->add_flag("--json", users_json, "Machine-readable output");

    auto* credentials = app.add_subcommand(
        "credentials", "Manage SMB storage keys (kept in root-only files, never in metadata)");
    credentials->require_subcommand(1);
    auto* credentials_set_command = credentials->add_subcommand(
        "set", "Store the key for a storage account (or SMB server), read from standard input");
    std::string credentials_name_arg;
    std::string credentials_username;
    bool key_stdin = false;
    credentials_set_command
        ->add_option("NAME", credentials_name_arg,
                     "Storage account name (acct in //acct.file.core.windows.net/share)")
        ->required();
    credentials_set_command->add_option("--username", credentials_username,
                                        "User name for the server (default: NAME)");
    credentials_set_command
        ->add_flag("--key-stdin", key_stdin,
                   "Read the key from standard input (a prompt without echo on a terminal)")
        ->required();
    credentials_set_command->footer(
        "Example:\n  az storage account keys list -n acct --query [0].value -o tsv |\n"
        "    dsvm-agent credentials set acct --key-stdin");
    auto* credentials_list_command = credentials->add_subcommand(
        "list", "List stored credentials: names, files, modes; never keys");
    bool credentials_json = false;
    credentials_list_command->add_flag("--json", credentials_json, "Machine-readable output");

    auto* registry = app.add_subcommand(
        "registry", "The pool registry's signing key, and accepting a registry as it is");
    registry->require_subcommand(1);
    auto* registry_set_key_command = registry->add_subcommand(
        "set-key", "Store this instance's registry key, read from standard input");
    bool registry_key_stdin = false;
    bool keep_previous = false;
    registry_set_key_command
        ->add_flag("--key-stdin", registry_key_stdin,
                   "Read the key from standard input (a prompt without echo on a terminal)")
        ->required();
    registry_set_key_command->add_flag(
        "--keep-previous", keep_previous,
        "Keep the key it replaces, so registries it signed still verify during a rotation");
    registry_set_key_command->footer(
        "Every instance of a pool holds the same key; the registry on the share is signed with\n"
        "it, so nobody without it (a pool user, anyone who can write the share) can change it.\n"
        "Example (the same key on every instance, or through the extension's protected\n"
        "setting registryKey):\n"
        "  openssl rand -base64 32 > pool-registry.key   # once, kept by the pool admin\n"
        "  dsvm-agent registry set-key --key-stdin < pool-registry.key\n"
        "Rotation: set-key --keep-previous on every instance, then drop-previous-key on every\n"
        "instance once the registry has been written with the new key.");
    auto* registry_drop_command = registry->add_subcommand(
        "drop-previous-key", "Stop accepting registries signed with the previous key");
    auto* registry_sign_command = registry->add_subcommand(
        "sign", "Accept the registry on the share and sign it with this instance's key");
    SignRequest sign_request;
    std::uint64_t sign_generation = 0;
    registry_sign_command->add_option(
        "--generation", sign_generation,
        "Sign at this generation at least (above what every instance saw; see their status)");
    registry_sign_command->add_flag("--accept-unsigned", sign_request.accept_unsigned,
                                    "Take a registry written by dsvm-agent 0.1 (not signed)");
    registry_sign_command->add_flag(
        "--accept-unverified", sign_request.accept_unverified,
        "Take a registry whose signature fails or whose key this instance does not hold");
    registry_sign_command->add_option(
        "--expect", sign_request.expect,
        "The content digest of the registry you reviewed (`dsvm-agent users` shows it)");
    registry_sign_command->footer(
        "A verified registry is signed again as it is (after a rotation, or to raise its\n"
        "generation). One written by dsvm-agent 0.1 (unsigned), restored from a backup, or\n"
        "changed by hand is signed only as reviewed: look at it with `dsvm-agent users`, then\n"
        "  dsvm-agent registry sign --accept-unsigned --expect <its content digest>\n"
        "The digest makes sure that exactly what you reviewed is signed; without it, sign shows\n"
        "what it would sign and changes nothing. Every instance applies it on its next pass.");

    auto* extension = app.add_subcommand(
        "extension", "Azure VM extension handler entry points (the guest agent runs these)");
    extension->require_subcommand(1);
    ExtensionRequest extension_request;
    extension->add_option("--handler-dir", extension_request.handler_dir,
                          "Directory holding HandlerEnvironment.json (default: the working "
                          "directory, where the guest agent runs the command)");
    const std::tuple<const char*, ExtensionOperation, const char*> extension_operations[] = {
        {"install", ExtensionOperation::Install,
         "Prepare /etc/dsvm-agent (0755) and its credentials directory (0700)"},
        {"enable", ExtensionOperation::Enable,
         "Apply the settings: pool.json, the storage key, then start or reload the service"},
        {"disable", ExtensionOperation::Disable,
         "Stop and disable dsvm-agent.service; the config is kept"},
        {"uninstall", ExtensionOperation::Uninstall,
         "Stop and disable the service; remove the pool.json and key enable wrote"},
        {"update", ExtensionOperation::Update,
         "Nothing to do (the new version's enable follows); reports success"}};
    std::vector<std::pair<CLI::App*, ExtensionOperation>> extension_commands;
    for (const auto& [name, operation, description] : extension_operations) {
        extension_commands.emplace_back(extension->add_subcommand(name, description), operation);
    }
    extension->footer(k_extension_footer);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        if (error.get_exit_code() == 0) {
            return app.exit(error);
        }
        std::fprintf(stderr, "dsvm-agent: %s\nRun 'dsvm-agent --help' for usage.\n", error.what());
        return 2;
    }

    if (app.get_subcommands().empty()) {
        std::fprintf(stderr,
                     "dsvm-agent: a command is required (run, reconcile, status, adduser, deluser, "
                     "users, registry, mount, unmount, credentials, extension, version)\nRun "
                     "'dsvm-agent --help' for usage.\n");
        return 2;
    }
    if (version->parsed()) {
        fmt::print("dsvm-agent {}\n", DSVM_AGENT_VERSION);
        return 0;
    }
    auto level = parse_log_level(options.log_level);
    if (!level) {
        std::fprintf(stderr, "dsvm-agent: %s\n", level.error().message.c_str());
        return 2;
    }
    setup_logging(*level, platform.log_target, platform.log_file);
    auto root = check_globals(options);
    if (!root) {
        spdlog::error("{}", root.error().message);
        return exit_status_for(root.error());
    }

    std::random_device entropy;
    const std::uint64_t seed = (std::uint64_t{entropy()} << 32) | entropy();
    RetryPolicy policy;
    policy.deadline = std::chrono::seconds(options.imds_timeout);
    // The daemon's stop ends a wait for the metadata service: it does not wait out the retries.
    policy.give_up = [&host = platform.service_host] { return host.stop_requested(); };
    std::unique_ptr<ImdsClient> imds;
    std::unique_ptr<KeyVaultClient> vault;
    if (options.imds != "off") {
        imds =
            std::make_unique<ImdsClient>(platform.http, platform.clock, options.imds, policy, seed);
        vault = std::make_unique<KeyVaultClient>(
            platform.http, platform.clock,
            KeyVaultEndpoints{options.imds, options.test_key_vault_url, options.test_key_vault_ca},
            policy, seed ^ 0x9e3779b97f4a7c15ULL);
    }
    const std::unique_ptr<ShareBackend> share = platform.share(*root);
    const std::unique_ptr<AccountBackend> accounts = platform.accounts(*root);
    Engine engine(*root, AgentPaths{options.config, options.state_dir},
                  {.share = *share,
                   .accounts = *accounts,
                   .runner = platform.runner,
                   .clock = platform.clock,
                   .names = platform.name_service ? platform.name_service(*root) : nullptr,
                   .imds = imds.get(),
                   .vault = vault.get(),
                   .guard = platform.guard});

    if (extension->parsed()) {
        for (const auto& [command, operation] : extension_commands) {
            if (command->parsed()) {
                extension_request.operation = operation;
            }
        }
        extension_request.config_file = options.config;
        extension_request.state_dir = options.state_dir;
        if (const char* sequence = std::getenv("ConfigSequenceNumber")) {
            extension_request.sequence_env = sequence;
        }
        if (!platform.extension) {
            spdlog::error(
                "the extension commands are not available on this platform yet (docs/windows.md)");
            return 2;
        }
        return platform.extension(*root, extension_request);
    }
    if (status->parsed()) {
        return show_status(engine, as_json);
    }
    if (credentials_set_command->parsed()) {
        return credentials_set(
            *root, credentials_name_arg,
            credentials_username.empty() ? credentials_name_arg : credentials_username, key_stdin);
    }
    if (credentials_list_command->parsed()) {
        return credentials_list(*root, credentials_json);
    }
    if (registry_set_key_command->parsed()) {
        return registry_set_key(*root, keep_previous);
    }
    if (registry_drop_command->parsed()) {
        return registry_drop_previous_key(*root);
    }
    if (registry_sign_command->parsed()) {
        if (registry_sign_command->count("--generation") > 0) {
            sign_request.generation = sign_generation;
        }
        return registry_sign(engine, *root, sign_request);
    }
    if (adduser->parsed()) {
        return add_user(engine, add_request);
    }
    if (deluser->parsed()) {
        return delete_user(engine, *root, del_name, remove_notebooks);
    }
    if (users->parsed()) {
        return list_users(engine, *root, users_json);
    }
    if (unmount->parsed()) {
        const PassOutcome outcome = engine.unmount_share();
        print_outcomes(outcome.status);
        fmt::print("{}\n", outcome.status.actions.empty()
                               ? "nothing mounted by the agent"
                               : std::string(to_string(outcome.status.result)));
        return outcome.exit_status;
    }
    if (run->parsed()) {
        return run_daemon(engine, platform.service_host, platform.clock, seed);
    }
    if (reconcile->parsed() || mount->parsed()) {
        PassOptions pass;
        pass.dry_run = dry_run;
        pass.key_read = KeyRead::Always;
        return report_pass(engine.reconcile(pass), dry_run);
    }
    return 2;
}

}  // namespace dsvm::cli
