// The share port on Linux (engine/share_backend.h): the share is a mount through a Mounter
// (libmount on an instance), its boot entry a line of /etc/fstab, each user's folder a
// directory under the mount point, and an SMB per-user share's notebook mounts an autofs map
// (mount/automount.h). Each method is one call into mount/ or users/.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/process.h"
#include "common/root.h"
#include "engine/share_backend.h"
#include "mount/mounter.h"

namespace dsvm::linux_platform {

class LinuxShare final : public engine::ShareBackend {
  public:
    // `runner` reloads autofs after its map changed (only on the root "/").
    LinuxShare(Root root, mount::Mounter& mounter, ProcessRunner& runner);

    Result<void> check(const config::ShareConfig& share) const override;
    engine::DesiredState desired(const config::PoolConfig& config) const override;
    mount::Mounter& mounter() override { return m_mounter; }
    Result<void> write_boot_entries(const engine::UpdateFstab& step, Clock& clock) override;

    std::string share_dir(const config::ShareConfig& share) const override;
    std::string notebook_target(const config::ShareConfig& share,
                                const engine::NotebookFolder& folder) const override;
    std::shared_ptr<const engine::ShareFolders> folders() const override;

    std::optional<engine::WriteNotebookMap> user_mount_map(
        const config::ShareConfig& share,
        const std::vector<engine::NotebookFolder>& folders) const override;
    std::vector<ActionOutcome> install_user_mounts(const engine::WriteNotebookMap& map) override;
    Result<bool> user_mounts_differ(const engine::WriteNotebookMap& map) override;
    Result<std::vector<ActionOutcome>> remove_user_mounts() override;

  private:
    // autofs re-reads its maps on a reload; reload-or-restart also starts it when it is stopped.
    void reload_autofs(std::vector<ActionOutcome>& outcomes);

    Root m_root;
    mount::Mounter& m_mounter;
    ProcessRunner& m_runner;
};

}  // namespace dsvm::linux_platform
