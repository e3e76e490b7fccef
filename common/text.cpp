#include "common/text.h"

namespace dsvm {

std::string printable(std::string_view value) {
    static constexpr char k_hex[] = "0123456789abcdef";
    std::string out;
    for (const char c : value.substr(0, 64)) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte >= 0x20 && byte < 0x7f && c != '\\') {
            out.push_back(c);
        } else {
            out += "\\x";
            out.push_back(k_hex[byte >> 4]);
            out.push_back(k_hex[byte & 0xf]);
        }
    }
    if (value.size() > 64) {
        out += "...";
    }
    return out;
}

}  // namespace dsvm
