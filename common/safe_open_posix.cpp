#include "common/safe_open.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>

#include <stdio.h>
#include <cerrno>
#include <cstdio>
#include <optional>
#include <random>
#include <vector>

#include "common/fs.h"
#include "common/temporaries.h"
#include "common/temporaries_posix.h"

namespace dsvm {

// A symlink gives ELOOP, or ENOTDIR with O_DIRECTORY, so look at the entry itself (without
// following it) to say which it was.
std::string open_error_text(int parent, const std::string& name, int error) {
    if (error != ELOOP && error != ENOTDIR) {
        return errno_text(error);
    }
    struct stat info {};
    if (::fstatat(parent, name.c_str(), &info, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(info.st_mode)) {
        return "it is a symlink";
    }
    return error == ENOTDIR ? "it is not a directory" : errno_text(error);
}

Result<Fd> open_directory_at(int parent, const std::string& name, const std::string& shown) {
    Fd fd(::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) {
        const int error = errno;
        const char* verb = error == ENOENT ? "cannot open " : "refusing ";
        return failure(verb + shown + ": " + open_error_text(parent, name, error));
    }
    return fd;
}

NoFollowDirectory open_directory_nofollow(const std::string& path) {
    NoFollowDirectory opened;
    opened.fd.reset(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!opened.fd) {
        const int error = errno;
        opened.failure = error == ENOENT                      ? DirectoryFailure::Missing
                         : error == ENOTDIR || error == ELOOP ? DirectoryFailure::NotDirectory
                         : error == EACCES || error == EPERM  ? DirectoryFailure::Denied
                                                              : DirectoryFailure::Other;
        opened.error = errno_text(error);
    }
    return opened;
}

OpenedFile open_regular_nofollow(const std::string& path) {
    OpenedFile opened;
    opened.fd.reset(
        ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (!opened.fd) {
        const int error = errno;
        opened.failure = error == ENOENT  ? FileFailure::Missing
                         : error == ELOOP ? FileFailure::Link
                                          : FileFailure::Other;
        opened.error = errno_text(error);
        return opened;
    }
    struct stat info {};
    if (::fstat(opened.fd.get(), &info) != 0 || !S_ISREG(info.st_mode)) {
        opened.fd.reset();
        opened.failure = FileFailure::NotRegular;
        opened.error = "not a regular file";
        return opened;
    }
    opened.size = static_cast<std::uint64_t>(info.st_size);
    return opened;
}

MadeDirectory make_directory(const std::string& path, mode_t mode) {
    MadeDirectory result;
    if (::mkdir(path.c_str(), mode) == 0) {
        result.made = true;
    } else if (errno != EEXIST) {
        const int error = errno;
        result.failure = error == EACCES || error == EPERM ? DirectoryFailure::Denied
                         : error == ENOENT                 ? DirectoryFailure::Missing
                                                           : DirectoryFailure::Other;
        result.error = errno_text(error);
    }
    return result;
}

namespace {

Result<Fd> walk_below(const std::string& top, std::string_view path, std::optional<mode_t> make) {
    // Every component is checked before anything is opened or made.
    auto names = path_components(path, "/");
    if (!names) {
        return names.error();
    }
    // The top is configuration, not user-controlled, so it may be reached through links.
    Fd current(::open(top.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!current) {
        return failure("cannot open " + top + ": " + errno_text(errno));
    }
    std::string shown = top == "/" ? "" : top;
    for (const auto& name : *names) {
        shown += "/" + name;
        const bool made = make && ::mkdirat(current.get(), name.c_str(), *make) == 0;
        if (make && !made && errno != EEXIST) {
            return failure("cannot create directory " + shown + ": " + errno_text(errno));
        }
        auto next = open_directory_at(current.get(), name, shown);
        if (!next) {
            return next.error();
        }
        // The umask may have narrowed the mode; set it exactly on what was made.
        if (made && ::fchmod(next->get(), *make) != 0) {
            return failure("cannot set the mode of " + shown + ": " + errno_text(errno));
        }
        current = std::move(next).value();
    }
    return current;
}

}  // namespace

Result<Fd> open_directory_below(const std::string& top, std::string_view path) {
    return walk_below(top, path, std::nullopt);
}

Result<Fd> make_directories_below(const std::string& top, std::string_view path, mode_t mode) {
    return walk_below(top, path, mode);
}

int rename_no_replace(int dir, const std::string& from, const std::string& to) {
    if (::renameat2(dir, from.c_str(), dir, to.c_str(), RENAME_NOREPLACE) == 0) {
        return 0;
    }
    if (errno != EINVAL) {
        return -1;
    }
    struct stat there {};
    if (::fstatat(dir, to.c_str(), &there, AT_SYMLINK_NOFOLLOW) == 0) {
        errno = EEXIST;
        return -1;
    }
    if (errno != ENOENT) {
        return -1;
    }
    return ::renameat(dir, from.c_str(), dir, to.c_str());
}

namespace {

bool missing_at(int dir, const std::string& name) {
    struct stat info {};
    return ::fstatat(dir, name.c_str(), &info, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT;
}

// How often a directory is tried again when its temporary vanished: only a concurrent maker
// that took it for a crash's leftover removes it, and once one maker has renamed its own into
// place the others find the directory.
constexpr int k_create_attempts = 8;

}  // namespace

Result<Fd> open_or_create_directory_at(int dir, const std::string& name, mode_t mode, uid_t uid,
                                       gid_t gid, bool& created) {
    created = false;
    // Made under a name of this call's own (".<name>.dsvm-agent-new.tmp.<pid>.<random>"), given
    // its owner and mode through the descriptor, and only then renamed into place: a pass killed
    // in between leaves the temporary, never a directory of the wrong owner under the real name.
    // Another process making the same directory at the same moment (a second instance, in a
    // folder on the share) has a temporary of its own, so neither renames the other's.
    const std::string base = "." + name + ".dsvm-agent-new";
    std::random_device entropy;
    for (int attempt = 0; attempt < k_create_attempts; ++attempt) {
        if (!missing_at(dir, name)) {
            return open_directory_at(dir, name, name);
        }
        // Leftovers of processes that are gone, and the fixed name earlier versions used. A pid
        // from another instance may look gone here: that maker's rename then fails, and it
        // tries again.
        auto leftovers = stale_temporaries_in(dir, base);
        if (!missing_at(dir, base)) {
            leftovers.push_back(base);
        }
        for (const auto& leftover : leftovers) {
            if (auto removed = remove_tree_at(dir, leftover, leftover);
                !removed && !missing_at(dir, leftover)) {
                return removed.error();
            }
        }
        const std::string building = random_temporary(base, ::getpid(), entropy);
        if (::mkdirat(dir, building.c_str(), mode) != 0) {
            return failure("cannot create " + name + ": " + errno_text(errno));
        }
        auto opened = open_directory_at(dir, building, building);
        if (!opened) {
            if (missing_at(dir, building)) {
                continue;  // removed by a concurrent maker as a leftover
            }
            return opened.error();
        }
        if (::fchown(opened->get(), uid, gid) != 0 || ::fchmod(opened->get(), mode) != 0) {
            const int error = errno;
            if (missing_at(dir, building)) {
                continue;  // removed by a concurrent maker as a leftover (NFS: ESTALE)
            }
            (void)remove_tree_at(dir, building, building);
            return failure("cannot set the owner and mode of " + name + ": " + errno_text(error));
        }
        if (rename_no_replace(dir, building, name) != 0) {
            const int error = errno;
            (void)remove_tree_at(dir, building, building);
            if (error == EEXIST) {
                return open_directory_at(dir, name, name);  // made meanwhile by someone else
            }
            if (error == ENOENT) {
                continue;  // removed by a concurrent maker as a leftover
            }
            return failure("cannot create " + name + ": " + errno_text(error));
        }
        created = true;
        return opened;
    }
    return failure("cannot create " + name + ": its temporary was removed " +
                   std::to_string(k_create_attempts) + " times by other processes making it");
}

Result<void> check_private_owner(int fd, uid_t owner, const std::string& shown) {
    struct stat info {};
    if (::fstat(fd, &info) != 0) {
        return failure("cannot stat " + shown + ": " + errno_text(errno));
    }
    if (info.st_uid != owner) {
        return failure("refusing " + shown + ": it is owned by uid " + std::to_string(info.st_uid) +
                       ", not " + std::to_string(owner));
    }
    if ((info.st_mode & 022) != 0) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(info.st_mode & 07777));
        return failure("refusing " + shown + ": its mode " + mode +
                       " lets group or others write it");
    }
    return {};
}

namespace {

// lstat, then open: a device node is never opened (opening one can have effects of its own, a
// tape rewinds). A file renamed over between the two (an atomic replace by a writer elsewhere)
// is looked at again.
Result<Fd> open_regular_at(int directory, const std::string& name, const std::string& shown,
                           bool& found) {
    found = true;
    for (int attempt = 0;; ++attempt) {
        struct stat before {};
        if (::fstatat(directory, name.c_str(), &before, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT) {
                found = false;
                return Fd();
            }
            return failure("cannot stat " + shown + ": " + errno_text(errno));
        }
        if (S_ISLNK(before.st_mode)) {
            return failure("refusing " + shown + ": it is a symlink");
        }
        if (!S_ISREG(before.st_mode)) {
            return failure("refusing " + shown + ": it is not a regular file");
        }
        Fd fd(::openat(directory, name.c_str(),
                       O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
        if (!fd) {
            if (errno == ENOENT && attempt < 3) {
                continue;
            }
            return failure("cannot open " + shown + ": " + open_error_text(directory, name, errno));
        }
        struct stat info {};
        if (::fstat(fd.get(), &info) != 0) {
            return failure("cannot stat " + shown + ": " + errno_text(errno));
        }
        if (S_ISREG(info.st_mode) && info.st_dev == before.st_dev && info.st_ino == before.st_ino) {
            return fd;
        }
        if (attempt >= 3) {
            return failure("refusing " + shown + ": it keeps being replaced while it is opened");
        }
    }
}

}  // namespace

Result<OptionalText> read_untrusted_file_at(int directory, const std::string& name,
                                            const std::string& shown, const UntrustedFile& rules) {
    bool found = true;
    auto fd = open_regular_at(directory, name, shown, found);
    if (!fd) {
        return fd.error();
    }
    if (!found) {
        return OptionalText{};
    }
    struct stat info {};
    if (::fstat(fd->get(), &info) != 0) {
        return failure("cannot stat " + shown + ": " + errno_text(errno));
    }
    if (rules.check_owner) {
        if (auto owned = check_private_owner(fd->get(), rules.owner, shown); !owned) {
            return owned.error();
        }
    }
    return read_bounded(fd->get(), static_cast<long long>(info.st_size), rules.max_bytes, shown);
}

namespace {

// Deeper than any tree the agent is asked to remove legitimately; bounds the recursion (and the
// descriptors held: one per level) that a tree someone else built could otherwise drive.
constexpr int k_max_remove_depth = 128;

Result<void> remove_tree_below(int parent, const std::string& name, const std::string& shown,
                               int depth) {
    Fd directory(::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!directory) {
        if (errno == ENOENT) {
            return {};
        }
        if (errno != ENOTDIR && errno != ELOOP) {
            return failure("cannot open " + shown + ": " + errno_text(errno));
        }
        // Not a directory (a file, or a link): remove the entry itself.
        if (::unlinkat(parent, name.c_str(), 0) != 0 && errno != ENOENT) {
            return failure("cannot remove " + shown + ": " + errno_text(errno));
        }
        return {};
    }
    if (depth > k_max_remove_depth) {
        return failure("cannot remove " + shown + ": it is nested more than " +
                       std::to_string(k_max_remove_depth) + " levels deep");
    }
    std::vector<std::string> entries;
    {
        // Listed and closed before going down: one descriptor per level, not two.
        DIR* listing = ::fdopendir(::dup(directory.get()));
        if (listing == nullptr) {
            return failure("cannot list " + shown + ": " + errno_text(errno));
        }
        ScopeGuard close_listing([&] { ::closedir(listing); });
        while (const dirent* entry = ::readdir(listing)) {
            const std::string child = entry->d_name;
            if (child != "." && child != "..") {
                entries.push_back(child);
            }
        }
    }
    for (const auto& child : entries) {
        if (auto removed =
                remove_tree_below(directory.get(), child, shown + "/" + child, depth + 1);
            !removed) {
            return removed;
        }
    }
    if (::unlinkat(parent, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
        return failure("cannot remove " + shown + ": " + errno_text(errno));
    }
    return {};
}

}  // namespace

Result<void> remove_tree_at(int parent, const std::string& name, const std::string& shown) {
    return remove_tree_below(parent, name, shown, 0);
}

}  // namespace dsvm
