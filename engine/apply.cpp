#include "engine/apply.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>

#include "common/fd.h"
#include "common/file_lock.h"
#include "common/fs.h"

namespace dsvm {

namespace {

constexpr auto k_fstab_lock_wait = std::chrono::seconds(30);

std::string parent_directory(const std::string& path) {
    const auto slash = path.find_last_of('/');
    return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

// One read, merge and write. Unchanged when the merge changes nothing; `changed` is set (and
// nothing written) when the file moved under us between the read and the rename.
Result<FstabWrite> merge_once(const std::string& path, const std::vector<FstabEntry>& entries,
                              const std::function<void()>& before_check, bool& changed) {
    auto current = read_file_if_exists(path);
    if (!current) {
        return current.error();
    }
    const std::string merged = update_fstab(current->text, entries);
    if (merged == current->text) {
        return FstabWrite::Unchanged;
    }
    mode_t mode = 0644;
    struct stat info {};
    if (current->found && ::stat(path.c_str(), &info) == 0) {
        mode = info.st_mode & 07777;
    }
    if (current->found) {
        if (auto backup = write_file_atomic(path + ".dsvm-agent.bak", current->text, mode);
            !backup) {
            return backup.error();
        }
    }
    ReplaceOptions options;
    options.mode = mode;
    // Other tools do not take our lock: what they wrote since the read is seen here, just
    // before the rename, and the merge starts over. What lands in the microseconds between this
    // read and the rename is still lost; before, it was everything since the plan.
    options.check_before_rename = [&]() -> Result<void> {
        if (before_check) {
            before_check();
        }
        auto again = read_file_if_exists(path);
        if (!again) {
            return again.error();
        }
        if (again->found != current->found || again->text != current->text) {
            changed = true;
            return failure(path + " changed while the agent was writing it");
        }
        return {};
    };
    if (auto written = replace_file(path, merged, options); !written) {
        return written.error();
    }
    return FstabWrite::Written;
}

Result<void> run_action(const Action& action, Mounter& mounter) {
    if (const auto* step = std::get_if<MakeDirectory>(&action)) {
        return make_directories(step->path, step->mode);
    }
    if (const auto* step = std::get_if<MountShare>(&action)) {
        return mounter.mount(step->request);
    }
    if (const auto* step = std::get_if<UpdateFstab>(&action)) {
        auto merged = merge_into_fstab(step->path, step->entries);
        if (!merged) {
            return merged.error();
        }
        return {};
    }
    const auto& step = std::get<UnmountShare>(action);
    return mounter.unmount(step.target);
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

Result<FstabWrite> merge_into_fstab(const std::string& path, const std::vector<FstabEntry>& entries,
                                    const std::function<void()>& before_check) {
    const std::string directory = parent_directory(path);
    if (auto made = make_directories(directory, 0755); !made) {
        return made.error();
    }
    Fd directory_fd(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!directory_fd) {
        return failure("cannot open " + directory + ": " + errno_text(errno));
    }
    // Agents on this instance (a pass, `mount`, the extension) write fstab one at a time. The
    // lock is a file of its own: fstab itself is replaced by rename, so a lock on it would be
    // on a file that is no longer fstab.
    const std::string lock_name = path.substr(path.find_last_of('/') + 1) + ".dsvm-agent.lock";
    auto lock =
        lock_file_at(directory_fd.get(), lock_name, directory + "/" + lock_name, k_fstab_lock_wait);
    if (!lock) {
        return lock.error();
    }
    for (int attempt = 0; attempt < k_fstab_attempts; ++attempt) {
        bool changed = false;
        auto merged = merge_once(path, entries, before_check, changed);
        if (merged || !changed) {
            return merged;
        }
    }
    return failure(path + " kept changing while the agent was writing it (" +
                   std::to_string(k_fstab_attempts) + " attempts); its entries are written on " +
                   "the next pass");
}

std::vector<ActionOutcome> apply_plan(const Plan& plan, Mounter& mounter) {
    std::vector<ActionOutcome> outcomes;
    std::vector<std::string> failed_paths;
    for (const auto& action : plan.actions) {
        ActionOutcome outcome{describe(action), true, {}};
        if (std::string skipped = depends_on_failed(action, failed_paths); !skipped.empty()) {
            outcome.ok = false;
            outcome.error = std::move(skipped);
        } else if (auto done = run_action(action, mounter); !done) {
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

}  // namespace dsvm
