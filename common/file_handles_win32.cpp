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

// NTFS names are at most 255 UTF-16 units; a longer one would also wrap UNICODE_STRING's
// length. ':' names an alternate data stream, never a file of its own.
constexpr std::size_t k_max_name_units = 255;

bool is_one_component(const std::string& name) {
    return !name.empty() && name != "." && name != ".." &&
           name.find_first_of("/\\:") == std::string::npos &&
           widen(name).size() <= k_max_name_units;
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
    // BACKUP_SEMANTICS opens a directory too, so a caller that wanted a file can say "not a
    // regular file" instead of the "access denied" Windows gives otherwise.
    HANDLE handle = ::CreateFileW(widen(path).c_str(), access, k_share_all, nullptr, OPEN_EXISTING,
                                  FILE_FLAG_BACKUP_SEMANTICS, nullptr);
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
    // Administrators (BA) only, inherited by what is made inside (OICI: files and directories),
    // so a file made there with a wider mode is still the administrators' alone. The owner is
    // the token's default, SYSTEM's or an admin's.
    PSECURITY_DESCRIPTOR descriptor = nullptr;
    if (!::ConvertStringSecurityDescriptorToSecurityDescriptorW(
            L"D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)", SDDL_REVISION_1, &descriptor, nullptr)) {
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
    PSECURITY_DESCRIPTOR descriptor = nullptr;
    const DWORD error = ::GetSecurityInfo(handle_of(fd), SE_FILE_OBJECT,
                                          OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
                                          nullptr, nullptr, nullptr, nullptr, &descriptor);
    if (error != ERROR_SUCCESS) {
        return failure("cannot read the security of " + shown + ": " + windows_error_text(error));
    }
    std::unique_ptr<void, LocalFreeDeleter> owned(descriptor);
    return check_administrators_only(descriptor, shown);
}

Result<void> check_administrators_only(void* descriptor, const std::string& shown) {
    PSID owner = nullptr;
    BOOL owner_defaulted = FALSE;
    PACL dacl = nullptr;
    BOOL dacl_present = FALSE;
    BOOL dacl_defaulted = FALSE;
    if (!::GetSecurityDescriptorOwner(descriptor, &owner, &owner_defaulted) ||
        !::GetSecurityDescriptorDacl(descriptor, &dacl_present, &dacl, &dacl_defaulted)) {
        return failure("cannot read the security of " + shown + ": " +
                       windows_error_text(::GetLastError()));
    }
    if (!dacl_present) {
        dacl = nullptr;
    }
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
        // A deny takes access away and an inherit-only entry applies to children alone: neither
        // opens the file. A plain or conditional (callback) allow is looked at; any other kind
        // (object, compound, one newer than this code) is refused rather than trusted.
        if ((header->AceFlags & INHERIT_ONLY_ACE) != 0 ||
            header->AceType == ACCESS_DENIED_ACE_TYPE ||
            header->AceType == ACCESS_DENIED_CALLBACK_ACE_TYPE) {
            continue;
        }
        if (header->AceType != ACCESS_ALLOWED_ACE_TYPE &&
            header->AceType != ACCESS_ALLOWED_CALLBACK_ACE_TYPE) {
            return failure("refusing " + shown + ": its access list has an entry of type " +
                           std::to_string(header->AceType) + ", which is not checked" + fix);
        }
        // Both allow types begin with the same header, mask and SID.
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

Result<std::vector<std::string>> list_names(int directory, const std::string& shown) {
    std::vector<std::string> names;
    std::vector<unsigned char> buffer(64 * 1024);
    auto kind = FileIdBothDirectoryRestartInfo;
    for (;;) {
        if (!::GetFileInformationByHandleEx(handle_of(directory), kind, buffer.data(),
                                            static_cast<DWORD>(buffer.size()))) {
            const DWORD error = ::GetLastError();
            if (error == ERROR_NO_MORE_FILES) {
                return names;
            }
            return failure("cannot list " + shown + ": " + windows_error_text(error));
        }
        kind = FileIdBothDirectoryInfo;
        std::size_t offset = 0;
        for (;;) {
            const auto* entry =
                reinterpret_cast<const FILE_ID_BOTH_DIR_INFO*>(buffer.data() + offset);
            const std::wstring_view name(entry->FileName, entry->FileNameLength / sizeof(wchar_t));
            if (name != L"." && name != L"..") {
                names.push_back(narrow(name));
            }
            if (entry->NextEntryOffset == 0) {
                break;
            }
            offset += entry->NextEntryOffset;
        }
    }
}

}  // namespace dsvm::win32
