#include "engine/key_sync.h"

#include <spdlog/spdlog.h>

#include <optional>

#include "common/fs.h"
#include "mount/credentials.h"
#include "users/registry_key.h"

namespace dsvm::engine {

using namespace dsvm::mount;
using namespace dsvm::users;
using namespace dsvm::config;

namespace {

// `az keyvault secret set --file` stores a file as it is, so a key written with echo ends in a
// newline; one line ending is dropped, anything else is the key's own rules' business.
void drop_line_ending(SecretBytes& value) {
    std::size_t size = value.size();
    if (size > 0 && value.view()[size - 1] == '\n') {
        --size;
        if (size > 0 && value.view()[size - 1] == '\r') {
            --size;
        }
    }
    value.set_size(size);
}

struct Secret {
    const char* field;  // keyVault.secrets.<field>
    const std::string* name;
    std::optional<SecretBytes> value;
};

}  // namespace

bool vault_key_file_missing(const KeyVaultConfig& config, const Root& root,
                            const std::string& credentials_name) {
    if (!config.storage_account_key.empty() && !credentials_name.empty() &&
        !path_exists(root.path(credentials_path(credentials_name)))) {
        return true;
    }
    return !config.registry_key.empty() && !path_exists(root.path(k_registry_key_path));
}

VaultKeysResult sync_vault_keys(SecretVault& vault, const KeyVaultConfig& config, const Root& root,
                                const std::string& credentials_name) {
    VaultKeysResult result;
    result.report.name = "Key Vault " + config.vault;
    std::vector<Secret> secrets;
    if (!config.storage_account_key.empty()) {
        secrets.push_back({"storageAccountKey", &config.storage_account_key, std::nullopt});
    }
    if (!config.registry_key.empty()) {
        secrets.push_back({"registryKey", &config.registry_key, std::nullopt});
    }
    if (!config.previous_registry_key.empty()) {
        secrets.push_back({"previousRegistryKey", &config.previous_registry_key, std::nullopt});
    }

    std::vector<std::string> done;
    for (std::size_t i = 0; i < secrets.size(); ++i) {
        Secret& secret = secrets[i];
        auto read = vault.read_secret(config.vault, config.client_id, *secret.name);
        if (!read.ok()) {
            // No identity, or no answer from the identity endpoint or the vault, will not be
            // different for the next secret: said once, without waiting out its retries again.
            const bool pass_wide = read.error.kind == VaultFailure::NoIdentity ||
                                   read.error.kind == VaultFailure::Unreachable;
            const std::size_t left = pass_wide ? secrets.size() - i - 1 : 0;
            result.problems.push_back(
                "keyVault: " + read.error.message + "; the key this instance holds stays in use" +
                (left > 0 ? " (" + std::to_string(left) + " more secret(s) not tried)" : ""));
            if (pass_wide) {
                break;
            }
            continue;
        }
        drop_line_ending(read.value);
        const std::string field = secret.field;
        const auto checked = field == "storageAccountKey" ? check_storage_key(read.value.view())
                                                          : check_registry_key(read.value.view());
        if (!checked) {
            result.problems.push_back("keyVault: secret " + *secret.name + " in vault " +
                                      config.vault + " is not a usable " + field + ": " +
                                      checked.error().message +
                                      "; the key this instance holds stays in use");
            continue;
        }
        secret.value = std::move(read.value);
    }

    for (Secret& secret : secrets) {
        if (!secret.value || std::string_view(secret.field) != "storageAccountKey") {
            continue;
        }
        const std::string_view key = secret.value->view();
        if (credentials_name.empty() ||
            credentials_hold(root, credentials_name, credentials_name, key)) {
            done.push_back(std::string(secret.field) + " unchanged");
            continue;
        }
        if (auto written = write_credentials(root, credentials_name, credentials_name, key);
            !written) {
            result.problems.push_back("keyVault: cannot store the storage key read from vault " +
                                      config.vault + ": " + written.error().message);
            continue;
        }
        result.storage_key_changed = true;
        done.push_back(std::string(secret.field) + " stored in " +
                       credentials_path(credentials_name));
        spdlog::info("storage key for {} read from Key Vault {} and stored in {}", credentials_name,
                     config.vault, credentials_path(credentials_name));
    }

    // The registry keys go together: a rotation's new and previous key, or the new key alone,
    // which drops the previous one (as the extension's registryKey without previousRegistryKey).
    const Secret* current = nullptr;
    const Secret* previous = nullptr;
    bool registry_failed = false;
    for (const Secret& secret : secrets) {
        const std::string_view field = secret.field;
        if (field == "registryKey" || field == "previousRegistryKey") {
            (field == "registryKey" ? current : previous) = &secret;
            registry_failed = registry_failed || !secret.value;
        }
    }
    if (current != nullptr && !registry_failed) {
        const std::string_view new_key = current->value->view();
        const std::string_view old_key =
            previous != nullptr ? previous->value->view() : std::string_view();
        auto held = read_registry_keys(root);
        if (held && held->current.view() == new_key && held->previous.view() == old_key) {
            done.push_back(previous != nullptr ? "registry keys unchanged"
                                               : "registryKey unchanged");
        } else if (auto written = write_registry_keys(root, new_key, old_key); !written) {
            result.problems.push_back("keyVault: cannot store the registry key read from vault " +
                                      config.vault + ": " + written.error().message);
        } else {
            result.registry_keys_changed = true;
            const std::string id = registry_key_id(new_key);
            done.push_back(
                "registry key " + id + " stored" +
                (previous != nullptr ? " (previous " + registry_key_id(old_key) + ")" : ""));
            spdlog::info("registry key {} read from Key Vault {} and stored", id, config.vault);
        }
    }

    result.all_read = result.problems.empty();
    result.report.state = result.all_read ? SourceState::Used : SourceState::Failed;
    std::string detail;
    for (const std::string& item : done) {
        detail += (detail.empty() ? "" : ", ") + item;
    }
    if (!result.all_read) {
        detail += std::string(detail.empty() ? "" : "; ") + std::to_string(result.problems.size()) +
                  " problem(s), see problems";
    }
    result.report.detail = detail;
    return result;
}

}  // namespace dsvm::engine
