#include "common/ids.h"

namespace dsvm {

uid_t effective_uid() {
    return static_cast<uid_t>(-1);
}

gid_t effective_gid() {
    return static_cast<gid_t>(-1);
}

bool files_have_posix_owners() {
    return false;
}

}  // namespace dsvm
