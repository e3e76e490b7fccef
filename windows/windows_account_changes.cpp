// WindowsAccounts' changes to the SAM: what each AccountChange is called in Windows words, and how
// commit() makes it (docs/windows.md, "Accounts").
#include "windows/windows_accounts.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "common/overloaded.h"
#include "common/text.h"
#include "windows/account_errors.h"
#include "windows/account_plan.h"

namespace dsvm::windows_platform {

using users::AccountChange;

namespace {

// Whether `user` is in `group` as `sam` saw it: none when it did not look at the group.
std::optional<bool> membership(const SamView& sam, const std::string& group,
                               const std::string& user) {
    const auto found = sam.groups.find(group);
    if (found == sam.groups.end()) {
        return std::nullopt;
    }
    return found->second.exists && holds_name(found->second.members, user);
}

// The groups a SetSupplementaryGroups adds `user` to and takes it out of, as far as `sam` tells;
// a group it did not look at counts as a change.
struct GroupDelta {
    std::vector<std::string> add;
    std::vector<std::string> remove;
};
GroupDelta group_delta(const users::SetSupplementaryGroups& change, const SamView& sam) {
    GroupDelta delta;
    for (const auto& group : change.managed_groups) {
        const bool want =
            std::find(change.wanted.begin(), change.wanted.end(), group) != change.wanted.end();
        const std::optional<bool> member = membership(sam, group, change.user);
        if (want && member != true) {
            delta.add.push_back(group);
        } else if (!want && member != false) {
            delta.remove.push_back(group);
        }
    }
    return delta;
}

std::string shown_groups(const std::vector<std::string>& groups) {
    std::string out;
    for (const auto& group : groups) {
        out += (out.empty() ? "" : ", ") + shown_group(group);
    }
    return out;
}

constexpr std::string_view k_not_on_windows = "not done on Windows";

}  // namespace

std::string WindowsAccounts::describe(const AccountChange& change) const {
    return std::visit(
        Overloaded{
            [](const users::CreateAccount& c) {
                return fmt::format("create user {} (pool uid {})", printable(c.name), c.uid);
            },
            [](const users::SetPasswordHash& c) {
                return fmt::format("set the password of {} ({})", printable(c.name),
                                   k_not_on_windows);
            },
            [](const users::LockAccount& c) {
                return fmt::format("disable user {} with a new random password", printable(c.name));
            },
            [](const users::UnlockAccount& c) {
                return fmt::format("enable user {} with a new random password", printable(c.name));
            },
            [this](const users::SetSupplementaryGroups& c) {
                const GroupDelta delta = group_delta(c, m_view);
                std::vector<std::string> parts;
                if (!delta.add.empty()) {
                    parts.push_back(
                        fmt::format("add {} to {}", printable(c.user), shown_groups(delta.add)));
                }
                if (!delta.remove.empty()) {
                    parts.push_back(fmt::format("remove {} from {}", printable(c.user),
                                                shown_groups(delta.remove)));
                }
                if (parts.empty()) {
                    return fmt::format("keep the groups of {}", printable(c.user));
                }
                return fmt::format("{}", fmt::join(parts, "; "));
            },
            [](const users::CreateSystemGroup& c) {
                return fmt::format("create group {} ({})", printable(c.name), k_not_on_windows);
            },
            [](const users::RemovePartialAccount& c) {
                return fmt::format("remove what an interrupted pass left of user {} ({})",
                                   printable(c.name), k_not_on_windows);
            },
        },
        change);
}

Result<void> WindowsAccounts::give_new_password(const std::string& user) {
    auto password = random_password(user, m_random);
    if (!password) {
        return password.error();
    }
    if (const auto code = m_api.set_password(user, *password); code != 0) {
        return failure("cannot set a new random password: " + account_error_text(code));
    }
    return {};
}

ActionOutcome WindowsAccounts::commit_one(const AccountChange& change, const SamView& sam) {
    const std::string action = describe(change);
    const auto result = [&](Result<void> done) {
        return done ? ActionOutcome::done(action)
                    : ActionOutcome::failed(action, done.error().message);
    };
    const auto flags_of = [&](const std::string& name) -> Result<std::uint32_t> {
        const SamUser* local = find_user(sam, name);
        if (local == nullptr || local->name != name) {
            return failure("there is no local account " + dsvm::quoted(name));
        }
        return local->flags;
    };
    return std::visit(
        Overloaded{
            [&](const users::CreateAccount& c) {
                auto password = random_password(c.name, m_random);
                if (!password) {
                    return result(password.error());
                }
                const auto code = m_api.add_user(c.name, marker_comment(c.uid), *password);
                return result(code == 0 ? Result<void>() : failure(account_error_text(code)));
            },
            [&](const users::LockAccount& c) {
                // Disabled first: a password that cannot be changed still leaves no way in.
                auto flags = flags_of(c.name);
                if (!flags) {
                    return result(flags.error());
                }
                if (const auto code = m_api.set_flags(c.name, *flags | k_account_disabled);
                    code != 0) {
                    return result(failure("cannot disable it: " + account_error_text(code)));
                }
                return result(give_new_password(c.name));
            },
            [&](const users::UnlockAccount& c) {
                // The new password first: the account is never enabled with its old one.
                auto flags = flags_of(c.name);
                if (!flags) {
                    return result(flags.error());
                }
                if (auto renewed = give_new_password(c.name); !renewed) {
                    return result(renewed);
                }
                const auto code = m_api.set_flags(c.name, *flags & ~k_account_disabled);
                return result(code == 0 ? Result<void>()
                                        : failure("cannot enable it: " + account_error_text(code)));
            },
            [&](const users::SetSupplementaryGroups& c) {
                const GroupDelta delta = group_delta(c, m_view);
                std::vector<std::string> errors;
                for (const auto& group : delta.add) {
                    const auto code = m_api.add_member(group_reference(group), c.user);
                    if (is_group_not_found(code)) {
                        errors.push_back(fmt::format("group {} does not exist on this instance",
                                                     shown_group(group)));
                    } else if (code != 0 && !is_already_member(code)) {
                        errors.push_back(fmt::format("cannot add {} to {}: {}", printable(c.user),
                                                     shown_group(group), account_error_text(code)));
                    }
                }
                for (const auto& group : delta.remove) {
                    const auto code = m_api.remove_member(group_reference(group), c.user);
                    if (code != 0 && !is_not_member(code) && !is_group_not_found(code)) {
                        errors.push_back(fmt::format("cannot remove {} from {}: {}",
                                                     printable(c.user), shown_group(group),
                                                     account_error_text(code)));
                    }
                }
                return result(errors.empty() ? Result<void>()
                                             : failure(fmt::format("{}", fmt::join(errors, "; "))));
            },
            [&](const users::SetPasswordHash&) {
                return result(
                    failure("a pool password is a crypt hash, which cannot set a "
                            "Windows password; nothing was changed"));
            },
            [&](const users::CreateSystemGroup&) {
                return result(
                    failure("sudo is the Administrators group on Windows; nothing was "
                            "changed"));
            },
            [&](const users::RemovePartialAccount&) {
                return result(
                    failure("a Windows account is made in one call, so no pass leaves "
                            "part of one; nothing was changed"));
            },
        },
        change);
}

Result<std::vector<ActionOutcome>> WindowsAccounts::commit(
    const std::vector<AccountChange>& changes, Clock& /*clock*/) {
    // The flags as they are now: NetUserSetInfo 1008 replaces them all.
    auto sam = read_sam();
    if (!sam) {
        return sam.error();
    }
    std::vector<ActionOutcome> outcomes;
    for (const auto& change : changes) {
        outcomes.push_back(commit_one(change, *sam));
    }
    m_administrators.reset();
    return outcomes;
}

}  // namespace dsvm::windows_platform
