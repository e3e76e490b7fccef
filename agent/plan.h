// The plan: a pure function from desired and observed state to an ordered list of actions
// (DESIGN.md §2). No I/O here; everything it needs is in its arguments.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "mount/mounter.h"
#include "mount/mountinfo.h"

namespace dsvm {

// What the config asks of this instance, with every path already joined to the root.
struct DesiredState {
    std::optional<MountRequest> share;
};

// A mount the agent made earlier (from its state file): target and the kernel's mount ID.
struct ManagedMount {
    std::string target;
    int mount_id = 0;

    bool operator==(const ManagedMount&) const = default;
};

// What is there now, as observe() found it.
struct ObservedState {
    std::vector<MountEntry> mounts;
    std::vector<ManagedMount> managed_mounts;
    bool target_exists = false;  // the desired share's mount point
    bool target_is_directory = false;
    bool source_exists = true;         // for a bind share: its source directory
    bool target_shows_source = false;  // for a bind share: target and source are the same inode
};

struct MakeDirectory {
    std::string path;
    mode_t mode = 0755;
    bool operator==(const MakeDirectory&) const = default;
};
struct MountShare {
    MountRequest request;
    bool operator==(const MountShare&) const = default;
};
struct UnmountShare {
    std::string target;
    std::string reason;
    bool operator==(const UnmountShare&) const = default;
};

using Action = std::variant<MakeDirectory, MountShare, UnmountShare>;

struct Plan {
    std::vector<Action> actions;
    // Things the plan will not do and that need a person (a foreign mount in the way, ...).
    std::vector<std::string> problems;

    bool empty() const { return actions.empty() && problems.empty(); }
};

// One line describing an action, as `reconcile --dry-run` prints it.
std::string describe(const Action& action);

// Decides what to do. Never stacks a mount on a mount the agent did not make; replaces its own
// mount when the config changed; unmounts its own mounts the config no longer wants.
Plan make_plan(const DesiredState& desired, const ObservedState& observed);

// True when `entry` already is the desired mount (same source and type; for a bind mount, the
// observation that target and source are the same directory).
bool mount_matches(const MountRequest& desired, const MountEntry& entry, bool target_shows_source);

}  // namespace dsvm
