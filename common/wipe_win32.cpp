// wipe_bytes on Windows (common/secret.h): SecureZeroMemory, which the compiler may not drop.
#include <windows.h>

#include "common/secret.h"

namespace dsvm {

void wipe_bytes(void* data, std::size_t size) {
    ::SecureZeroMemory(data, size);
}

}  // namespace dsvm
