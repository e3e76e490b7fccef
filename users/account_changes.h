// The account changes a pass plans, as data: the vocabulary both platforms' account backends
// share (users/accounts.h applies them to the Linux account files; the Windows backend to the
// local SAM), the account the intent record keeps, and the plan of the users phase.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "users/registry.h"

namespace dsvm::users {

// A new pool user: its own group (gid) and account, GECOS k_managed_gecos. An empty
// password_hash gives "!" (no password login; keys still work).
struct CreateAccount {
    std::string name;
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
    std::string home;
    std::string shell = "/bin/bash";
    std::string password_hash;
};
struct SetPasswordHash {
    std::string name;
    std::string hash;
};
// Locks (deluser, or an entry gone from the registry): the password hash is dropped ("!") and
// the account expires (shadow expire field 1), so neither a password nor a key logs in, and a
// later unlock cannot bring the old password back. Nothing is deleted.
struct LockAccount {
    std::string name;
};
// Lifts a lock: the account no longer expires and its password becomes `hash` ("!", no password
// login, when empty).
struct UnlockAccount {
    std::string name;
    std::string hash;
};
// Undoes what an interrupted batch left of creating `name` (uid, gid): the passwd entry was never
// written (it is written last), but its group, gshadow and shadow entries and memberships may
// have been. Removes exactly those: the group entry only if it has `gid`, the name from every
// member list. Refused when passwd has an entry for `name`.
struct RemovePartialAccount {
    std::string name;
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
};
// Makes `user` a member of exactly those of `managed_groups` that are in `wanted`; groups not
// in managed_groups are not touched. Groups that do not exist are reported, not created.
struct SetSupplementaryGroups {
    std::string user;
    std::vector<std::string> wanted;
    std::vector<std::string> managed_groups;
};
// A system group the agent owns (dsvm-sudo): the highest free gid from 999 down to 100, as
// `groupadd --system` picks. Nothing happens if the group already exists.
struct CreateSystemGroup {
    std::string name;
};
using AccountChange = std::variant<CreateAccount, SetPasswordHash, LockAccount, UnlockAccount,
                                   SetSupplementaryGroups, CreateSystemGroup, RemovePartialAccount>;

// "create user alice (uid 20000)" and so on; never shows a password hash.
std::string describe(const AccountChange& change);

// An account a pass set out to create, recorded before the batch (docs/users.md, "Crash
// safety"): what a pass killed mid-batch left of it is recognised by the next one.
struct PendingAccount {
    std::string name;
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
    bool operator==(const PendingAccount&) const = default;
};

struct UsersPlan {
    std::vector<users::AccountChange> changes;
    std::vector<std::string> conflicts;       // accounts left alone, with why
    std::vector<users::RegistryUser> active;  // users to ensure home, keys, folder and link for
    std::set<std::string> created;            // names the batch creates
    std::vector<PendingAccount> creating;     // the same, for the intent record
    // Managed accounts that may no longer log in (deleted, or their entry gone or rejected): no
    // keys, no groups, locked.
    std::vector<users::RegistryUser> inactive;
    // Of those, the ones whose registry entry is gone or rejected (not deleted by deluser).
    std::vector<std::string> orphaned;
};

}  // namespace dsvm::users
