// The plan: a pure function from desired and observed state to an ordered list of actions
// (docs/design.md, "A pass"). No I/O here; everything it needs is in its arguments.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/file_mode.h"
#include "mount/fstab.h"
#include "mount/mounter.h"
#include "mount/mountinfo.h"

namespace dsvm::engine {

// The fs_type of a Windows SMB global mapping: the share mapped for every user of the instance,
// reached by its UNC name (windows/smb_global_mappings.h).
inline constexpr std::string_view k_smb_global_mapping = "smb-global-mapping";

// What the config asks of this instance. Mount requests carry real paths (joined to the root);
// fstab entries carry the paths as the instance sees them (inside the root).
struct DesiredState {
    std::optional<mount::MountRequest> share;
    // SMB: the credentials the share is mounted with (a name under /etc/dsvm-agent/credentials).
    std::string credentials_name;
    std::string fstab_path;  // real path of /etc/fstab
    std::vector<mount::FstabEntry> fstab_entries;
    // False when the share's target is no directory of this instance (a Windows SMB global
    // mapping names a UNC path): nothing looks at it, makes it or needs it empty.
    bool local_mount_point = true;
};

// A mount the agent made (from its state file): where, the kernel's mount ID, the request it
// was made with and the credentials file's stamp at the time, so a changed config or a rotated
// key is noticed.
struct ManagedMount {
    std::string target;
    int mount_id = 0;
    mount::MountRequest request;
    std::string credentials_stamp;

    bool operator==(const ManagedMount&) const = default;
};

// The credentials file as observe() found it (never its content).
struct ObservedCredentials {
    bool found = false;
    bool secure = false;
    std::string problem;  // why it cannot be used, with the fix
    std::string stamp;
};

// What is there now, as observe() found it.
struct ObservedState {
    std::vector<mount::MountEntry> mounts;
    std::vector<ManagedMount> managed_mounts;
    bool target_exists = false;  // the desired share's mount point
    bool target_is_directory = false;
    bool target_is_empty = true;  // the mount point holds no entries (before anything is mounted)
    bool source_exists = true;    // for a bind share: its source directory
    bool target_shows_source = false;  // for a bind share: target and source are the same inode
    std::optional<ObservedCredentials> credentials;  // SMB shares only
    std::string fstab_text;                          // empty when there is no fstab
};

struct MakeDirectory {
    std::string path;
    FileMode mode = 0755;
    bool operator==(const MakeDirectory&) const = default;
};
struct MountShare {
    mount::MountRequest request;
    std::string credentials_stamp;
    bool operator==(const MountShare&) const = default;
};
struct UnmountShare {
    std::string target;
    std::string reason;
    bool operator==(const UnmountShare&) const = default;
};

// Makes the agent's entries in fstab `entries` (none: removes them), every other line kept. The
// action carries the entries, not a finished file: apply merges them into fstab as it is when
// written, so a line another tool adds after the plan is kept (merge_into_fstab in
// mount/fstab_file.h).
struct UpdateFstab {
    std::string path;
    std::vector<mount::FstabEntry> entries;
    bool operator==(const UpdateFstab&) const = default;
};

using Action = std::variant<MakeDirectory, MountShare, UnmountShare, UpdateFstab>;

struct Plan {
    std::vector<Action> actions;
    // Things the plan will not do and that need a person (a foreign mount in the way, ...).
    std::vector<std::string> problems;

    bool empty() const { return actions.empty() && problems.empty(); }
};

// One line describing an action, as `reconcile --dry-run` prints it.
std::string describe(const Action& action);

// Decides what to do. Never stacks a mount on a mount the agent did not make (one with the same
// source and type is left alone, not adopted); replaces its own mount when the request or the
// credentials changed; unmounts its own mounts the config no longer wants; keeps the agent's
// fstab entries equal to the desired ones (an UpdateFstab when the observed fstab text would
// change, last).
Plan make_plan(const DesiredState& desired, const ObservedState& observed);

// True when a mount the agent did not make already is the desired one (same source and type; for
// a bind mount, the observation that target and source are the same directory).
bool mount_matches(const mount::MountRequest& desired, const mount::MountEntry& entry,
                   bool target_shows_source);

}  // namespace dsvm::engine
