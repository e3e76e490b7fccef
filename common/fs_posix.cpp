#include "common/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "common/fd.h"
#include "common/file_mode.h"
#include "common/temporaries.h"
#include "common/temporaries_posix.h"

namespace dsvm {

static_assert(sizeof(FileMode) >= sizeof(mode_t), "FileMode carries every mode_t");

Result<Fd> open_directory(const std::string& path) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) {
        return failure("cannot open " + path + ": " + errno_text(errno));
    }
    return fd;
}

Result<std::size_t> read_into(int fd, char* buffer, std::size_t capacity,
                              const std::string& shown) {
    std::size_t got = 0;
    while (got < capacity) {
        const ssize_t read = ::read(fd, buffer + got, capacity - got);
        if (read < 0 && errno == EINTR) {
            continue;
        }
        if (read < 0) {
            return failure("cannot read " + shown + ": " + errno_text(errno));
        }
        if (read == 0) {
            break;
        }
        got += static_cast<std::size_t>(read);
    }
    return got;
}

Result<void> write_all(int fd, std::string_view content, const std::string& path) {
    while (!content.empty()) {
        const ssize_t written = ::write(fd, content.data(), content.size());
        if (written < 0) {
            if (errno == EINTR) {
                continue;
            }
            return failure("cannot write " + path + ": " + errno_text(errno));
        }
        content.remove_prefix(static_cast<size_t>(written));
    }
    return {};
}

Result<OptionalText> read_file_at(int directory_fd, const std::string& name,
                                  const std::string& shown, int extra_flags) {
    Fd fd(::openat(directory_fd, name.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | extra_flags));
    if (!fd) {
        if (errno == ENOENT) {
            return OptionalText{};
        }
        return failure("cannot open " + shown + ": " + errno_text(errno));
    }
    struct stat info {};
    if (::fstat(fd.get(), &info) != 0) {
        return failure("cannot stat " + shown + ": " + errno_text(errno));
    }
    if (!S_ISREG(info.st_mode)) {
        return failure("cannot read " + shown + ": not a regular file");
    }
    OptionalText result{true, {}};
    char buffer[65536];
    for (;;) {
        const ssize_t got = ::read(fd.get(), buffer, sizeof buffer);
        if (got < 0) {
            if (errno == EINTR) {
                continue;
            }
            return failure("cannot read " + shown + ": " + errno_text(errno));
        }
        if (got == 0) {
            break;
        }
        result.text.append(buffer, static_cast<size_t>(got));
    }
    return result;
}

Result<OptionalText> read_file_if_exists(const std::string& path) {
    return read_file_at(AT_FDCWD, path, path, 0);
}

namespace {

// A process that no longer runs: its temporaries are a crash's leftovers.
bool process_gone(long pid) {
    return ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

}  // namespace

std::vector<std::string> stale_temporaries_in(int directory_fd, const std::string& name) {
    const int listing_fd = ::openat(directory_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (listing_fd < 0) {
        return {};
    }
    DIR* listing = ::fdopendir(listing_fd);
    if (listing == nullptr) {
        ::close(listing_fd);
        return {};
    }
    std::vector<std::string> names;
    while (const dirent* entry = ::readdir(listing)) {
        names.emplace_back(entry->d_name);
    }
    ::closedir(listing);
    return stale_temporaries(names, name, process_gone);
}

namespace {

void remove_stale_temporaries(int directory_fd, const std::string& name) {
    for (const auto& leftover : stale_temporaries_in(directory_fd, name)) {
        ::unlinkat(directory_fd, leftover.c_str(), 0);
    }
}

// linkat(2) of an O_TMPFILE descriptor. AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; the /proc
// form does not.
bool link_descriptor(int fd, int directory_fd, const std::string& name) {
    if (::linkat(fd, "", directory_fd, name.c_str(), AT_EMPTY_PATH) == 0) {
        return true;
    }
    if (errno != ENOENT && errno != EPERM) {
        return false;
    }
    const std::string proc = "/proc/self/fd/" + std::to_string(fd);
    return ::linkat(AT_FDCWD, proc.c_str(), directory_fd, name.c_str(), AT_SYMLINK_FOLLOW) == 0;
}

Result<void> prepare_content(int fd, std::string_view content, const ReplaceOptions& options,
                             const std::string& shown) {
    if (::fchown(fd, options.uid, options.gid) != 0 || ::fchmod(fd, options.mode) != 0) {
        return failure("cannot set the owner and mode of " + shown + ": " + errno_text(errno));
    }
    if (auto written = write_all(fd, content, shown); !written) {
        return written;
    }
    if (::fsync(fd) != 0) {
        return failure("cannot fsync " + shown + ": " + errno_text(errno));
    }
    if (options.check_before_rename) {
        return options.check_before_rename();
    }
    return {};
}

// The filesystem cannot make unnamed files (NFS, SMB, old kernels): a named temporary, written
// as before O_TMPFILE was used.
Result<void> replace_through_named(int directory_fd, const std::string& name,
                                   std::string_view content, const ReplaceOptions& options,
                                   const std::string& shown_directory) {
    constexpr int k_flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    std::string temporary = options.temporary;
    Fd fd;
    if (!temporary.empty()) {
        ::unlinkat(directory_fd, temporary.c_str(), 0);
        fd.reset(::openat(directory_fd, temporary.c_str(), k_flags, 0600));
    } else {
        std::random_device entropy;
        for (int attempt = 0; attempt < 16 && !fd; ++attempt) {
            temporary = random_temporary(name, ::getpid(), entropy);
            fd.reset(::openat(directory_fd, temporary.c_str(), k_flags, 0600));
            if (!fd && errno != EEXIST) {
                break;
            }
        }
    }
    const std::string shown = shown_directory + "/" + temporary;
    if (!fd) {
        return failure("cannot create " + shown + ": " + errno_text(errno));
    }
    ScopeGuard remove_temporary([&] { ::unlinkat(directory_fd, temporary.c_str(), 0); });
    if (auto prepared = prepare_content(fd.get(), content, options, shown); !prepared) {
        return prepared;
    }
    if (::close(fd.release()) != 0) {
        return failure("cannot write " + shown + ": " + errno_text(errno));
    }
    if (::renameat(directory_fd, temporary.c_str(), directory_fd, name.c_str()) != 0) {
        return failure("cannot rename " + shown + " to " + name + ": " + errno_text(errno));
    }
    remove_temporary.dismiss();
    ::fsync(directory_fd);
    return {};
}

}  // namespace

Result<void> replace_file_at(int directory_fd, const std::string& name, std::string_view content,
                             const ReplaceOptions& options, const std::string& shown_directory) {
    if (options.temporary.empty()) {
        remove_stale_temporaries(directory_fd, name);
    } else {
        ::unlinkat(directory_fd, options.temporary.c_str(), 0);
    }
    // Unnamed until complete: a crash (SIGKILL included) at any moment before the link leaves
    // nothing behind, not even a partial copy of a secret.
    Fd fd(::openat(directory_fd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600));
    if (!fd) {
        if (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL) {
            return replace_through_named(directory_fd, name, content, options, shown_directory);
        }
        return failure("cannot create a temporary file in " + shown_directory + ": " +
                       errno_text(errno));
    }
    const std::string shown = shown_directory + "/" + name;
    if (auto prepared = prepare_content(fd.get(), content, options, shown); !prepared) {
        return prepared;
    }
    // No file yet: linked straight at its name, so there is never a second name at all.
    if (link_descriptor(fd.get(), directory_fd, name)) {
        ::fsync(directory_fd);
        return {};
    }
    if (errno != EEXIST) {
        return failure("cannot link the new " + shown + ": " + errno_text(errno));
    }
    // Linked under a temporary name only for the moment the rename needs one: nothing else
    // happens between the link and the rename. No linkat(2) replaces a name, so this instant
    // cannot be closed; a copy left by a crash in it is the next write's to remove.
    std::string temporary = options.temporary;
    std::random_device entropy;
    for (int attempt = 0; attempt < 16; ++attempt) {
        if (options.temporary.empty()) {
            temporary = random_temporary(name, ::getpid(), entropy);
        }
        if (link_descriptor(fd.get(), directory_fd, temporary)) {
            if (::renameat(directory_fd, temporary.c_str(), directory_fd, name.c_str()) == 0) {
                ::fsync(directory_fd);
                return {};
            }
            const int error = errno;
            ::unlinkat(directory_fd, temporary.c_str(), 0);
            return failure("cannot rename " + shown_directory + "/" + temporary + " to " + name +
                           ": " + errno_text(error));
        }
        if (errno != EEXIST || !options.temporary.empty()) {
            break;
        }
    }
    return failure("cannot create " + shown_directory + "/" + temporary + ": " + errno_text(errno));
}

Result<void> make_directories(const std::string& path, mode_t mode) {
    if (path.empty()) {
        return invalid("cannot create a directory with an empty path");
    }
    std::string partial;
    size_t position = 0;
    while (position <= path.size()) {
        const size_t slash = path.find('/', position);
        const size_t end = slash == std::string::npos ? path.size() : slash;
        partial = path.substr(0, end);
        position = end + 1;
        if (partial.empty()) {
            continue;
        }
        if (::mkdir(partial.c_str(), mode) == 0) {
            // The umask may have narrowed the mode; set it exactly on what we made.
            ::chmod(partial.c_str(), mode);
            continue;
        }
        if (errno != EEXIST) {
            return failure("cannot create directory " + partial + ": " + errno_text(errno));
        }
        if (!is_directory(partial)) {
            return failure("cannot create directory " + partial +
                           ": it exists and is not a directory");
        }
    }
    return {};
}

FileStatus file_status(const std::string& path, Links links) {
    struct stat info {};
    const int looked =
        links == Links::Follow ? ::stat(path.c_str(), &info) : ::lstat(path.c_str(), &info);
    if (looked != 0) {
        return {};
    }
    FileStatus status;
    status.type = S_ISREG(info.st_mode)   ? FileType::Regular
                  : S_ISDIR(info.st_mode) ? FileType::Directory
                  : S_ISLNK(info.st_mode) ? FileType::Symlink
                                          : FileType::Other;
    status.device = info.st_dev;
    status.inode = info.st_ino;
    return status;
}

bool directory_is_empty(const std::string& path) {
    std::unique_ptr<DIR, int (*)(DIR*)> listing(::opendir(path.c_str()), ::closedir);
    if (!listing) {
        return false;
    }
    while (const dirent* entry = ::readdir(listing.get())) {
        const std::string_view name = entry->d_name;
        if (name != "." && name != "..") {
            return false;
        }
    }
    return true;
}

Result<void> remove_file_if_exists(const std::string& path, const std::string& shown) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
        return failure("cannot remove " + (shown.empty() ? path : shown) + ": " +
                       errno_text(errno));
    }
    return {};
}

Result<void> remove_file_at(int directory_fd, const std::string& name, const std::string& shown) {
    if (::unlinkat(directory_fd, name.c_str(), 0) != 0 && errno != ENOENT) {
        return failure("cannot remove " + shown + ": " + errno_text(errno));
    }
    return {};
}

Result<std::vector<std::string>> directory_names_at(int directory_fd, const std::string& shown) {
    // A descriptor of its own: readdir moves the offset of the one it reads.
    const int listing_fd = ::openat(directory_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (listing_fd < 0) {
        return failure("cannot list " + shown + ": " + errno_text(errno));
    }
    DIR* listing = ::fdopendir(listing_fd);
    if (listing == nullptr) {
        const int error = errno;
        ::close(listing_fd);
        return failure("cannot list " + shown + ": " + errno_text(error));
    }
    std::vector<std::string> names;
    errno = 0;
    while (const dirent* entry = ::readdir(listing)) {
        const std::string_view entry_name = entry->d_name;
        if (entry_name != "." && entry_name != "..") {
            names.emplace_back(entry_name);
        }
        errno = 0;
    }
    const int error = errno;
    ::closedir(listing);
    if (error != 0) {
        return failure("cannot list " + shown + ": " + errno_text(error));
    }
    return names;
}

bool same_file_at(int fd, int directory_fd, const std::string& name) {
    struct stat open_file {};
    struct stat named {};
    return ::fstat(fd, &open_file) == 0 &&
           ::fstatat(directory_fd, name.c_str(), &named, AT_SYMLINK_NOFOLLOW) == 0 &&
           open_file.st_dev == named.st_dev && open_file.st_ino == named.st_ino;
}

std::string file_identity_at(int directory_fd, const std::string& name) {
    struct stat info {};
    if (::fstatat(directory_fd, name.c_str(), &info, AT_SYMLINK_NOFOLLOW) != 0) {
        return {};
    }
    return std::to_string(info.st_ino) + ":" + std::to_string(info.st_size) + ":" +
           std::to_string(info.st_mtim.tv_sec) + "." + std::to_string(info.st_mtim.tv_nsec) + ":" +
           std::to_string(info.st_ctim.tv_sec) + "." + std::to_string(info.st_ctim.tv_nsec);
}

Result<Ownership> file_ownership(int fd, const std::string& shown) {
    struct stat info {};
    if (::fstat(fd, &info) != 0) {
        return failure("cannot stat " + shown + ": " + errno_text(errno));
    }
    return Ownership{info.st_uid, info.st_gid, static_cast<unsigned>(info.st_mode & 07777)};
}

Result<void> set_file_mode(int fd, unsigned mode, const std::string& shown) {
    if (::fchmod(fd, static_cast<mode_t>(mode)) != 0) {
        return failure("cannot set the mode of " + shown + ": " + errno_text(errno));
    }
    return {};
}

std::optional<std::int64_t> modified_unix_seconds(const std::string& path) {
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) {
        return std::nullopt;
    }
    return static_cast<std::int64_t>(info.st_mtime);
}

bool is_absolute_path(std::string_view path) {
    return !path.empty() && path.front() == '/';
}

}  // namespace dsvm
