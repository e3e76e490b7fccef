#include "engine/apply.h"

#include <algorithm>

#include "common/fs.h"

namespace dsvm::engine {

using namespace dsvm::mount;

namespace {

Result<void> run_action(const Action& action, ShareBackend& share, Clock& clock) {
    if (const auto* step = std::get_if<MakeDirectory>(&action)) {
        return make_directories(step->path, step->mode);
    }
    if (const auto* step = std::get_if<MountShare>(&action)) {
        return share.mounter().mount(step->request);
    }
    if (const auto* step = std::get_if<UpdateFstab>(&action)) {
        return share.write_boot_entries(*step, clock);
    }
    const auto& step = std::get<UnmountShare>(action);
    return share.mounter().unmount(step.target);
}

// A mount or unmount on a path whose earlier step failed would only fail again, less clearly.
std::string depends_on_failed(const Action& action, const std::vector<std::string>& failed_paths) {
    const auto* mount = std::get_if<MountShare>(&action);
    if (mount == nullptr) {
        return {};
    }
    const bool blocked = std::find(failed_paths.begin(), failed_paths.end(),
                                   mount->request.target) != failed_paths.end();
    return blocked ? "skipped: an earlier step for " + mount->request.target + " failed" : "";
}

}  // namespace

std::vector<ActionOutcome> apply_plan(const Plan& plan, ShareBackend& share, Clock& clock) {
    std::vector<ActionOutcome> outcomes;
    std::vector<std::string> failed_paths;
    for (const auto& action : plan.actions) {
        ActionOutcome outcome{describe(action), true, {}};
        if (std::string skipped = depends_on_failed(action, failed_paths); !skipped.empty()) {
            outcome.ok = false;
            outcome.error = std::move(skipped);
        } else if (auto done = run_action(action, share, clock); !done) {
            outcome.ok = false;
            outcome.error = done.error().message;
            if (const auto* step = std::get_if<MakeDirectory>(&action)) {
                failed_paths.push_back(step->path);
            } else if (const auto* unmount = std::get_if<UnmountShare>(&action)) {
                failed_paths.push_back(unmount->target);
            }
        }
        outcomes.push_back(std::move(outcome));
    }
    return outcomes;
}

std::vector<ManagedMount> managed_after(const std::vector<ManagedMount>& before, const Plan& plan,
                                        const std::vector<ActionOutcome>& outcomes,
                                        const std::vector<MountEntry>& mounts) {
    std::vector<ManagedMount> after;
    for (const auto& managed : before) {
        const bool present = std::any_of(mounts.begin(), mounts.end(), [&](const auto& entry) {
            return entry.mount_id == managed.mount_id && entry.mount_point == managed.target;
        });
        if (present) {
            after.push_back(managed);
        }
    }
    for (size_t i = 0; i < plan.actions.size() && i < outcomes.size(); ++i) {
        const auto* mount = std::get_if<MountShare>(&plan.actions[i]);
        if (mount == nullptr || !outcomes[i].ok) {
            continue;
        }
        if (const MountEntry* entry = find_mount(mounts, mount->request.target)) {
            std::erase_if(after, [&](const auto& managed) {
                return managed.target == mount->request.target;
            });
            after.push_back(
                {entry->mount_point, entry->mount_id, mount->request, mount->credentials_stamp});
        }
    }
    return after;
}

}  // namespace dsvm::engine
