#include "agent/extension_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdio>

#include "common/fd.h"
#include "common/fs.h"

namespace dsvm {

Result<KeptFile> KeptFile::keep(const std::string& path) {
    KeptFile kept;
    kept.m_path = path;
    kept.m_backup = path + ".dsvm-previous";
    if (::unlink(kept.m_backup.c_str()) != 0 && errno != ENOENT) {
        return failure("cannot remove the stale " + kept.m_backup + ": " + errno_text(errno));
    }
    if (::link(path.c_str(), kept.m_backup.c_str()) == 0) {
        kept.m_existed = true;
    } else if (errno != ENOENT) {
        return failure("cannot keep " + path + " while it is replaced (link to " + kept.m_backup +
                       "): " + errno_text(errno));
    }
    return kept;
}

void KeptFile::undo() {
    if (m_existed) {
        if (::rename(m_backup.c_str(), m_path.c_str()) != 0) {
            spdlog::error("cannot put back {} from {}: {}", m_path, m_backup, errno_text(errno));
        }
    } else if (::unlink(m_path.c_str()) != 0 && errno != ENOENT) {
        spdlog::error("cannot remove {}: {}", m_path, errno_text(errno));
    }
    m_existed = false;
}

void KeptFile::commit() {
    if (m_existed && ::unlink(m_backup.c_str()) != 0 && errno != ENOENT) {
        spdlog::warn("cannot remove {}: {}", m_backup, errno_text(errno));
    }
    m_existed = false;
}

FileTransaction::~FileTransaction() {
    for (auto kept = m_kept.rbegin(); kept != m_kept.rend(); ++kept) {
        kept->undo();
    }
}

Result<void> FileTransaction::keep(const std::string& path) {
    auto kept = KeptFile::keep(path);
    if (!kept) {
        return kept.error();
    }
    m_kept.push_back(std::move(kept).value());
    return {};
}

void FileTransaction::commit() {
    for (auto& kept : m_kept) {
        kept.commit();
    }
    m_kept.clear();
}

Result<SecretBytes> read_secret_file(const std::string& path, const std::string& shown,
                                     std::size_t max_bytes) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (!fd) {
        return failure("cannot open " + shown + ": " + errno_text(errno));
    }
    struct stat info {};
    if (::fstat(fd.get(), &info) != 0 || !S_ISREG(info.st_mode)) {
        return failure(shown + " is not a regular file");
    }
    if (static_cast<std::size_t>(info.st_size) > max_bytes) {
        return failure(shown + " is larger than " + std::to_string(max_bytes) + " bytes");
    }
    SecretBytes bytes(static_cast<std::size_t>(info.st_size));
    std::size_t got = 0;
    while (got < bytes.capacity()) {
        const ssize_t read = ::read(fd.get(), bytes.data() + got, bytes.capacity() - got);
        if (read < 0 && errno == EINTR) {
            continue;
        }
        if (read < 0) {
            return failure("cannot read " + shown + ": " + errno_text(errno));
        }
        if (read == 0) {
            break;
        }
        got += static_cast<std::size_t>(read);
    }
    bytes.set_size(got);
    return bytes;
}

Result<void> remove_file(const std::string& path) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
        return failure("cannot remove " + path + ": " + errno_text(errno));
    }
    return {};
}

Result<void> prepare_private_directory(const Root& root, const std::string& dir) {
    const std::string real = root.path(dir);
    if (auto made = make_directories(real, 0700); !made) {
        return made;
    }
    Fd fd(::open(real.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    struct stat info {};
    if (!fd || ::fstat(fd.get(), &info) != 0) {
        return failure("cannot open " + dir + ": " + errno_text(errno) +
                       " (it must be a directory owned by root, not a symlink)");
    }
    if (info.st_uid != 0) {
        return failure(dir + " is owned by uid " + std::to_string(info.st_uid) +
                       ", not root; chown root:root " + dir);
    }
    if ((info.st_mode & 077) != 0 && ::fchmod(fd.get(), 0700) != 0) {
        return failure("cannot chmod 700 " + dir + ": " + errno_text(errno));
    }
    return {};
}

}  // namespace dsvm
