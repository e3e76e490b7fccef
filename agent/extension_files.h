// File steps of the extension handler that common/fs does not have: keeping a file so that a
// failed enable can put it back, reading a secret file into wiped memory, a root-only directory.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "agent/extension_secret.h"
#include "common/result.h"
#include "common/root.h"

namespace dsvm {

// A file about to be replaced, kept as a hard link beside it (<path>.dsvm-previous) until the
// operation commits. undo() puts the very same file back (same inode: bytes, mode and owner),
// or removes the new one when there was none before; commit() drops the link. A stale link from
// an interrupted run is removed first.
class KeptFile {
  public:
    // Runtime error, naming the file, when the link cannot be made.
    static Result<KeptFile> keep(const std::string& path);

    void undo();
    void commit();

  private:
    std::string m_path;
    std::string m_backup;
    bool m_existed = false;
};

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

// unlink(2); a file that is already gone is success.
Result<void> remove_file(const std::string& path);

// Creates `dir` inside the root (mode 0700) when missing; an existing one must be a directory
// owned by root and is narrowed to 0700 through a descriptor (never by name).
Result<void> prepare_private_directory(const Root& root, const std::string& dir);

}  // namespace dsvm
