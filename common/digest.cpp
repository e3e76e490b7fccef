// The part of common/digest.h that needs no crypto library: the same on every platform.
#include "common/digest.h"

namespace dsvm {

bool equal_in_constant_time(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    // Every byte is compared whatever came before: the accumulator is volatile, so the compiler
    // may not stop the loop at the first difference.
    volatile unsigned char difference = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        difference = difference | static_cast<unsigned char>(a[i] ^ b[i]);
    }
    return difference == 0;
}

}  // namespace dsvm
