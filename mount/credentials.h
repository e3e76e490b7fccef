// SMB credentials files (mount.cifs credentials= format), one per storage account, under
// /etc/dsvm-agent/credentials/ (directory 0700, files 0600, both owned by root). The key is only
// ever in that file: never in argv, environment, logs, status or any other file.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/ids.h"
#include "common/result.h"
#include "common/root.h"
#include "common/secret.h"

namespace dsvm::mount {

inline constexpr std::string_view k_credentials_dir = "/etc/dsvm-agent/credentials";

// A credentials name (storage account or server) is [A-Za-z0-9][A-Za-z0-9._-]{0,62} without
// "..": it becomes a file name. Invalid otherwise, naming the value and the rule.
Result<void> check_credentials_name(std::string_view name);

// A key is 1-4096 bytes of printable ASCII without leading or trailing spaces (a newline would
// add lines to the credentials file). Invalid otherwise; the message never shows the key.
Result<void> check_storage_key(std::string_view key);

// The path of a name's credentials file inside the root: /etc/dsvm-agent/credentials/NAME.cred.
std::string credentials_path(std::string_view name);

// "username=USER\npassword=KEY\n".
std::string render_credentials(std::string_view username, std::string_view key);

// Creates the directory (0700, root) if needed and replaces NAME.cred atomically with mode 0600.
// Validates name, username (same rule as a name) and key first; Invalid changes nothing.
Result<void> write_credentials(const Root& root, std::string_view name, std::string_view username,
                               std::string_view key);

struct CredentialsFile {
    std::string name;
    std::string path;  // inside the root
    mode_t mode = 0;   // permission bits
    uid_t owner = 0;
    bool secure = false;  // root-owned regular file, no group/other bits, in a safe directory
    std::string problem;  // why not secure, with the fix ("chmod 600 ...")
    // Changes whenever the file is replaced or rewritten (inode, size, mtime); not derived from
    // the key, so it may be stored and shown.
    std::string stamp;
};

// Looks at a name's file without reading the key: lstat only; a symlink, a non-regular file,
// an owner other than root, any group/other permission bit, or a directory writable by others
// makes it insecure. A missing file is a Runtime error naming the command that creates it.
Result<CredentialsFile> inspect_credentials(const Root& root, std::string_view name);

// Whether NAME.cred holds exactly render_credentials(username, key) and is secure (root only):
// then a writer leaves it alone, so its stamp stays and the share is not remounted for nothing.
// Any failure to tell is false. The content is compared in memory that is wiped afterwards.
bool credentials_hold(const Root& root, std::string_view name, std::string_view username,
                      std::string_view key);

// A name's credentials in memory, for a system that takes the key itself rather than the file
// (Windows' SMB global mapping).
struct StoredCredentials {
    std::string username;
    SecretBytes key;
};

// Reads NAME.cred, only when inspect_credentials finds it secure: otherwise a Runtime error
// "refusing to use PATH: <why, with the fix>", as a missing file is. The file must hold one
// username= line (a name's rule) and one password= line (check_storage_key), blank lines aside.
// The key goes straight from the file into `key`; no message ever shows it or the line it is on.
Result<StoredCredentials> read_credentials(const Root& root, std::string_view name);

// Every *.cred file in the directory, by name; an absent directory is an empty list.
Result<std::vector<CredentialsFile>> list_credentials(const Root& root);

}  // namespace dsvm::mount
