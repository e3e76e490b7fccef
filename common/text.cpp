#include "common/text.h"

namespace dsvm {

namespace {

constexpr char k_hex_lower[] = "0123456789abcdef";
constexpr char k_hex_upper[] = "0123456789ABCDEF";

}  // namespace

std::string hex_digits(const unsigned char* bytes, std::size_t length, HexCase letters) {
    const char* digits = letters == HexCase::Upper ? k_hex_upper : k_hex_lower;
    std::string out;
    out.reserve(2 * length);
    for (std::size_t i = 0; i < length; ++i) {
        out.push_back(digits[bytes[i] >> 4]);
        out.push_back(digits[bytes[i] & 0x0F]);
    }
    return out;
}

std::string printable(std::string_view value) {
    std::string out;
    for (const char c : value.substr(0, 64)) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte >= 0x20 && byte < 0x7f && c != '\\') {
            out.push_back(c);
        } else {
            out += "\\x" + hex_digits(&byte, 1);
        }
    }
    if (value.size() > 64) {
        out += "...";
    }
    return out;
}

}  // namespace dsvm
