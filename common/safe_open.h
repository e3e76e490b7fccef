// Opening directories without ever following a symlink: for root working inside directories that
// users own, where a planted symlink could otherwise redirect a write to /etc.
#pragma once

#include <string>
#include <string_view>

#include "common/fd.h"
#include "common/result.h"

namespace dsvm {

// Why openat(parent, name, ...O_NOFOLLOW...) failed with `error`, in words ("it is a symlink",
// "it is not a directory", or the errno text).
std::string open_error_text(int parent, const std::string& name, int error);

// openat(parent, name, O_DIRECTORY|O_NOFOLLOW): a symlink or non-directory is refused
// ("refusing SHOWN: it is a symlink"); a missing one is "cannot open SHOWN: ...".
Result<Fd> open_directory_at(int parent, const std::string& name, const std::string& shown);

// Opens `path` (absolute, inside the directory `top`, which is trusted and opened normally) one
// component at a time with openat(O_DIRECTORY|O_NOFOLLOW): a symlink or non-directory anywhere
// below `top` fails with a Runtime error naming the component. A "." or ".." component is
// Invalid.
Result<Fd> open_directory_below(const std::string& top, std::string_view path);

// open_directory_at(dir, name); creates it first when missing, then sets uid:gid and `mode`
// through the new descriptor (never by name). `created` reports whether it was made.
Result<Fd> open_or_create_directory_at(int dir, const std::string& name, mode_t mode, uid_t uid,
                                       gid_t gid, bool& created);

// Removes `name` in `parent` and everything below it without following a symlink: each directory
// is opened with O_NOFOLLOW from its parent's descriptor, so a directory swapped for a link to
// /etc mid-way gets the link removed, never /etc's content. A missing `name` is success.
Result<void> remove_tree_at(int parent, const std::string& name, const std::string& shown);

}  // namespace dsvm
