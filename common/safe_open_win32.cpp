// common/safe_open.h on Windows. Every open below a trusted top is relative to the parent's handle
// and opens a reparse point (symbolic link, junction, mount point) as itself, which is then
// refused or removed, never followed (docs/security.md, "One safe reader"; docs/windows.md,
// "Files"). Numeric owners do not exist here: "private" means SYSTEM and Administrators only.
#include <windows.h>

#include <cerrno>
#include <optional>
#include <vector>

#include "common/file_handles_win32.h"
#include "common/fs.h"
#include "common/safe_open.h"

namespace dsvm {

namespace {

constexpr ACCESS_MASK k_directory_access =
    FILE_LIST_DIRECTORY | FILE_TRAVERSE | FILE_READ_ATTRIBUTES | READ_CONTROL;
constexpr ULONG k_create = 2;            // FILE_CREATE
constexpr ULONG k_directory_file = 0x1;  // FILE_DIRECTORY_FILE
constexpr int k_max_remove_depth = 128;

// Opens `name` as a directory; a reparse point is refused. `error` is set when the open itself
// failed (ERROR_FILE_NOT_FOUND: missing).
Result<Fd> open_directory_entry(int parent, const std::string& name, const std::string& shown,
                                ACCESS_MASK access, DWORD& error) {
    Fd fd;
    error = win32::open_at(parent, name, {.access = access, .options = k_directory_file}, fd);
    if (error != 0) {
        const char* verb = error == ERROR_FILE_NOT_FOUND ? "cannot open " : "refusing ";
        return failure(verb + shown + ": " +
                       open_error_text(parent, name, static_cast<int>(error)));
    }
    auto info = win32::information(fd.get(), shown);
    if (!info) {
        return info.error();
    }
    if (info->reparse_point) {
        return failure("refusing " + shown + ": it is a symbolic link or junction");
    }
    return fd;
}

Result<Fd> walk_below(const std::string& top, std::string_view path, std::optional<mode_t> make) {
    // Every component is checked before anything is opened or made.
    auto names = path_components(path, "/\\");
    if (!names) {
        return names.error();
    }
    // The top is configuration, not user-controlled, so it may be reached through links.
    auto current = open_directory(top);
    if (!current) {
        return current.error();
    }
    std::optional<win32::ModeSecurity> security;
    if (make) {
        security.emplace(*make);
    }
    std::string shown = top;
    for (const auto& name : *names) {
        shown += "/" + name;
        if (make) {
            Fd made;
            const DWORD error = win32::open_at(current->get(), name,
                                               {.access = k_directory_access,
                                                .disposition = k_create,
                                                .options = k_directory_file,
                                                .security = security->get()},
                                               made);
            if (error != 0 && error != ERROR_FILE_EXISTS) {
                return failure("cannot create directory " + shown + ": " +
                               windows_error_text(error));
            }
        }
        DWORD error = 0;
        auto next = open_directory_entry(current->get(), name, shown, k_directory_access, error);
        if (!next) {
            return next.error();
        }
        current = std::move(next).value();
    }
    return current;
}

// Marks the open entry for deletion; a read-only file (which refuses it) loses that attribute
// first, as rm -f would remove it.
DWORD delete_entry(int entry) {
    DWORD error = win32::delete_on_close(entry, true);
    if (error != ERROR_ACCESS_DENIED) {
        return error;
    }
    FILE_BASIC_INFO basic{};
    if (!::GetFileInformationByHandleEx(win32::handle_of(entry), FileBasicInfo, &basic,
                                        sizeof basic) ||
        (basic.FileAttributes & FILE_ATTRIBUTE_READONLY) == 0) {
        return error;
    }
    basic.FileAttributes &= ~static_cast<DWORD>(FILE_ATTRIBUTE_READONLY);
    if (basic.FileAttributes == 0) {
        basic.FileAttributes = FILE_ATTRIBUTE_NORMAL;
    }
    if (!::SetFileInformationByHandle(win32::handle_of(entry), FileBasicInfo, &basic,
                                      sizeof basic)) {
        return error;
    }
    return win32::delete_on_close(entry, true);
}

Result<void> remove_tree_below(int parent, const std::string& name, const std::string& shown,
                               int depth) {
    // Only what deleting needs: a file whose access list denies reading it still goes.
    Fd entry;
    DWORD error = win32::open_at(
        parent, name, {.access = DELETE | FILE_READ_ATTRIBUTES | FILE_WRITE_ATTRIBUTES}, entry);
    if (error == ERROR_FILE_NOT_FOUND) {
        return {};
    }
    if (error != 0) {
        return failure("cannot open " + shown + ": " + windows_error_text(error));
    }
    auto info = win32::information(entry.get(), shown);
    if (!info) {
        return info.error();
    }
    // A file, or a link (to a directory or not): the entry itself goes.
    if (info->directory && !info->reparse_point) {
        if (depth > k_max_remove_depth) {
            return failure("cannot remove " + shown + ": it is nested more than " +
                           std::to_string(k_max_remove_depth) + " levels deep");
        }
        // Listed through a second handle, which must be the same directory: one swapped for a
        // link between the two opens is refused, never entered.
        Fd listing;
        error = win32::open_at(parent, name, {.access = k_directory_access}, listing);
        if (error != 0) {
            return failure("cannot open " + shown + ": " + windows_error_text(error));
        }
        auto listed = win32::information(listing.get(), shown);
        if (!listed) {
            return listed.error();
        }
        if (listed->file_id != info->file_id || listed->volume != info->volume ||
            listed->reparse_point) {
            return failure("cannot remove " + shown + ": it was replaced while it was removed");
        }
        auto names = win32::list_names(listing.get(), shown);
        if (!names) {
            return names.error();
        }
        for (const auto& child : *names) {
            if (auto removed =
                    remove_tree_below(listing.get(), child, shown + "/" + child, depth + 1);
                !removed) {
                return removed;
            }
        }
    }
    if (error = delete_entry(entry.get()); error != 0) {
        return failure("cannot remove " + shown + ": " + windows_error_text(error));
    }
    return {};
}

}  // namespace

std::string open_error_text(int /*parent*/, const std::string& /*name*/, int error) {
    const auto code = static_cast<DWORD>(error);
    if (code == ERROR_DIRECTORY) {
        return "it is not a directory";
    }
    return windows_error_text(code);
}

Result<Fd> open_directory_at(int parent, const std::string& name, const std::string& shown) {
    DWORD error = 0;
    return open_directory_entry(parent, name, shown, k_directory_access, error);
}

NoFollowDirectory open_directory_nofollow(const std::string& path) {
    NoFollowDirectory opened;
    HANDLE handle = ::CreateFileW(
        widen(path).c_str(), k_directory_access,
        FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, nullptr, OPEN_EXISTING,
        FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OPEN_REPARSE_POINT, nullptr);
    if (handle == INVALID_HANDLE_VALUE) {
        const DWORD error = ::GetLastError();
        opened.failure = error == ERROR_FILE_NOT_FOUND || error == ERROR_PATH_NOT_FOUND
                             ? DirectoryFailure::Missing
                         : error == ERROR_ACCESS_DENIED ? DirectoryFailure::Denied
                                                        : DirectoryFailure::Other;
        opened.error = windows_error_text(error);
        return opened;
    }
    opened.fd = win32::adopt(handle);
    auto info = win32::information(opened.fd.get(), path);
    if (!info || !info->directory || info->reparse_point) {
        opened.fd.reset();
        opened.failure = DirectoryFailure::NotDirectory;
        opened.error = info ? "it is a link or not a directory" : info.error().message;
    }
    return opened;
}

OpenedFile open_regular_nofollow(const std::string& path) {
    OpenedFile opened;
    HANDLE handle = ::CreateFileW(
        widen(path).c_str(), GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
        nullptr, OPEN_EXISTING, FILE_FLAG_OPEN_REPARSE_POINT | FILE_FLAG_BACKUP_SEMANTICS, nullptr);
    if (handle == INVALID_HANDLE_VALUE) {
        const DWORD error = ::GetLastError();
        opened.failure = error == ERROR_FILE_NOT_FOUND || error == ERROR_PATH_NOT_FOUND
                             ? FileFailure::Missing
                             : FileFailure::Other;
        opened.error = windows_error_text(error);
        return opened;
    }
    opened.fd = win32::adopt(handle);
    auto info = win32::information(opened.fd.get(), path);
    if (!info || info->reparse_point || info->directory) {
        opened.fd.reset();
        opened.failure = info && info->reparse_point ? FileFailure::Link : FileFailure::NotRegular;
        opened.error = info ? (info->reparse_point ? "it is a symbolic link" : "not a regular file")
                            : info.error().message;
        return opened;
    }
    opened.size = info->size;
    return opened;
}

MadeDirectory make_directory(const std::string& path, mode_t mode) {
    MadeDirectory result;
    const win32::ModeSecurity security(mode);
    SECURITY_ATTRIBUTES attributes{sizeof attributes, security.get(), FALSE};
    if (::CreateDirectoryW(widen(path).c_str(), &attributes)) {
        result.made = true;
    } else if (const DWORD error = ::GetLastError(); error != ERROR_ALREADY_EXISTS) {
        result.failure = error == ERROR_ACCESS_DENIED    ? DirectoryFailure::Denied
                         : error == ERROR_PATH_NOT_FOUND ? DirectoryFailure::Missing
                                                         : DirectoryFailure::Other;
        result.error = windows_error_text(error);
    }
    return result;
}

Result<Fd> open_directory_below(const std::string& top, std::string_view path) {
    return walk_below(top, path, std::nullopt);
}

Result<Fd> make_directories_below(const std::string& top, std::string_view path, mode_t mode) {
    return walk_below(top, path, mode);
}

Result<Fd> open_or_create_directory_at(int dir, const std::string& name, mode_t mode, uid_t uid,
                                       gid_t gid, bool& created) {
    created = false;
    if (uid != static_cast<uid_t>(-1) || gid != static_cast<gid_t>(-1)) {
        return invalid("cannot give " + name +
                       " a numeric owner: Windows files are owned by accounts (SIDs)");
    }
    const win32::ModeSecurity security(mode);
    Fd made;
    const DWORD error = win32::open_at(dir, name,
                                       {.access = k_directory_access,
                                        .disposition = k_create,
                                        .options = k_directory_file,
                                        .security = security.get()},
                                       made);
    if (error != 0 && error != ERROR_FILE_EXISTS) {
        return failure("cannot create " + name + ": " + windows_error_text(error));
    }
    created = error == 0;
    return open_directory_at(dir, name, name);
}

// The uid means nothing on Windows: a private file is one only SYSTEM and Administrators own and
// may use.
Result<void> check_private_owner(int fd, uid_t /*owner*/, const std::string& shown) {
    return win32::check_administrators_only(fd, shown);
}

int rename_no_replace(int dir, const std::string& from, const std::string& to) {
    const DWORD error = win32::rename_at(dir, from, to, false);
    if (error == 0) {
        return 0;
    }
    errno = error == ERROR_FILE_EXISTS      ? EEXIST
            : error == ERROR_FILE_NOT_FOUND ? ENOENT
            : error == ERROR_ACCESS_DENIED  ? EACCES
                                            : EIO;
    return -1;
}

Result<OptionalText> read_untrusted_file_at(int directory, const std::string& name,
                                            const std::string& shown, const UntrustedFile& rules) {
    Fd fd;
    const DWORD error = win32::open_at(directory, name, {.access = GENERIC_READ}, fd);
    if (error == ERROR_FILE_NOT_FOUND) {
        return OptionalText{};
    }
    if (error != 0) {
        return failure("cannot open " + shown + ": " + windows_error_text(error));
    }
    auto info = win32::information(fd.get(), shown);
    if (!info) {
        return info.error();
    }
    if (info->reparse_point) {
        return failure("refusing " + shown + ": it is a symbolic link or junction");
    }
    if (info->directory) {
        return failure("refusing " + shown + ": it is not a regular file");
    }
    if (rules.check_owner) {
        if (auto owned = win32::check_administrators_only(fd.get(), shown); !owned) {
            return owned.error();
        }
    }
    return read_bounded(fd.get(), static_cast<long long>(info->size), rules.max_bytes, shown);
}

Result<void> remove_tree_at(int parent, const std::string& name, const std::string& shown) {
    return remove_tree_below(parent, name, shown, 0);
}

}  // namespace dsvm
