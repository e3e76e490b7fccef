#include <unistd.h>

#include "common/ids.h"

namespace dsvm {

uid_t effective_uid() {
    return ::geteuid();
}

gid_t effective_gid() {
    return ::getegid();
}

bool files_have_posix_owners() {
    return true;
}

}  // namespace dsvm
