// wipe_bytes on glibc (common/secret.h).
#include <string.h>

#include "common/secret.h"

namespace dsvm {

void wipe_bytes(void* data, std::size_t size) {
    ::explicit_bzero(data, size);
}

}  // namespace dsvm
