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

namespace dsvm {

struct UsersObserved {
    AccountView accounts;
    std::set<std::string> managed;  // accounts the agent created on this instance (state dir)
    std::set<std::string> locked;   // managed accounts the agent locked for deluser
    // Supplementary groups the agent put each managed user into, so removals are known.
    std::map<std::string, std::vector<std::string>> groups;
};

struct UsersPlan {
    std::vector<AccountChange> changes;
    std::vector<std::string> conflicts;  // accounts left alone, with why
    std::vector<RegistryUser> active;    // users to ensure home, keys, folder and link for
    std::set<std::string> created;       // names the batch creates
    std::set<std::string> to_lock;
    std::set<std::string> to_unlock;
};

// The supplementary groups a registry user should be in: its groups, plus dsvm-sudo with sudo.
std::vector<std::string> wanted_groups(const RegistryUser& user);

UsersPlan plan_users(const std::vector<RegistryUser>& users, const UsersObserved& observed);

}  // namespace dsvm
