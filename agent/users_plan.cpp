#include "agent/users_plan.h"

#include <fmt/format.h>

#include <algorithm>

#include "users/sudo.h"

namespace dsvm {

namespace {

bool is_member(const AccountView& accounts, const std::string& group, const std::string& user) {
    const GroupRecord* record = accounts.group(group);
    return record != nullptr &&
           std::find(record->members.begin(), record->members.end(), user) != record->members.end();
}

// Why a new account cannot be created with the registry's name and IDs, or empty.
std::string creation_clash(const RegistryUser& user, const AccountView& accounts) {
    if (const UserRecord* other = accounts.user_by_uid(user.uid)) {
        return fmt::format("uid {} of pool user '{}' is already used by local account '{}'",
                           user.uid, user.name, other->name);
    }
    if (accounts.group(user.name) != nullptr) {
        return fmt::format("a local group '{}' already exists; pool user '{}' needs its own group",
                           user.name, user.name);
    }
    if (const GroupRecord* other = accounts.group_by_gid(user.gid)) {
        return fmt::format("gid {} of pool user '{}' is already used by local group '{}'", user.gid,
                           user.name, other->name);
    }
    return {};
}

void plan_groups(const RegistryUser& user, const UsersObserved& observed, UsersPlan& plan) {
    std::vector<std::string> wanted = wanted_groups(user);
    std::vector<std::string> managed = wanted;
    if (const auto previous = observed.groups.find(user.name); previous != observed.groups.end()) {
        managed.insert(managed.end(), previous->second.begin(), previous->second.end());
    }
    managed.push_back(std::string(k_sudo_group));
    std::sort(managed.begin(), managed.end());
    managed.erase(std::unique(managed.begin(), managed.end()), managed.end());
    const bool differs = std::any_of(managed.begin(), managed.end(), [&](const std::string& group) {
        const bool want = std::find(wanted.begin(), wanted.end(), group) != wanted.end();
        const bool exists = observed.accounts.group(group) != nullptr;
        // A wanted group that does not exist is reported by the change itself, every pass.
        return exists ? want != is_member(observed.accounts, group, user.name) : want;
    });
    if (differs || plan.created.count(user.name) != 0) {
        plan.changes.emplace_back(SetSupplementaryGroups{user.name, wanted, managed});
    }
}

}  // namespace

std::vector<std::string> wanted_groups(const RegistryUser& user) {
    std::vector<std::string> groups = user.groups;
    if (user.sudo) {
        groups.emplace_back(k_sudo_group);
    }
    std::sort(groups.begin(), groups.end());
    groups.erase(std::unique(groups.begin(), groups.end()), groups.end());
    return groups;
}

UsersPlan plan_users(const std::vector<RegistryUser>& users, const UsersObserved& observed) {
    UsersPlan plan;
    const AccountView& accounts = observed.accounts;
    const bool any_sudo = std::any_of(users.begin(), users.end(),
                                      [](const auto& user) { return user.sudo && !user.deleted; });
    if (any_sudo && accounts.group(k_sudo_group) == nullptr) {
        plan.changes.emplace_back(CreateSystemGroup{std::string(k_sudo_group)});
    }
    for (const RegistryUser& user : users) {
        const UserRecord* local = accounts.user(user.name);
        if (local == nullptr) {
            if (user.deleted) {
                continue;
            }
            if (std::string clash = creation_clash(user, accounts); !clash.empty()) {
                plan.conflicts.push_back(std::move(clash));
                continue;
            }
            CreateAccount create;
            create.name = user.name;
            create.uid = user.uid;
            create.gid = user.gid;
            create.home = "/home/" + user.name;
            create.password_hash = user.password_hash;
            plan.changes.emplace_back(std::move(create));
            plan.created.insert(user.name);
            plan_groups(user, observed, plan);
            plan.active.push_back(user);
            continue;
        }
        if (observed.managed.count(user.name) == 0 || !accounts.is_marked_managed(user.name)) {
            plan.conflicts.push_back(fmt::format(
                "local account '{}' (uid {}) was not created by dsvm-agent; it is left as it is "
                "and pool user '{}' is not applied on this instance",
                user.name, local->uid, user.name));
            continue;
        }
        if (local->uid != user.uid || local->gid != user.gid) {
            plan.conflicts.push_back(fmt::format(
                "account '{}' has uid {} gid {} here but {} {} in the pool registry; it is left "
                "as it is",
                user.name, local->uid, local->gid, user.uid, user.gid));
            continue;
        }
        const bool locked = observed.locked.count(user.name) != 0;
        if (user.deleted) {
            if (!locked) {
                plan.changes.emplace_back(LockAccount{user.name});
                plan.to_lock.insert(user.name);
            }
            continue;
        }
        if (locked) {
            plan.changes.emplace_back(UnlockAccount{user.name});
            plan.to_unlock.insert(user.name);
        }
        const auto current = accounts.password_hash(user.name);
        if (!user.password_hash.empty() && current && *current != user.password_hash) {
            plan.changes.emplace_back(SetPasswordHash{user.name, user.password_hash});
        }
        plan_groups(user, observed, plan);
        plan.active.push_back(user);
    }
    return plan;
}

}  // namespace dsvm
