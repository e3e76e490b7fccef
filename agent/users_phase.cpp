#include "agent/users_phase.h"

#include <fmt/format.h>

#include <sys/stat.h>

#include <algorithm>

#include "agent/users_plan.h"
#include "common/text.h"
#include "mount/automount.h"
#include "mount/credentials.h"
#include "mount/options.h"
#include "users/accounts.h"
#include "users/notebooks.h"
#include "users/ssh_keys.h"
#include "users/sudo.h"

namespace dsvm {

namespace {

bool per_user_smb(const ShareConfig& share) {
    return share.type == ShareType::Smb && share.smb_access == SmbAccess::PerUser;
}

// Runs one per-user step and records it when it changed something or failed.
void record(std::vector<ActionOutcome>& outcomes, std::string description, Result<bool> done) {
    if (!done) {
        outcomes.push_back({std::move(description), false, done.error().message});
    } else if (*done) {
        outcomes.push_back({std::move(description), true, {}});
    }
}

void ensure_user_files(const UsersPhase& phase, const RegistryUser& user,
                       std::vector<ActionOutcome>& outcomes) {
    const std::string home = "/home/" + user.name;
    record(outcomes, "create home " + home, create_home(phase.root, home, user.uid, user.gid));
    record(outcomes, fmt::format("write SSH keys of {}", user.name),
           write_authorized_keys(phase.root, home, user.uid, user.gid, user.ssh_keys));
    const ShareConfig& share = *phase.config.share;
    const std::string folder = notebook_folder(phase.config.notebooks, user.name);
    std::string target;
    if (per_user_smb(share)) {
        // The folder on the root-only share is reached only through the user's own mount of it.
        record(outcomes, fmt::format("make notebook folder {} for {}", folder, user.name),
               ensure_share_folder(phase.root.path(share.mount_point), folder));
        target = notebook_mount_path(user.name);
    } else {
        record(
            outcomes, fmt::format("make notebook folder {} for {}", folder, user.name),
            ensure_notebook_folder(phase.root.path(share.mount_point), folder, user.uid, user.gid));
        target = share.mount_point + "/" + folder;
    }
    auto link = ensure_notebook_link(phase.root, home, user.uid, user.gid, target);
    if (!link) {
        outcomes.push_back({"link " + home + "/notebooks/remote", false, link.error().message});
    } else if (*link != LinkChange::Unchanged) {
        outcomes.push_back({"link " + home + "/notebooks/remote to " + target, true, {}});
    }
}

// autofs re-reads its maps on a reload; reload-or-restart also starts it when it is stopped.
// Only on the real root: a sandbox's autofs is not the host's.
void reload_autofs(const UsersPhase& phase, std::vector<ActionOutcome>& outcomes) {
    if (!phase.root.is_host()) {
        return;
    }
    const std::string description = "reload autofs.service for per-user notebook mounts";
    auto ran = phase.runner.run({"/usr/bin/systemctl", "reload-or-restart", "autofs.service"});
    if (!ran) {
        outcomes.push_back({description, false, ran.error().message});
    } else if (ran->exit_code != 0) {
        outcomes.push_back({description, false,
                            "systemctl reload-or-restart autofs.service failed (is the autofs "
                            "package installed?): " +
                                std::string(printable(ran->err))});
    } else {
        outcomes.push_back({description, true, {}});
    }
}

// The autofs map of every active managed user's notebook mount (DESIGN.md §5).
void ensure_notebook_automount(const UsersPhase& phase, const std::vector<RegistryUser>& active,
                               const AgentState& state, std::vector<ActionOutcome>& outcomes) {
    const ShareConfig& share = *phase.config.share;
    std::vector<NotebookMount> mounts;
    mounts.reserve(active.size());
    for (const RegistryUser& user : active) {
        if (state.users.count(user.name) != 0) {
            mounts.push_back({user.name, user.uid, user.gid,
                              notebook_folder(phase.config.notebooks, user.name)});
        }
    }
    const std::string map = render_notebook_map(share.source, mounts, share.options,
                                                credentials_path(credentials_name(share.source)));
    auto installed = install_notebook_automount(phase.root, map);
    if (!installed) {
        outcomes.push_back({"write the notebook mount map " + std::string(k_notebook_map_path),
                            false, installed.error().message});
        return;
    }
    if (installed->map_changed) {
        outcomes.push_back({fmt::format("write the notebook mount map {} ({} users)",
                                        k_notebook_map_path, mounts.size()),
                            true,
                            {}});
    }
    if (installed->map_changed || installed->master_changed) {
        reload_autofs(phase, outcomes);
    }
}

void note_state(const UsersPlan& plan, const std::vector<AccountOutcome>& outcomes,
                AgentState& state) {
    for (size_t i = 0; i < plan.changes.size() && i < outcomes.size(); ++i) {
        if (!outcomes[i].ok) {
            continue;
        }
        if (const auto* create = std::get_if<CreateAccount>(&plan.changes[i])) {
            state.users.insert(create->name);
        } else if (const auto* lock = std::get_if<LockAccount>(&plan.changes[i])) {
            state.locked.insert(lock->name);
        } else if (const auto* unlock = std::get_if<UnlockAccount>(&plan.changes[i])) {
            state.locked.erase(unlock->name);
        } else if (const auto* groups = std::get_if<SetSupplementaryGroups>(&plan.changes[i])) {
            // Only non-empty lists are kept: with thousands of users the state file is read on
            // every pass.
            if (groups->wanted.empty()) {
                state.groups.erase(groups->user);
            } else {
                state.groups[groups->user] = groups->wanted;
            }
        }
    }
}

// Even when nothing seems to have changed, every user's home, keys and link are checked again
// this often, so damage done on the instance (a deleted link) is repaired.
constexpr std::int64_t k_full_check_seconds = 3600;

std::string stat_stamp(const std::string& path) {
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) {
        return "-";
    }
    return fmt::format("{}:{}:{}.{}", info.st_ino, info.st_size, info.st_mtim.tv_sec,
                       info.st_mtim.tv_nsec);
}

// Everything the users phase reads, as cheap identities: the registry file, the config's users
// and layout, and the account files. Equal fingerprints mean an equal result.
std::string users_fingerprint(const UsersPhase& phase, const RegistryStore& store) {
    auto registry = store.stamp();
    std::string text = registry ? *registry : "?";
    text += "|" + to_json(phase.config).dump();
    for (const char* file : {"/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow"}) {
        text += "|" + stat_stamp(phase.root.path(file));
    }
    return text;
}

}  // namespace

Result<void> merge_config_users(const PoolConfig& config, Registry& registry) {
    for (const UserConfig& wanted : config.users) {
        auto found = find_or_add_user(registry, wanted.name, config.uid_min, config.uid_max);
        if (!found) {
            return found.error();
        }
        RegistryUser* user = *found;
        user->sudo = wanted.sudo;
        user->groups = wanted.groups;
        user->ssh_keys = wanted.ssh_keys;
    }
    std::sort(registry.users.begin(), registry.users.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
    return {};
}

UsersResult run_users_phase(const UsersPhase& phase, AgentState& state) {
    UsersResult result;
    const PoolConfig& config = phase.config;
    if (!phase.dry_run && (!config.share || !per_user_smb(*config.share))) {
        // A pool that left SMB per-user keeps no notebook map behind.
        auto removed = remove_notebook_automount(phase.root);
        if (!removed) {
            result.problems.push_back(removed.error().message);
        } else if (*removed) {
            result.outcomes.push_back({"remove the per-user notebook mounts (autofs)", true, {}});
            reload_autofs(phase, result.outcomes);
        }
    }
    if (!config.share) {
        if (!config.users.empty() || phase.request != nullptr) {
            result.problems.push_back(
                "pool users need a share: the pool registry, which keeps UIDs equal on every "
                "instance, lives on it");
        }
        return result;
    }
    const bool asked = !config.users.empty() || phase.request != nullptr;
    if (!phase.share_mounted) {
        if (asked) {
            result.problems.push_back(
                "pool users are not applied: the share is not mounted, and the registry lives "
                "on it");
        }
        return result;
    }
    RegistryStore store(phase.root.path(config.share->mount_point));
    const bool may_skip = !phase.full && !phase.dry_run && phase.request == nullptr &&
                          phase.now - state.users_verified < k_full_check_seconds;
    if (may_skip && !state.users_fingerprint.empty() &&
        users_fingerprint(phase, store) == state.users_fingerprint) {
        result.pool_users = state.pool_users;
        return result;
    }
    auto current = store.read();
    if (!current) {
        result.problems.push_back(current.error().message);
        return result;
    }
    if (!asked && current->users.empty()) {
        result.pool_users = 0;
        return result;
    }
    Registry wanted = *current;
    if (auto merged = merge_config_users(config, wanted); !merged) {
        result.problems.push_back(merged.error().message);
        return result;
    }
    Registry registry = *current;
    if (!phase.dry_run && (wanted.users != current->users || phase.request != nullptr)) {
        auto updated = store.update([&](Registry& latest) -> Result<void> {
            if (auto merged_latest = merge_config_users(config, latest); !merged_latest) {
                return merged_latest;
            }
            if (phase.request != nullptr) {
                return (*phase.request)(latest, config);
            }
            return {};
        });
        if (!updated) {
            if (updated.error().kind == ErrorKind::Invalid) {
                result.request_error = updated.error();
            } else {
                result.problems.push_back(updated.error().message);
            }
            return result;
        }
        registry = *updated;
    } else {
        registry = wanted;
    }

    CheckedRegistry checked = check_registry(registry, config.uid_min, config.uid_max);
    for (auto& rejected : checked.rejected) {
        result.problems.push_back("pool registry: " + rejected);
    }
    auto files = read_account_files(phase.root);
    if (!files) {
        result.problems.push_back(files.error().message);
        return result;
    }
    UsersObserved observed{AccountView::parse(*files), state.users, state.locked, state.groups};
    const UsersPlan plan = plan_users(checked.valid, observed);
    result.problems.insert(result.problems.end(), plan.conflicts.begin(), plan.conflicts.end());
    result.pool_users =
        static_cast<int>(std::count_if(checked.valid.begin(), checked.valid.end(),
                                       [](const auto& user) { return !user.deleted; }));
    if (phase.dry_run) {
        for (const auto& change : plan.changes) {
            result.planned.push_back(describe(change));
        }
        return result;
    }
    if (!plan.changes.empty()) {
        auto outcomes = commit_account_changes(phase.root, plan.changes);
        if (!outcomes) {
            result.problems.push_back(outcomes.error().message);
            return result;
        }
        note_state(plan, *outcomes, state);
        for (const auto& outcome : *outcomes) {
            result.outcomes.push_back({outcome.description, outcome.ok, outcome.error});
        }
    }
    const bool any_sudo = std::any_of(checked.valid.begin(), checked.valid.end(),
                                      [](const auto& user) { return user.sudo && !user.deleted; });
    if (any_sudo) {
        record(result.outcomes, "install sudoers drop-in " + std::string(k_sudoers_path),
               install_sudoers(phase.root, phase.runner));
    }
    for (const RegistryUser& user : plan.active) {
        if (state.users.count(user.name) != 0) {
            ensure_user_files(phase, user, result.outcomes);
        }
    }
    if (per_user_smb(*config.share)) {
        ensure_notebook_automount(phase, plan.active, state, result.outcomes);
    }
    // Only a clean pass may be skipped next time: anything that failed is tried again.
    const bool clean =
        result.problems.empty() && std::all_of(result.outcomes.begin(), result.outcomes.end(),
                                               [](const auto& outcome) { return outcome.ok; });
    state.users_fingerprint = clean ? users_fingerprint(phase, store) : "";
    state.users_verified = clean ? phase.now : 0;
    state.pool_users = result.pool_users;
    return result;
}

}  // namespace dsvm
