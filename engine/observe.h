// observe: reads the actual state of this instance for the desired state the share backend made
// of the config (ShareBackend::desired).
#pragma once

#include <string>
#include <vector>

#include "common/deadline.h"
#include "common/result.h"
#include "common/root.h"
#include "engine/plan.h"
#include "mount/mounter.h"

namespace dsvm::engine {

// Reads the mount table (through the Mounter), the mount point and bind source on disk (when
// the target is a local directory: DesiredState::local_mount_point), the
// credentials file's metadata (never its content) and fstab. The mount point is the share's top
// once mounted, so looking at it goes through `share_gate`: a dead server gives a "not
// responding" error, not a hung pass.
Result<ObservedState> observe(const DesiredState& desired, mount::Mounter& mounter,
                              std::vector<ManagedMount> managed_mounts, const Root& root,
                              DeadlineGate& share_gate);

}  // namespace dsvm::engine
