#include "engine/observe.h"

#include "common/fs.h"
#include "mount/credentials.h"
#include "mount/options.h"

namespace dsvm::engine {

using namespace dsvm::mount;
using namespace dsvm::config;

namespace {

constexpr const char* k_fstab = "/etc/fstab";

// Looking at the mount point: instant unless the share's server is gone.
constexpr auto k_look_limit = std::chrono::seconds(30);

}  // namespace

DesiredState desired_state(const PoolConfig& config, const Root& root) {
    DesiredState desired;
    desired.fstab_path = root.path(k_fstab);
    if (!config.share) {
        return desired;
    }
    const ShareConfig& share = *config.share;
    const std::string target = root.path(share.mount_point);
    const std::string fs_type(fs_type_for(share.type));
    switch (share.type) {
        case ShareType::Bind: {
            // The share's own options (ro, noexec, ...) and nosuid,nodev apply to a bind too.
            const std::string options =
                mount_options(ShareType::Bind, share.smb_access, share.options, "");
            desired.share = MountRequest{root.path(share.source), target, "", options};
            desired.fstab_entries.push_back(
                {share.source, share.mount_point, "none", boot_options(ShareType::Bind, options)});
            break;
        }
        case ShareType::Smb: {
            desired.credentials_name = credentials_name(share.source);
            const std::string credentials = credentials_path(desired.credentials_name);
            desired.share = MountRequest{
                share.source, target, fs_type,
                mount_options(share.type, share.smb_access, share.options, root.path(credentials))};
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

Result<ObservedState> observe(const DesiredState& desired, Mounter& mounter,
                              std::vector<ManagedMount> managed_mounts, const Root& root,
                              DeadlineGate& share_gate) {
    ObservedState observed;
    auto mounts = mounter.mounts();
    if (!mounts) {
        return mounts.error();
    }
    observed.mounts = std::move(mounts).value();
    observed.managed_mounts = std::move(managed_mounts);
    if (!desired.fstab_path.empty()) {
        auto fstab = read_file_if_exists(desired.fstab_path);
        if (!fstab) {
            return fstab.error();
        }
        observed.fstab_text = std::move(fstab->text);
    }
    if (!desired.share) {
        return observed;
    }
    struct Looked {
        bool target_exists = false;
        bool target_is_directory = false;
        bool target_is_empty = true;
        bool source_exists = true;
        bool target_shows_source = false;
    };
    const std::string target_path = desired.share->target;
    const std::string source_path = desired.share->fs_type.empty() ? desired.share->source : "";
    auto looked =
        share_gate.run<Looked>(k_look_limit, [target_path, source_path]() -> Result<Looked> {
            Looked out;
            const FileStatus target = file_status(target_path, Links::DoNotFollow);
            out.target_exists = target.type != FileType::Missing;
            out.target_is_directory = target.type == FileType::Directory;
            if (out.target_is_directory) {
                // One that cannot be listed counts as not empty (the mount would hide whatever
                // it holds).
                out.target_is_empty = directory_is_empty(target_path);
            }
            if (!source_path.empty()) {
                const FileStatus source = file_status(source_path, Links::Follow);
                out.source_exists = source.type == FileType::Directory;
                out.target_shows_source =
                    out.source_exists && out.target_is_directory && same_file(source, target);
            }
            return out;
        });
    if (!looked) {
        return looked.error();
    }
    observed.target_exists = looked->target_exists;
    observed.target_is_directory = looked->target_is_directory;
    observed.target_is_empty = looked->target_is_empty;
    observed.source_exists = looked->source_exists;
    observed.target_shows_source = looked->target_shows_source;
    if (!desired.credentials_name.empty()) {
        ObservedCredentials credentials;
        if (auto file = inspect_credentials(root, desired.credentials_name)) {
            credentials.found = true;
            credentials.secure = file->secure;
            credentials.problem =
                file->secure ? "" : "refusing to use " + file->path + ": " + file->problem;
            credentials.stamp = file->stamp;
        } else {
            credentials.problem = file.error().message;
        }
        observed.credentials = std::move(credentials);
    }
    return observed;
}

}  // namespace dsvm::engine
