#include "engine/engine.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <functional>
#include <stdexcept>

#include "common/file_lock.h"
#include "common/fs.h"
#include "engine/apply.h"
#include "engine/metadata_guard.h"
#include "engine/observe.h"

namespace dsvm::engine {

using namespace dsvm::mount;
using namespace dsvm::users;
using namespace dsvm::config;

namespace {

std::optional<ShareReport> share_report(const PoolConfig& config) {
    if (!config.share) {
        return std::nullopt;
    }
    const ShareConfig& share = *config.share;
    ShareReport report{
        share.source, std::string(to_string(share.type)), share.mount_point, "", false, false};
    if (share.type == ShareType::Smb) {
        report.access = std::string(to_string(share.smb_access));
        report.insecure = share.smb_access == SmbAccess::Shared;
    }
    return report;
}

// The share is mounted when the visible mount on its mount point is the agent's own, or one that
// already matches the request.
bool share_is_mounted(const DesiredState& desired, const ObservedState& observed,
                      const std::vector<ManagedMount>& managed) {
    if (!desired.share) {
        return false;
    }
    const MountEntry* entry = find_mount(observed.mounts, desired.share->target);
    if (entry == nullptr) {
        return false;
    }
    const bool ours = std::any_of(managed.begin(), managed.end(), [&](const auto& mount) {
        return mount.mount_id == entry->mount_id && mount.target == entry->mount_point;
    });
    return ours || mount_matches(*desired.share, *entry, observed.target_shows_source);
}

// A mount an interrupted pass made but never recorded: exactly the one it set out to make (the
// intent is in the state file), on its target, matching its request. Adopted, so the agent keeps
// owning it (it may remount it when the key rotates, unmount it when the config drops it).
void adopt_interrupted_mounts(AgentState& state, const DesiredState& desired,
                              ObservedState& observed) {
    for (const MountRequest& request : state.mounting) {
        const MountEntry* entry = find_mount(observed.mounts, request.target);
        const bool recorded =
            std::any_of(state.mounts.begin(), state.mounts.end(),
                        [&](const ManagedMount& mount) { return mount.target == request.target; });
        if (entry == nullptr || recorded || !desired.share || !(*desired.share == request) ||
            !mount_matches(request, *entry, observed.target_shows_source)) {
            continue;
        }
        const std::string stamp = observed.credentials ? observed.credentials->stamp : "";
        state.mounts.push_back({entry->mount_point, entry->mount_id, request, stamp});
    }
    state.mounting.clear();
    observed.managed_mounts = state.mounts;
}

std::string summary(const std::vector<std::string>& problems,
                    const std::vector<ActionOutcome>& outcomes) {
    if (outcomes.empty() && problems.empty()) {
        return {};
    }
    const auto failed = std::count_if(outcomes.begin(), outcomes.end(),
                                      [](const auto& outcome) { return !outcome.ok; });
    std::string text =
        std::to_string(outcomes.size()) + " action(s), " + std::to_string(failed) + " failed";
    if (!problems.empty()) {
        text += ", " + std::to_string(problems.size()) + " problem(s) need attention";
    }
    return text;
}

}  // namespace

Engine::Engine(Root root, AgentPaths paths, EngineBackends backends)
    : m_root(std::move(root)),
      m_paths(std::move(paths)),
      m_imds(backends.imds),
      m_share(backends.share),
      m_accounts(backends.accounts),
      m_clock(backends.clock),
      m_runner(backends.runner),
      m_names(std::move(backends.names)),
      m_vault(backends.vault),
      m_guard(backends.guard) {
    if (!m_names) {
        throw std::logic_error("Engine: EngineBackends::names must not be null");
    }
}

Engine::~Engine() = default;

UsersPhase Engine::users_phase(const PoolConfig& config, bool share_mounted,
                               const PassOptions& options) {
    std::function<Result<void>(const AgentState&)> save_state;
    if (!options.dry_run) {
        save_state = [this](const AgentState& current) { return write_state(current); };
    }
    return {.config = config,
            .root = m_root,
            .accounts = m_accounts,
            .share = m_share,
            .clock = m_clock,
            .share_gate = m_share_gate,
            .names = m_names,
            .names_gate = m_names_gate,
            .share_mounted = share_mounted,
            .dry_run = options.dry_run,
            .request = options.request,
            .full = options.dry_run || options.full,
            .intent_file = intent_file(),
            .save_state = std::move(save_state)};
}

std::string Engine::status_file() const {
    return m_root.path(m_paths.state_dir + "/status.json");
}
std::string Engine::state_file() const {
    return m_root.path(m_paths.state_dir + "/state.json");
}
std::string Engine::cache_file() const {
    return m_root.path(m_paths.state_dir + "/metadata-cache.json");
}
std::string Engine::intent_file() const {
    return m_root.path(m_paths.state_dir + "/users-intent.json");
}

RunStatus Engine::new_status(PassResult result, const std::string& message) const {
    RunStatus status;
    status.time = format_utc(m_clock.wall_now());
    status.result = result;
    status.message = message;
    return status;
}

Result<LoadedConfig> Engine::load() {
    auto loaded = load_config(
        m_imds, ConfigPaths{m_root.path(m_paths.config_file), m_paths.config_file, cache_file()});
    if (loaded && loaded->config.share) {
        if (auto served = m_share.check(*loaded->config.share); !served) {
            return served.error();
        }
    }
    return loaded;
}

Result<AgentState> Engine::read_state() const {
    auto text = read_file_if_exists(state_file());
    if (!text) {
        return text.error();
    }
    if (!text->found) {
        return AgentState{};
    }
    auto state = agent_state_from_json(text->text);
    if (!state) {
        return with_context(state_file(), state.error());
    }
    return state;
}

Result<void> Engine::write_state(const AgentState& state) {
    if (auto made = make_directories(m_root.path(m_paths.state_dir), 0755); !made) {
        return made;
    }
    // Compact: with thousands of users this file is read and compared on every pass.
    const std::string state_text = to_json(state).dump() + "\n";
    auto old_state = read_file_if_exists(state_file());
    if (!old_state || !old_state->found || old_state->text != state_text) {
        return write_file_atomic(state_file(), state_text, 0600);
    }
    return {};
}

Result<void> Engine::record(const AgentState& state, const nlohmann::json& cache_update,
                            const RunStatus& status) {
    if (auto written = write_state(state); !written) {
        return written;
    }
    if (!cache_update.is_null()) {
        const std::string cache_text = cache_update.dump(2) + "\n";
        auto old_cache = read_file_if_exists(cache_file());
        if (!old_cache || !old_cache->found || old_cache->text != cache_text) {
            if (auto written = write_file_atomic(cache_file(), cache_text, 0600); !written) {
                return written;
            }
        }
    }
    return write_status(status);
}

Result<void> Engine::write_status(const RunStatus& status) {
    if (auto made = make_directories(m_root.path(m_paths.state_dir), 0755); !made) {
        return made;
    }
    // World-readable: escaped and bounded, whatever values reached it.
    RunStatus bounded = status;
    bound_for_output(bounded);
    return write_file_atomic(status_file(), to_json(bounded).dump(2) + "\n", 0644);
}

PassOutcome Engine::reconcile(const PassOptions& options) {
    PassOutcome outcome;
    auto loaded = load();
    if (!loaded) {
        const Error& error = loaded.error();
        outcome.exit_status = exit_status_for(error);
        const bool is_invalid = error.kind == ErrorKind::Invalid;
        outcome.status =
            new_status(is_invalid ? PassResult::InvalidConfig : PassResult::Failed, error.message);
        if (!options.dry_run && (!is_invalid || options.record_invalid)) {
            if (auto written = write_status(outcome.status); !written) {
                spdlog::error("{}", written.error().message);
            }
        }
        return outcome;
    }
    outcome.config = loaded->config;
    // One pass at a time on an instance: the daemon, a reconcile and adduser would otherwise
    // each plan from what the others are about to change. A dry run only reads.
    Fd pass_lock;
    if (!options.dry_run) {
        auto locked = lock_pass();
        if (!locked) {
            outcome.exit_status = 1;
            outcome.status = new_status(PassResult::Failed, locked.error().message);
            write_failed_status(outcome.status);
            return outcome;
        }
        pass_lock = std::move(locked).value();
    }
    RunStatus& status = outcome.status;
    status = new_status(PassResult::None, "");
    status.instance = loaded->instance;
    status.sources = loaded->sources;
    status.warnings = loaded->warnings;
    status.share = share_report(loaded->config);
    if (status.share && status.share->insecure) {
        status.warnings.push_back(
            "smbAccess is \"shared\": every pool user can read and change every other user's "
            "notebooks");
    }

    const DesiredState desired = m_share.desired(loaded->config);
    // A pass that stops early still says so in the status file: `status` must not go on
    // showing the last good pass while, say, the share does not answer.
    const auto stop_early = [&](const Error& error) {
        outcome.exit_status = 1;
        status.result = PassResult::Failed;
        status.message = error.message;
        if (!options.dry_run) {
            write_failed_status(status);
        }
        return outcome;
    };
    // First the guard, then the keys: before a pass reads the vault or makes users, pool users
    // must not be able to ask the metadata service for the identity's token themselves. A pass
    // that cannot load it stops there (docs/security.md, rule 17).
    std::vector<ActionOutcome> guard_actions;
    if (!options.dry_run) {
        const bool wanted = loaded->config.key_vault.has_value();
        const GuardOutcome guard =
            m_guard != nullptr ? m_guard->reconcile(wanted, m_root, m_paths.state_dir)
            : wanted           ? GuardOutcome{"",
                                    "this platform has no guard that keeps pool users from the "
                                              "metadata service, so the vault's keys are not read "
                                              "(docs/security.md, \"The managed identity\")"}
                               : GuardOutcome{};
        if (!guard.action.empty()) {
            guard_actions.push_back(ActionOutcome::done(guard.action));
        }
        if (guard.problem) {
            status.actions = guard_actions;
            status.problems.push_back("keyVault: " + *guard.problem);
            return stop_early(failure("keyVault: " + *guard.problem));
        }
        read_vault_keys(loaded->config, desired.credentials_name, options, status);
    }

    auto state = read_state();
    if (!state) {
        return stop_early(state.error());
    }
    m_share_gate.set_what(status.share ? "share " + status.share->mount_point : "share");
    auto observed = observe(desired, m_share.mounter(), state->mounts, m_root, m_share_gate);
    if (!observed) {
        if (status.share) {
            status.share->mounted = share_mounted_now(status).value_or(false);
        }
        return stop_early(observed.error());
    }
    if (!options.dry_run) {
        adopt_interrupted_mounts(*state, desired, *observed);
    }
    outcome.plan = make_plan(desired, *observed);
    if (options.dry_run) {
        const bool mounted = share_is_mounted(desired, *observed, state->mounts);
        const bool will_mount = std::any_of(
            outcome.plan.actions.begin(), outcome.plan.actions.end(),
            [](const Action& action) { return std::holds_alternative<MountShare>(action); });
        const bool has_users = !loaded->config.users.empty() || options.request != nullptr;
        if (!mounted && will_mount && has_users) {
            // The registry lives on the share: what the users need is known once it is mounted.
            auto preview = preview_user_files(loaded->config, m_accounts, m_share);
            outcome.planned_users.push_back(
                preview.empty() ? "apply the pool's users from the registry once the share is "
                                  "mounted"
                                : "apply the pool's users from the registry once the share is "
                                  "mounted; for the config's users new here, with the "
                                  "registry's UIDs:");
            for (auto& line : preview) {
                outcome.planned_users.push_back(std::move(line));
            }
        } else {
            AgentState scratch = *state;
            UsersResult users =
                run_users_phase(users_phase(loaded->config, mounted, options), scratch);
            outcome.planned_users = std::move(users.planned);
            outcome.plan.problems.insert(outcome.plan.problems.end(), users.problems.begin(),
                                         users.problems.end());
        }
        const bool empty = outcome.plan.actions.empty() && outcome.planned_users.empty();
        status.result = empty ? PassResult::NoChanges : PassResult::DryRun;
        return outcome;
    }

    // The mounts about to be made are recorded first, so a pass killed after making one still
    // knows it for its own (adopt_interrupted_mounts).
    AgentState intended = *state;
    for (const Action& action : outcome.plan.actions) {
        if (const auto* mount = std::get_if<MountShare>(&action)) {
            intended.mounting.push_back(mount->request);
        }
    }
    if (!intended.mounting.empty()) {
        if (auto written = write_state(intended); !written) {
            return stop_early(written.error());
        }
    }
    // One outcome per plan action, in order: what managed_after and the loop below rely on.
    const std::vector<ActionOutcome> mount_outcomes = apply_plan(outcome.plan, m_share, m_clock);
    status.actions = mount_outcomes;
    status.problems.insert(status.problems.end(), outcome.plan.problems.begin(),
                           outcome.plan.problems.end());
    // A share that refused its mount may be refusing a key rotated in the vault meanwhile.
    for (std::size_t i = 0; i < mount_outcomes.size(); ++i) {
        if (!mount_outcomes[i].ok && std::holds_alternative<MountShare>(outcome.plan.actions[i])) {
            m_vault_read_again = true;
        }
    }
    auto after = observe(desired, m_share.mounter(), {}, m_root, m_share_gate);
    std::vector<MountEntry> mounts_after = after ? after->mounts : observed->mounts;
    AgentState new_state = *state;
    new_state.mounts = managed_after(state->mounts, outcome.plan, mount_outcomes, mounts_after);
    status.actions.insert(status.actions.begin(), guard_actions.begin(), guard_actions.end());
    if (new_state != *state) {
        if (auto written = write_state(new_state); !written) {
            status.problems.push_back(written.error().message);
        }
    }
    const bool mounted = after && share_is_mounted(desired, *after, new_state.mounts);
    if (status.share) {
        status.share->mounted = mounted;
    }
    UsersResult users = run_users_phase(users_phase(loaded->config, mounted, options), new_state);
    if (users.request_error) {
        outcome.request_error = users.request_error;
    }
    status.warnings.insert(status.warnings.end(), users.warnings.begin(), users.warnings.end());
    status.actions.insert(status.actions.end(), users.outcomes.begin(), users.outcomes.end());
    status.problems.insert(status.problems.end(), users.problems.begin(), users.problems.end());
    status.pool_users = users.pool_users;
    const bool failed =
        !status.problems.empty() || std::any_of(status.actions.begin(), status.actions.end(),
                                                [](const auto& action) { return !action.ok; });
    status.result = failed                   ? PassResult::Failed
                    : status.actions.empty() ? PassResult::NoChanges
                                             : PassResult::Changed;
    status.message = summary(status.problems, status.actions);
    outcome.exit_status = failed ? 1 : 0;

    if (auto written = record(new_state, loaded->cache_update, status); !written) {
        spdlog::error("cannot record the pass: {}", written.error().message);
        outcome.exit_status = 1;
    }
    return outcome;
}

void Engine::read_vault_keys(const PoolConfig& config, const std::string& account,
                             const PassOptions& options, RunStatus& status) {
    if (!config.key_vault) {
        return;
    }
    const KeyVaultConfig& vault = *config.key_vault;
    if (m_vault == nullptr) {
        status.sources.push_back({"Key Vault " + vault.vault, SourceState::Disabled,
                                  "the metadata service is off (--imds off)"});
        status.problems.push_back(
            "keyVault: the keys cannot be read with the metadata service off (--imds off), "
            "which issues the managed identity's token");
        return;
    }
    const auto now = m_clock.now();
    const bool missing = vault_key_file_missing(vault, m_root, account);
    bool due = missing;
    switch (options.key_read) {
        case KeyRead::Always:
            due = true;
            break;
        case KeyRead::WhenDue:
            due = due || m_vault_read_again || m_vault_read_config != vault ||
                  now >= m_vault_next_read;
            break;
        case KeyRead::IfMissing:
            break;
    }
    if (!due) {
        if (m_vault_report.name == "Key Vault " + vault.vault) {
            status.sources.push_back(m_vault_report);
        } else {
            status.sources.push_back({"Key Vault " + vault.vault, SourceState::NotRead,
                                      "keys are read by reconcile and the service"});
        }
        return;
    }
    VaultKeysResult result = sync_vault_keys(*m_vault, vault, m_root, account);
    m_vault_read_config = vault;
    m_vault_read_again = !result.all_read;
    m_vault_next_read = now + std::chrono::seconds(vault.refresh_interval);
    result.report.detail += std::string(result.report.detail.empty() ? "" : "; ") + "read " +
                            format_utc(m_clock.wall_now());
    m_vault_report = result.report;
    status.sources.push_back(std::move(result.report));
    status.problems.insert(status.problems.end(), result.problems.begin(), result.problems.end());
}

void Engine::write_failed_status(const RunStatus& status) {
    if (auto written = write_status(status); !written) {
        spdlog::error("cannot record the pass: {}", written.error().message);
    }
}

Result<Fd> Engine::lock_pass() {
    const std::string directory = m_root.path(m_paths.state_dir);
    if (auto made = make_directories(directory, 0755); !made) {
        return made.error();
    }
    auto directory_fd = open_directory(directory);
    if (!directory_fd) {
        return directory_fd.error();
    }
    return lock_file_at(directory_fd->get(), "pass.lock", m_paths.state_dir + "/pass.lock",
                        std::chrono::minutes(2), {}, m_clock);
}

PassOutcome Engine::unmount_share() {
    PassOutcome outcome;
    auto locked = lock_pass();
    if (!locked) {
        outcome.exit_status = 1;
        outcome.status = new_status(PassResult::Failed, locked.error().message);
        return outcome;
    }
    auto state = read_state();
    if (!state) {
        outcome.exit_status = 1;
        outcome.status = new_status(PassResult::Failed, state.error().message);
        return outcome;
    }
    auto mounts = m_share.mounter().mounts();
    if (!mounts) {
        outcome.exit_status = 1;
        outcome.status = new_status(PassResult::Failed, mounts.error().message);
        return outcome;
    }
    ObservedState observed;
    observed.mounts = *mounts;
    observed.managed_mounts = state->mounts;
    // With nothing desired, the plan unmounts exactly the agent's own mounts.
    outcome.plan = make_plan(DesiredState{}, observed);
    for (auto& action : outcome.plan.actions) {
        std::get<UnmountShare>(action).reason = "asked to unmount";
    }
    auto outcomes = apply_plan(outcome.plan, m_share, m_clock);
    auto after = m_share.mounter().mounts();
    AgentState new_state = *state;
    new_state.mounts =
        managed_after(state->mounts, outcome.plan, outcomes, after ? *after : *mounts);
    const bool failed = std::any_of(outcomes.begin(), outcomes.end(),
                                    [](const auto& action) { return !action.ok; });
    outcome.exit_status = failed ? 1 : 0;
    outcome.status = new_status(failed             ? PassResult::Failed
                                : outcomes.empty() ? PassResult::NoChanges
                                                   : PassResult::Changed,
                                summary(outcome.plan.problems, outcomes));
    outcome.status.actions = std::move(outcomes);
    if (new_state != *state) {
        if (auto written = write_file_atomic(state_file(), to_json(new_state).dump() + "\n", 0600);
            !written) {
            spdlog::error("{}", written.error().message);
            outcome.exit_status = 1;
        }
    }
    return outcome;
}

Result<RunStatus> Engine::last_status() const {
    auto text = read_file_if_exists(status_file());
    if (!text) {
        return text.error();
    }
    if (!text->found) {
        return failure("no pass has been recorded yet (" + m_paths.state_dir +
                       "/status.json is missing); run 'dsvm-agent reconcile'");
    }
    auto status = run_status_from_json(text->text);
    if (!status) {
        return with_context(status_file(), status.error());
    }
    return status;
}

std::optional<bool> Engine::share_mounted_now(const RunStatus& status) {
    if (!status.share) {
        return std::nullopt;
    }
    auto mounts = m_share.mounter().mounts();
    if (!mounts) {
        return std::nullopt;
    }
    PoolConfig config;
    config.share = ShareConfig{};
    config.share->source = status.share->source;
    config.share->mount_point = status.share->mount_point;
    for (const ShareType type : {ShareType::Bind, ShareType::Smb, ShareType::Nfs}) {
        if (to_string(type) == status.share->type) {
            config.share->type = type;
        }
    }
    if (status.share->access == to_string(SmbAccess::Shared)) {
        config.share->smb_access = SmbAccess::Shared;
    }
    const DesiredState desired = m_share.desired(config);
    return desired.share && find_mount(*mounts, desired.share->target) != nullptr;
}

}  // namespace dsvm::engine
