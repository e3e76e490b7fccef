#include "windows/windows_accounts.h"

#include <fmt/format.h>

#include <algorithm>
#include <random>

#include "common/digest.h"
#include "common/text.h"
#include "windows/account_errors.h"
#include "windows/account_plan.h"

namespace dsvm::windows_platform {

WindowsAccounts::WindowsAccounts(AccountApi& api)
    : m_api(api),
      m_random([&api](unsigned char* bytes, std::size_t size) { return api.random(bytes, size); }) {
}

engine::AccountLimits WindowsAccounts::limits() const {
    return {k_max_account_name, false};
}

Result<void> WindowsAccounts::check_new_name(std::string_view name,
                                             const std::set<std::string>& managed,
                                             const engine::NameLookup& /*names*/) {
    if (std::string refusal = windows_name_refusal(name); !refusal.empty()) {
        return invalid("pool user " + refusal);
    }
    auto sam = read_sam();
    if (!sam) {
        return sam.error();
    }
    if (const SamUser* local = find_user(*sam, name); local != nullptr) {
        const bool ours = local->name == name && managed.count(local->name) != 0 &&
                          read_marker(local->comment).marked;
        if (!ours) {
            return invalid(fmt::format(
                "a local account '{}' already exists on this instance and was not created by "
                "dsvm-agent (Windows names ignore case)",
                printable(local->name)));
        }
        return {};
    }
    if (has_local_group(*sam, name)) {
        return invalid(fmt::format(
            "a local group '{}' already exists on this instance; Windows users and groups share "
            "one set of names",
            printable(name)));
    }
    return {};
}

Result<std::string> WindowsAccounts::hash_password(std::string_view /*clear*/) {
    return invalid(
        "a pool password is a crypt hash, which cannot set a Windows password; set the password "
        "on each Windows instance (net user NAME *), or log in with an SSH key");
}

Result<std::map<std::string, engine::LocalAccount>> WindowsAccounts::find(
    const std::set<std::string>& names) {
    auto sam = read_sam();
    if (!sam) {
        return sam.error();
    }
    std::map<std::string, engine::LocalAccount> found;
    for (const auto& name : names) {
        const SamUser* local = find_user(*sam, name);
        if (local == nullptr) {
            continue;
        }
        const Marker marker = read_marker(local->comment);
        found[name] = {marker.uid.value_or(0), local->name == name && marker.marked,
                       (local->flags & k_account_disabled) != 0};
    }
    return found;
}

std::string WindowsAccounts::stamp() {
    SamView sam;
    if (const auto code = m_api.users(sam); code != 0) {
        std::random_device entropy;
        return "the local accounts could not be read: " + std::to_string(entropy()) +
               std::to_string(entropy());
    }
    std::sort(sam.users.begin(), sam.users.end(),
              [](const SamUser& one, const SamUser& other) { return one.name < other.name; });
    std::string text;
    for (const SamUser& user : sam.users) {
        text +=
            fmt::format("user {}\n{}\n{}\n{}\n", user.name, user.flags, user.comment, user.profile);
    }
    std::sort(sam.local_groups.begin(), sam.local_groups.end());
    for (const auto& name : sam.local_groups) {
        SamGroup group;
        const auto code = m_api.members(name, group);
        std::sort(group.members.begin(), group.members.end());
        text += fmt::format("group {}\n{}\n{}\n", name, code, fmt::join(group.members, "\n"));
    }
    return sha256_hex(text);
}

Result<SamView> WindowsAccounts::read_sam() {
    SamView sam;
    if (const auto code = m_api.users(sam); code != 0) {
        return failure("cannot read the local accounts: " + account_error_text(code));
    }
    return sam;
}

Result<void> WindowsAccounts::read_groups(SamView& sam, const std::set<std::string>& groups) {
    for (const auto& name : groups) {
        SamGroup group;
        const auto code = m_api.members(group_reference(name), group);
        if (code == 0) {
            group.exists = true;
        } else if (is_group_not_found(code)) {
            group = {};
        } else {
            return failure(fmt::format("cannot read the members of the local group {}: {}",
                                       shown_group(name), account_error_text(code)));
        }
        sam.groups[name] = std::move(group);
    }
    return {};
}

void WindowsAccounts::remember_profiles(const SamView& sam) {
    for (const SamUser& user : sam.users) {
        if (!user.profile.empty()) {
            m_profiles[user.name] = user.profile;
        }
    }
    m_profiles_read = true;
}

Result<engine::AccountsPlanned> WindowsAccounts::plan(const std::vector<users::RegistryUser>& valid,
                                                      const engine::AccountsKnown& known,
                                                      const engine::NameLookup& /*names*/) {
    auto sam = read_sam();
    if (!sam) {
        return sam.error();
    }
    std::set<std::string> groups{std::string(users::k_sudo_group),
                                 std::string(k_remote_desktop_group)};
    for (const auto& user : valid) {
        groups.insert(user.groups.begin(), user.groups.end());
    }
    for (const auto& [user, recorded] : known.groups) {
        groups.insert(recorded.begin(), recorded.end());
    }
    if (auto read = read_groups(*sam, groups); !read) {
        return read.error();
    }
    remember_profiles(*sam);
    engine::AccountsPlanned planned;
    if (known.adopt) {
        planned.adopted = adoptable_accounts(*sam, known);
    }
    planned.plan = plan_windows_users(valid, *sam, known);
    m_view = std::move(*sam);
    m_administrators = m_view.groups[std::string(users::k_sudo_group)].members;
    return planned;
}

bool WindowsAccounts::sudo_rule_present() {
    return false;
}

std::vector<ActionOutcome> WindowsAccounts::sync_sudo_rule(
    users::SudoAuthentication authentication) {
    if (authentication == users::SudoAuthentication::Password) {
        return {};
    }
    return {ActionOutcome::failed(
        "let members of dsvm-sudo elevate without a password (sudoAuthentication none)",
        "not possible on Windows: sudo is membership of Administrators, and whether an elevation "
        "asks for anything is this instance's UAC setting, not the pool config's; nothing was "
        "changed")};
}

std::string WindowsAccounts::home_of(std::string_view user) const {
    if (const auto found = m_profiles.find(std::string(user)); found != m_profiles.end()) {
        return found->second;
    }
    return "C:\\Users\\" + std::string(user);
}

Result<std::optional<std::string>> WindowsAccounts::profile_of(const std::string& user) {
    if (!m_profiles_read) {
        auto sam = read_sam();
        if (!sam) {
            return sam.error();
        }
        remember_profiles(*sam);
    }
    if (const auto found = m_profiles.find(user); found != m_profiles.end()) {
        return std::optional<std::string>(found->second);
    }
    return std::optional<std::string>();
}

Result<bool> WindowsAccounts::is_administrator(const std::string& user) {
    if (!m_administrators) {
        SamGroup group;
        if (const auto code = m_api.members(std::string(k_administrators_sid), group); code != 0) {
            return failure("cannot read the members of Administrators: " +
                           account_error_text(code));
        }
        m_administrators = std::move(group.members);
    }
    return holds_name(*m_administrators, user);
}

}  // namespace dsvm::windows_platform
