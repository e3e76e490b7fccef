// Credentials files on Windows: the same files in the same format, private to the administrators
// (owned by SYSTEM, Administrators or the agent's account, no one else in the access list), in a
// directory private the same way (docs/windows.md, "Files"). The key is never read to judge a
// file. There are no POSIX owners or modes: a file is shown as mode 0600 when it is private, 0
// when it is not, and owner 0 (root's equivalent, the administrators).
#include <windows.h>

#include "common/file_handles_win32.h"
#include "common/fs.h"
#include "common/safe_open.h"
#include "mount/credentials_files.h"

namespace dsvm::mount {

namespace {

constexpr std::string_view k_directory_fix =
    "; it must be a directory only SYSTEM and Administrators may use (icacls DIR /inheritance:r "
    "/grant:r SYSTEM:(OI)(CI)F Administrators:(OI)(CI)F)";

std::string directory_fix(const std::string& dir) {
    std::string fix(k_directory_fix);
    fix.replace(fix.find("DIR"), 3, dir);
    return fix;
}

}  // namespace

Result<std::string> credentials_directory_problem(const Root& root) {
    const std::string dir(k_credentials_dir);
    auto opened = open_directory_nofollow(root.path(dir));
    if (!opened.fd) {
        switch (opened.failure) {
            case DirectoryFailure::Missing:
                return std::string();
            case DirectoryFailure::NotDirectory:
                return "the directory " + dir + " is a link or not a directory" +
                       directory_fix(dir);
            default:
                return failure("cannot inspect " + dir + ": " + opened.error);
        }
    }
    if (auto private_directory = win32::check_administrators_only(opened.fd.get(), dir);
        !private_directory) {
        return private_directory.error().message;
    }
    return std::string();
}

Result<InspectedCredentials> inspect_credentials_file(const Root& root, std::string_view name,
                                                      const std::string& dir_problem) {
    InspectedCredentials result;
    CredentialsFile& file = result.file;
    file.name = std::string(name);
    file.path = credentials_path(name);
    HANDLE handle = ::CreateFileW(
        widen(root.path(file.path)).c_str(), READ_CONTROL | FILE_READ_ATTRIBUTES,
        FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, nullptr, OPEN_EXISTING,
        FILE_FLAG_OPEN_REPARSE_POINT | FILE_FLAG_BACKUP_SEMANTICS, nullptr);
    if (handle == INVALID_HANDLE_VALUE) {
        const DWORD error = ::GetLastError();
        if (error == ERROR_FILE_NOT_FOUND || error == ERROR_PATH_NOT_FOUND) {
            return result;
        }
        return failure("cannot inspect " + file.path + ": " + windows_error_text(error));
    }
    const Fd fd = win32::adopt(handle);
    auto info = win32::information(fd.get(), file.path);
    if (!info) {
        return info.error();
    }
    result.found = true;
    const auto modified = modified_unix_seconds(root.path(file.path));
    file.stamp = std::to_string(info->volume) + ":" + std::to_string(info->file_id) + ":" +
                 std::to_string(info->size) + ":" + std::to_string(modified.value_or(0));
    std::string problem;
    if (info->reparse_point) {
        problem = file.path + " is a link; replace it with a regular file (" +
                  credentials_set_command(name) + ")";
    } else if (info->directory) {
        problem = file.path + " is not a regular file; replace it with one (" +
                  credentials_set_command(name) + ")";
    } else if (auto private_file = win32::check_administrators_only(fd.get(), file.path);
               !private_file) {
        problem = private_file.error().message;
    }
    if (!dir_problem.empty()) {
        problem += std::string(problem.empty() ? "" : "; ") + dir_problem;
    }
    file.secure = problem.empty();
    file.problem = problem;
    file.mode = file.secure ? 0600 : 0;
    file.owner = 0;
    return result;
}

Result<void> prepare_credentials_directory(const Root& root) {
    const std::string dir(k_credentials_dir);
    const std::string real = root.path(dir);
    if (auto made = make_directories(parent_directory(real), 0755); !made) {
        return in_root_terms(root, made.error());
    }
    if (auto made = make_directories(real, 0700); !made) {
        return in_root_terms(root, made.error());
    }
    auto opened = open_directory_nofollow(real);
    if (!opened.fd) {
        return failure("cannot open " + dir + ": " + opened.error + directory_fix(dir));
    }
    if (auto private_directory = win32::check_administrators_only(opened.fd.get(), dir);
        !private_directory) {
        return failure("the directory " + dir +
                       " is not private: " + private_directory.error().message);
    }
    return {};
}

}  // namespace dsvm::mount
