#include "common/secret.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "common/fd.h"
#include "common/fs.h"
#include "common/safe_open.h"

namespace dsvm {

Result<SecretFile> read_secret_file_at(int directory, const std::string& name,
                                       const std::string& shown, std::size_t max_bytes) {
    Fd fd(::openat(directory, name.c_str(),
                   O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
    if (!fd) {
        if (errno == ENOENT) {
            return SecretFile{};
        }
        return failure("cannot open " + shown + ": " + open_error_text(directory, name, errno));
    }
    struct stat info {};
    if (::fstat(fd.get(), &info) != 0) {
        return failure("cannot stat " + shown + ": " + errno_text(errno));
    }
    if (!S_ISREG(info.st_mode)) {
        return failure("refusing " + shown + ": it is not a regular file");
    }
    if (info.st_uid != ::geteuid() || (info.st_mode & 077) != 0) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(info.st_mode & 07777));
        return failure("refusing " + shown +
                       ": it must be owned by root with mode 0600 (it is uid " +
                       std::to_string(info.st_uid) + ", mode " + mode + "); chown root:root " +
                       shown + " && chmod 600 " + shown);
    }
    return read_secret_of_size(fd.get(), static_cast<unsigned long long>(info.st_size), max_bytes,
                               shown);
}

}  // namespace dsvm
