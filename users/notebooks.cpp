#include "users/notebooks.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>

#include <cerrno>
#include <memory>
#include <optional>

#include "common/fs.h"
#include "common/safe_open.h"
#include "common/text.h"

namespace dsvm::users {

namespace {

std::pair<std::string, std::string> split_last(std::string_view path) {
    const size_t slash = path.find_last_of('/');
    if (slash == std::string_view::npos) {
        return {"", std::string(path)};
    }
    return {std::string(path.substr(0, slash)), std::string(path.substr(slash + 1))};
}

Result<void> check_owner(int fd, uid_t uid, std::string_view what) {
    struct stat info {};
    if (::fstat(fd, &info) != 0) {
        return failure("cannot stat " + std::string(what) + ": " + errno_text(errno));
    }
    if (info.st_uid != uid) {
        return failure(std::string(what) + " is owned by uid " + std::to_string(info.st_uid) +
                       ", not by the user (uid " + std::to_string(uid) + "); left as it is");
    }
    return {};
}

// Whether <parent>/<name> is a real directory with no entries; nothing followed or changed.
bool is_empty_directory_at(int parent, const std::string& name) {
    Fd dir(::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir) {
        return false;
    }
    std::unique_ptr<DIR, int (*)(DIR*)> listing(::fdopendir(dir.get()), ::closedir);
    if (!listing) {
        return false;
    }
    dir.release();  // closedir closes it
    while (const dirent* entry = ::readdir(listing.get())) {
        const std::string_view entry_name = entry->d_name;
        if (entry_name != "." && entry_name != "..") {
            return false;
        }
    }
    return true;
}

// What is at <notebooks>/remote when it is not a link: an empty directory may give way to the
// link (and is removed when `remove`); a directory with content or anything else is left as it
// is (Runtime error naming it).
Result<void> clear_way_for_link(int dir, const std::string& link_path, bool remove) {
    struct stat info {};
    if (::fstatat(dir, "remote", &info, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(info.st_mode)) {
        return failure(link_path + " exists and is not a link; it is left as it is");
    }
    // unlinkat(AT_REMOVEDIR) refuses a directory with content, which is what keeps it safe.
    const bool cleared = remove ? ::unlinkat(dir, "remote", AT_REMOVEDIR) == 0
                                : is_empty_directory_at(dir, "remote");
    if (!cleared) {
        return failure(link_path +
                       " is a directory with content; it is left as it is (move it away "
                       "to get the link to the share)");
    }
    return {};
}

// Opens <top>/<path> one component at a time, never through a symlink (refused, naming it);
// nullopt when a component is missing. Reads only.
Result<std::optional<Fd>> find_directory_below(const std::string& top, std::string_view path) {
    auto current = open_directory(top);
    if (!current) {
        return current.error();
    }
    std::string shown = top == "/" ? "" : top;
    for (const auto part : split(path, '/')) {
        if (part.empty()) {
            continue;
        }
        const std::string name(part);
        shown += "/" + name;
        struct stat info {};
        if (::fstatat(current->get(), name.c_str(), &info, AT_SYMLINK_NOFOLLOW) != 0 &&
            errno == ENOENT) {
            return std::optional<Fd>();
        }
        auto next = open_directory_at(current->get(), name, shown);
        if (!next) {
            return next.error();
        }
        *current = std::move(*next);
    }
    return std::optional<Fd>(std::move(*current));
}

// Opens <share_dir>/<folder>, making it (uid:gid, 0700) and its root-owned 0755 parents when
// missing; no component may be a symlink.
Result<Fd> open_share_folder(const std::string& share_dir, std::string_view folder, uid_t uid,
                             gid_t gid, bool& created) {
    const auto [parent_path, name] = split_last(folder);
    // Parents (notebooks/) are root's: only the user's own folder is theirs. Made one at a time
    // from their parent's descriptor: a link someone put on the share is never followed.
    auto parent = make_directories_below(share_dir, parent_path, 0755);
    if (!parent) {
        return parent.error();
    }
    auto opened = open_or_create_directory_at(parent->get(), name, 0700, uid, gid, created);
    if (!opened) {
        return with_context(std::string(folder), opened.error());
    }
    return opened;
}

}  // namespace

Result<bool> ensure_notebook_folder(const std::string& share_dir, std::string_view folder,
                                    uid_t uid, gid_t gid) {
    bool created = false;
    auto opened = open_share_folder(share_dir, folder, uid, gid, created);
    if (!opened) {
        return opened.error();
    }
    struct stat info {};
    if (::fstat(opened->get(), &info) != 0) {
        return failure("cannot stat " + std::string(folder) + ": " + errno_text(errno));
    }
    bool changed = created;
    if (info.st_uid != uid || info.st_gid != gid) {
        if (::fchown(opened->get(), uid, gid) != 0) {
            return failure("cannot chown " + std::string(folder) + ": " + errno_text(errno));
        }
        changed = true;
    }
    if ((info.st_mode & 07777) != 0700) {
        if (::fchmod(opened->get(), 0700) != 0) {
            return failure("cannot chmod " + std::string(folder) + ": " + errno_text(errno));
        }
        changed = true;
    }
    return changed;
}

Result<bool> ensure_share_folder(const std::string& share_dir, std::string_view folder) {
    bool created = false;
    auto opened = open_share_folder(share_dir, folder, 0, 0, created);
    if (!opened) {
        return opened.error();
    }
    return created;
}

Result<LinkChange> ensure_notebook_link(const Root& root, std::string_view home, uid_t uid,
                                        gid_t gid, std::string_view target) {
    auto home_fd = open_directory_below(root.dir(), home);
    if (!home_fd) {
        return home_fd.error();
    }
    if (auto owned = check_owner(home_fd->get(), uid, home); !owned) {
        return owned.error();
    }
    bool created = false;
    auto notebooks =
        open_or_create_directory_at(home_fd->get(), "notebooks", 0755, uid, gid, created);
    if (!notebooks) {
        return with_context(std::string(home), notebooks.error());
    }
    const std::string notebooks_path = std::string(home) + "/notebooks";
    if (auto owned = check_owner(notebooks->get(), uid, notebooks_path); !owned) {
        return owned.error();
    }
    const int dir = notebooks->get();
    const std::string link_path = notebooks_path + "/remote";
    char current[4096];
    const ssize_t length = ::readlinkat(dir, "remote", current, sizeof current - 1);
    if (length >= 0 && std::string_view(current, static_cast<size_t>(length)) == target) {
        return LinkChange::Unchanged;
    }
    const bool exists = length >= 0 || errno != ENOENT;
    if (length < 0 && exists) {
        if (auto cleared = clear_way_for_link(dir, link_path, true); !cleared) {
            return cleared.error();
        }
    }
    // A new link under a temporary name, renamed over the old one: never a moment without one.
    // The name is fixed, so one a killed pass left is replaced rather than left behind; a link
    // or file of the user's by that name is only unlinked, never followed.
    const std::string temporary = ".remote.dsvm-agent.tmp";
    if (auto stale = remove_tree_at(dir, temporary, notebooks_path + "/" + temporary); !stale) {
        return stale.error();
    }
    if (::symlinkat(std::string(target).c_str(), dir, temporary.c_str()) != 0) {
        return failure("cannot create a link in " + notebooks_path + ": " + errno_text(errno));
    }
    // Given to the user through a descriptor of the link itself, never by name: the user owns
    // this directory and could swap the name for a hard link to a file of root's meanwhile.
    Fd link(::openat(dir, temporary.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    struct stat info {};
    char made[4096];
    const ssize_t made_length = link ? ::readlinkat(link.get(), "", made, sizeof made - 1) : -1;
    const bool ours = link && ::fstat(link.get(), &info) == 0 && S_ISLNK(info.st_mode) &&
                      made_length >= 0 &&
                      std::string_view(made, static_cast<size_t>(made_length)) == target;
    if (!ours || ::fchownat(link.get(), "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0 ||
        ::renameat(dir, temporary.c_str(), dir, "remote") != 0) {
        const int error = ours ? errno : EAGAIN;
        ::unlinkat(dir, temporary.c_str(), 0);
        return failure("cannot create " + link_path + ": " +
                       (ours ? errno_text(error) : "the new link was replaced while it was made"));
    }
    return length >= 0 ? LinkChange::Replaced : LinkChange::Created;
}

Result<bool> notebook_folder_differs(const std::string& share_dir, std::string_view folder,
                                     std::optional<FolderOwner> owner) {
    auto opened = find_directory_below(share_dir, folder);
    if (!opened) {
        return opened.error();
    }
    if (!*opened) {
        return true;  // would be made
    }
    if (!owner) {
        return false;
    }
    struct stat info {};
    if (::fstat((*opened)->get(), &info) != 0) {
        return failure("cannot stat " + std::string(folder) + ": " + errno_text(errno));
    }
    return info.st_uid != owner->uid || info.st_gid != owner->gid || (info.st_mode & 07777) != 0700;
}

Result<bool> notebook_link_differs(const Root& root, std::string_view home, uid_t uid,
                                   std::string_view target) {
    // The same checks as ensure_notebook_link, in its order; a missing home or notebooks
    // directory would be made.
    auto home_fd = find_directory_below(root.dir(), home);
    if (!home_fd) {
        return home_fd.error();
    }
    if (!*home_fd) {
        return true;
    }
    if (auto owned = check_owner((*home_fd)->get(), uid, home); !owned) {
        return owned.error();
    }
    const std::string notebooks_path = std::string(home) + "/notebooks";
    auto notebooks = find_directory_below(root.dir(), notebooks_path);
    if (!notebooks) {
        return with_context(std::string(home), notebooks.error());
    }
    if (!*notebooks) {
        return true;
    }
    if (auto owned = check_owner((*notebooks)->get(), uid, notebooks_path); !owned) {
        return owned.error();
    }
    const int dir = (*notebooks)->get();
    char current[4096];
    const ssize_t length = ::readlinkat(dir, "remote", current, sizeof current - 1);
    if (length >= 0) {
        return std::string_view(current, static_cast<size_t>(length)) != target;
    }
    if (errno == ENOENT) {
        return true;
    }
    if (auto cleared = clear_way_for_link(dir, notebooks_path + "/remote", false); !cleared) {
        return cleared.error();
    }
    return true;
}

}  // namespace dsvm::users
