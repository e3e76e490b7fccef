// read_secret_file_at on Windows: the file must be private to the administrators (owned by SYSTEM
// or Administrators, no one else in its access list), the Windows meaning of "root, mode 0600".
#include <windows.h>

#include "common/file_handles_win32.h"
#include "common/fs.h"
#include "common/secret.h"

namespace dsvm {

Result<SecretFile> read_secret_file_at(int directory, const std::string& name,
                                       const std::string& shown, std::size_t max_bytes) {
    Fd fd;
    const DWORD error = win32::open_at(directory, name, {.access = GENERIC_READ}, fd);
    if (error == ERROR_FILE_NOT_FOUND) {
        return SecretFile{};
    }
    if (error != 0) {
        return failure("cannot open " + shown + ": " + windows_error_text(error));
    }
    auto info = win32::information(fd.get(), shown);
    if (!info) {
        return info.error();
    }
    if (info->reparse_point || info->directory) {
        return failure("refusing " + shown + ": it is not a regular file");
    }
    if (auto private_file = win32::check_administrators_only(fd.get(), shown); !private_file) {
        return private_file.error();
    }
    return read_secret_of_size(fd.get(), info->size, max_bytes, shown);
}

}  // namespace dsvm
