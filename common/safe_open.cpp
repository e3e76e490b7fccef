#include "common/safe_open.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>

#include <cerrno>
#include <vector>

#include "common/fs.h"

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

Result<Fd> open_directory_below(const std::string& top, std::string_view path) {
    // The top is configuration, not user-controlled, so it may be reached through links.
    Fd current(::open(top.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!current) {
        return failure("cannot open " + top + ": " + errno_text(errno));
    }
    std::string shown = top == "/" ? "" : top;
    size_t position = 0;
    while (position < path.size()) {
        const size_t slash = path.find('/', position);
        const size_t end = slash == std::string_view::npos ? path.size() : slash;
        const std::string name(path.substr(position, end - position));
        position = end + 1;
        if (name.empty()) {
            continue;
        }
        if (name == "." || name == "..") {
            return invalid("refusing " + std::string(path) + ": it has a '" + name + "' component");
        }
        shown += "/" + name;
        auto next = open_directory_at(current.get(), name, shown);
        if (!next) {
            return next.error();
        }
        current = std::move(next).value();
    }
    return current;
}

Result<Fd> open_or_create_directory_at(int dir, const std::string& name, mode_t mode, uid_t uid,
                                       gid_t gid, bool& created) {
    created = false;
    if (::mkdirat(dir, name.c_str(), mode) == 0) {
        created = true;
    } else if (errno != EEXIST) {
        return failure("cannot create " + name + ": " + errno_text(errno));
    }
    auto opened = open_directory_at(dir, name, name);
    if (!opened) {
        return opened.error();
    }
    // Owner and mode go through the descriptor: the name may have been swapped meanwhile.
    if (created && (::fchown(opened->get(), uid, gid) != 0 || ::fchmod(opened->get(), mode) != 0)) {
        return failure("cannot set the owner and mode of " + name + ": " + errno_text(errno));
    }
    return opened;
}

Result<void> remove_tree_at(int parent, const std::string& name, const std::string& shown) {
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
    DIR* listing = ::fdopendir(::dup(directory.get()));
    if (listing == nullptr) {
        return failure("cannot list " + shown + ": " + errno_text(errno));
    }
    ScopeGuard close_listing([&] { ::closedir(listing); });
    std::vector<std::string> entries;
    while (const dirent* entry = ::readdir(listing)) {
        const std::string child = entry->d_name;
        if (child != "." && child != "..") {
            entries.push_back(child);
        }
    }
    for (const auto& child : entries) {
        if (auto removed = remove_tree_at(directory.get(), child, shown + "/" + child); !removed) {
            return removed;
        }
    }
    if (::unlinkat(parent, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
        return failure("cannot remove " + shown + ": " + errno_text(errno));
    }
    return {};
}

}  // namespace dsvm
