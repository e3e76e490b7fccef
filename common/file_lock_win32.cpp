// LockFileEx on the whole file: the lock belongs to the handle, dies with the process, and
// Windows' SMB client takes it on the server, so Linux and Windows instances of one pool exclude
// each other on the share's registry (docs/windows.md, "Files").
#include <windows.h>

#include "common/file_handles_win32.h"
#include "common/file_lock_platform.h"
#include "common/fs.h"

namespace dsvm {

Result<Fd> open_lock_file(int directory_fd, const std::string& name, const std::string& shown) {
    constexpr ULONG k_open_or_create = 3;  // FILE_OPEN_IF
    constexpr ULONG k_non_directory = 0x40;
    const win32::ModeSecurity security(0600);
    Fd fd;
    const DWORD error = win32::open_at(directory_fd, name,
                                       {.access = GENERIC_READ | GENERIC_WRITE,
                                        .disposition = k_open_or_create,
                                        .options = k_non_directory,
                                        .security = security.get()},
                                       fd);
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
    return fd;
}

LockAttempt try_lock(int fd, std::string& error) {
    OVERLAPPED whole_file{};
    if (::LockFileEx(win32::handle_of(fd), LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY, 0,
                     MAXDWORD, MAXDWORD, &whole_file)) {
        return LockAttempt::Taken;
    }
    const DWORD code = ::GetLastError();
    if (code == ERROR_LOCK_VIOLATION || code == ERROR_IO_PENDING) {
        return LockAttempt::Busy;
    }
    if (code == ERROR_NOT_SUPPORTED || code == ERROR_INVALID_FUNCTION) {
        return LockAttempt::Unsupported;
    }
    error = windows_error_text(code);
    return LockAttempt::Failed;
}

}  // namespace dsvm
