// The users part of a pass, as a pure function: from the valid registry entries, the local
// account database and the agent's own record of what it manages, to account changes (one
// batch), conflicts to report, and the users whose home, keys, notebook folder and link to ensure.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "users/account_changes.h"
#include "users/accounts.h"
#include "users/registry.h"

namespace dsvm::users {

struct UsersObserved {
    AccountView accounts;
    std::set<std::string> managed;  // accounts the agent created on this instance (state dir)
    // Supplementary groups the agent put each managed user into, so removals are known.
    std::map<std::string, std::vector<std::string>> groups;
    // Creations an interrupted pass recorded and may have left half done.
    std::vector<PendingAccount> pending;
    // Why a new account may not take a registry user's name, UID or GID, from outside the
    // account files (the name service, NIS compat entries); by user name.
    std::map<std::string, std::string> taken_elsewhere;
};

// The supplementary groups a registry user should be in: its groups, plus dsvm-sudo with sudo.
std::vector<std::string> wanted_groups(const RegistryUser& user);

UsersPlan plan_users(const std::vector<RegistryUser>& users, const UsersObserved& observed);

}  // namespace dsvm::users
