// The keys a pool reads from Key Vault (keyVault in the pool config), brought into the files the
// agent already uses: the storage key into /etc/dsvm-agent/credentials/<account>.cred, the
// registry keys into registry.key and registry.previous.key. A file is rewritten only when its
// key changed, so an unchanged key keeps the credentials file's stamp and the share is not
// remounted; a changed storage key changes the stamp, and the pass remounts through the usual
// key-rotation path. A key that cannot be read leaves its file as it is: the last good key
// keeps the share mounted.
#pragma once

#include <string>
#include <vector>

#include "common/root.h"
#include "config/key_vault.h"
#include "config/pool_config.h"
#include "engine/status.h"

namespace dsvm::engine {

struct VaultKeysResult {
    // "Key Vault <vault>": "used" when every secret was read, else "failed"; the detail says
    // which secrets were read and whether they changed (never a value).
    config::SourceReport report;
    // One line per failure, starting "keyVault: ".
    std::vector<std::string> problems;
    bool all_read = false;
    bool storage_key_changed = false;
    bool registry_keys_changed = false;
};

// Reads the secrets `config` names and stores those that changed. `credentials_name` is the SMB
// share's storage account (mount/options.h credentials_name), empty when there is none.
VaultKeysResult sync_vault_keys(config::SecretVault& vault, const config::KeyVaultConfig& config,
                                const Root& root, const std::string& credentials_name);

// Whether a file a configured secret goes to is missing (a new instance, or one an admin wiped).
bool vault_key_file_missing(const config::KeyVaultConfig& config, const Root& root,
                            const std::string& credentials_name);

}  // namespace dsvm::engine
