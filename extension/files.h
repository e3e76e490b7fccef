// File steps of the extension handler that common/fs does not have: keeping a file in memory so
// that a failed enable can put it back, reading a secret file into wiped memory, a root-only
// directory.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "common/ids.h"
#include "common/result.h"
#include "common/root.h"
#include "common/secret.h"

namespace dsvm::extension {

// A file about to be replaced, kept in memory (content, mode and owner) until the operation
// commits: never as a second file, which a crash (SIGKILL included) would leave behind with a
// copy of a key in it. undo() writes the same bytes back with the same mode and owner (as a new
// file), or removes the new one when there was none before; commit() drops and wipes the copy.
// A <path>.dsvm-previous left by an earlier version of the agent (it kept files as such links)
// is removed first.
class KeptFile {
  public:
    // Runtime error, naming the file, when it cannot be read (not a regular file, larger than
    // k_max_kept_bytes) or a leftover .dsvm-previous cannot be removed.
    static Result<KeptFile> keep(const std::string& path);

    void undo();
    void commit();

  private:
    std::string m_path;
    std::optional<SecretBytes> m_content;  // none when there was no file
    mode_t m_mode = 0600;
    uid_t m_uid = 0;
    gid_t m_gid = 0;
    bool m_done = false;  // committed or undone: nothing more to do
};

// The largest file KeptFile keeps (pool.json, a credentials file, the extension's record).
inline constexpr std::size_t k_max_kept_bytes = 1024 * 1024;

// The files one operation replaces, each kept (KeptFile) until commit(). Destroyed without a
// commit, it puts every one back, the last kept first.
class FileTransaction {
  public:
    FileTransaction() = default;
    FileTransaction(const FileTransaction&) = delete;
    FileTransaction& operator=(const FileTransaction&) = delete;
    ~FileTransaction();

    // Keeps `path` before the caller replaces it; a Runtime error (nothing kept) otherwise.
    Result<void> keep(const std::string& path);
    void commit();

  private:
    std::vector<KeptFile> m_kept;
};

// Reads a regular file (never through a symlink) into SecretBytes. Runtime error naming `shown`
// when it cannot be read or is larger than max_bytes.
Result<SecretBytes> read_secret_file(const std::string& path, const std::string& shown,
                                     std::size_t max_bytes);

// Creates `dir` inside the root (mode 0700) when missing; an existing one must be a directory
// owned by root and is narrowed to 0700 through a descriptor (never by name).
Result<void> prepare_private_directory(const Root& root, const std::string& dir);

}  // namespace dsvm::extension
