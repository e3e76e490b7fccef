// The file primitives of common/fs.h on Windows (docs/windows.md, "Files"). Descriptors wrap
// handles (common/file_handles_win32.h); "at" a directory means relative to its handle, and a
// reparse point (symbolic link, junction) at the last component is opened as itself, never
// followed.
#include <windows.h>

#include <cerrno>
#include <random>

#include "common/command_line.h"
#include "common/file_handles_win32.h"
#include "common/fs.h"
#include "common/temporaries.h"

namespace dsvm {

namespace {

constexpr ACCESS_MASK k_directory_access =
    FILE_LIST_DIRECTORY | FILE_TRAVERSE | FILE_READ_ATTRIBUTES | READ_CONTROL | SYNCHRONIZE;
constexpr ULONG k_create = 2;            // FILE_CREATE
constexpr ULONG k_non_directory = 0x40;  // FILE_NON_DIRECTORY_FILE
constexpr std::size_t k_chunk = 64 * 1024;

// A process id no process has: OpenProcess refuses it as an invalid parameter. Any other
// refusal (access denied: a process of another account) means it runs.
bool process_gone(long pid) {
    HANDLE process = ::OpenProcess(SYNCHRONIZE, FALSE, static_cast<DWORD>(pid));
    if (process != nullptr) {
        const bool exited = ::WaitForSingleObject(process, 0) == WAIT_OBJECT_0;
        ::CloseHandle(process);
        return exited;
    }
    return ::GetLastError() == ERROR_INVALID_PARAMETER;
}

// The temporaries of `name` that a crash left between clearing their delete-on-close mark and
// their rename: each may hold a copy of a secret.
void remove_stale_temporaries(int directory_fd, const std::string& name) {
    auto names = win32::list_names(directory_fd, name);
    if (!names) {
        return;
    }
    for (const auto& leftover : stale_temporaries(*names, name, process_gone)) {
        win32::delete_at(directory_fd, leftover);
    }
}

Result<OptionalText> read_open_file(Fd fd, const std::string& shown) {
    auto info = win32::information(fd.get(), shown);
    if (!info) {
        return info.error();
    }
    if (info->directory || info->reparse_point) {
        return failure("cannot read " + shown + ": not a regular file");
    }
    OptionalText result{true, {}};
    std::string buffer(k_chunk, '\0');
    for (;;) {
        auto got = read_into(fd.get(), buffer.data(), buffer.size(), shown);
        if (!got) {
            return got.error();
        }
        result.text.append(buffer.data(), *got);
        if (*got < buffer.size()) {
            return result;
        }
    }
}

// "C:", "//server/share" or "\\server\share": the part of a path that make_directories never
// creates.
std::size_t root_length(const std::string& path) {
    if (path.size() >= 2 && path[1] == ':') {
        return 2;
    }
    if (path.size() >= 2 && (path[0] == '/' || path[0] == '\\') && path[0] == path[1]) {
        std::size_t separators = 0;
        for (std::size_t at = 2; at < path.size(); ++at) {
            if ((path[at] == '/' || path[at] == '\\') && ++separators == 2) {
                return at;
            }
        }
        return path.size();
    }
    return 0;
}

}  // namespace

Result<Fd> open_directory(const std::string& path) {
    Fd fd;
    if (const DWORD error = win32::open_path(path, k_directory_access, true, fd); error != 0) {
        return failure("cannot open " + path + ": " + windows_error_text(error));
    }
    return fd;
}

Result<std::size_t> read_into(int fd, char* buffer, std::size_t capacity,
                              const std::string& shown) {
    std::size_t got = 0;
    while (got < capacity) {
        const DWORD ask = static_cast<DWORD>(std::min<std::size_t>(capacity - got, 1U << 30));
        DWORD read = 0;
        if (!::ReadFile(win32::handle_of(fd), buffer + got, ask, &read, nullptr)) {
            const DWORD error = ::GetLastError();
            if (error == ERROR_BROKEN_PIPE || error == ERROR_HANDLE_EOF) {
                break;
            }
            return failure("cannot read " + shown + ": " + windows_error_text(error));
        }
        if (read == 0) {
            break;
        }
        got += read;
    }
    return got;
}

Result<void> write_all(int fd, std::string_view content, const std::string& path) {
    while (!content.empty()) {
        const DWORD ask = static_cast<DWORD>(std::min<std::size_t>(content.size(), 1U << 30));
        DWORD written = 0;
        if (!::WriteFile(win32::handle_of(fd), content.data(), ask, &written, nullptr)) {
            return failure("cannot write " + path + ": " + windows_error_text(::GetLastError()));
        }
        content.remove_prefix(written);
    }
    return {};
}

// `extra_flags` are POSIX open flags and mean nothing here: on Windows a reparse point at `name`
// is never followed, so the strictest reading (O_NOFOLLOW) always holds.
Result<OptionalText> read_file_at(int directory_fd, const std::string& name,
                                  const std::string& shown, int /*extra_flags*/) {
    Fd fd;
    // Opened whatever it is, then looked at: a directory is then "not a regular file", where
    // FILE_NON_DIRECTORY_FILE would only say "access denied".
    const DWORD error = win32::open_at(directory_fd, name, {.access = GENERIC_READ}, fd);
    if (error == ERROR_FILE_NOT_FOUND) {
        return OptionalText{};
    }
    if (error != 0) {
        return failure("cannot open " + shown + ": " + windows_error_text(error));
    }
    return read_open_file(std::move(fd), shown);
}

Result<OptionalText> read_file_if_exists(const std::string& path) {
    Fd fd;
    const DWORD error = win32::open_path(path, GENERIC_READ, false, fd);
    if (error == ERROR_FILE_NOT_FOUND) {
        return OptionalText{};
    }
    if (error != 0) {
        return failure("cannot open " + path + ": " + windows_error_text(error));
    }
    return read_open_file(std::move(fd), path);
}

// The new content goes into "<name>.tmp.<pid>.<n>", created delete-on-close: until the moment
// before the rename, a crash (the process killed included) leaves nothing behind, which is what
// O_TMPFILE gives on Linux. The mark is cleared and the file renamed over `name` through its own
// handle at once.
Result<void> replace_file_at(int directory_fd, const std::string& name, std::string_view content,
                             const ReplaceOptions& options, const std::string& shown_directory) {
    const win32::ModeSecurity security(options.mode);
    return win32::replace_file_secured_at(directory_fd, name, content, security.get(), options,
                                          shown_directory);
}

Result<void> win32::replace_file_secured_at(int directory_fd, const std::string& name,
                                            std::string_view content, void* security,
                                            const ReplaceOptions& options,
                                            const std::string& shown_directory) {
    if (options.uid != static_cast<uid_t>(-1) || options.gid != static_cast<gid_t>(-1)) {
        return invalid("cannot give " + shown_directory + "/" + name +
                       " a numeric owner: Windows files are owned by accounts (SIDs)");
    }
    if (options.temporary.empty()) {
        remove_stale_temporaries(directory_fd, name);
    } else {
        win32::delete_at(directory_fd, options.temporary);
    }
    Fd fd;
    std::string temporary = options.temporary;
    std::random_device entropy;
    DWORD error = ERROR_FILE_EXISTS;
    for (unsigned attempt = 0; attempt < 16 && error == ERROR_FILE_EXISTS; ++attempt) {
        if (options.temporary.empty()) {
            temporary = random_temporary(name, static_cast<long>(::GetCurrentProcessId()), entropy);
        }
        error = win32::open_at(directory_fd, temporary,
                               {.access = GENERIC_WRITE | DELETE,
                                .disposition = k_create,
                                .options = k_non_directory,
                                .security = security},
                               fd);
    }
    const std::string shown = shown_directory + "/" + temporary;
    if (error != 0) {
        return failure("cannot create " + shown + ": " + windows_error_text(error));
    }
    if (const DWORD marked = win32::delete_on_close(fd.get(), true); marked != 0) {
        win32::delete_at(directory_fd, temporary);
        return failure("cannot mark " + shown + " temporary: " + windows_error_text(marked));
    }
    if (auto written = write_all(fd.get(), content, shown); !written) {
        return written;
    }
    if (!::FlushFileBuffers(win32::handle_of(fd.get()))) {
        return failure("cannot flush " + shown + ": " + windows_error_text(::GetLastError()));
    }
    if (options.check_before_rename) {
        if (auto checked = options.check_before_rename(); !checked) {
            return checked;
        }
    }
    if (const DWORD kept = win32::delete_on_close(fd.get(), false); kept != 0) {
        return failure("cannot keep " + shown + ": " + windows_error_text(kept));
    }
    if (const DWORD renamed = win32::rename_open(fd.get(), directory_fd, name, true);
        renamed != 0) {
        win32::delete_on_close(fd.get(), true);
        return failure("cannot rename " + shown + " to " + name + ": " +
                       windows_error_text(renamed));
    }
    return {};
}

Result<void> make_directories(const std::string& path, mode_t mode) {
    if (path.empty()) {
        return invalid("cannot create a directory with an empty path");
    }
    const win32::ModeSecurity security(mode);
    SECURITY_ATTRIBUTES attributes{sizeof attributes, security.get(), FALSE};
    std::size_t position = root_length(path);
    while (position <= path.size()) {
        const std::size_t separator = path.find_first_of("/\\", position);
        const std::size_t end = separator == std::string::npos ? path.size() : separator;
        const std::string partial = path.substr(0, end);
        position = end + 1;
        if (end == 0 || partial.size() <= root_length(path) || partial.back() == '/' ||
            partial.back() == '\\') {
            continue;
        }
        if (::CreateDirectoryW(widen(partial).c_str(), &attributes)) {
            continue;
        }
        const DWORD error = ::GetLastError();
        if (error != ERROR_ALREADY_EXISTS) {
            return failure("cannot create directory " + partial + ": " + windows_error_text(error));
        }
        if (!is_directory(partial)) {
            return failure("cannot create directory " + partial +
                           ": it exists and is not a directory");
        }
    }
    return {};
}

FileStatus file_status(const std::string& path, Links links) {
    const DWORD flags = FILE_FLAG_BACKUP_SEMANTICS |
                        (links == Links::DoNotFollow ? FILE_FLAG_OPEN_REPARSE_POINT : 0);
    HANDLE handle = ::CreateFileW(widen(path).c_str(), FILE_READ_ATTRIBUTES,
                                  FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, nullptr,
                                  OPEN_EXISTING, flags, nullptr);
    if (handle == INVALID_HANDLE_VALUE) {
        return {};
    }
    const Fd fd = win32::adopt(handle);
    auto info = win32::information(fd.get(), path);
    if (!info) {
        return {};
    }
    FileStatus status;
    status.type = info->reparse_point && links == Links::DoNotFollow ? FileType::Symlink
                  : info->directory                                  ? FileType::Directory
                                                                     : FileType::Regular;
    status.device = info->volume;
    status.inode = info->file_id;
    return status;
}

bool directory_is_empty(const std::string& path) {
    WIN32_FIND_DATAW entry{};
    HANDLE listing = ::FindFirstFileW(widen(path + "/*").c_str(), &entry);
    if (listing == INVALID_HANDLE_VALUE) {
        return false;
    }
    bool empty = true;
    do {
        const std::wstring_view name = entry.cFileName;
        if (name != L"." && name != L"..") {
            empty = false;
        }
    } while (empty && ::FindNextFileW(listing, &entry));
    ::FindClose(listing);
    return empty;
}

Result<void> remove_file_if_exists(const std::string& path, const std::string& shown) {
    if (!::DeleteFileW(widen(path).c_str())) {
        const DWORD error = ::GetLastError();
        if (error != ERROR_FILE_NOT_FOUND && error != ERROR_PATH_NOT_FOUND) {
            return failure("cannot remove " + (shown.empty() ? path : shown) + ": " +
                           windows_error_text(error));
        }
    }
    return {};
}

Result<void> remove_file_at(int directory_fd, const std::string& name, const std::string& shown) {
    Fd file;
    DWORD error =
        win32::open_at(directory_fd, name, {.access = DELETE, .options = k_non_directory}, file);
    if (error == 0) {
        error = win32::delete_on_close(file.get(), true);
    }
    if (error != 0 && error != ERROR_FILE_NOT_FOUND) {
        return failure("cannot remove " + shown + ": " + windows_error_text(error));
    }
    return {};
}

Result<std::vector<std::string>> directory_names_at(int directory_fd, const std::string& shown) {
    return win32::list_names(directory_fd, shown);
}

bool same_file_at(int fd, int directory_fd, const std::string& name) {
    Fd named;
    if (win32::open_at(directory_fd, name, {.access = FILE_READ_ATTRIBUTES}, named) != 0) {
        return false;
    }
    auto open_info = win32::information(fd, name);
    auto named_info = win32::information(named.get(), name);
    return open_info && named_info && open_info->file_id == named_info->file_id &&
           open_info->volume == named_info->volume;
}

std::string file_identity_at(int directory_fd, const std::string& name) {
    Fd file;
    if (win32::open_at(directory_fd, name, {.access = FILE_READ_ATTRIBUTES}, file) != 0) {
        return {};
    }
    FILE_BASIC_INFO times{};
    auto info = win32::information(file.get(), name);
    if (!info || !::GetFileInformationByHandleEx(win32::handle_of(file.get()), FileBasicInfo,
                                                 &times, sizeof times)) {
        return {};
    }
    return std::to_string(info->file_id) + ":" + std::to_string(info->size) + ":" +
           std::to_string(times.LastWriteTime.QuadPart) + ":" +
           std::to_string(times.ChangeTime.QuadPart);
}

Result<Ownership> file_ownership(int /*fd*/, const std::string& shown) {
    return failure("cannot read the POSIX owner of " + shown +
                   ": Windows files are owned by accounts (SIDs)");
}

Result<void> set_file_mode(int /*fd*/, unsigned /*mode*/, const std::string& shown) {
    return failure("cannot set a POSIX mode on " + shown +
                   ": Windows files have access lists instead");
}

std::optional<std::int64_t> modified_unix_seconds(const std::string& path) {
    WIN32_FILE_ATTRIBUTE_DATA data{};
    if (!::GetFileAttributesExW(widen(path).c_str(), GetFileExInfoStandard, &data)) {
        return std::nullopt;
    }
    // FILETIME counts 100 ns steps since 1601-01-01; 11644473600 s lie between that and 1970.
    const std::uint64_t ticks = (std::uint64_t{data.ftLastWriteTime.dwHighDateTime} << 32) |
                                data.ftLastWriteTime.dwLowDateTime;
    return static_cast<std::int64_t>(ticks / 10000000U) - 11644473600LL;
}

bool is_absolute_path(std::string_view path) {
    return is_absolute_windows_path(path);
}

}  // namespace dsvm
