// The users part of a pass on Windows, as a pure function: plan_users' sibling
// (users/account_plan.h) over the local SAM, in the same AccountChange vocabulary
// (docs/windows-backends.md, §6). What differs from Linux: the pool uid is kept in the account's
// admin comment (Windows picks the SID); names are at most 20 characters and ignore case;
// dsvm-sudo is the Administrators group and every active user is in Remote Desktop Users, both
// found by SID; passwords are random, never the registry's crypt hash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/account_backend.h"
#include "users/account_changes.h"
#include "users/registry.h"
#include "windows/account_api.h"

namespace dsvm::windows_platform {

// The longest local account name Windows allows (sAMAccountName).
inline constexpr std::size_t k_max_account_name = 20;

// The name the plan gives Remote Desktop Users among a user's groups, and records in the state
// file: it is no pool group name (those are lower case, without spaces), so it cannot clash.
inline constexpr std::string_view k_remote_desktop_group = "Remote Desktop Users";

// The marker of the agent's accounts: the words of their GECOS on Linux.
inline constexpr std::string_view k_account_marker = "dsvm-agent pool user";

// The admin comment of every account the agent creates: the marker and the pool uid, as
// "dsvm-agent pool user; pool uid 20000".
std::string marker_comment(std::uint32_t uid);

struct Marker {
    bool marked = false;               // the comment is the agent's marker
    std::optional<std::uint32_t> uid;  // the pool uid it holds, when it holds a valid one
};
Marker read_marker(std::string_view comment);

// Why `name` can never be a Windows account here, or empty: over 20 characters, or a name the
// system uses (administrator, guest, defaultaccount, wdagutilityaccount).
std::string windows_name_refusal(std::string_view name);

// Whether `names` holds `name` in any case: Windows account names ignore case.
bool holds_name(const std::vector<std::string>& names, std::string_view name);

// The local user named `name` in any case, or null.
const SamUser* find_user(const SamView& sam, std::string_view name);
// Whether a local group is named `name` in any case.
bool has_local_group(const SamView& sam, std::string_view name);

// How the API finds a group of the plan: dsvm-sudo and k_remote_desktop_group by their SIDs,
// any other by its name.
std::string group_reference(std::string_view group);
// The group as describe() shows it: "Administrators (dsvm-sudo)", "Remote Desktop Users", "data".
std::string shown_group(std::string_view group);

// Accounts an interrupted pass made in full (a pending creation whose account exists with that
// exact name, marked with the recorded pool uid) that are not yet managed.
std::vector<std::string> adoptable_accounts(const SamView& sam, const engine::AccountsKnown& known);

// The plan for the valid registry users. `sam.groups` must hold every group the plan may look at
// (dsvm-sudo, k_remote_desktop_group, the users' groups and the ones `known.groups` records).
// It never plans SetPasswordHash, CreateSystemGroup or RemovePartialAccount, and no change holds
// a password hash.
users::UsersPlan plan_windows_users(const std::vector<users::RegistryUser>& valid,
                                    const SamView& sam, const engine::AccountsKnown& known);

}  // namespace dsvm::windows_platform
