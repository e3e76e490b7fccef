#include "mount/fstab_file.h"

#include <sys/stat.h>

#include <chrono>

#include "common/fd.h"
#include "common/file_lock.h"
#include "common/fs.h"

namespace dsvm::mount {

namespace {

constexpr auto k_fstab_lock_wait = std::chrono::seconds(30);

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

}  // namespace

Result<FstabWrite> merge_into_fstab(const std::string& path, const std::vector<FstabEntry>& entries,
                                    Clock& clock, const std::function<void()>& before_check) {
    const std::string directory = parent_directory(path);
    if (auto made = make_directories(directory, 0755); !made) {
        return made.error();
    }
    auto directory_fd = open_directory(directory);
    if (!directory_fd) {
        return directory_fd.error();
    }
    // Agents on this instance (a pass, `mount`, the extension) write fstab one at a time. The
    // lock is a file of its own: fstab itself is replaced by rename, so a lock on it would be
    // on a file that is no longer fstab.
    const std::string lock_name = path.substr(path.find_last_of('/') + 1) + ".dsvm-agent.lock";
    auto lock = lock_file_at(directory_fd->get(), lock_name, directory + "/" + lock_name,
                             k_fstab_lock_wait, {}, clock);
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

}  // namespace dsvm::mount
