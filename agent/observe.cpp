#include "agent/observe.h"

#include <sys/stat.h>

namespace dsvm {

Desired desired_state(const PoolConfig& config, const Root& root) {
    Desired desired;
    if (!config.share) {
        return desired;
    }
    const ShareConfig& share = *config.share;
    if (share.type != ShareType::Bind) {
        desired.problems.push_back("share type " + std::string(to_string(share.type)) +
                                   " is not supported by this build; only bind shares are");
        return desired;
    }
    desired.state.share =
        MountRequest{root.path(share.source), root.path(share.mount_point), "", "bind"};
    return desired;
}

Result<ObservedState> observe(const DesiredState& desired, Mounter& mounter,
                              std::vector<ManagedMount> managed_mounts) {
    ObservedState observed;
    auto mounts = mounter.mounts();
    if (!mounts) {
        return mounts.error();
    }
    observed.mounts = std::move(mounts).value();
    observed.managed_mounts = std::move(managed_mounts);
    if (!desired.share) {
        return observed;
    }
    struct stat target {};
    observed.target_exists = ::lstat(desired.share->target.c_str(), &target) == 0;
    observed.target_is_directory = observed.target_exists && S_ISDIR(target.st_mode);
    if (desired.share->fs_type.empty()) {
        struct stat source {};
        observed.source_exists =
            ::stat(desired.share->source.c_str(), &source) == 0 && S_ISDIR(source.st_mode);
        observed.target_shows_source = observed.source_exists && observed.target_is_directory &&
                                       source.st_dev == target.st_dev &&
                                       source.st_ino == target.st_ino;
    }
    return observed;
}

}  // namespace dsvm
