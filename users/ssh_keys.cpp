#include "users/ssh_keys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <utility>

#include "common/fd.h"
#include "common/fs.h"
#include "common/safe_open.h"
#include "common/text.h"

namespace dsvm::users {

namespace {

constexpr std::string_view k_keys_file = "authorized_keys";
constexpr std::string_view k_temporary_file = "authorized_keys.dsvm-agent.tmp";
// sshd reads the whole file on every login; anything larger is not a key list we should copy.
constexpr off_t k_max_keys_file = 1024 * 1024;

Result<struct stat> owned_by(int fd, const std::string& shown, uid_t uid) {
    struct stat info {};
    if (::fstat(fd, &info) != 0) {
        return failure("cannot stat " + shown + ": " + errno_text(errno));
    }
    if (info.st_uid != uid) {
        return failure("refusing " + shown + ": it is owned by uid " + std::to_string(info.st_uid) +
                       ", not " + std::to_string(uid));
    }
    return info;
}

// An existing .ssh must be the user's and not writable by others, who could otherwise swap files
// under it.
Result<void> check_ssh_directory(int ssh, const std::string& shown, uid_t uid) {
    auto info = owned_by(ssh, shown, uid);
    if (!info) {
        return info.error();
    }
    if ((info->st_mode & 022) != 0) {
        return failure("refusing " + shown + ": it is writable by group or others");
    }
    return {};
}

// .ssh, created 0700 and given to the user if missing. An existing one must be the user's and
// not writable by others, who could otherwise swap files under it.
Result<Fd> open_ssh_directory(int home, const std::string& shown, uid_t uid, gid_t gid) {
    // Made complete under another name and renamed into place: a pass killed half way never
    // leaves a root-owned .ssh the user cannot use.
    bool created = false;
    auto ssh = open_or_create_directory_at(home, ".ssh", 0700, uid, gid, created);
    if (!ssh) {
        return with_context(shown, ssh.error());
    }
    if (auto checked = check_ssh_directory(ssh->get(), shown, uid); !checked) {
        return checked.error();
    }
    return std::move(*ssh);
}

// The current file, if any. O_NONBLOCK so a FIFO planted there cannot hang the agent; the
// owner and link-count checks stop a hard link to a root-only file (an old /etc/shadow) from
// being copied into a file the user can read.
Result<OptionalText> read_keys_file(int ssh, const std::string& shown, uid_t uid) {
    const std::string name(k_keys_file);
    Fd fd(::openat(ssh, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
    if (!fd) {
        const int error = errno;
        if (error == ENOENT) {
            return OptionalText{};
        }
        return failure("refusing " + shown + ": " + open_error_text(ssh, name, error));
    }
    auto info = owned_by(fd.get(), shown, uid);
    if (!info) {
        return info.error();
    }
    if (!S_ISREG(info->st_mode)) {
        return failure("refusing " + shown + ": it is not a regular file");
    }
    if (info->st_nlink != 1) {
        return failure("refusing " + shown + ": it has " + std::to_string(info->st_nlink) +
                       " hard links");
    }
    if (info->st_size > k_max_keys_file) {
        return failure("refusing " + shown + ": it is larger than 1 MiB");
    }
    // One byte more than fstat said: a file that grows meanwhile is still bounded.
    OptionalText current{true, std::string(static_cast<std::size_t>(info->st_size) + 1, '\0')};
    auto got = read_into(fd.get(), current.text.data(), current.text.size(), shown);
    if (!got) {
        return got.error();
    }
    if (*got > static_cast<std::size_t>(k_max_keys_file)) {
        return failure("refusing " + shown + ": it is larger than 1 MiB");
    }
    current.text.resize(*got);
    return current;
}

Result<void> replace_keys_file(int ssh, const std::string& shown, std::string_view content,
                               uid_t uid, gid_t gid) {
    ReplaceOptions options;
    options.mode = 0600;
    options.uid = uid;
    options.gid = gid;
    // A fixed name: a stale one (unlinkat removes a symlink itself, never its target) is
    // replaced rather than left behind in the user's .ssh.
    options.temporary = std::string(k_temporary_file);
    const std::string directory = shown.substr(0, shown.find_last_of('/'));
    return replace_file_at(ssh, std::string(k_keys_file), content, options, directory);
}

// The home, opened without following a symlink anywhere below the root; it must be the user's.
Result<Fd> open_user_home(const Root& root, std::string_view home, uid_t uid) {
    auto home_fd = open_directory_below(root.dir(), home);
    if (!home_fd) {
        return home_fd.error();
    }
    if (auto info = owned_by(home_fd->get(), root.path(home), uid); !info) {
        return info.error();
    }
    return home_fd;
}

}  // namespace

Result<bool> write_authorized_keys(const Root& root, std::string_view home, uid_t uid, gid_t gid,
                                   const std::vector<std::string>& keys) {
    if (home.find_first_not_of('/') == std::string_view::npos) {
        return invalid("refusing an empty home path");
    }
    auto home_fd = open_user_home(root, home, uid);
    if (!home_fd) {
        return home_fd.error();
    }
    const std::string ssh_shown = root.path(home) + "/.ssh";
    const std::string keys_shown = ssh_shown + "/" + std::string(k_keys_file);

    // Removing keys from a home that has none must not create .ssh.
    struct stat ssh_entry {};
    if (!has_usable_keys(keys) &&
        ::fstatat(home_fd->get(), ".ssh", &ssh_entry, AT_SYMLINK_NOFOLLOW) != 0 &&
        errno == ENOENT) {
        return false;
    }
    auto ssh = open_ssh_directory(home_fd->get(), ssh_shown, uid, gid);
    if (!ssh) {
        return ssh.error();
    }
    auto current = read_keys_file(ssh->get(), keys_shown, uid);
    if (!current) {
        return current.error();
    }
    const std::string merged = merge_authorized_keys(current->text, keys);
    if (current->found ? merged == current->text : merged.empty()) {
        return false;
    }
    if (auto replaced = replace_keys_file(ssh->get(), keys_shown, merged, uid, gid); !replaced) {
        return replaced.error();
    }
    return true;
}

Result<bool> authorized_keys_differ(const Root& root, std::string_view home, uid_t uid,
                                    const std::vector<std::string>& keys) {
    const bool writes_keys = has_usable_keys(keys);
    if (!path_exists(root.path(home))) {
        return writes_keys;
    }
    auto home_fd = open_user_home(root, home, uid);
    if (!home_fd) {
        return home_fd.error();
    }
    const std::string ssh_shown = root.path(home) + "/.ssh";
    struct stat ssh_entry {};
    if (::fstatat(home_fd->get(), ".ssh", &ssh_entry, AT_SYMLINK_NOFOLLOW) != 0 &&
        errno == ENOENT) {
        return writes_keys;
    }
    auto ssh = open_directory_at(home_fd->get(), ".ssh", ssh_shown);
    if (!ssh) {
        return ssh.error();
    }
    if (auto checked = check_ssh_directory(ssh->get(), ssh_shown, uid); !checked) {
        return checked.error();
    }
    auto current = read_keys_file(ssh->get(), ssh_shown + "/" + std::string(k_keys_file), uid);
    if (!current) {
        return current.error();
    }
    const std::string merged = merge_authorized_keys(current->text, keys);
    return current->found ? merged != current->text : !merged.empty();
}

}  // namespace dsvm::users
