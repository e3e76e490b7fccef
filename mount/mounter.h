// The mount seam: the agent mounts, unmounts and reads the mount table only through a Mounter.
// The real one is libmount; tests use a recording fake or the real one in a private namespace.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "mount/mountinfo.h"

namespace dsvm::mount {

struct MountRequest {
    std::string source;
    std::string target;
    std::string fs_type;  // "cifs", "nfs4", ...; empty for a bind mount
    std::string options;  // comma-separated, as mount(8) -o takes them ("bind" for a bind mount)

    bool operator==(const MountRequest&) const = default;
};

class Mounter {
  public:
    virtual ~Mounter() = default;
    // Mounts as mount(8) would (same /sbin/mount.<type> helpers). Fails naming target and cause.
    virtual Result<void> mount(const MountRequest& request) = 0;
    // Unmounts target; a busy mount fails with a message that says it is busy.
    virtual Result<void> unmount(const std::string& target) = 0;
    // The current mount table of this process's mount namespace.
    virtual Result<std::vector<MountEntry>> mounts() = 0;
};

// libmount's context API (mnt_context_*): fstab is never consulted, helpers run as for mount(8).
class LibmountMounter final : public Mounter {
  public:
    Result<void> mount(const MountRequest& request) override;
    Result<void> unmount(const std::string& target) override;
    Result<std::vector<MountEntry>> mounts() override;
};

}  // namespace dsvm::mount
