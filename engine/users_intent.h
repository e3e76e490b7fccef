// The intent record (docs/users.md, "Crash safety"): before the account batch creates users, the
// pass writes which ones (name, uid, gid) to <state dir>/users-intent.json, and removes it once
// the state file lists them. A pass killed in between leaves it, and the next pass uses it to
// finish the job: an account it finds complete (marked, same IDs) was made by the agent and is
// adopted; what a half-written batch left (group, gshadow or shadow entries without a passwd
// entry) is removed and created again. Nothing else is ever adopted.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "users/account_changes.h"

namespace dsvm::engine {

// The record at `path` (a real path); none is an empty list. A record that is not one is a
// Runtime error naming the file.
Result<std::vector<users::PendingAccount>> read_intent(const std::string& path);

// Writes the record atomically and durably (fsync) before the batch, mode 0600.
Result<void> write_intent(const std::string& path,
                          const std::vector<users::PendingAccount>& pending);

// Removes the record; one that is already gone is success.
Result<void> remove_intent(const std::string& path);

}  // namespace dsvm::engine
