#include "windows/account_plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <set>

#include "common/text.h"
#include "users/sudo.h"

namespace dsvm::windows_platform {

using users::AccountChange;
using users::PendingAccount;
using users::RegistryUser;
using users::UsersPlan;

namespace {

constexpr std::string_view k_uid_label = "; pool uid ";

// The system's own accounts: taking one of their names would mean the agent managing them.
constexpr std::array<std::string_view, 4> k_reserved_accounts = {
    "administrator", "guest", "defaultaccount", "wdagutilityaccount"};

// Local groups that are no built-in group but give what Administrators has: never granted through
// `groups` (docs/users.md, "Rules for names, groups and keys").
constexpr std::array<std::string_view, 1> k_privileged_local_groups = {
    "docker-users",  // Docker Desktop: its engine runs as SYSTEM
};

// The built-in domain: Administrators, Backup Operators, Hyper-V Administrators, Remote Desktop
// Users, ... Only sudo and the agent itself grant those.
constexpr std::string_view k_builtin_sid_prefix = "S-1-5-32-";

bool same_name(std::string_view one, std::string_view other) {
    return ascii_lower(one) == ascii_lower(other);
}

bool is_member(const SamView& sam, const std::string& group, const std::string& user) {
    const auto found = sam.groups.find(group);
    if (found == sam.groups.end() || !found->second.exists) {
        return false;
    }
    return holds_name(found->second.members, user);
}

bool group_exists(const SamView& sam, const std::string& group) {
    const auto found = sam.groups.find(group);
    return found != sam.groups.end() && found->second.exists;
}

bool contains(const std::vector<std::string>& list, const std::string& value) {
    return std::find(list.begin(), list.end(), value) != list.end();
}

// Why the pool group `group` of `user` is never granted here, or empty.
std::string refused_group(const SamView& sam, const std::string& group, const std::string& user) {
    const auto found = sam.groups.find(group);
    if (found != sam.groups.end() && found->second.exists &&
        found->second.sid.starts_with(k_builtin_sid_prefix)) {
        return fmt::format(
            "group '{}' of pool user '{}' is the built-in Windows group '{}' ({}); built-in "
            "groups are granted only through sudo (Administrators) and to every user (Remote "
            "Desktop Users), so it is left out",
            printable(group), printable(user), printable(found->second.name), found->second.sid);
    }
    for (const auto privileged : k_privileged_local_groups) {
        if (same_name(group, privileged)) {
            return fmt::format(
                "group '{}' of pool user '{}' gives administrator rights on Windows; it is never "
                "granted through groups, so it is left out",
                printable(group), printable(user));
        }
    }
    return {};
}

// The groups an active user is in: its pool groups (less those refused), Administrators for sudo,
// and Remote Desktop Users.
std::vector<std::string> wanted_groups(const RegistryUser& user, const SamView& sam,
                                       UsersPlan& plan) {
    std::vector<std::string> wanted;
    for (const auto& group : user.groups) {
        if (std::string refusal = refused_group(sam, group, user.name); !refusal.empty()) {
            plan.conflicts.push_back(std::move(refusal));
            continue;
        }
        wanted.push_back(group);
    }
    if (user.sudo) {
        wanted.emplace_back(users::k_sudo_group);
    }
    wanted.emplace_back(k_remote_desktop_group);
    std::sort(wanted.begin(), wanted.end());
    wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
    return wanted;
}

// As plan_users does: `user` in exactly the wanted ones of the groups the agent manages for it
// (its previous ones, Administrators, Remote Desktop Users and the wanted ones); planned only when
// something differs, or for an account this batch creates.
void plan_groups(const std::string& user, const std::vector<std::string>& wanted,
                 const SamView& sam, const engine::AccountsKnown& known, bool created,
                 UsersPlan& plan) {
    std::vector<std::string> managed = wanted;
    if (const auto previous = known.groups.find(user); previous != known.groups.end()) {
        managed.insert(managed.end(), previous->second.begin(), previous->second.end());
    }
    managed.emplace_back(users::k_sudo_group);
    managed.emplace_back(k_remote_desktop_group);
    std::sort(managed.begin(), managed.end());
    managed.erase(std::unique(managed.begin(), managed.end()), managed.end());
    const bool differs = std::any_of(managed.begin(), managed.end(), [&](const std::string& group) {
        const bool want = contains(wanted, group);
        // A wanted group that does not exist is reported by the change itself, every pass.
        return group_exists(sam, group) ? want != is_member(sam, group, user) : want;
    });
    if (differs || created) {
        plan.changes.emplace_back(users::SetSupplementaryGroups{user, wanted, managed});
    }
}

// A managed account that may no longer log in: disabled (LockAccount also gives it a new random
// password), out of every group the agent gave it; its keys go with the per-user files.
void deactivate(const RegistryUser& user, const SamUser& local, const SamView& sam,
                const engine::AccountsKnown& known, UsersPlan& plan) {
    if ((local.flags & k_account_disabled) == 0) {
        plan.changes.emplace_back(users::LockAccount{user.name});
    }
    plan_groups(user.name, {}, sam, known, false, plan);
    plan.inactive.push_back(user);
}

// Why a new account for `user` cannot be made here, or empty.
std::string creation_clash(const RegistryUser& user, const SamView& sam) {
    if (has_local_group(sam, user.name)) {
        return fmt::format(
            "a local group '{}' already exists; Windows users and groups share one set of names, "
            "so pool user '{}' is not created on this instance",
            printable(user.name), printable(user.name));
    }
    for (const SamUser& other : sam.users) {
        if (const Marker marker = read_marker(other.comment);
            marker.marked && marker.uid == user.uid) {
            return fmt::format(
                "uid {} of pool user '{}' is already the pool uid of local "
                "account '{}'",
                user.uid, printable(user.name), printable(other.name));
        }
    }
    return {};
}

}  // namespace

std::string marker_comment(std::uint32_t uid) {
    return std::string(k_account_marker) + std::string(k_uid_label) + std::to_string(uid);
}

Marker read_marker(std::string_view comment) {
    Marker marker;
    const std::string_view prefix = k_account_marker;
    if (!comment.starts_with(prefix)) {
        return marker;
    }
    const std::string_view rest = comment.substr(prefix.size());
    if (!rest.empty() && !rest.starts_with(";")) {
        return marker;
    }
    marker.marked = true;
    if (!rest.starts_with(k_uid_label)) {
        return marker;
    }
    const std::string_view digits = rest.substr(k_uid_label.size());
    std::uint32_t uid = 0;
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), uid);
    if (error == std::errc() && end == digits.data() + digits.size() && !digits.empty() &&
        ascii::is_digit(digits.front())) {
        marker.uid = uid;
    }
    return marker;
}

std::string windows_name_refusal(std::string_view name) {
    if (name.size() > k_max_account_name) {
        return fmt::format("'{}' has {} characters, and a Windows account name has at most {}",
                           printable(name), name.size(), k_max_account_name);
    }
    for (const auto reserved : k_reserved_accounts) {
        if (same_name(name, reserved)) {
            return fmt::format("'{}' is the name of a Windows system account", printable(name));
        }
    }
    return {};
}

bool holds_name(const std::vector<std::string>& names, std::string_view name) {
    return std::any_of(names.begin(), names.end(),
                       [&](const std::string& other) { return same_name(other, name); });
}

const SamUser* find_user(const SamView& sam, std::string_view name) {
    const SamUser* other_case = nullptr;
    for (const SamUser& user : sam.users) {
        if (user.name == name) {
            return &user;
        }
        if (other_case == nullptr && same_name(user.name, name)) {
            other_case = &user;
        }
    }
    return other_case;
}

bool has_local_group(const SamView& sam, std::string_view name) {
    return std::any_of(sam.local_groups.begin(), sam.local_groups.end(),
                       [&](const std::string& group) { return same_name(group, name); });
}

std::string group_reference(std::string_view group) {
    if (group == users::k_sudo_group) {
        return std::string(k_administrators_sid);
    }
    if (group == k_remote_desktop_group) {
        return std::string(k_remote_desktop_users_sid);
    }
    return std::string(group);
}

std::string shown_group(std::string_view group) {
    if (group == users::k_sudo_group) {
        return "Administrators (" + std::string(users::k_sudo_group) + ")";
    }
    return printable(group);
}

std::vector<std::string> adoptable_accounts(const SamView& sam,
                                            const engine::AccountsKnown& known) {
    std::vector<std::string> adopted;
    for (const PendingAccount& pending : known.pending) {
        const SamUser* local = find_user(sam, pending.name);
        if (local == nullptr || local->name != pending.name ||
            known.managed.count(pending.name) != 0) {
            continue;
        }
        if (const Marker marker = read_marker(local->comment);
            marker.marked && marker.uid == pending.uid && !contains(adopted, pending.name)) {
            adopted.push_back(pending.name);
        }
    }
    return adopted;
}

UsersPlan plan_windows_users(const std::vector<RegistryUser>& valid, const SamView& sam,
                             const engine::AccountsKnown& known) {
    UsersPlan plan;
    std::set<std::string> managed = known.managed;
    if (known.adopt) {
        for (auto& name : adoptable_accounts(sam, known)) {
            managed.insert(std::move(name));
        }
    }
    // The agent's own account, by exact name: it never makes one in another case.
    auto ours = [&](const SamUser& local) {
        return managed.count(local.name) != 0 && read_marker(local.comment).marked;
    };
    std::set<std::string> in_registry;
    for (const RegistryUser& user : valid) {
        in_registry.insert(user.name);
        if (std::string refusal = windows_name_refusal(user.name);
            !refusal.empty() && !user.deleted) {
            plan.conflicts.push_back(
                fmt::format("pool user '{}' is not applied on this instance: {}",
                            printable(user.name), refusal));
            continue;
        }
        const SamUser* local = find_user(sam, user.name);
        if (local == nullptr) {
            if (user.deleted) {
                continue;
            }
            if (std::string clash = creation_clash(user, sam); !clash.empty()) {
                plan.conflicts.push_back(std::move(clash));
                continue;
            }
            // NetUserAdd makes the account, its marker and its password in one call, so a
            // pending creation left nothing to remove first. gid and shell mean nothing here, and
            // the registry's hash is never carried: the account gets a random password.
            users::CreateAccount create;
            create.name = user.name;
            create.uid = user.uid;
            create.gid = user.gid;
            create.shell.clear();
            plan.changes.emplace_back(std::move(create));
            plan.created.insert(user.name);
            plan.creating.push_back({user.name, user.uid, user.gid});
            plan_groups(user.name, wanted_groups(user, sam, plan), sam, known, true, plan);
            plan.active.push_back(user);
            continue;
        }
        if (local->name != user.name) {
            plan.conflicts.push_back(fmt::format(
                "local account '{}' already exists, and Windows names ignore case; pool user '{}' "
                "is not applied on this instance",
                printable(local->name), printable(user.name)));
            continue;
        }
        if (!ours(*local)) {
            plan.conflicts.push_back(fmt::format(
                "local account '{}' was not created by dsvm-agent; it is left as it is and pool "
                "user '{}' is not applied on this instance",
                printable(local->name), printable(user.name)));
            continue;
        }
        if (const Marker marker = read_marker(local->comment); marker.uid != user.uid) {
            plan.conflicts.push_back(fmt::format(
                "account '{}' has pool uid {} here but {} in the pool registry; it is left as it "
                "is",
                printable(user.name), marker.uid ? std::to_string(*marker.uid) : "none", user.uid));
            continue;
        }
        if (user.deleted) {
            deactivate(user, *local, sam, known, plan);
            continue;
        }
        // Enabled with a new random password, never the registry's hash (docs/windows-backends.md,
        // trap 2); a changed registry hash is not applied either.
        if ((local->flags & k_account_disabled) != 0) {
            plan.changes.emplace_back(users::UnlockAccount{user.name, {}});
        }
        plan_groups(user.name, wanted_groups(user, sam, plan), sam, known, false, plan);
        plan.active.push_back(user);
    }
    // An account the agent made whose entry is gone (or no longer valid) keeps nothing it had.
    for (const std::string& name : managed) {
        const SamUser* local = find_user(sam, name);
        if (in_registry.count(name) != 0 || local == nullptr || local->name != name ||
            !ours(*local)) {
            continue;
        }
        RegistryUser orphan;
        orphan.name = name;
        orphan.uid = read_marker(local->comment).uid.value_or(0);
        orphan.gid = orphan.uid;
        orphan.deleted = true;
        deactivate(orphan, *local, sam, known, plan);
        plan.orphaned.push_back(name);
    }
    return plan;
}

}  // namespace dsvm::windows_platform
