#include "engine/observe.h"

#include "common/fs.h"
#include "mount/credentials.h"

namespace dsvm::engine {

using namespace dsvm::mount;

namespace {

// Looking at the mount point: instant unless the share's server is gone.
constexpr auto k_look_limit = std::chrono::seconds(30);

struct Looked {
    bool target_exists = false;
    bool target_is_directory = false;
    bool target_is_empty = true;
    bool source_exists = true;
    bool target_shows_source = false;
};

// The mount point (and a bind share's source) on disk. Once mounted it is the share's top, so
// looking at it goes through the share's gate.
Result<Looked> look_at_mount_point(const MountRequest& request, DeadlineGate& share_gate) {
    const std::string target_path = request.target;
    const std::string source_path = request.fs_type.empty() ? request.source : "";
    return share_gate.run<Looked>(k_look_limit, [target_path, source_path]() -> Result<Looked> {
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
}

}  // namespace

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
    if (desired.local_mount_point) {
        auto looked = look_at_mount_point(*desired.share, share_gate);
        if (!looked) {
            return looked.error();
        }
        observed.target_exists = looked->target_exists;
        observed.target_is_directory = looked->target_is_directory;
        observed.target_is_empty = looked->target_is_empty;
        observed.source_exists = looked->source_exists;
        observed.target_shows_source = looked->target_shows_source;
    }
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
