// A pool user's SSH keys in ~/.ssh/authorized_keys, between marker lines, so keys the user added
// stay. Root works inside the user's home without ever following a symlink.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/ids.h"
#include "common/result.h"
#include "common/root.h"
#include "users/authorized_keys.h"

namespace dsvm::users {

// Opens the home (O_DIRECTORY|O_NOFOLLOW; it must be owned by uid), then .ssh (created 0700,
// owned uid:gid, if missing; refused if it is a symlink or owned by someone else), reads
// authorized_keys (O_NOFOLLOW; a symlink is refused), and writes the merged text through a
// temporary file renamed in the same directory (renameat), mode 0600, owned uid:gid. A refusal
// is a Runtime error naming the path and why. Returns whether the file changed.
Result<bool> write_authorized_keys(const Root& root, std::string_view home, uid_t uid, gid_t gid,
                                   const std::vector<std::string>& keys);

// Whether write_authorized_keys with these arguments would change anything, creating nothing: a
// missing home or .ssh would change only when there are keys to write. The same refusals (a
// symlink, another owner) are errors here too, so a dry run shows what the pass would report.
Result<bool> authorized_keys_differ(const Root& root, std::string_view home, uid_t uid,
                                    const std::vector<std::string>& keys);

}  // namespace dsvm::users
