#include "common/file_handles_win32.h"

#include <aclapi.h>
#include <io.h>
#include <sddl.h>
#include <winternl.h>

#include <fcntl.h>

#include <memory>
#include <vector>

namespace dsvm::win32 {

namespace {

constexpr ULONG k_synchronous = 0x00000020;   // FILE_SYNCHRONOUS_IO_NONALERT
constexpr ULONG k_open_reparse = 0x00200000;  // FILE_OPEN_REPARSE_POINT
constexpr ULONG k_share_all = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE;

bool is_one_component(const std::string& name) {
    return !name.empty() && name != "." && name != ".." &&
           name.find_first_of("/\\") == std::string::npos;
}

struct LocalFreeDeleter {
    void operator()(void* memory) const { ::LocalFree(memory); }
};

bool is_sid(PSID sid, WELL_KNOWN_SID_TYPE type) {
    BYTE buffer[SECURITY_MAX_SID_SIZE];
    DWORD size = sizeof buffer;
    return ::CreateWellKnownSid(type, nullptr, buffer, &size) && ::EqualSid(sid, buffer);
}

// The account this process runs as: SYSTEM for the service, an administrator at a console.
bool is_own_sid(PSID sid) {
    HANDLE token = nullptr;
    if (!::OpenProcessToken(::GetCurrentProcess(), TOKEN_QUERY, &token)) {
        return false;
    }
    alignas(TOKEN_USER) BYTE buffer[sizeof(TOKEN_USER) + SECURITY_MAX_SID_SIZE];
    DWORD size = 0;
    const bool got = ::GetTokenInformation(token, TokenUser, buffer, sizeof buffer, &size);
    ::CloseHandle(token);
    return got && ::EqualSid(sid, reinterpret_cast<TOKEN_USER*>(buffer)->User.Sid);
}

// Who may own and use a private file: SYSTEM, Administrators, and the account the agent runs as
// (the equivalent of Linux's "owned by the effective uid").
bool is_administrator_sid(PSID sid) {
    return is_sid(sid, WinLocalSystemSid) || is_sid(sid, WinBuiltinAdministratorsSid) ||
           is_own_sid(sid);
}

std::string sid_text(PSID sid) {
    LPWSTR text = nullptr;
    if (!::ConvertSidToStringSidW(sid, &text)) {
        return "an unreadable SID";
    }
    std::unique_ptr<void, LocalFreeDeleter> owned(text);
    return narrow(text);
}

}  // namespace

HANDLE handle_of(int fd) {
    return fd < 0 ? INVALID_HANDLE_VALUE : reinterpret_cast<HANDLE>(::_get_osfhandle(fd));
}

Fd adopt(HANDLE handle) {
    const int fd = ::_open_osfhandle(reinterpret_cast<intptr_t>(handle), _O_BINARY);
    if (fd < 0) {
        ::CloseHandle(handle);
        return Fd();
    }
    return Fd(fd);
}

DWORD open_at(int directory, const std::string& name, const OpenRequest& request, Fd& out) {
    if (!is_one_component(name)) {
        return ERROR_INVALID_NAME;
    }
    std::wstring wide = widen(name);
    UNICODE_STRING unicode{};
    unicode.Buffer = wide.data();
    unicode.Length = static_cast<USHORT>(wide.size() * sizeof(wchar_t));
    unicode.MaximumLength = unicode.Length;
    OBJECT_ATTRIBUTES attributes{};
    attributes.Length = sizeof attributes;
    attributes.RootDirectory = handle_of(directory);
    attributes.ObjectName = &unicode;
    attributes.Attributes = OBJ_CASE_INSENSITIVE;
    attributes.SecurityDescriptor = request.security;
    IO_STATUS_BLOCK io{};
    HANDLE handle = nullptr;
    const NTSTATUS status =
        ::NtCreateFile(&handle, request.access | SYNCHRONIZE | FILE_READ_ATTRIBUTES, &attributes,
                       &io, nullptr, FILE_ATTRIBUTE_NORMAL, k_share_all, request.disposition,
                       request.options | k_synchronous | k_open_reparse, nullptr, 0);
    if (!NT_SUCCESS(status)) {
        const ULONG error = ::RtlNtStatusToDosError(status);
        // Windows says "already exists" in two ways; callers test one.
        return error == ERROR_ALREADY_EXISTS   ? ERROR_FILE_EXISTS
               : error == ERROR_PATH_NOT_FOUND ? ERROR_FILE_NOT_FOUND
                                               : error;
    }
    out = adopt(handle);
    return out ? 0 : ERROR_TOO_MANY_OPEN_FILES;
}

DWORD open_path(const std::string& path, ACCESS_MASK access, bool directory, Fd& out) {
    HANDLE handle =
        ::CreateFileW(widen(path).c_str(), access, k_share_all, nullptr, OPEN_EXISTING,
                      directory ? FILE_FLAG_BACKUP_SEMANTICS : FILE_ATTRIBUTE_NORMAL, nullptr);
    if (handle == INVALID_HANDLE_VALUE) {
        const DWORD error = ::GetLastError();
        return error == ERROR_PATH_NOT_FOUND ? ERROR_FILE_NOT_FOUND : error;
    }
    out = adopt(handle);
    if (!out) {
        return ERROR_TOO_MANY_OPEN_FILES;
    }
    if (directory) {
        BY_HANDLE_FILE_INFORMATION info{};
        if (::GetFileInformationByHandle(handle_of(out.get()), &info) &&
            (info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) == 0) {
            out.reset();
            return ERROR_DIRECTORY;
        }
    }
    return 0;
}

Result<Information> information(int fd, const std::string& shown) {
    BY_HANDLE_FILE_INFORMATION info{};
    if (!::GetFileInformationByHandle(handle_of(fd), &info)) {
        return failure("cannot look at " + shown + ": " + windows_error_text(::GetLastError()));
    }
    Information out;
    out.directory = (info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) != 0;
    out.reparse_point = (info.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT) != 0;
    out.size = (std::uint64_t{info.nFileSizeHigh} << 32) | info.nFileSizeLow;
    out.volume = info.dwVolumeSerialNumber;
    out.file_id = (std::uint64_t{info.nFileIndexHigh} << 32) | info.nFileIndexLow;
    return out;
}

ModeSecurity::ModeSecurity(unsigned mode) {
    if ((mode & 077) != 0) {
        return;
    }
    // Protected (P): nothing inherited from the directory; full access (FA) for SYSTEM (SY) and
    // Administrators (BA) only. The owner is the token's default, SYSTEM's or an admin's.
    PSECURITY_DESCRIPTOR descriptor = nullptr;
    if (!::ConvertStringSecurityDescriptorToSecurityDescriptorW(
            L"D:P(A;;FA;;;SY)(A;;FA;;;BA)", SDDL_REVISION_1, &descriptor, nullptr)) {
        // Only a bad string fails here; a file without its descriptor would be too open.
        throw std::logic_error("cannot build the administrators-only security descriptor");
    }
    m_descriptor = descriptor;
}

ModeSecurity::~ModeSecurity() {
    if (m_descriptor != nullptr) {
        ::LocalFree(m_descriptor);
    }
}

Result<void> check_administrators_only(int fd, const std::string& shown) {
    PSID owner = nullptr;
    PACL dacl = nullptr;
    PSECURITY_DESCRIPTOR descriptor = nullptr;
    const DWORD error = ::GetSecurityInfo(handle_of(fd), SE_FILE_OBJECT,
                                          OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
                                          &owner, nullptr, &dacl, nullptr, &descriptor);
    if (error != ERROR_SUCCESS) {
        return failure("cannot read the security of " + shown + ": " + windows_error_text(error));
    }
    std::unique_ptr<void, LocalFreeDeleter> owned(descriptor);
    const std::string fix =
        "; it must belong to SYSTEM or Administrators and grant no one else "
        "access (icacls " +
        shown + " /inheritance:r /grant:r SYSTEM:F " + "Administrators:F)";
    if (owner == nullptr || !is_administrator_sid(owner)) {
        return failure("refusing " + shown + ": it is owned by " +
                       (owner == nullptr ? std::string("no one") : sid_text(owner)) + fix);
    }
    if (dacl == nullptr) {
        return failure("refusing " + shown + ": it has no access list, so everyone may use it" +
                       fix);
    }
    for (DWORD index = 0; index < dacl->AceCount; ++index) {
        void* entry = nullptr;
        if (!::GetAce(dacl, index, &entry)) {
            return failure("cannot read the access list of " + shown + ": " +
                           windows_error_text(::GetLastError()));
        }
        const auto* header = static_cast<const ACE_HEADER*>(entry);
        if (header->AceType != ACCESS_ALLOWED_ACE_TYPE || (header->AceFlags & INHERIT_ONLY_ACE)) {
            continue;
        }
        auto* allowed = static_cast<ACCESS_ALLOWED_ACE*>(entry);
        PSID who = &allowed->SidStart;
        if (!is_administrator_sid(who)) {
            return failure("refusing " + shown + ": it grants access to " + sid_text(who) + fix);
        }
    }
    return {};
}

DWORD rename_open(int file, int directory, const std::string& to, bool replace) {
    if (!is_one_component(to)) {
        return ERROR_INVALID_NAME;
    }
    const std::wstring target = widen(to);
    std::vector<BYTE> buffer(sizeof(FILE_RENAME_INFO) + target.size() * sizeof(wchar_t));
    auto* rename = reinterpret_cast<FILE_RENAME_INFO*>(buffer.data());
    if (rename == nullptr) {
        return ERROR_OUTOFMEMORY;
    }
    rename->ReplaceIfExists = replace ? TRUE : FALSE;
    rename->RootDirectory = handle_of(directory);
    rename->FileNameLength = static_cast<DWORD>(target.size() * sizeof(wchar_t));
    std::copy(target.begin(), target.end(), rename->FileName);
    // NtSetInformationFile, not SetFileInformationByHandle: the same call on Windows, and the
    // one wine 8.0 also takes with a RootDirectory (its kernelbase refuses one).
    constexpr auto k_file_rename_information = static_cast<FILE_INFORMATION_CLASS>(10);
    IO_STATUS_BLOCK io{};
    const NTSTATUS status = ::NtSetInformationFile(
        handle_of(file), &io, rename, static_cast<ULONG>(buffer.size()), k_file_rename_information);
    if (!NT_SUCCESS(status)) {
        const ULONG error = ::RtlNtStatusToDosError(status);
        return error == ERROR_ALREADY_EXISTS ? ERROR_FILE_EXISTS : error;
    }
    return 0;
}

DWORD rename_at(int directory, const std::string& from, const std::string& to, bool replace) {
    Fd file;
    if (const DWORD error = open_at(directory, from, {.access = DELETE}, file); error != 0) {
        return error;
    }
    return rename_open(file.get(), directory, to, replace);
}

DWORD delete_on_close(int file, bool on) {
    FILE_DISPOSITION_INFO disposition{};
    disposition.DeleteFile = on ? TRUE : FALSE;
    if (!::SetFileInformationByHandle(handle_of(file), FileDispositionInfo, &disposition,
                                      sizeof disposition)) {
        return ::GetLastError();
    }
    return 0;
}

DWORD delete_at(int directory, const std::string& name) {
    Fd file;
    if (const DWORD error = open_at(directory, name, {.access = DELETE}, file); error != 0) {
        return error;
    }
    return delete_on_close(file.get(), true);
}

}  // namespace dsvm::win32
