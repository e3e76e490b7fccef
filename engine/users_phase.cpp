#include "engine/users_phase.h"

#include <fmt/format.h>

#include <algorithm>
#include <memory>

#include "common/overloaded.h"
#include "common/text.h"
#include "engine/user_files.h"
#include "engine/users_intent.h"
#include "users/registry_store.h"

namespace dsvm::engine {

using namespace dsvm::users;
using namespace dsvm::config;

namespace {

// Even when nothing seems to have changed, every user's home, keys and link are checked again
// this often, so damage done on the instance (a deleted link) is repaired.
constexpr std::int64_t k_full_check_seconds = 3600;

// At most this many names in a line that lists accounts.
constexpr std::size_t k_names_shown = 10;

// Records one step when it changed something or failed.
void record(std::vector<ActionOutcome>& outcomes, std::string description, Result<bool> done) {
    if (!done) {
        outcomes.push_back(ActionOutcome::failed(std::move(description), done.error().message));
    } else if (*done) {
        outcomes.push_back(ActionOutcome::done(std::move(description)));
    }
}

// Brings the sudo rule in line with sudoAuthentication (a rule that cannot be is removed, so a
// failure never leaves more than the config grants).
void sync_sudo_rule(const UsersPhase& phase, std::vector<ActionOutcome>& outcomes) {
    auto synced = phase.accounts.sync_sudo_rule(phase.config.sudo_authentication);
    outcomes.insert(outcomes.end(), synced.begin(), synced.end());
}

std::string names_list(const std::vector<std::string>& names) {
    std::string out;
    for (std::size_t i = 0; i < names.size() && i < k_names_shown; ++i) {
        out += (i == 0 ? "" : ", ") + names[i];
    }
    if (names.size() > k_names_shown) {
        out += fmt::format(" and {} more", names.size() - k_names_shown);
    }
    return out;
}

// Runs one step of the user files plan, recording it when it changed something or failed.
void run_step(const UsersPhase& phase, const UserFilesAction& action,
              std::vector<ActionOutcome>& outcomes) {
    std::visit(
        Overloaded{
            [&](const CreateHome& home) {
                record(outcomes, describe(action), phase.accounts.apply(home));
            },
            [&](const WriteKeys& keys) {
                record(outcomes, describe(action), phase.accounts.apply(keys));
            },
            [&](const LinkNotebooks& link) {
                auto made = phase.accounts.apply(link);
                if (!made) {
                    outcomes.push_back(
                        {"link " + link.home + "/notebooks/remote", false, made.error().message});
                } else if (*made) {
                    outcomes.push_back(ActionOutcome::done(describe(action)));
                }
            },
            [&](const MakeNotebookFolders& step) {
                const std::string share_dir = phase.share.share_dir(*phase.config.share);
                auto done = phase.share_gate.run<std::vector<ActionOutcome>>(
                    k_share_write_limit,
                    [step, share_dir,
                     folders = phase.share.folders()]() -> Result<std::vector<ActionOutcome>> {
                        std::vector<ActionOutcome> made;
                        for (const NotebookFolder& folder : step.folders) {
                            record(made, describe_folder(folder),
                                   folders->ensure(share_dir, folder, step.owners));
                        }
                        return made;
                    });
                if (!done) {
                    outcomes.push_back(
                        {"make notebook folders on the share", false, done.error().message});
                    return;
                }
                outcomes.insert(outcomes.end(), done->begin(), done->end());
            },
            [&](const WriteNotebookMap& map) {
                auto installed = phase.share.install_user_mounts(map);
                outcomes.insert(outcomes.end(), installed.begin(), installed.end());
            },
        },
        action);
}

// The inspect half of run_step, for a dry run: the lines of the steps that would change
// something, and what a step could not tell (as the pass would report it). Nothing is created.
void inspect_step(const UsersPhase& phase, const UserFilesAction& action,
                  std::vector<std::string>& planned, std::vector<std::string>& problems) {
    const auto note = [&](const std::string& line, const Result<bool>& differs) {
        if (!differs) {
            problems.push_back(line + ": " + differs.error().message);
        } else if (*differs) {
            planned.push_back(line);
        }
    };
    std::visit(
        Overloaded{
            [&](const CreateHome& home) { note(describe(action), phase.accounts.differs(home)); },
            [&](const WriteKeys& keys) { note(describe(action), phase.accounts.differs(keys)); },
            [&](const LinkNotebooks& link) {
                note(describe(action), phase.accounts.differs(link));
            },
            [&](const MakeNotebookFolders& step) {
                const std::string share_dir = phase.share.share_dir(*phase.config.share);
                struct Looked {
                    std::vector<std::string> planned;
                    std::vector<std::string> problems;
                };
                auto looked = phase.share_gate.run<Looked>(
                    k_share_read_limit,
                    [step, share_dir, folders = phase.share.folders()]() -> Result<Looked> {
                        Looked out;
                        for (const NotebookFolder& folder : step.folders) {
                            auto differs = folders->differs(share_dir, folder, step.owners);
                            if (!differs) {
                                out.problems.push_back(describe_folder(folder) + ": " +
                                                       differs.error().message);
                            } else if (*differs) {
                                out.planned.push_back(describe_folder(folder));
                            }
                        }
                        return out;
                    });
                if (!looked) {
                    problems.push_back("make notebook folders on the share: " +
                                       looked.error().message);
                    return;
                }
                planned.insert(planned.end(), looked->planned.begin(), looked->planned.end());
                problems.insert(problems.end(), looked->problems.begin(), looked->problems.end());
            },
            [&](const WriteNotebookMap& map) {
                note(describe(action), phase.share.user_mounts_differ(map));
            },
        },
        action);
}

void note_state(const UsersPlan& plan, const std::vector<ActionOutcome>& outcomes,
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

// Adds to the state's record of each user's groups every group a SetSupplementaryGroups of the
// plan may grant; true when that changed the record.
bool widen_groups(const UsersPlan& plan, AgentState& state) {
    bool widened = false;
    for (const auto& change : plan.changes) {
        const auto* groups = std::get_if<SetSupplementaryGroups>(&change);
        if (groups == nullptr || groups->wanted.empty()) {
            continue;
        }
        std::vector<std::string>& recorded = state.groups[groups->user];
        for (const auto& group : groups->wanted) {
            if (std::find(recorded.begin(), recorded.end(), group) == recorded.end()) {
                recorded.push_back(group);
                widened = true;
            }
        }
        std::sort(recorded.begin(), recorded.end());
    }
    return widened;
}

// Everything the users phase reads, as cheap identities: the registry, the keys, the config's
// users and layout, and the account files. Equal fingerprints mean an equal result.
Result<std::string> users_fingerprint(const UsersPhase& phase, const RegistryStore& store,
                                      const RegistryKeys& keys) {
    auto registry = phase.share_gate.run<std::string>(
        k_share_read_limit, [store]() -> Result<std::string> { return store.stamp(); });
    if (!registry) {
        return registry.error();
    }
    std::string text = *registry + "|" + keys.current_id + "," + keys.previous_id;
    text += "|" + to_json(phase.config).dump();
    text += phase.accounts.stamp();
    return text;
}

// UIDs the pool gave that this instance knows of: the accounts it made. They are never handed
// out again, even if the registry lost the entries that had them.
std::set<std::uint32_t> known_pool_uids(AccountBackend& accounts, const AgentState& state) {
    std::set<std::uint32_t> uids;
    auto found = accounts.find(state.users);
    if (!found) {
        return uids;
    }
    for (const auto& [name, account] : *found) {
        uids.insert(account.pool_uid);
    }
    return uids;
}

std::string no_key_problem() {
    return "pool users are not applied: this instance has no registry key, with which the pool "
           "registry is signed; set the pool's key with `dsvm-agent registry set-key --key-stdin` "
           "(or the extension's protected setting registryKey)";
}

}  // namespace

RegistryStore registry_store_for(const ShareConfig& share, const ShareBackend& backend,
                                 std::shared_ptr<const RegistryKeys> keys) {
    // The registry's lock wait (30 s) fits inside the write limit. The store works under the
    // share gate, whose worker may outlive the pass: it keeps the process's real clock.
    return RegistryStore({backend.share_dir(share), share.type != mount::ShareType::Smb},
                         std::move(keys));
}

Result<void> merge_config_users(const PoolConfig& config, Registry& registry,
                                const std::set<std::uint32_t>& taken) {
    for (const UserConfig& wanted : config.users) {
        auto found = find_or_add_user(registry, wanted.name, config.uid_min, config.uid_max, taken);
        if (!found) {
            return found.error();
        }
        RegistryUser* user = *found;
        user->sudo = wanted.sudo;
        user->groups = wanted.groups;
        user->ssh_keys = wanted.ssh_keys;
    }
    sort_users(registry.users);
    return {};
}

std::vector<std::string> preview_user_files(const PoolConfig& config, AccountBackend& accounts,
                                            const ShareBackend& share) {
    std::vector<std::string> lines;
    if (!config.share) {
        return lines;
    }
    std::vector<RegistryUser> users;
    std::set<std::string> names;
    for (const UserConfig& wanted : config.users) {
        RegistryUser user;
        user.name = wanted.name;
        user.ssh_keys = wanted.ssh_keys;
        const CreateHome home{user.name, accounts.home_of(user.name), 0, 0};
        if (auto missing = accounts.differs(home); missing && *missing) {
            users.push_back(std::move(user));
            names.insert(wanted.name);
        }
    }
    if (users.empty()) {
        return lines;
    }
    for (const UserFilesAction& action :
         plan_user_files(config, users, {}, names, accounts, share)) {
        if (const auto* folders = std::get_if<MakeNotebookFolders>(&action)) {
            for (const NotebookFolder& folder : folders->folders) {
                lines.push_back(describe_folder(folder));
            }
        } else if (std::holds_alternative<WriteNotebookMap>(action)) {
            // The map holds every managed user, whom only the registry names.
            lines.push_back(
                fmt::format("add {} to the notebook mount map {}",
                            names.size() == 1 ? "1 user" : fmt::format("{} users", names.size()),
                            std::get<WriteNotebookMap>(action).path));
        } else if (const auto* keys = std::get_if<WriteKeys>(&action);
                   keys == nullptr || !keys->keys.empty()) {
            lines.push_back(describe(action));
        }
    }
    return lines;
}

UsersResult run_users_phase(const UsersPhase& phase, AgentState& state) {
    UsersResult result;
    const PoolConfig& config = phase.config;
    // Asking for passwords takes effect at once, on every pass, whatever the share or the
    // registry say (the drop-in depends on the config alone); dropping them waits for the batch
    // below, so users it takes sudo from never hold a password-less rule meanwhile.
    const bool passwords = config.sudo_authentication == SudoAuthentication::Password;
    if (!phase.dry_run && passwords && phase.accounts.sudo_rule_present()) {
        sync_sudo_rule(phase, result.outcomes);
    }
    if (!phase.dry_run && (!config.share || !config.share->per_user_smb())) {
        // A pool that left SMB per-user keeps no notebook map behind.
        auto removed = phase.share.remove_user_mounts();
        if (!removed) {
            result.problems.push_back(removed.error().message);
        } else {
            result.outcomes.insert(result.outcomes.end(), removed->begin(), removed->end());
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
    auto keys_read = read_registry_keys(phase.root);
    if (!keys_read) {
        result.problems.push_back("pool users are not applied: " + keys_read.error().message);
        return result;
    }
    const auto keys = std::make_shared<const RegistryKeys>(std::move(*keys_read));
    const RegistryStore store = registry_store_for(*config.share, phase.share, keys);
    const std::int64_t now =
        std::chrono::duration_cast<std::chrono::seconds>(phase.clock.wall_now().time_since_epoch())
            .count();
    const bool may_skip = !phase.full && !phase.dry_run && phase.request == nullptr &&
                          now - state.users_verified < k_full_check_seconds &&
                          !state.users_fingerprint.empty();
    if (may_skip) {
        auto fingerprint = users_fingerprint(phase, store, *keys);
        if (!fingerprint) {
            result.problems.push_back(fingerprint.error().message);
            return result;
        }
        if (*fingerprint == state.users_fingerprint) {
            result.pool_users = state.pool_users;
            return result;
        }
    }
    auto loaded = phase.share_gate.run<LoadedRegistry>(
        k_share_read_limit, [store]() -> Result<LoadedRegistry> { return store.load(); });
    if (!loaded) {
        result.problems.push_back(loaded.error().message);
        return result;
    }
    if (keys->current.empty() && (asked || loaded->exists)) {
        result.problems.push_back(no_key_problem());
        return result;
    }
    // A registry that anyone but the agent wrote, or that vanished or went back in time, changes
    // nothing here; status says why in one line.
    if (!loaded->verified()) {
        result.problems.push_back(loaded->problem);
        return result;
    }
    const std::string& source = config.share->source;
    const RegistryIdentity identity{loaded->exists, loaded->registry().pool_id,
                                    loaded->registry().generation, loaded->file.mac};
    if (auto fresh = check_not_older(state.registry_seen, source, identity); !fresh) {
        result.problems.push_back(fresh.error().message);
        return result;
    }
    // The previous key is kept for registries written before the rotation, not for new ones: a
    // newer generation signed with it is refused (the key may be why it was rotated).
    if (loaded->exists && loaded->verification.previous_key &&
        loaded->registry().pool_id == state.registry_seen.pool_id &&
        loaded->registry().generation > state.registry_seen.generation) {
        result.problems.push_back("registry refused: the pool registry's generation " +
                                  std::to_string(loaded->registry().generation) +
                                  " is signed with the previous "
                                  "registry key " +
                                  keys->previous_id +
                                  ", which only verifies registries written before "
                                  "the rotation (this instance last saw generation " +
                                  std::to_string(state.registry_seen.generation) +
                                  "); nothing is applied: give every instance the current key");
        return result;
    }
    if (!asked && !loaded->exists) {
        result.pool_users = 0;
        return result;
    }

    const std::set<std::uint32_t> taken = known_pool_uids(phase.accounts, state);
    Registry wanted = loaded->registry();
    if (auto merged = merge_config_users(config, wanted, taken); !merged) {
        result.problems.push_back(merged.error().message);
        return result;
    }
    Registry registry = wanted;
    const bool resign = loaded->exists && loaded->verification.previous_key;
    if (!phase.dry_run && (wanted != loaded->registry() || phase.request != nullptr || resign)) {
        RegistryUpdate options;
        options.check_seen = true;
        options.seen = state.registry_seen;
        options.share_source = source;
        // A registry signed with the previous key is signed again with the current one, so a
        // rotation ends and the previous key can be dropped.
        options.force_write = resign;
        const PoolConfig config_copy = config;
        const std::optional<RegistryChange> request =
            phase.request != nullptr ? std::optional<RegistryChange>(*phase.request) : std::nullopt;
        RegistryStore writer = store;
        auto updated = phase.share_gate.run<LoadedRegistry>(
            k_share_write_limit,
            [writer, options, config_copy, request, taken]() mutable -> Result<LoadedRegistry> {
                return writer.update(
                    [&](Registry& latest) -> Result<void> {
                        if (auto merged = merge_config_users(config_copy, latest, taken); !merged) {
                            return merged;
                        }
                        return request ? (*request)(latest, config_copy, taken) : Result<void>();
                    },
                    options);
            });
        if (!updated) {
            if (updated.error().kind == ErrorKind::Invalid && phase.request != nullptr) {
                result.request_error = updated.error();
            } else {
                result.problems.push_back(updated.error().message);
            }
            return result;
        }
        registry = updated->registry();
        state.registry_seen = {source, registry.pool_id, registry.generation, updated->file.mac};
    } else if (!phase.dry_run && loaded->exists) {
        state.registry_seen = {source, loaded->registry().pool_id, loaded->registry().generation,
                               loaded->file.mac};
    }

    CheckedRegistry checked = check_registry(registry, config.uid_min, config.uid_max);
    for (auto& rejected : checked.rejected) {
        result.problems.push_back("pool registry: " + rejected);
    }
    auto pending = read_intent(phase.intent_file);
    if (!pending) {
        result.problems.push_back(pending.error().message);
        return result;
    }
    const NameLookup names{phase.names, phase.names_gate};
    auto planned = phase.accounts.plan(
        checked.valid, AccountsKnown{state.users, state.groups, *pending, !phase.dry_run}, names);
    if (!planned) {
        result.problems.push_back(planned.error().message);
        return result;
    }
    // An account a killed pass created in full is the agent's: it is adopted, and only it.
    for (const auto& name : planned->adopted) {
        state.users.insert(name);
        result.outcomes.push_back(
            {"take over user " + name + " (created by an interrupted pass)", true, {}});
    }
    const UsersPlan& plan = planned->plan;
    result.problems.insert(result.problems.end(), plan.conflicts.begin(), plan.conflicts.end());
    if (!plan.orphaned.empty()) {
        result.warnings.push_back(fmt::format(
            "{} account(s) made by dsvm-agent have no valid entry in the pool registry and are "
            "locked: {}",
            plan.orphaned.size(), names_list(plan.orphaned)));
    }
    result.pool_users =
        static_cast<int>(std::count_if(checked.valid.begin(), checked.valid.end(),
                                       [](const auto& user) { return !user.deleted; }));
    if (phase.dry_run) {
        for (const auto& change : plan.changes) {
            result.planned.push_back(phase.accounts.describe(change));
        }
        // The accounts the batch would make are managed from then on.
        std::set<std::string> managed = state.users;
        managed.insert(plan.created.begin(), plan.created.end());
        for (const UserFilesAction& action : plan_user_files(
                 config, plan.active, plan.inactive, managed, phase.accounts, phase.share)) {
            inspect_step(phase, action, result.planned, result.problems);
        }
        return result;
    }
    // With passwords the drop-in is in line before the batch can put anyone in dsvm-sudo.
    const bool any_sudo = std::any_of(checked.valid.begin(), checked.valid.end(),
                                      [](const auto& user) { return user.sudo && !user.deleted; });
    if (passwords && any_sudo && !phase.accounts.sudo_rule_present()) {
        sync_sudo_rule(phase, result.outcomes);
    }
    if (!plan.changes.empty()) {
        // Before the batch, the state file already counts every group the batch may grant as
        // the agent's to take back: a pass killed after the batch leaves none it forgets.
        AgentState before = state;
        if (widen_groups(plan, before) && phase.save_state) {
            if (auto saved = phase.save_state(before); !saved) {
                result.problems.push_back(saved.error().message);
                return result;
            }
            state.groups = before.groups;
        }
        // Written before the batch: a pass killed inside it is finished by the next one.
        if (!plan.creating.empty()) {
            if (auto written = write_intent(phase.intent_file, plan.creating); !written) {
                result.problems.push_back(written.error().message);
                return result;
            }
        }
        auto outcomes = phase.accounts.commit(plan.changes, phase.clock);
        if (!outcomes) {
            result.problems.push_back(outcomes.error().message);
            return result;
        }
        note_state(plan, *outcomes, state);
        for (const auto& outcome : *outcomes) {
            result.outcomes.push_back(outcome);
        }
    }
    // What the batch did is in the state file at once (the accounts made before the intent
    // record goes).
    if (!pending->empty() || !plan.changes.empty()) {
        if (phase.save_state) {
            if (auto saved = phase.save_state(state); !saved) {
                result.problems.push_back(saved.error().message);
                return result;
            }
        }
        if (auto removed = remove_intent(phase.intent_file); !removed) {
            result.problems.push_back(removed.error().message);
        }
    }
    // Without passwords only now, the batch done and recorded: whoever it took sudo from is out
    // of dsvm-sudo before the rule stops asking.
    if (!passwords && (any_sudo || phase.accounts.sudo_rule_present())) {
        sync_sudo_rule(phase, result.outcomes);
    }
    for (const UserFilesAction& action : plan_user_files(
             config, plan.active, plan.inactive, state.users, phase.accounts, phase.share)) {
        run_step(phase, action, result.outcomes);
    }
    // Only a clean pass may be skipped next time: anything that failed is tried again.
    const bool clean =
        result.problems.empty() && std::all_of(result.outcomes.begin(), result.outcomes.end(),
                                               [](const auto& outcome) { return outcome.ok; });
    auto fingerprint =
        clean ? users_fingerprint(phase, store, *keys) : Result<std::string>(std::string());
    state.users_fingerprint = fingerprint ? *fingerprint : "";
    state.users_verified = clean && fingerprint ? now : 0;
    state.pool_users = result.pool_users;
    return result;
}

}  // namespace dsvm::engine
