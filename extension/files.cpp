#include "extension/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdio>

#include "common/fd.h"
#include "common/fs.h"

namespace dsvm::extension {

Result<KeptFile> KeptFile::keep(const std::string& path) {
    KeptFile kept;
    kept.m_path = path;
    const std::string leftover = path + ".dsvm-previous";
    if (::unlink(leftover.c_str()) != 0 && errno != ENOENT) {
        return failure("cannot remove " + leftover +
                       ", left by an earlier version: " + errno_text(errno));
    }
    Fd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (!fd) {
        if (errno == ENOENT) {
            return kept;
        }
        if (errno == ELOOP) {
            return failure("cannot keep " + path +
                           " while it is replaced: it is a symbolic link, and enable writes "
                           "files, never through links; replace it with a file");
        }
        return failure("cannot keep " + path + " while it is replaced: " + errno_text(errno));
    }
    struct stat info {};
    if (::fstat(fd.get(), &info) != 0 || !S_ISREG(info.st_mode)) {
        return failure("cannot keep " + path + " while it is replaced: not a regular file");
    }
    if (static_cast<std::size_t>(info.st_size) > k_max_kept_bytes) {
        return failure("cannot keep " + path + " while it is replaced: larger than " +
                       std::to_string(k_max_kept_bytes) + " bytes");
    }
    auto content = read_secret_fd(fd.get(), static_cast<std::size_t>(info.st_size), path);
    if (!content) {
        return content.error();
    }
    kept.m_content = std::move(content).value();
    kept.m_mode = info.st_mode & 07777;
    kept.m_uid = info.st_uid;
    kept.m_gid = info.st_gid;
    return kept;
}

void KeptFile::undo() {
    if (m_done) {
        return;
    }
    m_done = true;
    if (!m_content) {
        if (::unlink(m_path.c_str()) != 0 && errno != ENOENT) {
            spdlog::error("cannot remove {}: {}", m_path, errno_text(errno));
        }
        return;
    }
    ReplaceOptions options;
    options.mode = m_mode;
    options.uid = m_uid;
    options.gid = m_gid;
    if (auto restored = replace_file(m_path, m_content->view(), options); !restored) {
        spdlog::error("cannot put back {}: {}", m_path, restored.error().message);
    }
    m_content.reset();
}

void KeptFile::commit() {
    m_done = true;
    m_content.reset();
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
    return read_secret_fd(fd.get(), static_cast<std::size_t>(info.st_size), shown);
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

}  // namespace dsvm::extension
