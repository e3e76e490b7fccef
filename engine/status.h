// What the agent reports (status.json, `dsvm-agent status`) and what it remembers between passes
// (state.json: the resources it manages). Both are written atomically under the state dir.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/outcome.h"
#include "common/result.h"
#include "config/source_report.h"
#include "engine/plan.h"
#include "users/registry.h"

namespace dsvm::engine {

struct ShareReport {
    std::string source;
    std::string type;
    std::string mount_point;  // as configured (inside the root)
    std::string access;       // smbAccess for SMB shares, else empty
    bool mounted = false;
    bool insecure = false;  // smbAccess "shared": every user can read every notebook

    bool operator==(const ShareReport&) const = default;
};

// How a pass ended. Words only in status.json and on the terminal (to_string).
enum class PassResult { None, Changed, NoChanges, DryRun, Failed, InvalidConfig };

// "changed", "no changes", "dry run", "failed", "invalid config"; "" for None.
std::string_view to_string(PassResult result);
// The result a to_string word names; None for "" and for any other word.
PassResult pass_result_from(std::string_view word);

// The result of the last pass.
struct RunStatus {
    std::string time;  // RFC 3339 UTC
    PassResult result = PassResult::None;
    std::string message;   // one-line summary; the error for "invalid config"
    std::string instance;  // the VM name from metadata, when known
    std::vector<config::SourceReport> sources;
    std::vector<std::string> warnings;
    std::optional<ShareReport> share;
    std::vector<ActionOutcome> actions;
    std::vector<std::string> problems;
    int pool_users = -1;  // registry users applied on this instance; -1 when not known

    bool operator==(const RunStatus&) const = default;
};

// What the agent manages on this instance; only what is listed here may be undone by it.
struct AgentState {
    std::vector<ManagedMount> mounts;
    // Mounts a pass is about to make, recorded before it makes them: a pass killed between the
    // mount and the state file leaves a mount the next pass can tell as its own.
    std::vector<mount::MountRequest> mounting;
    std::set<std::string> users;   // accounts the agent created on this instance
    std::set<std::string> locked;  // of those, the ones it locked for deluser
    // Supplementary groups the agent put each user into, so it knows what to take away.
    std::map<std::string, std::vector<std::string>> groups;
    // What the users phase last verified in full (registry, config users, account files) and
    // when; a pass whose fingerprint matches skips the per-user work (docs/design.md, "The
    // daemon").
    std::string users_fingerprint;
    std::int64_t users_verified = 0;  // seconds since the epoch
    int pool_users = -1;
    // The last registry this instance accepted, so one that vanishes or goes back in time is
    // refused (docs/security.md).
    users::SeenRegistry registry_seen;

    bool operator==(const AgentState&) const = default;
};

nlohmann::json to_json(const RunStatus& status);
Result<RunStatus> run_status_from_json(std::string_view text);

nlohmann::json to_json(const AgentState& state);
// A missing file is an empty state; a corrupt one is an error (never silently forgotten, since
// forgetting would make the agent treat its own mounts as foreign).
Result<AgentState> agent_state_from_json(std::string_view text);

// The short table `dsvm-agent status` prints; `live_mounted` is the share's state right now.
// Every value is escaped (printable_line), whatever the status file holds.
std::string render_status(const RunStatus& status, std::optional<bool> live_mounted);

// At most this many problems and warnings, and actions, are kept in a status file.
inline constexpr std::size_t k_max_status_items = 100;
inline constexpr std::size_t k_max_status_actions = 1000;

// Makes a status fit to be written where anyone may read it and shown on a terminal: every
// string escaped and bounded (printable_line), long lists cut with a closing "... and N more"
// (failed actions kept first).
void bound_for_output(RunStatus& status);

}  // namespace dsvm::engine
