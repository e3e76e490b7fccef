// One reconcile pass: observe → plan → apply → report (docs/design.md, "A pass").
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/deadline.h"
#include "common/fd.h"
#include "common/process.h"
#include "common/root.h"
#include "config/imds.h"
#include "config/key_vault.h"
#include "config/loader.h"
#include "engine/account_backend.h"
#include "engine/key_sync.h"
#include "engine/metadata_guard.h"
#include "engine/plan.h"
#include "engine/share_backend.h"
#include "engine/status.h"
#include "engine/users_phase.h"
#include "users/name_service.h"

namespace dsvm::engine {

// Where the agent's files live, as paths inside the root.
struct AgentPaths {
    std::string config_file = "/etc/dsvm-agent/pool.json";
    std::string state_dir = "/var/lib/dsvm-agent";
};

// When a pass reads the keys keyVault names (every pass still reads them when a key file is
// missing, the last read failed, or the last mount failed).
enum class KeyRead {
    WhenDue,    // once keyVault.refreshInterval has passed since the last read (the daemon)
    Always,     // a reconcile asked for by an admin (`reconcile`, `systemctl reload`)
    IfMissing,  // adduser, deluser: only when a key file is missing
};

struct PassOptions {
    // Plan only: nothing is changed and nothing is written, not even the status file.
    bool dry_run = false;
    // Write an "invalid config" status (the daemon does; a one-shot reconcile exits 2 and
    // leaves the disk as it was).
    bool record_invalid = false;
    // adduser/deluser: a registry change to make under the registry lock during the pass.
    const RegistryChange* request = nullptr;
    // Check every user's home, keys and link even if nothing seems to have changed. The daemon
    // passes false: it skips that work while the users fingerprint holds (at most an hour).
    bool full = true;
    KeyRead key_read = KeyRead::WhenDue;
};

struct PassOutcome {
    int exit_status = 0;  // 0 converged, 1 something failed, 2 invalid config
    RunStatus status;
    Plan plan;
    std::optional<config::PoolConfig> config;
    std::vector<std::string> planned_users;  // dry run: account changes it would make
    std::optional<Error> request_error;      // the adduser/deluser request was refused
};

// What a pass works through: the platform's backends, made by its composition root (linux/).
struct EngineBackends {
    ShareBackend& share;       // the share: mounts, boot entries, folders (engine/share_backend.h)
    AccountBackend& accounts;  // accounts, sudo, homes (engine/account_backend.h)
    ProcessRunner& runner;
    Clock& clock;
    // Names and IDs taken outside the account files (on an instance, name_service_for(root));
    // never null. Shared: an abandoned lookup may outlive the pass.
    std::shared_ptr<users::NameService> names;
    // Null: metadata is off (--imds off), the config is local only.
    config::ImdsClient* imds = nullptr;
    // Where keyVault's keys are read; null makes a pool config with keyVault report that its
    // keys cannot be read.
    config::SecretVault* vault = nullptr;
    // What keeps pool users from the metadata service (engine/metadata_guard.h); null: this
    // platform has none, and a pool with keyVault stops before reading its keys.
    MetadataGuard* guard = nullptr;
};

class Engine {
  public:
    Engine(Root root, AgentPaths paths, EngineBackends backends);
    ~Engine();

    PassOutcome reconcile(const PassOptions& options);
    // Unmounts the share the agent mounted (the `unmount` command); never a foreign mount.
    PassOutcome unmount_share();

    // The last pass's status, or an error if none was recorded.
    Result<RunStatus> last_status() const;
    // Whether the share in `status` is mounted right now (nullopt when it cannot be told).
    std::optional<bool> share_mounted_now(const RunStatus& status);

    std::string status_file() const;
    // The pool config from its sources, as a pass would load it. A share this OS cannot serve
    // (ShareBackend::check) is an invalid config.
    Result<config::LoadedConfig> load();
    // What the agent manages on this instance (state.json).
    Result<AgentState> read_state() const;
    // Writes state.json atomically.
    Result<void> write_state(const AgentState& state);

    // The gate every access to the share goes through (a dead server is reported, not waited
    // for); it lives as long as the engine, so a daemon's passes share it.
    DeadlineGate& share_gate() { return m_share_gate; }
    // The same for the system's name service (LDAP, SSSD...), and the service itself.
    DeadlineGate& names_gate() { return m_names_gate; }
    const std::shared_ptr<users::NameService>& names() const { return m_names; }
    AccountBackend& accounts() { return m_accounts; }
    ShareBackend& share() { return m_share; }

  private:
    // The users phase of a pass on this engine's backends. A dry run saves no state and checks
    // every user.
    UsersPhase users_phase(const config::PoolConfig& config, bool share_mounted,
                           const PassOptions& options);
    std::string state_file() const;
    std::string cache_file() const;
    std::string intent_file() const;
    // Writes state, cache and status; the first failure is returned.
    Result<void> record(const AgentState& state, const nlohmann::json& cache_update,
                        const RunStatus& status);
    Result<void> write_status(const RunStatus& status);
    // write_status for a pass that stopped early; a failure is logged.
    void write_failed_status(const RunStatus& status);
    RunStatus new_status(PassResult result, const std::string& message) const;
    // Reads keyVault's keys into their files when due (non-dry-run passes, under the pass
    // lock); adds the source report and any problems to `status`. `account` is the SMB share's
    // credentials name (DesiredState), empty when there is none.
    void read_vault_keys(const config::PoolConfig& config, const std::string& account,
                         const PassOptions& options, RunStatus& status);

    // The per-instance pass lock, <state dir>/pass.lock, waited for up to two minutes.
    Result<Fd> lock_pass();

    Root m_root;
    AgentPaths m_paths;
    config::ImdsClient* m_imds;
    ShareBackend& m_share;
    AccountBackend& m_accounts;
    Clock& m_clock;
    ProcessRunner& m_runner;
    std::shared_ptr<users::NameService> m_names;
    config::SecretVault* m_vault;
    MetadataGuard* m_guard;
    DeadlineGate m_share_gate{"share"};
    DeadlineGate m_names_gate{"the system's name service"};
    // The daemon's schedule for keyVault: the config last read, when, and whether to read again
    // at the next pass whatever the schedule (the read or a mount failed).
    std::optional<config::KeyVaultConfig> m_vault_read_config;
    std::chrono::steady_clock::time_point m_vault_next_read{};
    bool m_vault_read_again = true;
    config::SourceReport m_vault_report;
};

}  // namespace dsvm::engine
