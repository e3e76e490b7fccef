// The files WindowsAccounts keeps in a user's profile on this machine: the notebook link and the
// SSH keys. Every folder below the profile is opened from its parent's handle, never through a
// reparse point (docs/windows-backends.md, trap 4). AccountApi's real half
// (windows/account_api_win32.cpp) calls these; each returns 0 or the Win32 error, as AccountApi
// says for read_link, make_link, read_keys and write_keys.
#include "windows/profile_files_win32.h"

#include "common/file_handles_win32.h"

#include <aclapi.h>
#include <sddl.h>
#include <winioctl.h>

#include <memory>
#include <optional>
#include <vector>

#include "common/safe_open.h"
#include "windows/notebook_link.h"

namespace dsvm::windows_platform {

namespace {

constexpr ACCESS_MASK k_directory_access =
    FILE_LIST_DIRECTORY | FILE_TRAVERSE | FILE_READ_ATTRIBUTES | READ_CONTROL | SYNCHRONIZE;
constexpr ULONG k_open = 1;            // FILE_OPEN
constexpr ULONG k_create = 2;          // FILE_CREATE
constexpr ULONG k_open_if = 3;         // FILE_OPEN_IF
constexpr ULONG k_directory = 0x0001;  // FILE_DIRECTORY_FILE
constexpr ULONG k_file = 0x0040;       // FILE_NON_DIRECTORY_FILE
constexpr std::size_t k_max_keys_bytes = 1 << 20;
constexpr std::size_t k_reparse_buffer = 16 * 1024;  // MAXIMUM_REPARSE_DATA_BUFFER_SIZE

struct LocalFreeDeleter {
    void operator()(void* memory) const { ::LocalFree(memory); }
};

// The profile folder, opened without following a reparse point at it.
DWORD open_profile(const std::string& profile, Fd& out) {
    NoFollowDirectory opened = open_directory_nofollow(profile);
    switch (opened.failure) {
        case DirectoryFailure::None:
            out = std::move(opened.fd);
            return 0;
        case DirectoryFailure::Missing:
            return ERROR_FILE_NOT_FOUND;
        case DirectoryFailure::NotDirectory:
            return ERROR_CANT_ACCESS_FILE;
        case DirectoryFailure::Denied:
            return ERROR_ACCESS_DENIED;
        case DirectoryFailure::Other:
            break;
    }
    return ERROR_OPEN_FAILED;
}

bool is_reparse_point(int fd) {
    auto info = win32::information(fd, "");
    return !info || info->reparse_point;
}

// Opens (making it when `make`) the folder `name` in `parent`; a reparse point there is
// ERROR_CANT_ACCESS_FILE.
DWORD open_folder(int parent, const std::string& name, bool make, void* security, Fd& out) {
    const DWORD error = win32::open_at(parent, name,
                                       {.access = k_directory_access,
                                        .disposition = make ? k_open_if : k_open,
                                        .options = k_directory,
                                        .security = security},
                                       out);
    if (error != 0) {
        return error;
    }
    return is_reparse_point(out.get()) ? ERROR_CANT_ACCESS_FILE : 0;
}

// Walks `link`'s folders below the profile (making them when `make`), leaving the last
// component's folder in `parent` and its name in `last`. A missing profile is
// ERROR_FILE_NOT_FOUND, a missing folder below it ERROR_PATH_NOT_FOUND.
DWORD walk_to_link(const std::string& profile, const std::string& link, bool make, Fd& parent,
                   std::string& last) {
    if (const DWORD error = open_profile(profile, parent); error != 0) {
        return error;
    }
    auto parts = path_components(link, "\\");
    if (!parts || parts->empty()) {
        return ERROR_INVALID_NAME;
    }
    last = parts->back();
    parts->pop_back();
    for (const auto& part : *parts) {
        Fd next;
        if (const DWORD error = open_folder(parent.get(), part, make, nullptr, next); error != 0) {
            return error == ERROR_FILE_NOT_FOUND ? ERROR_PATH_NOT_FOUND : error;
        }
        parent = std::move(next);
    }
    return 0;
}

DWORD reparse_target(int fd, std::optional<std::string>& target) {
    std::vector<unsigned char> buffer(k_reparse_buffer);
    DWORD returned = 0;
    if (!::DeviceIoControl(win32::handle_of(fd), FSCTL_GET_REPARSE_POINT, nullptr, 0, buffer.data(),
                           static_cast<DWORD>(buffer.size()), &returned, nullptr)) {
        return ::GetLastError();
    }
    target = symlink_target(buffer.data(), returned);
    return 0;
}

// Creating a symbolic link needs SeCreateSymbolicLinkPrivilege enabled: SYSTEM has it on,
// an administrator's elevated token has it but may have it off.
void enable_symlink_privilege() {
    HANDLE token = nullptr;
    if (!::OpenProcessToken(::GetCurrentProcess(), TOKEN_ADJUST_PRIVILEGES | TOKEN_QUERY, &token)) {
        return;
    }
    TOKEN_PRIVILEGES privileges{};
    privileges.PrivilegeCount = 1;
    privileges.Privileges[0].Attributes = SE_PRIVILEGE_ENABLED;
    if (::LookupPrivilegeValueW(nullptr, L"SeCreateSymbolicLinkPrivilege",
                                &privileges.Privileges[0].Luid)) {
        ::AdjustTokenPrivileges(token, FALSE, &privileges, 0, nullptr, nullptr);
    }
    ::CloseHandle(token);
}

DWORD set_link(int fd, const std::string& target) {
    enable_symlink_privilege();
    std::vector<unsigned char> data = symlink_reparse_data(target, print_name(target));
    DWORD returned = 0;
    if (!::DeviceIoControl(win32::handle_of(fd), FSCTL_SET_REPARSE_POINT, data.data(),
                           static_cast<DWORD>(data.size()), nullptr, 0, &returned, nullptr)) {
        return ::GetLastError();
    }
    return 0;
}

// A new directory entry `name` in `parent` that is a link to `target`: made delete-on-close, so
// a crash before the link is set leaves nothing.
DWORD create_link(int parent, const std::string& name, const std::string& target) {
    Fd entry;
    if (const DWORD error =
            win32::open_at(parent, name,
                           {.access = FILE_WRITE_DATA | FILE_WRITE_ATTRIBUTES | DELETE,
                            .disposition = k_create,
                            .options = k_directory},
                           entry);
        error != 0) {
        return error == ERROR_FILE_EXISTS ? ERROR_ALREADY_EXISTS : error;
    }
    if (const DWORD error = win32::delete_on_close(entry.get(), true); error != 0) {
        win32::delete_at(parent, name);
        return error;
    }
    if (const DWORD error = set_link(entry.get(), target); error != 0) {
        return error;
    }
    return win32::delete_on_close(entry.get(), false);
}

// A security descriptor from SDDL, owned.
using Descriptor = std::unique_ptr<void, LocalFreeDeleter>;
DWORD descriptor(const std::wstring& sddl, Descriptor& out) {
    PSECURITY_DESCRIPTOR made = nullptr;
    if (!::ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl.c_str(), SDDL_REVISION_1,
                                                                &made, nullptr)) {
        return ::GetLastError();
    }
    out.reset(made);
    return 0;
}

// The user, SYSTEM and Administrators, nobody else: what Windows OpenSSH requires of
// authorized_keys (`inherit`: OICI, for .ssh).
std::wstring private_sddl(const std::string& sid, bool inherit) {
    const std::wstring flags = inherit ? L"OICI" : L"";
    const std::wstring user = widen(sid);
    return L"D:P(A;" + flags + L";FA;;;" + user + L")(A;" + flags + L";FA;;;SY)(A;" + flags +
           L";FA;;;BA)";
}

bool is_one_of(PSID sid, PSID user) {
    BYTE buffer[SECURITY_MAX_SID_SIZE];
    for (const auto type : {WinLocalSystemSid, WinBuiltinAdministratorsSid}) {
        DWORD size = sizeof buffer;
        if (::CreateWellKnownSid(type, nullptr, buffer, &size) && ::EqualSid(sid, buffer)) {
            return true;
        }
    }
    return ::EqualSid(sid, user) != FALSE;
}

// Owned by the user, SYSTEM or Administrators, and nobody else allowed anything.
bool private_to(int fd, const std::string& user_sid) {
    PSID user = nullptr;
    if (!::ConvertStringSidToSidW(widen(user_sid).c_str(), &user)) {
        return false;
    }
    const std::unique_ptr<void, LocalFreeDeleter> owned_user(user);
    PSID owner = nullptr;
    PACL dacl = nullptr;
    PSECURITY_DESCRIPTOR security = nullptr;
    if (::GetSecurityInfo(win32::handle_of(fd), SE_FILE_OBJECT,
                          OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION, &owner, nullptr,
                          &dacl, nullptr, &security) != ERROR_SUCCESS) {
        return false;
    }
    const std::unique_ptr<void, LocalFreeDeleter> owned_security(security);
    if (owner == nullptr || dacl == nullptr || !is_one_of(owner, user)) {
        return false;
    }
    for (DWORD index = 0; index < dacl->AceCount; ++index) {
        void* entry = nullptr;
        if (!::GetAce(dacl, index, &entry)) {
            return false;
        }
        const auto* header = static_cast<ACE_HEADER*>(entry);
        if (header->AceType == ACCESS_DENIED_ACE_TYPE || (header->AceFlags & INHERIT_ONLY_ACE)) {
            continue;
        }
        if (header->AceType != ACCESS_ALLOWED_ACE_TYPE) {
            return false;
        }
        auto* allowed = static_cast<ACCESS_ALLOWED_ACE*>(entry);
        if (!is_one_of(static_cast<PSID>(static_cast<void*>(&allowed->SidStart)), user)) {
            return false;
        }
    }
    return true;
}

}  // namespace

std::uint32_t read_profile_link(const std::string& profile, const std::string& link,
                                LinkState& out) {
    out = {};
    Fd parent;
    std::string last;
    if (const DWORD error = walk_to_link(profile, link, false, parent, last); error != 0) {
        return error == ERROR_PATH_NOT_FOUND ? 0 : error;
    }
    Fd entry;
    const DWORD error = win32::open_at(parent.get(), last, {.access = k_directory_access}, entry);
    if (error == ERROR_FILE_NOT_FOUND) {
        return 0;
    }
    if (error != 0) {
        return error;
    }
    auto info = win32::information(entry.get(), last);
    if (!info) {
        return ERROR_OPEN_FAILED;
    }
    if (info->reparse_point) {
        std::optional<std::string> target;
        if (const DWORD read = reparse_target(entry.get(), target); read != 0) {
            return read;
        }
        // A junction or another kind of reparse point is a link to replace.
        out = {LinkKind::Link, target.value_or("")};
        return 0;
    }
    if (!info->directory) {
        out.kind = LinkKind::Other;
        return 0;
    }
    auto names = win32::list_names(entry.get(), last);
    out.kind = names && names->empty() ? LinkKind::EmptyDirectory : LinkKind::Other;
    return 0;
}

std::uint32_t make_profile_link(const std::string& profile, const std::string& link,
                                const std::string& target, bool& changed) {
    changed = false;
    Fd parent;
    std::string last;
    if (const DWORD error = walk_to_link(profile, link, true, parent, last); error != 0) {
        return error;
    }
    Fd entry;
    const DWORD error = win32::open_at(
        parent.get(), last,
        {.access = k_directory_access | FILE_WRITE_DATA | FILE_WRITE_ATTRIBUTES | DELETE}, entry);
    if (error != 0 && error != ERROR_FILE_NOT_FOUND) {
        return error;
    }
    if (error == 0) {
        auto info = win32::information(entry.get(), last);
        if (!info) {
            return ERROR_OPEN_FAILED;
        }
        std::optional<std::string> current;
        if (info->reparse_point) {
            if (const DWORD read = reparse_target(entry.get(), current); read != 0) {
                return read;
            }
            if (current == target) {
                return 0;
            }
            // The same kind of link takes the new target in place: never a moment without.
            if (current && info->directory) {
                changed = true;
                return set_link(entry.get(), target);
            }
        } else if (!info->directory) {
            return ERROR_ALREADY_EXISTS;
        } else if (auto names = win32::list_names(entry.get(), last); !names || !names->empty()) {
            return ERROR_ALREADY_EXISTS;
        }
        // A junction, a file link or an empty folder gives way: removed as an entry, never
        // what it points at.
        entry.reset();
        if (const DWORD removed = win32::delete_at(parent.get(), last); removed != 0) {
            return removed;
        }
    }
    changed = true;
    return create_link(parent.get(), last, target);
}

std::uint32_t read_profile_keys(const std::string& profile, const std::string& sid, KeysFile& out) {
    out = {};
    Fd folder;
    if (const DWORD error = open_profile(profile, folder); error != 0) {
        return error;
    }
    Fd ssh;
    if (const DWORD error = open_folder(folder.get(), ".ssh", false, nullptr, ssh); error != 0) {
        return error == ERROR_FILE_NOT_FOUND ? 0 : error;
    }
    Fd file;
    if (const DWORD error =
            win32::open_at(ssh.get(), "authorized_keys",
                           {.access = GENERIC_READ | READ_CONTROL, .options = k_file}, file);
        error != 0) {
        return error == ERROR_FILE_NOT_FOUND ? 0 : error;
    }
    auto info = win32::information(file.get(), "authorized_keys");
    if (!info || info->reparse_point) {
        return ERROR_CANT_ACCESS_FILE;
    }
    if (info->size > k_max_keys_bytes) {
        return ERROR_FILE_TOO_LARGE;
    }
    std::string text(static_cast<std::size_t>(info->size) + 1, '\0');
    auto got = read_into(file.get(), text.data(), text.size(), "authorized_keys");
    if (!got) {
        return ERROR_READ_FAULT;
    }
    text.resize(*got);
    out = {true, std::move(text), private_to(file.get(), sid)};
    return 0;
}

std::uint32_t write_profile_keys(const std::string& profile, const std::string& sid,
                                 std::string_view text) {
    Descriptor folder_security;
    Descriptor file_security;
    if (const DWORD error = descriptor(private_sddl(sid, true), folder_security); error != 0) {
        return error;
    }
    if (const DWORD error = descriptor(private_sddl(sid, false), file_security); error != 0) {
        return error;
    }
    Fd folder;
    if (const DWORD error = open_profile(profile, folder); error != 0) {
        return error;
    }
    Fd ssh;
    if (const DWORD error = open_folder(folder.get(), ".ssh", true, folder_security.get(), ssh);
        error != 0) {
        return error;
    }
    const auto written = win32::replace_file_secured_at(
        ssh.get(), "authorized_keys", text, file_security.get(), {}, profile + "\\.ssh");
    return written ? 0 : ERROR_WRITE_FAULT;
}

}  // namespace dsvm::windows_platform
