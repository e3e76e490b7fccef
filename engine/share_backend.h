// The share port: everything a pass does to reach the pool's share on this OS, in the engine's
// own types. On Linux it is a mount through libmount, an fstab entry and, for SMB per-user
// shares, an autofs map of each user's notebook mount (linux/linux_share.h); on Windows, an SMB
// global mapping (windows/smb_global_mappings.h). The plan, its description and the crash order
// stay in the engine; a backend only carries out steps and answers questions.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/outcome.h"
#include "common/result.h"
#include "config/pool_config.h"
#include "engine/plan.h"
#include "engine/user_files.h"
#include "mount/mounter.h"

namespace dsvm::engine {

// The notebook folders on the share. Runs on the share gate's worker, which may outlive the
// pass (a dead server), so the engine holds it by shared_ptr and never by reference.
class ShareFolders {
  public:
    virtual ~ShareFolders() = default;
    // Makes <share_dir>/<folder.path> exist; with `owners`, the user's with mode 0700 where the
    // share keeps owners. Returns whether anything changed.
    virtual Result<bool> ensure(const std::string& share_dir, const NotebookFolder& folder,
                                bool owners) const = 0;
    // Whether ensure() would change anything; reads only.
    virtual Result<bool> differs(const std::string& share_dir, const NotebookFolder& folder,
                                 bool owners) const = 0;
};

class ShareBackend {
  public:
    virtual ~ShareBackend() = default;

    // Whether this OS can serve the share as configured: an Invalid error (the pass exits 2,
    // "invalid config") naming the setting and why, e.g. NFS on Windows.
    virtual Result<void> check(const config::ShareConfig& share) const = 0;
    // What the config asks of this instance: the mount (or mapping) request, its boot entries
    // and the credentials it names.
    virtual DesiredState desired(const config::PoolConfig& config) const = 0;
    // The mount seam of this OS: mounts, unmounts and the table of what is mounted.
    virtual mount::Mounter& mounter() = 0;
    // Makes the agent's boot entries `step.entries` (none: removes them), every other line kept.
    // The wait for the file's lock goes through `clock`.
    virtual Result<void> write_boot_entries(const UpdateFstab& step, Clock& clock) = 0;

    // The share's top as this process reaches it (a real path, or a UNC name).
    virtual std::string share_dir(const config::ShareConfig& share) const = 0;
    // Where a user's ~/notebooks/remote points: their folder as the instance sees it.
    virtual std::string notebook_target(const config::ShareConfig& share,
                                        const NotebookFolder& folder) const = 0;
    virtual std::shared_ptr<const ShareFolders> folders() const = 0;

    // Per-user notebook mounts (SMB per-user on Linux: the autofs map); nullopt when the share
    // has none. Pure.
    virtual std::optional<WriteNotebookMap> user_mount_map(
        const config::ShareConfig& share, const std::vector<NotebookFolder>& folders) const = 0;
    // Installs the map (and reloads what serves it); outcomes of what changed or failed.
    virtual std::vector<ActionOutcome> install_user_mounts(const WriteNotebookMap& map) = 0;
    // Whether install_user_mounts would change anything; reads only.
    virtual Result<bool> user_mounts_differ(const WriteNotebookMap& map) = 0;
    // Removes the map, when there is one; outcomes of what was done.
    virtual Result<std::vector<ActionOutcome>> remove_user_mounts() = 0;
};

}  // namespace dsvm::engine
