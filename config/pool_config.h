// The pool config contract (docs/design.md, "The pool configuration"): its sources as layers, their
// field-by-field merge, and validation into a typed PoolConfig. Pure: text and JSON in, values or
// errors out.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "config/imds.h"
#include "mount/share.h"
#include "users/sudo.h"

namespace dsvm::config {

struct ShareConfig {
    std::string source;
    mount::ShareType type = mount::ShareType::Bind;
    std::string mount_point;  // absolute, normalised; defaulted to /datamnt/<share name>
    std::string options;      // extra mount options, comma-separated, may be empty
    mount::SmbAccess smb_access = mount::SmbAccess::PerUser;

    // An SMB share each user reaches through a mount of their own folder (docs/users.md).
    bool per_user_smb() const {
        return type == mount::ShareType::Smb && smb_access == mount::SmbAccess::PerUser;
    }

    bool operator==(const ShareConfig&) const = default;
};

struct UserConfig {
    std::string name;
    bool sudo = false;
    std::vector<std::string> ssh_keys;
    std::vector<std::string> groups;

    bool operator==(const UserConfig&) const = default;
};

// keyVault: where the instance reads its keys with its managed identity (docs/pool-config.md).
// Every field names something in Azure; none is a secret.
struct KeyVaultConfig {
    std::string vault;                // https://<vault>.vault.azure.net
    std::string client_id;            // a user-assigned identity; empty: the system-assigned one
    int refresh_interval = 3600;      // seconds between reads
    std::string storage_account_key;  // secret names; empty when not read from the vault
    std::string registry_key;
    std::string previous_registry_key;  // only with registry_key

    bool operator==(const KeyVaultConfig&) const = default;
};

struct PoolConfig {
    std::optional<ShareConfig> share;
    std::optional<KeyVaultConfig> key_vault;
    std::vector<UserConfig> users;
    std::string notebooks = "notebooks/{user}";
    std::uint32_t uid_min = 20000;
    std::uint32_t uid_max = 59999;
    int interval = 60;  // seconds
    users::SudoAuthentication sudo_authentication = users::SudoAuthentication::Password;

    bool operator==(const PoolConfig&) const = default;
};

// One source's contribution, as a JSON object in pool-config shape. `origin` names the source in
// errors ("IMDS tags", "IMDS userData", "/etc/dsvm-agent/pool.json").
struct ConfigLayer {
    std::string origin;
    nlohmann::json data = nlohmann::json::object();
};

// Tags dsvm-share, dsvm-share-type, dsvm-mount-point, dsvm-users become a layer; other tags
// that do not start with "dsvm-" are ignored. An unknown dsvm-* tag is Invalid; a tag whose name
// looks like a secret (key, password, token, sas, ...) is Invalid and its value is never echoed.
Result<ConfigLayer> layer_from_tags(const std::vector<ImdsTag>& tags);

// userData (decoded): a JSON object whose "dsvmPool" holds a pool config. Not JSON, not an
// object, or no "dsvmPool" → std::nullopt (it may be a cloud-init document). A dsvmPool that
// breaks the schema, or carries anything secret-like, is Invalid.
Result<std::optional<ConfigLayer>> layer_from_user_data(std::string_view user_data);

// The text of pool.json (origin names the file). Must be a JSON object in pool-config shape.
Result<ConfigLayer> layer_from_file(std::string_view text, std::string origin);

// Checks one layer against the schema: known keys only (an unknown key is Invalid and is named
// with its path, e.g. "share.mountpiont"), right types, each field's own rule. Errors are
// prefixed with the layer's origin. A layer from metadata, which every process on the VM can
// read, is also refused when it carries anything secret-like.
enum class LayerSource { Local, Metadata };
Result<void> check_layer(const ConfigLayer& layer, LayerSource source);

// Later layers override earlier ones field by field: objects merge key by key, every other
// value (strings, numbers, arrays such as users) replaces the earlier one whole.
nlohmann::json merge_layers(const std::vector<ConfigLayer>& layers);

// Validates a merged config and fills in defaults (type inferred from the source, mount point
// /datamnt/<share name>). Cross-field rules (e.g. an smb type with an NFS-shaped source) are
// checked here. Errors name the field and the rule.
Result<PoolConfig> build_pool_config(const nlohmann::json& merged);

// The canonical JSON form (camelCase keys as in the schema), for caching and status.
nlohmann::json to_json(const PoolConfig& config);

}  // namespace dsvm::config
