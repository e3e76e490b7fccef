#include "engine/plan.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

namespace dsvm::engine {

using namespace dsvm::mount;

namespace {

template <class... Ts>
struct Overloaded : Ts... {
    using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

bool is_bind(const MountRequest& request) {
    return request.fs_type.empty() && request.options.find("bind") != std::string::npos;
}

// The kernel names a filesystem family differently from the mount request at times (nfs
// mounted with vers=4 shows as nfs4, cifs may show as smb3).
std::string_view fs_family(std::string_view type) {
    if (type == "nfs4") {
        return "nfs";
    }
    if (type == "smb3") {
        return "cifs";
    }
    return type;
}

const MountEntry* find_by_id(const std::vector<MountEntry>& mounts, const ManagedMount& managed) {
    for (const auto& entry : mounts) {
        if (entry.mount_id == managed.mount_id && entry.mount_point == managed.target) {
            return &entry;
        }
    }
    return nullptr;
}

const ManagedMount* managed_record(const ObservedState& observed, const MountEntry& entry) {
    for (const auto& managed : observed.managed_mounts) {
        if (managed.mount_id == entry.mount_id && managed.target == entry.mount_point) {
            return &managed;
        }
    }
    return nullptr;
}

// Why the agent's own mount must be made again, or empty when it is still what is wanted.
std::string remount_reason(const ManagedMount& managed, const MountRequest& request,
                           const ObservedState& observed) {
    if (managed.request.source != request.source || managed.request.fs_type != request.fs_type) {
        return "the pool's share changed";
    }
    if (managed.request.options != request.options) {
        return "the mount options changed";
    }
    if (observed.credentials && managed.credentials_stamp != observed.credentials->stamp) {
        return "the credentials changed";
    }
    return {};
}

// Makes the mount point when it is missing; false (with the problem) when what is there must
// not be mounted over.
bool prepare_mount_point(const std::string& target, const ObservedState& observed, Plan& plan) {
    if (!observed.target_exists) {
        plan.actions.emplace_back(MakeDirectory{target, 0755});
    } else if (!observed.target_is_directory) {
        plan.problems.push_back(
            fmt::format("mount point {} exists and is not a directory; remove it or choose another "
                        "share.mountPoint",
                        target));
        return false;
    } else if (!observed.target_is_empty) {
        // Mounting there would hide what it holds (and put the share's files in its place).
        plan.problems.push_back(
            fmt::format("mount point {} is a directory with content, which the share would hide; "
                        "empty it or choose another share.mountPoint",
                        target));
        return false;
    }
    return true;
}

void plan_share(const DesiredState& desired, const ObservedState& observed, Plan& plan) {
    const MountRequest& request = *desired.share;
    if (is_bind(request) && !observed.source_exists) {
        plan.problems.push_back(fmt::format(
            "bind share source {} does not exist; create it or fix share.source", request.source));
        return;
    }
    const std::string stamp = observed.credentials ? observed.credentials->stamp : "";
    if (const MountEntry* entry = find_mount(observed.mounts, request.target)) {
        if (const ManagedMount* managed = managed_record(observed, *entry)) {
            const std::string reason = remount_reason(*managed, request, observed);
            if (reason.empty()) {
                return;
            }
            if (observed.credentials && !observed.credentials->secure) {
                plan.problems.push_back(observed.credentials->problem);
                return;
            }
            plan.actions.emplace_back(UnmountShare{request.target, reason});
            plan.actions.emplace_back(MountShare{request, stamp});
            return;
        }
        if (!mount_matches(request, *entry, observed.target_shows_source)) {
            plan.problems.push_back(fmt::format(
                "{} already has a mount the agent did not make ({}, type {}); the agent never "
                "stacks mounts: unmount it or choose another share.mountPoint",
                request.target, entry->source, entry->fs_type));
        }
        return;
    }
    if (observed.credentials && !observed.credentials->secure) {
        plan.problems.push_back(observed.credentials->problem);
        return;
    }
    // A mapping (local_mount_point false) has no directory of its own to make or find empty.
    if (desired.local_mount_point && !prepare_mount_point(request.target, observed, plan)) {
        return;
    }
    plan.actions.emplace_back(MountShare{request, stamp});
}

}  // namespace

std::string describe(const Action& action) {
    return std::visit(
        Overloaded{
            [](const MakeDirectory& step) {
                return fmt::format("create directory {} (mode {:04o})", step.path, step.mode);
            },
            [](const MountShare& step) {
                const auto& request = step.request;
                if (is_bind(request)) {
                    return fmt::format("bind-mount {} on {}", request.source, request.target);
                }
                if (request.fs_type == k_smb_global_mapping) {
                    return fmt::format("map {} as {} for every user (SMB global mapping, {})",
                                       request.source, request.target, request.options);
                }
                return fmt::format("mount {} on {} (type {}, options {})", request.source,
                                   request.target, request.fs_type, request.options);
            },
            [](const UnmountShare& step) {
                return fmt::format("unmount {} ({})", step.target, step.reason);
            },
            [](const UpdateFstab& step) {
                if (step.entries.empty()) {
                    return fmt::format("remove the agent's entries from {}", step.path);
                }
                std::vector<std::string> lines;
                for (const auto& entry : step.entries) {
                    lines.push_back(render_fstab_line(entry));
                }
                return fmt::format("update the agent's entries in {}: {}", step.path,
                                   fmt::join(lines, "; "));
            },
        },
        action);
}

bool mount_matches(const MountRequest& desired, const MountEntry& entry, bool target_shows_source) {
    if (is_bind(desired)) {
        return target_shows_source;
    }
    return entry.source == desired.source && fs_family(entry.fs_type) == fs_family(desired.fs_type);
}

Plan make_plan(const DesiredState& desired, const ObservedState& observed) {
    Plan plan;
    for (const auto& managed : observed.managed_mounts) {
        if (desired.share && desired.share->target == managed.target) {
            continue;
        }
        if (find_by_id(observed.mounts, managed) != nullptr) {
            plan.actions.emplace_back(
                UnmountShare{managed.target, "no longer the pool's mount point"});
        }
    }
    if (desired.share) {
        plan_share(desired, observed, plan);
    }
    // Decided on the fstab observed now; apply merges into the fstab it finds when it writes.
    if (!desired.fstab_path.empty() &&
        update_fstab(observed.fstab_text, desired.fstab_entries) != observed.fstab_text) {
        plan.actions.emplace_back(UpdateFstab{desired.fstab_path, desired.fstab_entries});
    }
    return plan;
}

}  // namespace dsvm::engine
