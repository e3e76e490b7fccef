// apply: carries out a plan's actions through the OS seams. Each action is tried on its own; a
// failure is recorded and does not stop the ones that do not depend on it.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "engine/plan.h"
#include "engine/status.h"
#include "mount/mounter.h"

namespace dsvm {

// Runs each action in order (an UpdateFstab through merge_into_fstab) and returns one outcome per
// action; a mount whose directory could not be made, or whose old mount could not be unmounted,
// is skipped and says so.
std::vector<ActionOutcome> apply_plan(const Plan& plan, Mounter& mounter);

// What merge_into_fstab did.
enum class FstabWrite { Unchanged, Written };

// How many times merge_into_fstab reads, merges and writes before it gives up on an fstab that
// keeps changing under it.
inline constexpr int k_fstab_attempts = 5;

// Makes the agent's entries in the fstab at `path` equal to `entries`, merged (update_fstab)
// into the file as it is when written, so a line another tool added since the plan is kept
// (docs/mounting.md, "Boot persistence"). Under the lock <path>.dsvm-agent.lock it reads the
// file, merges, and when that changes something keeps the file read as <path>.dsvm-agent.bak
// and writes the result atomically with the same mode (0644 when there was none). Right before
// the new file takes the name it reads <path> again: if it changed meanwhile, it starts over, up
// to k_fstab_attempts times. `before_check` runs just before that second read (tests use it to
// change the file at the worst moment). Runtime error naming the path when fstab cannot be read,
// locked or written, or kept changing.
Result<FstabWrite> merge_into_fstab(const std::string& path, const std::vector<FstabEntry>& entries,
                                    const std::function<void()>& before_check = {});

// The managed mounts after a pass: those that are still mounted, plus the share just mounted
// (found in `mounts` by target), minus what was unmounted.
std::vector<ManagedMount> managed_after(const std::vector<ManagedMount>& before, const Plan& plan,
                                        const std::vector<ActionOutcome>& outcomes,
                                        const std::vector<MountEntry>& mounts);

}  // namespace dsvm
