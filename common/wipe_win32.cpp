// wipe_bytes on Windows (common/secret.h): SecureZeroMemory, which the compiler may not drop.
#include "common/secret.h"

#define WIN32_LEAN_AND_MEAN
#include <windows.h>

namespace dsvm {

void wipe_bytes(void* data, std::size_t size) {
    ::SecureZeroMemory(data, size);
}

}  // namespace dsvm
