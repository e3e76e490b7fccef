// `dsvm-agent extension install|enable|disable|uninstall|update`: the Azure VM extension handler
// (docs/extension.md, "Commands"). The guest agent runs these in the handler directory; enable
// turns the extension's settings into /etc/dsvm-agent/pool.json and a root-only credentials file
// and hands the long work to dsvm-agent.service. Every command writes <statusFolder>/<seq>.status
// when a sequence number is known. See docs/extension.md.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/result.h"
#include "common/root.h"
#include "common/secret.h"
#include "config/pool_config.h"
#include "extension/service.h"

namespace dsvm::extension {

enum class ExtensionOperation { Install, Enable, Disable, Uninstall, Update };

// "Install", "Enable", ... as the status file names the operation.
std::string_view to_string(ExtensionOperation operation);

struct ExtensionRequest {
    ExtensionOperation operation = ExtensionOperation::Enable;
    // Where HandlerEnvironment.json is; empty for the working directory. Not joined to the root:
    // it and the folders it names are the guest agent's, used as written.
    std::string handler_dir;
    std::string config_file = "/etc/dsvm-agent/pool.json";  // inside the root
    std::string state_dir = "/var/lib/dsvm-agent";          // inside the root
    std::optional<std::string> sequence_env;                // $ConfigSequenceNumber, when set
};

// Decrypts the protected settings (base64-decoded `der`) for the certificate `thumbprint` names,
// as decrypt_protected_settings (extension/crypto.h) does on the platform.
using DecryptProtectedSettings = std::function<Result<SecretBytes>(
    const Root& root, std::string_view thumbprint, std::string_view der)>;

// What the commands act on besides files, chosen by the composition root.
struct ExtensionPorts {
    ServiceControl& service;  // the agent's service: systemd on Linux, the SCM on Windows
    Clock& clock;             // the status's timestamps, the update marker's age
    DecryptProtectedSettings decrypt;
    // The platform's own rules for a share (engine::ShareBackend::check: Windows serves only
    // "shared" SMB), so that enable refuses a config the service would refuse on every pass;
    // null: none beyond the pool config's.
    std::function<Result<void>(const config::ShareConfig& share)> check_share;
    // Whether the platform has the metadata guard (engine::MetadataGuard), without which a pass
    // never reads a Key Vault: where it has none (Windows), enable refuses keyVault.
    bool metadata_guard = true;
};

// Runs one operation and returns the exit status: 0 success, 2 invalid settings or handler files
// (nothing changed), 1 a runtime failure. enable validates and decrypts everything before it
// writes anything; on any failure pool.json and the credentials stay as they were and the status
// file says "error" with a message that names what is wrong and never shows the key.
int run_extension(const Root& root, const ExtensionRequest& request, const ExtensionPorts& ports);

}  // namespace dsvm::extension
