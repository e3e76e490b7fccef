// The users part of a pass, as a pure function: from the valid registry entries, the local
// account database and the agent's own record of what it manages, to account changes (one
// batch), conflicts to report, and the users whose home, keys, notebook folder and link to ensure.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "users/accounts.h"
#include "users/registry.h"

namespace dsvm::engine {

// An account a pass set out to create, recorded before the batch (docs/users.md, "Crash
// safety"): what a pass killed mid-batch left of it is recognised by the next one.
struct PendingAccount {
    std::string name;
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
    bool operator==(const PendingAccount&) const = default;
};

struct UsersObserved {
    users::AccountView accounts;
    std::set<std::string> managed;  // accounts the agent created on this instance (state dir)
    // Supplementary groups the agent put each managed user into, so removals are known.
    std::map<std::string, std::vector<std::string>> groups;
    // Creations an interrupted pass recorded and may have left half done.
    std::vector<PendingAccount> pending;
    // Why a new account may not take a registry user's name, UID or GID, from outside the
    // account files (the name service, NIS compat entries); by user name.
    std::map<std::string, std::string> taken_elsewhere;
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

// The supplementary groups a registry user should be in: its groups, plus dsvm-sudo with sudo.
std::vector<std::string> wanted_groups(const users::RegistryUser& user);

UsersPlan plan_users(const std::vector<users::RegistryUser>& users, const UsersObserved& observed);

}  // namespace dsvm::engine
