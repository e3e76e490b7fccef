// WindowsAccounts' steps in a user's home: the profile, the SSH keys and the notebook link
// (docs/windows-backends.md, §6, traps 3 to 5). The home a step names is never used: a profile is
// where CreateProfile put it (a hand-made C:\Users\alice makes Windows use C:\Users\alice.HOST).
#include "windows/windows_accounts.h"

#include <fmt/format.h>

#include "common/overloaded.h"
#include "common/text.h"
#include "users/authorized_keys.h"
#include "windows/account_errors.h"
#include "windows/notebook_link.h"

#include <winerror.h>

namespace dsvm::windows_platform {

namespace {

std::string keys_path(const std::string& profile) {
    return profile + "\\.ssh\\authorized_keys";
}

std::string link_path(const std::string& profile) {
    return profile + "\\" + std::string(k_notebook_link);
}

Error link_refused(const std::string& profile, std::uint32_t code) {
    if (code == ERROR_ALREADY_EXISTS) {
        return failure(shown_path(link_path(profile)) +
                       " exists and is not a link; it is left as it is (move it away to get the "
                       "link to the share)");
    }
    if (code == ERROR_CANT_ACCESS_FILE) {
        return failure("refusing " + shown_path(link_path(profile)) +
                       ": a folder on the way is a link or junction");
    }
    return failure("cannot link " + shown_path(link_path(profile)) + ": " +
                   account_error_text(code));
}

}  // namespace

Result<bool> WindowsAccounts::apply(const engine::HomeStep& step) {
    return std::visit(
        Overloaded{
            [&](const engine::CreateHome& home) -> Result<bool> {
                std::string path;
                bool created = false;
                if (const auto code = m_api.create_profile(home.user, path, created); code != 0) {
                    return failure(fmt::format("cannot create the profile of {}: {}",
                                               printable(home.user), account_error_text(code)));
                }
                m_profiles[home.user] = path;
                return created;
            },
            [&](const engine::WriteKeys& keys_step) { return keys(keys_step, true); },
            [&](const engine::LinkNotebooks& link_step) { return link(link_step, true); },
        },
        step);
}

Result<bool> WindowsAccounts::differs(const engine::HomeStep& step) {
    return std::visit(
        Overloaded{
            [&](const engine::CreateHome& home) -> Result<bool> {
                auto profile = profile_of(home.user);
                if (!profile) {
                    return profile.error();
                }
                return !profile->has_value();
            },
            [&](const engine::WriteKeys& keys_step) { return keys(keys_step, false); },
            [&](const engine::LinkNotebooks& link_step) { return link(link_step, false); },
        },
        step);
}

Result<bool> WindowsAccounts::keys(const engine::WriteKeys& step, bool write) {
    auto profile = profile_of(step.user);
    if (!profile) {
        return profile.error();
    }
    if (!profile->has_value()) {
        // No profile has no keys to remove, and no keys need none; for keys to write, the
        // CreateHome before makes it.
        const bool keys_to_write = !step.remove && users::has_usable_keys(step.keys);
        if (!keys_to_write || !write) {
            return keys_to_write;
        }
        return failure(fmt::format("cannot write the SSH keys of {}: the account has no profile",
                                   printable(step.user)));
    }
    const std::string& folder = **profile;
    KeysFile current;
    if (const auto code = m_api.read_keys(folder, step.user, current); code != 0) {
        return failure(fmt::format("cannot read {}: {}", shown_path(keys_path(folder)),
                                   code == ERROR_CANT_ACCESS_FILE
                                       ? std::string("it, or .ssh, is a link or junction")
                                       : account_error_text(code)));
    }
    const std::string merged = users::merge_authorized_keys(current.text, step.keys);
    const bool changes = current.found ? merged != current.text || !current.private_to_user
                                       : users::has_usable_keys(step.keys);
    if (changes && write) {
        if (const auto code = m_api.write_keys(folder, step.user, merged); code != 0) {
            return failure(fmt::format("cannot write {}: {}", shown_path(keys_path(folder)),
                                       code == ERROR_CANT_ACCESS_FILE
                                           ? std::string("it, or .ssh, is a link or junction")
                                           : account_error_text(code)));
        }
    }
    if (!step.remove && users::has_usable_keys(step.keys)) {
        // Trap 5: OpenSSH's default sshd_config reads administrators' keys from one shared
        // file; writing it would hand every sudo user's key to all administrators' logins.
        auto administrator = is_administrator(step.user);
        if (!administrator) {
            return administrator.error();
        }
        if (*administrator) {
            return failure(fmt::format(
                "the SSH keys of {} are in {}, but {} is a member of Administrators (sudo), for "
                "whom Windows OpenSSH reads %ProgramData%\\ssh\\administrators_authorized_keys "
                "instead; dsvm-agent does not write that file, which all administrators share",
                printable(step.user), shown_path(keys_path(folder)), printable(step.user)));
        }
    }
    return changes;
}

Result<bool> WindowsAccounts::link(const engine::LinkNotebooks& step, bool make) {
    auto target = nt_link_target(step.target);
    if (!target) {
        return target.error();
    }
    auto profile = profile_of(step.user);
    if (!profile) {
        return profile.error();
    }
    if (!profile->has_value()) {
        if (!make) {
            return true;
        }
        return failure(fmt::format("cannot link the notebooks of {}: the account has no profile",
                                   printable(step.user)));
    }
    const std::string& folder = **profile;
    const std::string relative(k_notebook_link);
    if (make) {
        bool changed = false;
        if (const auto code = m_api.make_link(folder, relative, *target, changed); code != 0) {
            return link_refused(folder, code);
        }
        return changed;
    }
    LinkState state;
    if (const auto code = m_api.read_link(folder, relative, state); code == ERROR_FILE_NOT_FOUND) {
        return true;
    } else if (code != 0) {
        return link_refused(folder, code);
    }
    switch (state.kind) {
        case LinkKind::Link:
            return state.target != *target;
        case LinkKind::Other:
            return link_refused(folder, ERROR_ALREADY_EXISTS);
        case LinkKind::Missing:
        case LinkKind::EmptyDirectory:
            break;
    }
    return true;
}

}  // namespace dsvm::windows_platform
