// The users part of a pass: bring the pool registry on the share up to date with the config (and
// an adduser/deluser request), then apply it to this instance — one batch of account changes,
// then each active user's home, SSH keys, notebook folder and ~/notebooks/remote link.
//
// A registry that does not verify, vanished, or went back in time changes nothing on the
// instance (docs/security.md); every access to the share goes through a deadline, so a dead
// server makes the phase report "share not responding" instead of hanging; and an intent record
// lets the next pass finish what a killed one started.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/deadline.h"
#include "common/root.h"
#include "config/pool_config.h"
#include "engine/account_backend.h"
#include "engine/share_backend.h"
#include "engine/status.h"
#include "users/name_service.h"
#include "users/registry.h"
#include "users/registry_store.h"

namespace dsvm::engine {

// A change to the registry asked for on the command line (adduser, deluser); runs under the
// registry lock after the config's users are merged in, with the UIDs this instance knows were
// the pool's (never to be handed out again). It may run on a worker thread that outlives the
// pass (a dead share), so it must own what it captures.
using RegistryChange = std::function<Result<void>(users::Registry&, const config::PoolConfig&,
                                                  const std::set<std::uint32_t>& taken)>;

struct UsersPhase {
    const config::PoolConfig& config;
    const Root& root;  // the agent's own files (the registry's keys)
    AccountBackend& accounts;
    ShareBackend& share;
    // Today's date for new accounts, the wait for the account files' lock, and the time of the
    // periodic full check. Not for work on the share: that runs under share_gate and may outlive
    // the pass, so the registry store keeps the process's real clock.
    Clock& clock;
    DeadlineGate& share_gate;  // every access to the share goes through it
    // Names and IDs taken outside the account files, asked through `names_gate` (a directory
    // server may not answer); shared, since an abandoned lookup may outlive the pass.
    std::shared_ptr<users::NameService> names;
    DeadlineGate& names_gate;
    bool share_mounted = false;
    bool dry_run = false;
    const RegistryChange* request = nullptr;
    bool full = true;         // false: skip the per-user work while the fingerprint holds
    std::string intent_file;  // real path of the intent record
    // Writes the state file at once (after the account batch, so what the agent made is never
    // forgotten by a crash); empty in a dry run.
    std::function<Result<void>(const AgentState&)> save_state;
};

struct UsersResult {
    std::vector<ActionOutcome> outcomes;
    std::vector<std::string> problems;
    std::vector<std::string> warnings;
    std::vector<std::string> planned;  // dry run: what would be done
    int pool_users = -1;
    // An Invalid error from the request (adduser of a name the rules refuse, ...).
    std::optional<Error> request_error;
};

// The store of the pool's registry on its share (where `backend` reaches it), with these keys;
// owners are checked on every share type but SMB.
users::RegistryStore registry_store_for(const config::ShareConfig& share,
                                        const ShareBackend& backend,
                                        std::shared_ptr<const users::RegistryKeys> keys);

// How long one read of the share, or one change under the registry lock, may take before it is
// reported as not responding.
inline constexpr auto k_share_read_limit = std::chrono::seconds(30);
inline constexpr auto k_share_write_limit = std::chrono::seconds(60);

// Runs the phase, recording what the agent now manages in `state`.
UsersResult run_users_phase(const UsersPhase& phase, AgentState& state);

// A dry run's view before the share is mounted: the registry, and so the pool's UIDs, cannot be
// read yet. Lists by name what the pass would then do on this instance for the config's users
// that are new here (no home yet): their homes, keys and links, their notebook folders and, on
// SMB per-user shares, the notebook mount map. Reads only.
std::vector<std::string> preview_user_files(const config::PoolConfig& config,
                                            AccountBackend& accounts, const ShareBackend& share);

// Merges the config's users into the registry: new names get the next free UID (never one in
// `taken`), sudo, groups and keys follow the config. Fails when the range is used up.
Result<void> merge_config_users(const config::PoolConfig& config, users::Registry& registry,
                                const std::set<std::uint32_t>& taken = {});

}  // namespace dsvm::engine
