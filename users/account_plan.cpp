#include "users/account_plan.h"

#include <fmt/format.h>

#include <algorithm>

#include "users/sudo.h"

namespace dsvm::users {

namespace {

bool contains(const std::vector<std::string>& list, const std::string& value) {
    return std::find(list.begin(), list.end(), value) != list.end();
}

// A member in group, and in gshadow where gshadow has the group: a pass killed between the two
// files leaves them apart, and the next one must see that to put them together again.
bool is_member(const AccountView& accounts, const std::string& group, const std::string& user,
               bool& consistent) {
    const GroupRecord* record = accounts.group(group);
    const bool in_group = record != nullptr && contains(record->members, user);
    const std::vector<std::string>* shadowed = accounts.gshadow_members(group);
    consistent = shadowed == nullptr || contains(*shadowed, user) == in_group;
    return in_group;
}

const PendingAccount* pending_for(const UsersObserved& observed, const RegistryUser& user) {
    for (const auto& pending : observed.pending) {
        if (pending.name == user.name && pending.uid == user.uid && pending.gid == user.gid) {
            return &pending;
        }
    }
    return nullptr;
}

// Why a new account cannot be created with the registry's name and IDs, or empty. What an
// interrupted creation of this very account left (`partial`) is not in the way: it is removed
// first.
std::string creation_clash(const RegistryUser& user, const UsersObserved& observed, bool partial) {
    const AccountView& accounts = observed.accounts;
    if (const UserRecord* other = accounts.user_by_uid(user.uid)) {
        return fmt::format("uid {} of pool user '{}' is already used by local account '{}'",
                           user.uid, user.name, other->name);
    }
    const GroupRecord* own = accounts.group(user.name);
    const bool own_partial = partial && own != nullptr && own->gid == user.gid;
    if (own != nullptr && !own_partial) {
        return fmt::format("a local group '{}' already exists; pool user '{}' needs its own group",
                           user.name, user.name);
    }
    if (const GroupRecord* other = accounts.group_by_gid(user.gid);
        other != nullptr && !(own_partial && other->name == user.name)) {
        return fmt::format("gid {} of pool user '{}' is already used by local group '{}'", user.gid,
                           user.name, other->name);
    }
    if (const auto elsewhere = observed.taken_elsewhere.find(user.name);
        elsewhere != observed.taken_elsewhere.end()) {
        return elsewhere->second;
    }
    return {};
}

// Sets `user`'s supplementary groups to `wanted`, among the groups the agent manages for it: its
// previous ones, dsvm-sudo, and the wanted ones. Only when something differs.
void plan_groups(const std::string& user, const std::vector<std::string>& wanted,
                 const UsersObserved& observed, bool created, UsersPlan& plan) {
    std::vector<std::string> managed = wanted;
    if (const auto previous = observed.groups.find(user); previous != observed.groups.end()) {
        managed.insert(managed.end(), previous->second.begin(), previous->second.end());
    }
    managed.emplace_back(k_sudo_group);
    std::sort(managed.begin(), managed.end());
    managed.erase(std::unique(managed.begin(), managed.end()), managed.end());
    const bool differs = std::any_of(managed.begin(), managed.end(), [&](const std::string& group) {
        const bool want = contains(wanted, group);
        const bool exists = observed.accounts.group(group) != nullptr;
        bool consistent = true;
        const bool member = is_member(observed.accounts, group, user, consistent);
        // A wanted group that does not exist is reported by the change itself, every pass.
        return exists ? want != member || !consistent : want;
    });
    if (differs || created) {
        plan.changes.emplace_back(SetSupplementaryGroups{user, wanted, managed});
    }
}

// A managed account that may no longer log in: locked (hash dropped, expired), out of every
// group the agent gave it; its keys are removed with the per-user files.
void deactivate(const RegistryUser& user, const UsersObserved& observed, UsersPlan& plan) {
    const auto hash = observed.accounts.password_hash(user.name);
    if (!observed.accounts.is_locked(user.name) || !hash || *hash != "!") {
        plan.changes.emplace_back(LockAccount{user.name});
    }
    plan_groups(user.name, {}, observed, false, plan);
    plan.inactive.push_back(user);
}

bool ours(const std::string& name, const UsersObserved& observed) {
    return observed.managed.count(name) != 0 && observed.accounts.is_marked_managed(name);
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
    std::set<std::string> in_registry;
    for (const RegistryUser& user : users) {
        in_registry.insert(user.name);
        const UserRecord* local = accounts.user(user.name);
        if (local == nullptr) {
            if (user.deleted) {
                continue;
            }
            const PendingAccount* pending = pending_for(observed, user);
            if (std::string clash = creation_clash(user, observed, pending != nullptr);
                !clash.empty()) {
                plan.conflicts.push_back(std::move(clash));
                continue;
            }
            if (pending != nullptr) {
                plan.changes.emplace_back(RemovePartialAccount{user.name, user.uid, user.gid});
            }
            CreateAccount create;
            create.name = user.name;
            create.uid = user.uid;
            create.gid = user.gid;
            create.home = "/home/" + user.name;
            create.password_hash = user.password_hash;
            plan.changes.emplace_back(std::move(create));
            plan.created.insert(user.name);
            plan.creating.push_back({user.name, user.uid, user.gid});
            plan_groups(user.name, wanted_groups(user), observed, true, plan);
            plan.active.push_back(user);
            continue;
        }
        if (!ours(user.name, observed)) {
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
        if (user.deleted) {
            deactivate(user, observed, plan);
            continue;
        }
        if (accounts.is_locked(user.name)) {
            plan.changes.emplace_back(UnlockAccount{user.name, user.password_hash});
        } else if (const auto current = accounts.password_hash(user.name);
                   !user.password_hash.empty() && current && *current != user.password_hash) {
            plan.changes.emplace_back(SetPasswordHash{user.name, user.password_hash});
        }
        plan_groups(user.name, wanted_groups(user), observed, false, plan);
        plan.active.push_back(user);
    }
    // What an interrupted creation left of an account this plan does not create (its entry
    // deleted or no longer valid since) goes too: the intent record is removed after this batch,
    // and nothing else would ever clean it up.
    for (const PendingAccount& pending : observed.pending) {
        if (plan.created.count(pending.name) == 0 && accounts.user(pending.name) == nullptr) {
            plan.changes.emplace_back(RemovePartialAccount{pending.name, pending.uid, pending.gid});
        }
    }
    // An account the agent made whose entry is gone (or no longer valid) keeps nothing it had.
    for (const std::string& name : observed.managed) {
        const UserRecord* local = accounts.user(name);
        if (in_registry.count(name) != 0 || local == nullptr || !ours(name, observed)) {
            continue;
        }
        RegistryUser orphan;
        orphan.name = name;
        orphan.uid = local->uid;
        orphan.gid = local->gid;
        orphan.deleted = true;
        deactivate(orphan, observed, plan);
        plan.orphaned.push_back(name);
    }
    return plan;
}

}  // namespace dsvm::users
