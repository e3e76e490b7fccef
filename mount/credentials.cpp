#include "mount/credentials.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <memory>

#include "common/fd.h"
#include "common/fs.h"
#include "common/safe_open.h"
#include "common/secret.h"
#include "common/text.h"

namespace dsvm::mount {

namespace {

using ascii::is_alnum;

constexpr std::string_view k_suffix = ".cred";
constexpr size_t k_max_name = 63;
constexpr size_t k_max_key = 4096;
constexpr std::string_view k_name_rule =
    "names must match [A-Za-z0-9][A-Za-z0-9._-]{0,62} without '..' (a storage account or "
    "server name)";

bool is_name_char(char c) {
    return is_alnum(c) || c == '.' || c == '_' || c == '-';
}

// `what` says which value broke the rule ("credentials name", "user name").
Result<void> check_name_like(std::string_view what, std::string_view value) {
    const std::string shown = std::string(what) + " '" + printable(value) + "'";
    if (value.empty()) {
        return invalid("empty " + std::string(what) + ": " + std::string(k_name_rule));
    }
    if (value.size() > k_max_name) {
        return invalid(shown + " is " + std::to_string(value.size()) + " characters long: " +
                       std::string(k_name_rule) + " (at most 63 characters)");
    }
    if (!is_alnum(value.front()) || !std::all_of(value.begin(), value.end(), is_name_char) ||
        value.find("..") != std::string_view::npos) {
        return invalid(shown + " is not allowed: " + std::string(k_name_rule));
    }
    return {};
}

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

// Errors from common/fs name real paths; the admin thinks in paths inside the root.
Error in_root_terms(const Root& root, Error error) {
    if (root.is_host()) {
        return error;
    }
    const std::string prefix = root.dir() + "/";
    for (size_t at = error.message.find(prefix); at != std::string::npos;
         at = error.message.find(prefix, at + 1)) {
        error.message.replace(at, prefix.size(), "/");
    }
    return error;
}

std::string set_command(std::string_view name) {
    return "`dsvm-agent credentials set " + std::string(name) + " --key-stdin`";
}

// Why the credentials directory makes every file in it unsafe; empty when it is safe or absent
// (an absent directory leaves the files missing, which is reported on its own).
Result<std::string> directory_problem(const Root& root) {
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

struct Inspected {
    bool found = false;
    CredentialsFile file;
};

// lstat only: the key is never read to judge the file.
Result<Inspected> inspect_file(const Root& root, std::string_view name,
                               const std::string& dir_problem) {
    Inspected result;
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
                           set_command(name) + ")");
    } else if (!S_ISREG(info.st_mode)) {
        problems.push_back(file.path + " is not a regular file; replace it with one (" +
                           set_command(name) + ")");
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
Result<void> prepare_directory(const Root& root) {
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

struct DirCloser {
    void operator()(DIR* dir) const { ::closedir(dir); }
};

}  // namespace

Result<void> check_credentials_name(std::string_view name) {
    return check_name_like("credentials name", name);
}

Result<void> check_storage_key(std::string_view key) {
    static constexpr std::string_view k_rule =
        "a storage key is 1-4096 bytes of printable ASCII without leading or trailing spaces";
    if (key.empty()) {
        return invalid("the storage key is empty: " + std::string(k_rule));
    }
    if (key.size() > k_max_key) {
        return invalid("the storage key is " + std::to_string(key.size()) +
                       " bytes long: " + std::string(k_rule));
    }
    // Name the kind of byte, never its position or neighbours: those would reveal the key.
    for (const char c : key) {
        const auto byte = static_cast<unsigned char>(c);
        if (c == '\n' || c == '\r') {
            return invalid("the storage key contains a line break: " + std::string(k_rule) +
                           " (a line break would add lines to the credentials file)");
        }
        if (byte < 0x20 || byte == 0x7f) {
            return invalid("the storage key contains a control character: " + std::string(k_rule));
        }
        if (byte > 0x7f) {
            return invalid("the storage key contains a non-ASCII byte: " + std::string(k_rule));
        }
    }
    if (key.front() == ' ' || key.back() == ' ') {
        return invalid("the storage key starts or ends with a space: " + std::string(k_rule) +
                       " (a copy-and-paste slip)");
    }
    return {};
}

std::string credentials_path(std::string_view name) {
    return std::string(k_credentials_dir) + "/" + std::string(name) + std::string(k_suffix);
}

std::string render_credentials(std::string_view username, std::string_view key) {
    std::string out;
    out.reserve(username.size() + key.size() + 20);
    out += "username=";
    out += username;
    out += "\npassword=";
    out += key;
    out += "\n";
    return out;
}

Result<void> write_credentials(const Root& root, std::string_view name, std::string_view username,
                               std::string_view key) {
    if (auto checked = check_credentials_name(name); !checked) {
        return checked;
    }
    if (auto checked = check_name_like("user name", username); !checked) {
        return checked;
    }
    if (auto checked = check_storage_key(key); !checked) {
        return checked;
    }
    if (auto prepared = prepare_directory(root); !prepared) {
        return prepared;
    }
    std::string content = render_credentials(username, key);
    // Wipe our copy of the key once written, so it does not linger in freed heap memory.
    ScopeGuard wipe([&] { wipe_bytes(content.data(), content.size()); });
    if (auto written = write_file_atomic(root.path(credentials_path(name)), content, 0600);
        !written) {
        return in_root_terms(root, written.error());
    }
    return {};
}

Result<CredentialsFile> inspect_credentials(const Root& root, std::string_view name) {
    if (auto checked = check_credentials_name(name); !checked) {
        return checked.error();
    }
    auto dir_problem = directory_problem(root);
    if (!dir_problem) {
        return dir_problem.error();
    }
    auto inspected = inspect_file(root, name, *dir_problem);
    if (!inspected) {
        return inspected.error();
    }
    if (!inspected->found) {
        return failure("no credentials for '" + std::string(name) + "': " + credentials_path(name) +
                       " does not exist; store the key with " + set_command(name));
    }
    return std::move(inspected->file);
}

Result<std::vector<CredentialsFile>> list_credentials(const Root& root) {
    std::vector<CredentialsFile> files;
    const std::string dir(k_credentials_dir);
    std::unique_ptr<DIR, DirCloser> handle(::opendir(root.path(dir).c_str()));
    if (!handle) {
        if (errno == ENOENT) {
            return files;
        }
        return failure("cannot list " + dir + ": " + errno_text(errno));
    }
    auto dir_problem = directory_problem(root);
    if (!dir_problem) {
        return dir_problem.error();
    }
    std::vector<std::string> names;
    for (;;) {
        errno = 0;
        const dirent* entry = ::readdir(handle.get());
        if (entry == nullptr) {
            if (errno != 0) {
                return failure("cannot list " + dir + ": " + errno_text(errno));
            }
            break;
        }
        const std::string_view file_name = entry->d_name;
        if (file_name.size() <= k_suffix.size() ||
            file_name.substr(file_name.size() - k_suffix.size()) != k_suffix) {
            continue;
        }
        // A file whose name the rule refuses is not one the agent would ever use.
        const std::string_view name = file_name.substr(0, file_name.size() - k_suffix.size());
        if (check_credentials_name(name).ok()) {
            names.emplace_back(name);
        }
    }
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
        auto inspected = inspect_file(root, name, *dir_problem);
        if (!inspected) {
            return inspected.error();
        }
        // Removed between readdir and lstat: it is simply no longer there.
        if (inspected->found) {
            files.push_back(std::move(inspected->file));
        }
    }
    return files;
}

bool credentials_hold(const Root& root, std::string_view name, std::string_view username,
                      std::string_view key) {
    auto file = inspect_credentials(root, name);
    if (!file || !file->secure) {
        return false;
    }
    auto directory = open_directory_below(root.dir(), k_credentials_dir);
    if (!directory) {
        return false;
    }
    std::string expected = render_credentials(username, key);
    ScopeGuard wipe([&] { wipe_bytes(expected.data(), expected.size()); });
    // One byte more than expected, so a longer file does not compare equal by its prefix.
    auto current = read_secret_file_at(directory->get(), std::string(name) + ".cred",
                                       credentials_path(name), expected.size() + 1);
    return current && current->found && current->bytes.view() == expected;
}

}  // namespace dsvm::mount
