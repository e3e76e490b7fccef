// observe: turns the config into desired state and reads the actual state of this instance.
#pragma once

#include <string>
#include <vector>

#include "agent/plan.h"
#include "agent/pool_config.h"
#include "common/result.h"
#include "common/root.h"
#include "mount/mounter.h"

namespace dsvm {

struct Desired {
    DesiredState state;
    // What the config asks for but this build cannot provide, reported as problems.
    std::vector<std::string> problems;
};

// The share as a mount request with every path joined to the root.
Desired desired_state(const PoolConfig& config, const Root& root);

// Reads the mount table (through the Mounter) and the mount point and bind source on disk.
Result<ObservedState> observe(const DesiredState& desired, Mounter& mounter,
                              std::vector<ManagedMount> managed_mounts);

}  // namespace dsvm
