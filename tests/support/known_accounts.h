// For tests of the account backends: the agent's own record of accounts, owned (the port's
// engine::AccountsKnown only refers to it), and a registry user as a Linux instance would have
// written it, with a crypt hash and an SSH key.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "engine/account_backend.h"
#include "users/account_changes.h"
#include "users/registry.h"

namespace dsvm::test {

inline constexpr std::string_view k_registry_hash = "$y$j9T$salt$hashhashhashhashhashhashhashhash";
inline constexpr std::string_view k_user_key =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ1c3kgYmVlcyBidXp6IGJ1c2lseSBhYm91dCB0aGU alice@laptop";

struct KnownAccounts {
    std::set<std::string> managed;
    std::map<std::string, std::vector<std::string>> groups;
    std::vector<users::PendingAccount> pending;
    bool adopt = true;

    engine::AccountsKnown view() const { return {managed, groups, pending, adopt}; }
};

inline users::RegistryUser registry_user(const std::string& name, std::uint32_t uid,
                                         bool sudo = false) {
    users::RegistryUser user;
    user.name = name;
    user.uid = uid;
    user.gid = uid;
    user.sudo = sudo;
    user.password_hash = std::string(k_registry_hash);
    user.ssh_keys = {std::string(k_user_key)};
    return user;
}

}  // namespace dsvm::test
