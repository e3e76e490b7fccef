#include "common/fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "common/fd.h"

namespace dsvm {

std::string errno_text(int error_number) {
    return std::strerror(error_number);
}

namespace {

std::string parent_of(const std::string& path) {
    const auto slash = path.find_last_of('/');
    if (slash == std::string::npos) {
        return ".";
    }
    if (slash == 0) {
        return "/";
    }
    return path.substr(0, slash);
}

}  // namespace

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

Result<std::string> read_file(const std::string& path) {
    auto text = read_file_if_exists(path);
    if (!text) {
        return text.error();
    }
    if (!text->found) {
        return failure("cannot open " + path + ": " + errno_text(ENOENT));
    }
    return std::move(text->text);
}

Result<void> replace_file_at(int directory_fd, const std::string& name, std::string_view content,
                             const ReplaceOptions& options, const std::string& shown_directory) {
    constexpr int k_flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    std::string temporary = options.temporary;
    Fd fd;
    if (!temporary.empty()) {
        ::unlinkat(directory_fd, temporary.c_str(), 0);
        fd.reset(::openat(directory_fd, temporary.c_str(), k_flags, 0600));
    } else {
        std::random_device entropy;
        for (int attempt = 0; attempt < 16 && !fd; ++attempt) {
            temporary = name + ".tmp." + std::to_string(entropy() % 1000000000U);
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
    if (::fchown(fd.get(), options.uid, options.gid) != 0 ||
        ::fchmod(fd.get(), options.mode) != 0) {
        return failure("cannot set the owner and mode of " + shown + ": " + errno_text(errno));
    }
    if (auto written = write_all(fd.get(), content, shown); !written) {
        return written;
    }
    if (::fsync(fd.get()) != 0) {
        return failure("cannot fsync " + shown + ": " + errno_text(errno));
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

Result<void> write_file_atomic(const std::string& path, std::string_view content, mode_t mode) {
    const std::string directory = parent_of(path);
    Fd directory_fd(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!directory_fd) {
        return failure("cannot write " + path + ": cannot open " + directory + ": " +
                       errno_text(errno));
    }
    ReplaceOptions options;
    options.mode = mode;
    return replace_file_at(directory_fd.get(), path.substr(path.find_last_of('/') + 1), content,
                           options, directory);
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

bool is_directory(const std::string& path) {
    struct stat info {};
    return ::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

bool path_exists(const std::string& path) {
    struct stat info {};
    return ::lstat(path.c_str(), &info) == 0;
}

}  // namespace dsvm
