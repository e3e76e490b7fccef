// uid_t and gid_t on every platform, and the process's own. The account model (the pool's users
// and their uids) is shared with Linux; Windows has no numeric owners (a file's owner is a SID),
// so there the types only carry the model's numbers. The one #ifdef in a shared header: the
// types must be global, as POSIX's are.
#pragma once

#include <sys/types.h>

#ifdef _WIN32
using uid_t = unsigned int;
using gid_t = unsigned int;
#endif

namespace dsvm {

// The effective uid and gid (root's in production). On Windows, where files have no numeric
// owner, (uid_t)-1 and (gid_t)-1: "as created", what ReplaceOptions and the owner checks take.
uid_t effective_uid();
gid_t effective_gid();

// Whether files have POSIX owners and modes here (Linux), or access lists (Windows).
bool files_have_posix_owners();

}  // namespace dsvm
