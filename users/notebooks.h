// Each pool user's notebook folder on the share and the ~/notebooks/remote link to it. Root works
// inside the user's home without ever following a symlink it did not make: every component is
// opened with O_NOFOLLOW from a directory fd, and ownership is checked with fstat.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/ids.h"
#include "common/result.h"
#include "common/root.h"
#include "users/notebook_folder.h"

namespace dsvm::users {

// Creates <share_dir>/<folder> (parents root-owned 0755, the folder itself uid:gid 0700) if
// missing; an existing folder gets uid:gid and 0700 when it has anything else. share_dir is a
// real path (the mounted share). Returns whether anything changed. A symlink anywhere in the
// folder path is refused.
Result<bool> ensure_notebook_folder(const std::string& share_dir, std::string_view folder,
                                    uid_t uid, gid_t gid);

// For an SMB share, where owners and mode bits are the client's fiction (set by mount options,
// and chown/chmod are silently ignored): makes <share_dir>/<folder> exist, nothing more. Who may
// reach it is decided by the user's own mount of it. A symlink in the path is refused.
Result<bool> ensure_share_folder(const std::string& share_dir, std::string_view folder);

enum class LinkChange { Unchanged, Created, Replaced };

// Makes <home>/notebooks/remote a symlink to `target` (the folder as the instance sees it, e.g.
// /datamnt/share/notebooks/alice). The home must be a real directory owned by uid;
// <home>/notebooks is created (uid:gid, 0755) if missing, and must be a real directory owned by
// uid — a symlink (say to /etc) is refused and nothing is touched. A wrong link is replaced
// atomically (symlinkat a temporary name, renameat); an empty directory in the way is removed;
// a directory with content or a file is never clobbered (Runtime error naming it).
Result<LinkChange> ensure_notebook_link(const Root& root, std::string_view home, uid_t uid,
                                        gid_t gid, std::string_view target);

// What a dry run asks, creating and following nothing. The owner to check: the folder must be
// uid:gid with mode 0700 (ensure_notebook_folder); none: it only has to exist
// (ensure_share_folder).
struct FolderOwner {
    uid_t uid = 0;
    gid_t gid = 0;
};
// Whether the ensure_ function for <share_dir>/<folder> would change anything.
Result<bool> notebook_folder_differs(const std::string& share_dir, std::string_view folder,
                                     std::optional<FolderOwner> owner);
// Whether ensure_notebook_link would create or replace <home>/notebooks/remote; a home or
// notebooks directory that is missing would be made, so that is a change too.
Result<bool> notebook_link_differs(const Root& root, std::string_view home, uid_t uid,
                                   std::string_view target);

}  // namespace dsvm::users
