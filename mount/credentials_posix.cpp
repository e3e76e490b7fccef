// Credentials files on Linux: root's, mode 0600, in a directory of root's, mode 0700; looked
// at with lstat, so the key is never read to judge a file.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <vector>

#include "common/fd.h"
#include "common/fs.h"
#include "mount/credentials_files.h"

namespace dsvm::mount {

namespace {

std::string octal_mode(mode_t mode) {
    char text[8];
    std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
    return text;
}

std::string stamp_of(const struct stat& info) {
    std::string nanoseconds = std::to_string(info.st_mtim.tv_nsec);
    // Padded so the stamp reads as a decimal time: 1.050000000, not 1.50000000.
    nanoseconds.insert(0, 9 - std::min<size_t>(9, nanoseconds.size()), '0');
    return std::to_string(info.st_dev) + ":" + std::to_string(info.st_ino) + ":" +
           std::to_string(info.st_size) + ":" + std::to_string(info.st_mtim.tv_sec) + "." +
           nanoseconds;
}

}  // namespace

Result<std::string> credentials_directory_problem(const Root& root) {
    const std::string dir(k_credentials_dir);
    struct stat info {};
    if (::lstat(root.path(dir).c_str(), &info) != 0) {
        if (errno == ENOENT) {
            return std::string();
        }
        return failure("cannot inspect " + dir + ": " + errno_text(errno));
    }
    if (S_ISLNK(info.st_mode)) {
        return "the directory " + dir +
               " is a symlink; replace it with a directory owned by root, mode 0700";
    }
    if (!S_ISDIR(info.st_mode)) {
        return dir + " is not a directory; replace it with a directory owned by root, mode 0700";
    }
    std::string problem;
    if (info.st_uid != 0) {
        problem = "the directory " + dir + " is owned by uid " + std::to_string(info.st_uid) +
                  ", not root; chown root:root " + dir;
    }
    if ((info.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        problem += std::string(problem.empty() ? "" : "; ") + "the directory " + dir +
                   " is writable by others (mode " + octal_mode(info.st_mode) + "); chmod 700 " +
                   dir;
    }
    return problem;
}

// lstat only: the key is never read to judge the file.
Result<InspectedCredentials> inspect_credentials_file(const Root& root, std::string_view name,
                                                      const std::string& dir_problem) {
    InspectedCredentials result;
    CredentialsFile& file = result.file;
    file.name = std::string(name);
    file.path = credentials_path(name);
    struct stat info {};
    if (::lstat(root.path(file.path).c_str(), &info) != 0) {
        if (errno == ENOENT || errno == ENOTDIR) {
            return result;
        }
        return failure("cannot inspect " + file.path + ": " + errno_text(errno));
    }
    result.found = true;
    file.mode = info.st_mode & 07777;
    file.owner = info.st_uid;
    file.stamp = stamp_of(info);
    std::vector<std::string> problems;
    if (S_ISLNK(info.st_mode)) {
        problems.push_back(file.path + " is a symlink; replace it with a regular file (" +
                           credentials_set_command(name) + ")");
    } else if (!S_ISREG(info.st_mode)) {
        problems.push_back(file.path + " is not a regular file; replace it with one (" +
                           credentials_set_command(name) + ")");
    } else {
        if (info.st_uid != 0) {
            problems.push_back(file.path + " is owned by uid " + std::to_string(info.st_uid) +
                               ", not root; chown root:root " + file.path);
        }
        if ((info.st_mode & 077) != 0) {
            problems.push_back(file.path + " is open to group or others (mode " +
                               octal_mode(info.st_mode) + "); chmod 600 " + file.path);
        }
    }
    if (!dir_problem.empty()) {
        problems.push_back(dir_problem);
    }
    for (const auto& problem : problems) {
        file.problem += (file.problem.empty() ? "" : "; ") + problem;
    }
    file.secure = problems.empty();
    return result;
}

// The directory must be a real directory owned by root; a wider mode than 0700 is narrowed
// (through a descriptor, so a swapped-in symlink is never chmod'ed).
Result<void> prepare_credentials_directory(const Root& root) {
    const std::string dir(k_credentials_dir);
    const std::string real = root.path(dir);
    const std::string parent = real.substr(0, real.find_last_of('/'));
    if (auto made = make_directories(parent, 0755); !made) {
        return in_root_terms(root, made.error());
    }
    if (auto made = make_directories(real, 0700); !made) {
        return in_root_terms(root, made.error());
    }
    Fd fd(::open(real.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) {
        if (errno == ELOOP || errno == ENOTDIR) {
            return failure("the directory " + dir +
                           " is a symlink; replace it with a directory owned by root, mode 0700");
        }
        return failure("cannot open " + dir + ": " + errno_text(errno));
    }
    struct stat info {};
    if (::fstat(fd.get(), &info) != 0) {
        return failure("cannot inspect " + dir + ": " + errno_text(errno));
    }
    if (info.st_uid != 0) {
        return failure("the directory " + dir + " is owned by uid " + std::to_string(info.st_uid) +
                       ", not root; chown root:root " + dir + " and retry");
    }
    if ((info.st_mode & 077) != 0 && ::fchmod(fd.get(), 0700) != 0) {
        return failure("the directory " + dir + " has mode " + octal_mode(info.st_mode) +
                       " and chmod 700 failed: " + errno_text(errno) + "; chmod 700 " + dir);
    }
    return {};
}

}  // namespace dsvm::mount
