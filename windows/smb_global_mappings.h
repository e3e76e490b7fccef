// The share port on Windows (docs/windows-backends.md, §6): the pool's SMB share as one SMB
// global mapping, made by the service with the storage key and used by every user, reached by its
// UNC name (\\host\share); there is no mount point, no fstab and no per-user mount. The mapping is
// not persistent: the service's boot pass maps it again. NFS, bind shares and per-user SMB access
// are refused by check().
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/root.h"
#include "engine/share_backend.h"
#include "mount/mounter.h"
#include "windows/smb_mapping_api.h"

namespace dsvm::windows_platform {

// What the mapping shows as its type in mount entries and requests.
inline constexpr std::string_view k_mapping_type = engine::k_smb_global_mapping;

// `path` (\\HOST\Share\dir or //HOST/Share/dir) as the agent names it: backslashes, host and
// share in lower case (SMB ignores the case of both), the folders below them as they are. WMI
// may give back a mapping's host in another case than the one it was made with (trap 8 of
// docs/windows-backends.md).
std::string normalized_unc(std::string_view path);

// The share backend and its Mounter at once: the mapping is the mount.
class SmbGlobalMappings final : public engine::ShareBackend, public mount::Mounter {
  public:
    // `root` holds the credentials files; `api` must outlive the backend.
    SmbGlobalMappings(const Root& root, SmbMappingApi& api);

    // Invalid for a share of type nfs or bind, for smbAccess per-user, and for a server named by
    // an IPv6 address; each message names the setting and what to set instead.
    Result<void> check(const config::ShareConfig& share) const override;
    // For //Host/share[/dir]: the mapping of //host/share on \\host\share (type
    // smb-global-mapping, options credentials=<storage account>), no boot entries, no local
    // mount point. No share (or one check() refuses): nothing.
    engine::DesiredState desired(const config::PoolConfig& config) const override;
    mount::Mounter& mounter() override { return *this; }
    // Nothing to write: there is no fstab, the service maps again at boot.
    Result<void> write_boot_entries(const engine::UpdateFstab& step, Clock& clock) override;

    // \\host\share\dir: common/fs opens a UNC top as it is, and everything below it relative to
    // its handle (so no \\?\UNC\ prefix is needed for long paths below it).
    std::string share_dir(const config::ShareConfig& share) const override;
    // share_dir\notebooks\alice, with backslashes.
    std::string notebook_target(const config::ShareConfig& share,
                                const engine::NotebookFolder& folder) const override;
    // Makes and inspects folders with common/ (never through a link or junction); `owners` is
    // ignored: on SMB the server decides who may use a folder, and the folders inherit its
    // access list.
    std::shared_ptr<const engine::ShareFolders> folders() const override;

    // Windows has no per-user mounts: no map, nothing to install, differ or remove.
    std::optional<engine::WriteNotebookMap> user_mount_map(
        const config::ShareConfig& share,
        const std::vector<engine::NotebookFolder>& folders) const override;
    std::vector<ActionOutcome> install_user_mounts(const engine::WriteNotebookMap& map) override;
    Result<bool> user_mounts_differ(const engine::WriteNotebookMap& map) override;
    Result<std::vector<ActionOutcome>> remove_user_mounts() override;

    // Maps request.target with the key of the credentials file the options name
    // (credentials=NAME), as localhost\<its user name>. A file that is missing or not private is
    // refused before anything is mapped. A mapping of the same path made before (with whatever
    // credentials) is removed first.
    Result<void> mount(const mount::MountRequest& request) override;
    // Removes the mapping of `target`.
    Result<void> unmount(const std::string& target) override;
    // Every global mapping: mount_id 0, mount_point the normalized UNC path, source //host/share,
    // type smb-global-mapping.
    Result<std::vector<mount::MountEntry>> mounts() override;

  private:
    Root m_root;
    SmbMappingApi& m_api;
};

}  // namespace dsvm::windows_platform
