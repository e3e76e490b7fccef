#include "linux/linux_accounts.h"

#include <fmt/format.h>

#include <utility>

#include "common/fs.h"
#include "common/overloaded.h"
#include "common/text.h"
#include "users/account_plan.h"
#include "users/accounts.h"
#include "users/notebooks.h"
#include "users/password.h"
#include "users/ssh_keys.h"
#include "users/sudo.h"

namespace dsvm::linux_platform {

using namespace dsvm::engine;
using namespace dsvm::users;

namespace {

// Names and IDs of new accounts that something outside the account files holds: the NIS compat
// entries in passwd and group, and the system's name service. The local files themselves are
// the plan's to judge (an interrupted pass's leftovers included), so what they hold is not asked.
// The name service may wait on a network directory (LDAP, SSSD), so it is asked under a
// deadline; without an answer, no account is created.
std::map<std::string, std::string> taken_elsewhere(const Root& root, const NameLookup& names,
                                                   const std::vector<RegistryUser>& users,
                                                   const AccountFiles& files,
                                                   const AccountView& view) {
    struct Candidate {
        std::string name;
        std::uint32_t uid = 0;
        std::uint32_t gid = 0;
    };
    std::map<std::string, std::string> taken;
    std::vector<Candidate> ask;
    const NisCompat users_nis = parse_nis_compat(files.passwd);
    const NisCompat groups_nis = parse_nis_compat(files.group);
    const bool host = root.is_host();
    for (const RegistryUser& user : users) {
        if (user.deleted || view.user(user.name) != nullptr) {
            continue;
        }
        for (const auto& [answer, asked] : {std::pair{users_nis.name(user.name), "user name"},
                                            std::pair{groups_nis.name(user.name), "group name"}}) {
            // On the real root the name service answers for wildcards and netgroups below.
            if (answer.state == NameState::Taken || (answer.state == NameState::Unknown && !host)) {
                taken[user.name] = fmt::format("pool user '{}' is not created: its {} is {}",
                                               user.name, asked, users::describe(answer));
            }
        }
        if (taken.count(user.name) == 0 && view.group(user.name) == nullptr &&
            view.user_by_uid(user.uid) == nullptr && view.group_by_gid(user.gid) == nullptr) {
            ask.push_back({user.name, user.uid, user.gid});
        }
    }
    if (ask.empty()) {
        return taken;
    }
    auto answers = names.gate.run<std::map<std::string, std::string>>(
        k_name_service_limit,
        [service = names.service, ask]() -> Result<std::map<std::string, std::string>> {
            std::map<std::string, std::string> clashes;
            for (const Candidate& candidate : ask) {
                if (auto clash =
                        find_clash(*service, candidate.name, candidate.uid, candidate.gid)) {
                    clashes[candidate.name] =
                        fmt::format("pool user '{}' is not created: its {} is {}", candidate.name,
                                    printable(clash->asked), users::describe(clash->answer));
                }
            }
            return clashes;
        });
    if (!answers) {
        for (const Candidate& candidate : ask) {
            taken[candidate.name] = fmt::format(
                "pool user '{}' is not created: whether its name and IDs are free "
                "cannot be told ({})",
                candidate.name, answers.error().message);
        }
        return taken;
    }
    taken.insert(answers->begin(), answers->end());
    return taken;
}

}  // namespace

LinuxAccounts::LinuxAccounts(Root root, ProcessRunner& runner)
    : m_root(std::move(root)), m_runner(runner) {}

AccountLimits LinuxAccounts::limits() const {
    return {};
}

// A new name must be no local account or group the agent did not create, nor taken in the
// system's name service (LDAP, SSSD, NIS ...).
Result<void> LinuxAccounts::check_new_name(std::string_view name_view,
                                           const std::set<std::string>& managed,
                                           const NameLookup& names) {
    const std::string name(name_view);
    auto files = read_account_files(m_root);
    if (!files) {
        return files.error();
    }
    const AccountView accounts = AccountView::parse(*files);
    const bool ours = managed.count(name) != 0;
    if (accounts.user(name) != nullptr && !ours) {
        return invalid("user name '" + name +
                       "' belongs to an existing local account that dsvm-agent did not create");
    }
    if (accounts.group(name) != nullptr && !ours) {
        return invalid("user name '" + name +
                       "' is the name of an existing local group; a pool user's own group takes "
                       "its name");
    }
    if (accounts.user(name) != nullptr) {
        return {};
    }
    for (const auto& text : {files->passwd, files->group}) {
        if (const NameAnswer answer = parse_nis_compat(text).name(name);
            answer.state == NameState::Taken) {
            return invalid("user name '" + name + "' is " + users::describe(answer));
        }
    }
    // A directory server (LDAP, SSSD) may not answer: asked under a deadline.
    auto answers = names.gate.run<std::vector<NameAnswer>>(
        k_name_service_limit, [service = names.service, name]() -> Result<std::vector<NameAnswer>> {
            return std::vector<NameAnswer>{service->user_name(name), service->group_name(name)};
        });
    if (!answers) {
        return answers.error();
    }
    for (const auto& answer : *answers) {
        if (answer.state == NameState::Taken) {
            return invalid("user name '" + name + "' is " + users::describe(answer));
        }
    }
    return {};
}

Result<std::string> LinuxAccounts::hash_password(std::string_view clear) {
    return users::hash_password(clear);
}

Result<std::map<std::string, LocalAccount>> LinuxAccounts::find(
    const std::set<std::string>& names) {
    auto files = read_account_files(m_root);
    if (!files) {
        return files.error();
    }
    const AccountView view = AccountView::parse(*files);
    std::map<std::string, LocalAccount> found;
    for (const auto& name : names) {
        if (const UserRecord* user = view.user(name)) {
            found[name] = {user->uid, view.is_marked_managed(name), view.is_locked(name)};
        }
    }
    return found;
}

std::string LinuxAccounts::stamp() {
    return account_files_stamp(m_root);
}

Result<AccountsPlanned> LinuxAccounts::plan(const std::vector<RegistryUser>& valid,
                                            const AccountsKnown& known, const NameLookup& names) {
    auto files = read_account_files(m_root);
    if (!files) {
        return files.error();
    }
    AccountView view = AccountView::parse(*files);
    AccountsPlanned planned;
    std::set<std::string> managed = known.managed;
    // An account a killed pass created in full is the agent's: it is adopted, and only it.
    for (const PendingAccount& account : known.pending) {
        const UserRecord* local = view.user(account.name);
        if (known.adopt && local != nullptr && local->uid == account.uid &&
            local->gid == account.gid && view.is_marked_managed(account.name) &&
            managed.count(account.name) == 0) {
            managed.insert(account.name);
            planned.adopted.push_back(account.name);
        }
    }
    UsersObserved observed{std::move(view), std::move(managed), known.groups, known.pending, {}};
    observed.taken_elsewhere = taken_elsewhere(m_root, names, valid, *files, observed.accounts);
    planned.plan = plan_users(valid, observed);
    return planned;
}

std::string LinuxAccounts::describe(const AccountChange& change) const {
    return users::describe(change);
}

Result<std::vector<ActionOutcome>> LinuxAccounts::commit(const std::vector<AccountChange>& changes,
                                                         Clock& clock) {
    return commit_account_changes(m_root, changes, clock);
}

bool LinuxAccounts::sudo_rule_present() {
    return path_exists(m_root.path(k_sudoers_path));
}

// A drop-in that cannot be brought in line is removed, so a failure never leaves more than the
// config grants: sudo for the pool's users then waits for a pass that can write it.
std::vector<ActionOutcome> LinuxAccounts::sync_sudo_rule(SudoAuthentication authentication) {
    const std::string description = "install sudoers drop-in " + std::string(k_sudoers_path);
    auto installed = install_sudoers(m_root, m_runner, authentication);
    if (!installed) {
        const std::string path = m_root.path(k_sudoers_path);
        const bool removed = path_exists(path) && remove_file_if_exists(path).ok();
        return {ActionOutcome::failed(
            description, installed.error().message +
                             (removed ? "; the old drop-in was removed (no pool user has sudo "
                                        "until it can be written)"
                                      : ""))};
    }
    if (*installed) {
        return {ActionOutcome::done(description)};
    }
    return {};
}

std::string LinuxAccounts::home_of(std::string_view user) const {
    return "/home/" + std::string(user);
}

Result<bool> LinuxAccounts::apply(const HomeStep& step) {
    return std::visit(
        Overloaded{
            [&](const CreateHome& home) -> Result<bool> {
                return create_home(m_root, home.home, home.uid, home.gid);
            },
            [&](const WriteKeys& keys) -> Result<bool> {
                // A user who may no longer log in and has no home has no keys to remove.
                if (keys.remove && home_missing(m_root, keys.home)) {
                    return false;
                }
                return write_authorized_keys(m_root, keys.home, keys.uid, keys.gid, keys.keys);
            },
            [&](const LinkNotebooks& link) -> Result<bool> {
                auto made =
                    ensure_notebook_link(m_root, link.home, link.uid, link.gid, link.target);
                if (!made) {
                    return made.error();
                }
                return *made != LinkChange::Unchanged;
            },
        },
        step);
}

Result<bool> LinuxAccounts::differs(const HomeStep& step) {
    return std::visit(
        Overloaded{
            [&](const CreateHome& home) -> Result<bool> { return home_missing(m_root, home.home); },
            [&](const WriteKeys& keys) -> Result<bool> {
                return authorized_keys_differ(m_root, keys.home, keys.uid, keys.keys);
            },
            [&](const LinkNotebooks& link) -> Result<bool> {
                return notebook_link_differs(m_root, link.home, link.uid, link.target);
            },
        },
        step);
}

}  // namespace dsvm::linux_platform
