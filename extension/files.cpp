#include "extension/files.h"

#include <spdlog/spdlog.h>

#include "common/fd.h"
#include "common/fs.h"
#include "common/ids.h"
#include "common/safe_open.h"

namespace dsvm::extension {

Result<KeptFile> KeptFile::keep(const std::string& path) {
    KeptFile kept;
    kept.m_path = path;
    const std::string leftover = path + ".dsvm-previous";
    if (auto removed = remove_file_if_exists(leftover); !removed) {
        return removed.error();  // a copy an earlier version left
    }
    auto opened = open_regular_nofollow(path);
    switch (opened.failure) {
        case FileFailure::None:
            break;
        case FileFailure::Missing:
            return kept;
        case FileFailure::Link:
            return failure("cannot keep " + path +
                           " while it is replaced: it is a symbolic link, and enable writes "
                           "files, never through links; replace it with a file");
        case FileFailure::NotRegular:
        case FileFailure::Other:
            return failure("cannot keep " + path + " while it is replaced: " + opened.error);
    }
    if (opened.size > k_max_kept_bytes) {
        return failure("cannot keep " + path + " while it is replaced: larger than " +
                       std::to_string(k_max_kept_bytes) + " bytes");
    }
    auto content = read_secret_fd(opened.fd.get(), static_cast<std::size_t>(opened.size), path);
    if (!content) {
        return content.error();
    }
    kept.m_content = std::move(content).value();
    // Where files have access lists instead (Windows), the file is put back private: the
    // agent's own files there are the administrators' alone.
    if (!files_have_posix_owners()) {
        kept.m_mode = 0600;
        kept.m_uid = effective_uid();
        kept.m_gid = effective_gid();
        return kept;
    }
    auto owner = file_ownership(opened.fd.get(), path);
    if (!owner) {
        return owner.error();
    }
    kept.m_mode = static_cast<mode_t>(owner->mode);
    kept.m_uid = owner->uid;
    kept.m_gid = owner->gid;
    return kept;
}

void KeptFile::undo() {
    if (m_done) {
        return;
    }
    m_done = true;
    if (!m_content) {
        if (auto removed = remove_file_if_exists(m_path); !removed) {
            spdlog::error("{}", removed.error().message);
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
    auto opened = open_regular_nofollow(path);
    if (opened.failure == FileFailure::NotRegular) {
        return failure(shown + " is not a regular file");
    }
    if (!opened.fd) {
        return failure("cannot open " + shown + ": " + opened.error);
    }
    if (opened.size > max_bytes) {
        return failure(shown + " is larger than " + std::to_string(max_bytes) + " bytes");
    }
    return read_secret_fd(opened.fd.get(), static_cast<std::size_t>(opened.size), shown);
}

Result<void> prepare_private_directory(const Root& root, const std::string& dir) {
    const std::string real = root.path(dir);
    if (auto made = make_directories(real, 0700); !made) {
        return made;
    }
    auto opened = open_directory_nofollow(real);
    if (!opened.fd) {
        return failure("cannot open " + dir + ": " + opened.error +
                       " (it must be a directory owned by root, not a symlink)");
    }
    if (!files_have_posix_owners()) {
        return check_private_owner(opened.fd.get(), effective_uid(), dir);
    }
    auto owner = file_ownership(opened.fd.get(), dir);
    if (!owner) {
        return owner.error();
    }
    if (owner->uid != 0) {
        return failure(dir + " is owned by uid " + std::to_string(owner->uid) +
                       ", not root; chown root:root " + dir);
    }
    if ((owner->mode & 077) != 0) {
        if (auto narrowed = set_file_mode(opened.fd.get(), 0700, dir); !narrowed) {
            return failure("cannot chmod 700 " + dir + ": " + narrowed.error().message);
        }
    }
    return {};
}

}  // namespace dsvm::extension
