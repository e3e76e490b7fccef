#include "linux/linux_share.h"

#include <chrono>
#include <utility>

#include "common/systemctl.h"
#include "mount/automount.h"
#include "mount/credentials.h"
#include "mount/fstab_file.h"
#include "mount/options.h"
#include "users/notebooks.h"

namespace dsvm::linux_platform {

using namespace dsvm::config;
using namespace dsvm::engine;
using namespace dsvm::mount;

namespace {

constexpr const char* k_fstab = "/etc/fstab";

// Folders under the mount point, made with users/notebooks.h. Holds nothing: it runs on the
// share gate's worker, which may outlive the pass.
class LinuxShareFolders final : public ShareFolders {
  public:
    Result<bool> ensure(const std::string& share_dir, const NotebookFolder& folder,
                        bool owners) const override {
        // On SMB per-user the folder is reached only through the user's own mount of it.
        return owners
                   ? users::ensure_notebook_folder(share_dir, folder.path, folder.uid, folder.gid)
                   : users::ensure_share_folder(share_dir, folder.path);
    }
    Result<bool> differs(const std::string& share_dir, const NotebookFolder& folder,
                         bool owners) const override {
        const auto owner =
            owners ? std::optional<users::FolderOwner>(users::FolderOwner{folder.uid, folder.gid})
                   : std::nullopt;
        return users::notebook_folder_differs(share_dir, folder.path, owner);
    }
};

}  // namespace

LinuxShare::LinuxShare(Root root, Mounter& mounter, ProcessRunner& runner)
    : m_root(std::move(root)), m_mounter(mounter), m_runner(runner) {}

Result<void> LinuxShare::check(const ShareConfig&) const {
    return {};
}

DesiredState LinuxShare::desired(const PoolConfig& config) const {
    DesiredState desired;
    desired.fstab_path = m_root.path(k_fstab);
    if (!config.share) {
        return desired;
    }
    const ShareConfig& share = *config.share;
    const std::string target = m_root.path(share.mount_point);
    const std::string fs_type(fs_type_for(share.type));
    switch (share.type) {
        case ShareType::Bind: {
            // The share's own options (ro, noexec, ...) and nosuid,nodev apply to a bind too.
            const std::string options =
                mount_options(ShareType::Bind, share.smb_access, share.options, "");
            desired.share = MountRequest{m_root.path(share.source), target, "", options};
            desired.fstab_entries.push_back(
                {share.source, share.mount_point, "none", boot_options(ShareType::Bind, options)});
            break;
        }
        case ShareType::Smb: {
            desired.credentials_name = credentials_name(share.source);
            const std::string credentials = credentials_path(desired.credentials_name);
            desired.share = MountRequest{share.source, target, fs_type,
                                         mount_options(share.type, share.smb_access, share.options,
                                                       m_root.path(credentials))};
            desired.fstab_entries.push_back(
                {share.source, share.mount_point, fs_type,
                 boot_options(share.type, mount_options(share.type, share.smb_access, share.options,
                                                        credentials))});
            break;
        }
        case ShareType::Nfs: {
            const std::string options =
                mount_options(share.type, share.smb_access, share.options, "");
            desired.share = MountRequest{share.source, target, fs_type, options};
            desired.fstab_entries.push_back(
                {share.source, share.mount_point, fs_type, boot_options(share.type, options)});
            break;
        }
    }
    return desired;
}

Result<void> LinuxShare::write_boot_entries(const UpdateFstab& step, Clock& clock) {
    auto merged = merge_into_fstab(step.path, step.entries, clock);
    if (!merged) {
        return merged.error();
    }
    return {};
}

std::string LinuxShare::share_dir(const ShareConfig& share) const {
    return m_root.path(share.mount_point);
}

std::string LinuxShare::notebook_target(const ShareConfig& share,
                                        const NotebookFolder& folder) const {
    return share.per_user_smb() ? notebook_mount_path(folder.user)
                                : share.mount_point + "/" + folder.path;
}

std::shared_ptr<const ShareFolders> LinuxShare::folders() const {
    return std::make_shared<const LinuxShareFolders>();
}

std::optional<WriteNotebookMap> LinuxShare::user_mount_map(
    const ShareConfig& share, const std::vector<NotebookFolder>& folders) const {
    if (!share.per_user_smb()) {
        return std::nullopt;
    }
    std::vector<NotebookMount> mounts;
    mounts.reserve(folders.size());
    for (const NotebookFolder& folder : folders) {
        mounts.push_back({folder.user, folder.uid, folder.gid, folder.path});
    }
    return WriteNotebookMap{std::string(k_notebook_map_path),
                            render_notebook_map(share.source, mounts, share.options,
                                                credentials_path(credentials_name(share.source))),
                            mounts.size()};
}

void LinuxShare::reload_autofs(std::vector<ActionOutcome>& outcomes) {
    // Only on the real root: a sandbox's autofs is not the host's.
    if (!m_root.is_host()) {
        return;
    }
    const std::string description = "reload autofs.service for per-user notebook mounts";
    auto ran =
        run_systemctl(m_runner, {"reload-or-restart", "autofs.service"}, std::chrono::seconds(30));
    if (!ran) {
        // systemctl's own words say why ("Unit autofs.service not found." without the package).
        outcomes.push_back(ActionOutcome::failed(description, ran.error().message));
    } else {
        outcomes.push_back(ActionOutcome::done(description));
    }
}

std::vector<ActionOutcome> LinuxShare::install_user_mounts(const WriteNotebookMap& map) {
    std::vector<ActionOutcome> outcomes;
    auto installed = install_notebook_automount(m_root, map.text);
    if (!installed) {
        outcomes.push_back(
            {"write the notebook mount map " + map.path, false, installed.error().message});
        return outcomes;
    }
    if (installed->map_changed) {
        outcomes.push_back(ActionOutcome::done(describe(UserFilesAction(map))));
    }
    if (installed->map_changed || installed->master_changed) {
        reload_autofs(outcomes);
    }
    return outcomes;
}

Result<bool> LinuxShare::user_mounts_differ(const WriteNotebookMap& map) {
    return notebook_automount_differs(m_root, map.text);
}

Result<std::vector<ActionOutcome>> LinuxShare::remove_user_mounts() {
    auto removed = remove_notebook_automount(m_root);
    if (!removed) {
        return removed.error();
    }
    std::vector<ActionOutcome> outcomes;
    if (*removed) {
        outcomes.push_back(ActionOutcome::done("remove the per-user notebook mounts (autofs)"));
        reload_autofs(outcomes);
    }
    return outcomes;
}

}  // namespace dsvm::linux_platform
