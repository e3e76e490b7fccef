// Small, careful file primitives shared by every module. Paths given here are real paths (already
// joined to a Root); errors name the path and the errno text.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/fd.h"
#include "common/ids.h"
#include "common/result.h"

namespace dsvm {

// Reads a whole regular file. Fails if it is missing, unreadable or not a regular file.
Result<std::string> read_file(const std::string& path);

// Reads a whole regular file if it exists; `found` is false when it does not.
struct OptionalText {
    bool found = false;
    std::string text;
};
Result<OptionalText> read_file_if_exists(const std::string& path);

// The same, for `name` relative to an open directory (AT_FDCWD for the working directory), with
// extra open flags (O_NOFOLLOW, O_NONBLOCK so a FIFO cannot block); `shown` names it in errors.
Result<OptionalText> read_file_at(int directory_fd, const std::string& name,
                                  const std::string& shown, int extra_flags);

// Replaces path atomically with replace_file_at (created with `mode`, so the content is never
// more visible than intended; the owner is the caller). A reader sees the old or the new file,
// never a mix.
Result<void> write_file_atomic(const std::string& path, std::string_view content, mode_t mode);

// read(2) into `buffer` until end of file or `capacity` bytes (EINTR retried): the number of
// bytes read, or a Runtime error naming `shown`.
Result<std::size_t> read_into(int fd, char* buffer, std::size_t capacity, const std::string& shown);

// write(2) until all of `content` is written (EINTR retried); errors name `path`.
Result<void> write_all(int fd, std::string_view content, const std::string& path);

// How replace_file_at writes: the final mode and owner (-1 leaves the owner as created), an
// optional fixed temporary name (a stale one is removed first); empty means a fresh
// "<name>.tmp.<pid>.<random>". `check_before_rename`, when set, runs once the new content is
// complete and synced, right before it takes a name: a failure abandons the replace (the file
// and the directory are left as they were) and is returned.
struct ReplaceOptions {
    mode_t mode = 0644;
    uid_t uid = static_cast<uid_t>(-1);
    gid_t gid = static_cast<gid_t>(-1);
    std::string temporary;
    std::function<Result<void>()> check_before_rename;
};

// Replaces `name` in the open directory `directory_fd` atomically. The content goes to an
// unnamed O_TMPFILE (created 0600): owner and mode set before a byte is written, written and
// fsynced; then it is linked straight at `name` when there is no file yet, else linked under the
// temporary name and renamed over `name` at once; the directory is fsynced last (a refusal of
// that is ignored: the new file is already in place). So a process killed at any moment leaves
// no copy behind, but for the instant between that link and the rename. Where O_TMPFILE is not
// supported (NFS, SMB) the temporary is a named file (O_EXCL|O_NOFOLLOW, 0600) written the same
// way and closed before the rename (NFS may report a failed write only then). Temporaries
// "<name>.tmp.*" of a process that no longer runs (a crash) are removed first. Runtime errors
// name the file; `shown_directory` names the directory in them.
Result<void> replace_file_at(int directory_fd, const std::string& name, std::string_view content,
                             const ReplaceOptions& options, const std::string& shown_directory);

// replace_file_at for `path`, its directory opened by name (a trusted, root-owned place such as
// /etc): errors name the path.
Result<void> replace_file(const std::string& path, std::string_view content,
                          const ReplaceOptions& options);

// mkdir -p with `mode` for the directories it creates; existing ones are left as they are.
// Fails if a component exists and is not a directory.
Result<void> make_directories(const std::string& path, mode_t mode);

bool is_directory(const std::string& path);
bool path_exists(const std::string& path);

// Whether `path` is absolute on this platform: it starts with '/' on Linux; on Windows it names
// a drive and a separator ("C:\Packages", "C:/x") or is a UNC path (is_absolute_windows_path).
bool is_absolute_path(std::string_view path);

// The directory part of `path`: "." when it has no slash, "/" for a name at the top.
std::string parent_directory(const std::string& path);

// open(2) of the directory `path` (O_RDONLY|O_DIRECTORY|O_CLOEXEC), for the *_at functions and
// locks: a Runtime error "cannot open PATH: ..." when it cannot be opened.
Result<Fd> open_directory(const std::string& path);

// What is at a path, as lstat(2) or stat(2) sees it.
enum class FileType { Missing, Regular, Directory, Symlink, Other };
enum class Links { Follow, DoNotFollow };
struct FileStatus {
    FileType type = FileType::Missing;  // Missing too when it cannot be looked at (EACCES)
    std::uint64_t device = 0;
    std::uint64_t inode = 0;
};

// lstat(2) of `path` with DoNotFollow (a symlink is a Symlink), stat(2) with Follow.
FileStatus file_status(const std::string& path, Links links);

// Whether two statuses, both of existing files, are of the same file (device and inode).
bool same_file(const FileStatus& one, const FileStatus& other);

// Whether the directory at `path` has no entries but "." and ".."; one that cannot be listed
// counts as not empty.
bool directory_is_empty(const std::string& path);

// unlink(2) of `path`; a file that is not there is success. A Runtime error "cannot remove
// SHOWN: ..." otherwise, SHOWN being `shown` (the path when empty).
Result<void> remove_file_if_exists(const std::string& path, const std::string& shown = {});

// When the file at `path` was last modified, in seconds since 1970 (UTC); none when it cannot be
// looked at.
std::optional<std::int64_t> modified_unix_seconds(const std::string& path);

// Removes the file `name` in the open directory `directory_fd` (a link itself, never what it
// points at); one that is not there is success. A Runtime error "cannot remove SHOWN: ...".
Result<void> remove_file_at(int directory_fd, const std::string& name, const std::string& shown);

// The names in the open directory `directory_fd`, without "." and "..", read from the directory
// itself: a network client answers a listing from the server (or from a lease the server keeps
// coherent), where a lookup of one name may be answered from what it remembers. Errors name
// `shown`.
Result<std::vector<std::string>> directory_names_at(int directory_fd, const std::string& shown);

// Whether `name` in `directory_fd` (the link itself when it is one) is the file open as `fd`:
// the same file on the same device, whatever its name or content. False when either is missing.
bool same_file_at(int fd, int directory_fd, const std::string& name);

// What tells one version of the file `name` in `directory_fd` from another without reading it
// (its identity, size and change times, the link itself when it is one); empty when missing.
std::string file_identity_at(int directory_fd, const std::string& name);

// The POSIX owner and permission bits of an open file. Windows files have neither: there this is
// a Runtime error (callers ask only where a share has POSIX owners, never on Windows).
struct Ownership {
    uid_t uid = 0;
    gid_t gid = 0;
    unsigned mode = 0;  // the permission bits, 07777
};
Result<Ownership> file_ownership(int fd, const std::string& shown);
// fchmod(2); a Runtime error naming `shown` (always on Windows, as above).
Result<void> set_file_mode(int fd, unsigned mode, const std::string& shown);

// "strerror(errno)" as a string, for messages.
std::string errno_text(int error_number);

}  // namespace dsvm
