// The per-field rules of the pool config (docs/pool-config.md, "Fields"), apart from the schema
// walk in pool_config.cpp that applies them. Every check fails Invalid with a message that starts
// with the field path it was given and names the rule; none shows a value that looks like a secret.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/result.h"
#include "config/pool_config.h"
#include "users/rules.h"

namespace dsvm::config::rules {

// Where storage keys belong, for every refusal of a secret.
inline constexpr std::string_view k_keys_belong =
    "storage keys go in Azure Key Vault (keyVault in the pool config names the secret), the "
    "extension's protected settings or, through `dsvm-agent credentials set`, in "
    "/etc/dsvm-agent/credentials/<account>.cred (mode 0600)";

// Why metadata never carries secrets; followed by k_keys_belong in every such refusal.
inline constexpr std::string_view k_no_secrets_in_metadata =
    "secrets never come from instance metadata, which any process on the VM can read";

// The items as "a, b, c", for the lists of allowed values in messages.
std::string joined(std::span<const std::string_view> items);

// A key name that suggests a secret (case-insensitive key, password, passwd, secret, token,
// credential, sas, signature), except the schema's own "sshKeys".
bool looks_like_secret_name(std::string_view name);

// users/rules.h: a value shaped like a storage account key or a SAS token.
using users::looks_like_secret_value;

// users/rules.h shown_value: the value quoted and escaped for an error message, or a note in its
// place when it looks like a secret.
inline std::string shown(std::string_view value) {
    return users::shown_value(value);
}

// What a share source's shape says: SMB "//host/share[/sub...]", NFS "host:/export" or a local
// directory to bind, and the share name a default mount point is derived from (empty for an
// NFS root export "host:/").
struct SourceShape {
    mount::ShareType type = mount::ShareType::Bind;
    std::string share_name;
};

// Parses share.source. Fails when it has none of the three shapes, a bad host, ',', whitespace,
// control characters, or an '@' (a user name or password part, never shown); a bind source
// follows the mount point rules.
Result<SourceShape> parse_source(std::string_view path, std::string_view source);

// An absolute, normalised path (no ".", "..", "//" or trailing "/") that is not "/", not a
// system directory (/etc, /usr, ...) or inside one, and not one of the top-level directories
// that hold other things (/home, /tmp, /mnt, /datamnt, ...).
// Also not inside /home, /root or /tmp.
Result<void> check_mount_point(std::string_view path, std::string_view mount_point);

// A mount point from instance metadata (a tag): check_mount_point, and under /datamnt.
Result<void> check_metadata_mount_point(std::string_view path, std::string_view mount_point);

// Comma-separated "key" or "key=value" items of [A-Za-z0-9_.=:/+-]; empty is allowed. Keys
// that carry credentials (password, user, credentials, ...) are refused.
Result<void> check_options(std::string_view path, std::string_view options);

// users/rules.h, the one rule set for users, which the registry and the commands apply too:
// an OpenSSH public key; a group name's syntax; a group a user may be given (not privileged).
using users::check_group_grant;
using users::check_group_name;
using users::check_ssh_key;

// A relative path below the share root with "{user}" exactly once and no "." or ".." parts.
Result<void> check_notebooks(std::string_view path, std::string_view pattern);

// 1000 <= min <= max <= 2147483646, clear of systemd's 60001-65535.
Result<void> check_uid_range(std::string_view path, std::int64_t min, std::int64_t max);

// Whole seconds from 10 to 86400.
Result<void> check_interval(std::string_view path, std::int64_t seconds);

// A Key Vault name, as Azure allows it: 3-24 of [A-Za-z0-9-], starting with a letter, ending
// with a letter or digit, no "--". It becomes the host name <vault>.vault.azure.net.
Result<void> check_vault_name(std::string_view path, std::string_view name);

// A Key Vault secret name: 1-127 of [0-9A-Za-z-]. It becomes a URL path segment.
Result<void> check_secret_name(std::string_view path, std::string_view name);

// A managed identity's client id: a GUID, 8-4-4-4-12 hex digits.
Result<void> check_client_id(std::string_view path, std::string_view id);

// keyVault.refreshInterval: whole seconds from 60 to 86400.
Result<void> check_refresh_interval(std::string_view path, std::int64_t seconds);

}  // namespace dsvm::config::rules
