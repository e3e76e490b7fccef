// The one rule set for pool users (docs/users.md, "Rules for names, groups and keys"): every
// value from the pool config, the registry and the commands passes these checks before it
// reaches the account files, so a rule holds whichever way a value arrives. Each check fails
// Invalid with a message that names the value (escaped, or hidden when it looks like a secret)
// and the rule it broke.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "common/result.h"

namespace dsvm::users {

// A name no pool user may take, and who uses or will use it (docs/users.md lists them all).
struct ReservedName {
    std::string_view name;
    std::string_view owner;  // "the base system", "docker.io (group)", ...
};

// A group never granted through `groups`, and what its members can do that makes it so.
struct PrivilegedGroup {
    std::string_view name;
    std::string_view gives;  // "the Docker daemon's socket: root on the host", ...
};

// A name prefix no pool user may take, and whose names start with it.
struct ReservedPrefix {
    std::string_view prefix;
    std::string_view owner;
};

// The fixed list of reserved user names: the base system's accounts and groups, and those
// common packages create later. Privileged groups are reserved too (see check_user_name), but
// are listed in privileged_groups(), not here.
std::span<const ReservedName> reserved_user_names();

// "dsvm-" (the agent's own names), "systemd-", and "_" (Debian's system accounts).
std::span<const ReservedPrefix> reserved_prefixes();

// The groups that give root or read secrets; "dsvm-" names are privileged as well.
std::span<const PrivilegedGroup> privileged_groups();

// A pool user name matches ^[a-z_][a-z0-9_-]{0,31}$ and is not reserved: not in
// reserved_user_names(), not a privileged group (a pool user's own group has its name, so a
// user named docker would be the docker group), and not starting with a reserved prefix.
// Fails (Invalid) naming the value and the rule or the owner of the name; a value with control
// or non-printable characters is shown escaped.
Result<void> check_user_name(std::string_view name);

// ^[a-z_][a-z0-9_-]{0,31}$. Says nothing about privilege (see check_group_grant). Fails
// (Invalid) with "<path>: group name '<name>' is not allowed: ...".
Result<void> check_group_name(std::string_view path, std::string_view name);

// True for a name in privileged_groups() and for any name starting with "dsvm-".
bool is_privileged_group(std::string_view name);

// A group a pool user may be given through `groups`: check_group_name, and not privileged —
// sudo comes only from "sudo": true, and no privileged group is ever granted. Fails (Invalid)
// with "<path>: group '<name>' is privileged (<what it gives>) ...".
Result<void> check_group_grant(std::string_view path, std::string_view name);

// One line "type base64 [comment]" of at most 16384 characters, with a known key type
// (ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256/384/521, and their sk- forms) whose base64 data
// holds that type; no authorized_keys options, no line breaks or control characters. Fails
// (Invalid) with "<path>: ..." naming the rule.
Result<void> check_ssh_key(std::string_view path, std::string_view key);

// A value holding something shaped like an Azure storage account key (86-88 base64 characters
// of mixed case and digits) or a SAS token ("sig="), which no message may show.
bool looks_like_secret_value(std::string_view value);

// The value quoted and escaped for a message ("'al\x1bice'"), or a note in its place when it
// looks like a secret.
std::string shown_value(std::string_view value);

}  // namespace dsvm::users
