// Writing the agent's entries into the fstab file itself: locked, merged into the file as it is
// when written, backed up, replaced atomically (docs/mounting.md, "Boot persistence"). The text
// in and out is mount/fstab.h's.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "mount/fstab.h"

namespace dsvm::mount {

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
// change the file at the worst moment). The wait for the lock goes through `clock`. Runtime error
// naming the path when fstab cannot be read, locked or written, or kept changing.
Result<FstabWrite> merge_into_fstab(const std::string& path, const std::vector<FstabEntry>& entries,
                                    Clock& clock, const std::function<void()>& before_check = {});

}  // namespace dsvm::mount
