// Windows only: what the *_win32.cpp halves of common/ share about files. A descriptor (`int`) on
// Windows is a C runtime descriptor that wraps a HANDLE (_open_osfhandle), so Fd owns it and
// closing it closes the handle. Opening "at" a directory is NtCreateFile relative to that
// directory's handle: like openat(2), it never walks the directory's path again, so a parent
// renamed or replaced by a link after it was opened cannot redirect the open (docs/windows.md,
// "Files").
#pragma once

#include "common/windows_api_win32.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/fd.h"
#include "common/fs.h"
#include "common/result.h"

namespace dsvm::win32 {

// The HANDLE inside a descriptor (INVALID_HANDLE_VALUE for one that is not open).
HANDLE handle_of(int fd);
// A descriptor owning `handle`; when the C runtime has no slot left the handle is closed and the
// Fd is empty.
Fd adopt(HANDLE handle);

// What to ask NtCreateFile for. `security` is a SECURITY_DESCRIPTOR for a file created here
// (null: inherited from the directory).
struct OpenRequest {
    ACCESS_MASK access = GENERIC_READ;
    ULONG disposition = 1;  // FILE_OPEN
    ULONG options = 0;      // FILE_DIRECTORY_FILE, FILE_NON_DIRECTORY_FILE, ...
    void* security = nullptr;
};

// Opens the single component `name` relative to the directory descriptor `directory`, never
// following a reparse point (a symbolic link or junction) at `name`: the reparse point itself is
// opened, and refused by the callers that look. Returns 0, or the Win32 error (ERROR_FILE_NOT_FOUND
// when missing, ERROR_FILE_EXISTS when a created one exists). A name with a separator, "." or
// ".." is ERROR_INVALID_NAME: callers walk paths one component at a time.
DWORD open_at(int directory, const std::string& name, const OpenRequest& request, Fd& out);

// Opens the absolute `path` as CreateFileW does (through links: it is configuration), as a
// directory when `directory` is set.
DWORD open_path(const std::string& path, ACCESS_MASK access, bool directory, Fd& out);

// What an open handle is.
struct Information {
    bool directory = false;
    bool reparse_point = false;
    std::uint64_t size = 0;
    std::uint64_t volume = 0;
    std::uint64_t file_id = 0;
};
Result<Information> information(int fd, const std::string& shown);

// The security descriptor a file made with `mode` gets: none (inherit the directory's) when the
// mode gives group or others anything, else one whose protected DACL grants only SYSTEM and
// Administrators (the Windows meaning of "root only"). Owns its memory.
class ModeSecurity {
  public:
    explicit ModeSecurity(unsigned mode);
    ModeSecurity(const ModeSecurity&) = delete;
    ModeSecurity& operator=(const ModeSecurity&) = delete;
    ~ModeSecurity();
    void* get() const { return m_descriptor; }

  private:
    void* m_descriptor = nullptr;
};

// Whether the open file or directory is private to the administrators: owned by SYSTEM,
// Administrators or the account the agent runs as, and its DACL allows no one else anything. A
// Runtime error naming `shown`, the owner and the other account otherwise.
Result<void> check_administrators_only(int fd, const std::string& shown);
// The same check of a security descriptor (SECURITY_DESCRIPTOR*) already read.
Result<void> check_administrators_only(void* descriptor, const std::string& shown);

// Gives the open file `file` the name `to` in the directory `directory` (through the handles,
// never by path); `replace` says whether an existing `to` is replaced. 0, or the Win32 error
// (ERROR_FILE_EXISTS when `to` exists and is not to be replaced). `file` must have DELETE access.
DWORD rename_open(int file, int directory, const std::string& to, bool replace);

// rename_open of `from` in `directory`, opened without following a reparse point.
DWORD rename_at(int directory, const std::string& from, const std::string& to, bool replace);

// replace_file_at, the new file made with the security descriptor `security` (a
// SECURITY_DESCRIPTOR; null: inherited from the directory) in place of the one options.mode
// gives: for a file someone other than the administrators must reach (a user's authorized_keys).
Result<void> replace_file_secured_at(int directory_fd, const std::string& name,
                                     std::string_view content, void* security,
                                     const ReplaceOptions& options,
                                     const std::string& shown_directory);

// Sets or clears the file's delete-on-close: a file created with it set is gone when its last
// handle closes, a crash included. 0 or the Win32 error. `file` must have DELETE access.
DWORD delete_on_close(int file, bool on);

// Deletes `name` in `directory` (a file, or an empty directory; a reparse point itself, never
// what it points at). 0, or the Win32 error (ERROR_FILE_NOT_FOUND when missing).
DWORD delete_at(int directory, const std::string& name);

// The names in the open directory `directory` (it needs FILE_LIST_DIRECTORY), without "." and
// "..", read from its handle. Errors name `shown`.
Result<std::vector<std::string>> list_names(int directory, const std::string& shown);

}  // namespace dsvm::win32
