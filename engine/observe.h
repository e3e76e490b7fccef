// observe: turns the config into desired state and reads the actual state of this instance.
#pragma once

#include <string>
#include <vector>

#include "common/deadline.h"
#include "common/result.h"
#include "common/root.h"
#include "config/pool_config.h"
#include "engine/plan.h"
#include "mount/mounter.h"

namespace dsvm::engine {

// The share as a mount request (real paths, joined to the root) and as an fstab entry (paths
// inside the root), with SMB's credentials file named by the share's storage account.
DesiredState desired_state(const config::PoolConfig& config, const Root& root);

// Reads the mount table (through the Mounter), the mount point and bind source on disk, the
// credentials file's metadata (never its content) and fstab. The mount point is the share's top
// once mounted, so looking at it goes through `share_gate`: a dead server gives a "not
// responding" error, not a hung pass.
Result<ObservedState> observe(const DesiredState& desired, mount::Mounter& mounter,
                              std::vector<ManagedMount> managed_mounts, const Root& root,
                              DeadlineGate& share_gate);

}  // namespace dsvm::engine
