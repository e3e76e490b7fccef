// Opening directories without ever following a symlink: for root working inside directories that
// users own, where a planted symlink could otherwise redirect a write to /etc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/fd.h"
#include "common/fs.h"
#include "common/ids.h"
#include "common/result.h"

namespace dsvm {

// Why openat(parent, name, ...O_NOFOLLOW...) failed with `error`, in words ("it is a symlink",
// "it is not a directory", or the errno text).
std::string open_error_text(int parent, const std::string& name, int error);

// openat(parent, name, O_DIRECTORY|O_NOFOLLOW): a symlink or non-directory is refused
// ("refusing SHOWN: it is a symlink"); a missing one is "cannot open SHOWN: ...".
Result<Fd> open_directory_at(int parent, const std::string& name, const std::string& shown);

// The components of `path`, split at any of `separators` (empty ones skipped): what the walks
// below open one at a time. A "." or ".." component is an Invalid error naming `path`.
Result<std::vector<std::string>> path_components(std::string_view path,
                                                 std::string_view separators);

// Opens `path` (absolute, inside the directory `top`, which is trusted and opened normally) one
// component at a time with openat(O_DIRECTORY|O_NOFOLLOW): a symlink or non-directory anywhere
// below `top` fails with a Runtime error naming the component. A "." or ".." component is
// Invalid.
Result<Fd> open_directory_below(const std::string& top, std::string_view path);

// Opens the directory `path` without following a link at its last component (the components
// above it are configuration and may be links). On failure `fd` is empty, `failure` says why and
// `error` has the system's words.
enum class DirectoryFailure { None, Missing, NotDirectory, Denied, Other };
struct NoFollowDirectory {
    Fd fd;
    DirectoryFailure failure = DirectoryFailure::None;
    std::string error;
};
NoFollowDirectory open_directory_nofollow(const std::string& path);

// The file `path` opened for reading without following a link at its last component, and its
// size. On failure `fd` is empty, `failure` says why and `error` has the system's words.
enum class FileFailure { None, Missing, Link, NotRegular, Other };
struct OpenedFile {
    Fd fd;
    std::uint64_t size = 0;
    FileFailure failure = FileFailure::None;
    std::string error;
};
OpenedFile open_regular_nofollow(const std::string& path);

// mkdir(2) of `path` with `mode` (narrowed by the umask on Linux; on Windows, the access list
// common/fs.h's modes map to). `made` is false when it existed already, which is no failure.
struct MadeDirectory {
    bool made = false;
    DirectoryFailure failure = DirectoryFailure::None;
    std::string error;
};
MadeDirectory make_directory(const std::string& path, mode_t mode);

// open_directory_below, making each missing component on the way (mode `mode`, owned by the
// caller) with mkdirat from its parent's descriptor: never through a symlink someone planted.
Result<Fd> make_directories_below(const std::string& top, std::string_view path, mode_t mode);

// open_directory_at(dir, name); when missing, creates it under a temporary name of its own beside
// it (.<name>.dsvm-agent-new.tmp.<pid>.<random>, common/temporaries.h), sets uid:gid and `mode`
// through the new descriptor (never by name) and renames it into place (RENAME_NOREPLACE), so an
// interruption never leaves it with the wrong owner, and two processes making it at once (two
// instances, on the share) never take each other's. Leftovers of processes that are gone are
// removed first. `created` reports whether it was made.
Result<Fd> open_or_create_directory_at(int dir, const std::string& name, mode_t mode, uid_t uid,
                                       gid_t gid, bool& created);

// How a file from an untrusted place (the share) must look to be read.
struct UntrustedFile {
    std::size_t max_bytes = 1 << 20;
    // Where POSIX ownership means something (NFS, a bind share; not SMB, whose owners and modes
    // are the client's fiction): the file must belong to `owner` and not be writable by group
    // or others.
    bool check_owner = false;
    uid_t owner = 0;
};

// The one reader for files on the share (docs/security.md, "One safe reader"): opened relative to
// `directory` with O_NOFOLLOW|O_NONBLOCK|O_NOCTTY (a symlink is refused, a FIFO cannot block),
// looked at with lstat first so a device node is never opened, and it must be a regular file of
// at most rules.max_bytes (and owned as `rules` says). A missing file is `found == false`. Every
// refusal is a Runtime error naming `shown` and the rule.
Result<OptionalText> read_untrusted_file_at(int directory, const std::string& name,
                                            const std::string& shown, const UntrustedFile& rules);

// The rest of read_untrusted_file_at, shared by its halves: refuses a file whose `size` (as
// looked at) is over `max_bytes`, then reads one byte more than that size, so a file that grew
// after it was looked at (a writer on another instance) is still bounded, and told apart.
Result<OptionalText> read_bounded(int fd, long long size, std::size_t max_bytes,
                                  const std::string& shown);

// Whether an open directory (or file) is owned by `owner` and not writable by group or others;
// a Runtime error naming `shown`, its owner and mode otherwise.
Result<void> check_private_owner(int fd, uid_t owner, const std::string& shown);

// renameat2(RENAME_NOREPLACE) from `from` to `to` in the directory `dir`: fails with EEXIST (in
// errno, returning -1) when `to` exists. Filesystems without the flag (NFS answers EINVAL) get a
// look first and a plain rename; there, another writer's name made in between can be replaced.
int rename_no_replace(int dir, const std::string& from, const std::string& to);

// Removes `name` in `parent` and everything below it without following a symlink: each directory
// is opened with O_NOFOLLOW from its parent's descriptor, so a directory swapped for a link to
// /etc mid-way gets the link removed, never /etc's content. A missing `name` is success; a
// tree nested more than 128 levels deep is a Runtime error (its top levels are left), so a tree
// someone else built cannot drive the recursion.
Result<void> remove_tree_at(int parent, const std::string& name, const std::string& shown);

}  // namespace dsvm
