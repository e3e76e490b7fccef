// The users part of a pass: bring the pool registry on the share up to date with the config (and
// an adduser/deluser request), then apply it to this instance — one batch of account changes,
// then each active user's home, SSH keys, notebook folder and ~/notebooks/remote link.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "agent/pool_config.h"
#include "agent/status.h"
#include "common/process.h"
#include "common/root.h"
#include "users/registry.h"

namespace dsvm {

// A change to the registry asked for on the command line (adduser, deluser); runs under the
// registry lock after the config's users are merged in.
using RegistryChange = std::function<Result<void>(Registry&, const PoolConfig&)>;

struct UsersPhase {
    const PoolConfig& config;
    const Root& root;
    bool share_mounted = false;
    bool dry_run = false;
    ProcessRunner& runner;
    const RegistryChange* request = nullptr;
    std::int64_t now = 0;  // seconds since the epoch, for the periodic full check
    bool full = true;      // false: skip the per-user work while the fingerprint holds
};

struct UsersResult {
    std::vector<ActionOutcome> outcomes;
    std::vector<std::string> problems;
    std::vector<std::string> planned;  // dry run: what would be done
    int pool_users = -1;
    // An Invalid error from the request (adduser of a name the rules refuse, ...).
    std::optional<Error> request_error;
};

// Runs the phase, recording what the agent now manages in `state`.
UsersResult run_users_phase(const UsersPhase& phase, AgentState& state);

// Merges the config's users into the registry: new names get the lowest free UID, sudo, groups
// and keys follow the config. Returns Invalid if the range is full.
Result<void> merge_config_users(const PoolConfig& config, Registry& registry);

}  // namespace dsvm
