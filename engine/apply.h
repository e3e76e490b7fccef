// apply: carries out a plan's actions through the OS seams. Each action is tried on its own; a
// failure is recorded and does not stop the ones that do not depend on it.
#pragma once

#include <string>
#include <vector>

#include "common/clock.h"
#include "engine/plan.h"
#include "engine/share_backend.h"
#include "engine/status.h"
#include "mount/mounter.h"

namespace dsvm::engine {

// Runs each action in order through the share backend (its mounter, its boot entries) and
// returns one outcome per action; a mount whose directory could not be made, or whose old mount
// could not be unmounted, is skipped and says so. The wait for fstab's lock goes through `clock`.
std::vector<ActionOutcome> apply_plan(const Plan& plan, ShareBackend& share, Clock& clock);

// The managed mounts after a pass: those that are still mounted, plus the share just mounted
// (found in `mounts` by target), minus what was unmounted.
std::vector<ManagedMount> managed_after(const std::vector<ManagedMount>& before, const Plan& plan,
                                        const std::vector<ActionOutcome>& outcomes,
                                        const std::vector<mount::MountEntry>& mounts);

}  // namespace dsvm::engine
