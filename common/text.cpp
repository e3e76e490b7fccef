#include "common/text.h"

#include <algorithm>

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

namespace {

std::string escaped(std::string_view value, std::size_t max_length, bool keep_backslash) {
    std::string out;
    out.reserve(std::min(value.size(), max_length) + 8);
    for (const char c : value.substr(0, max_length)) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte >= 0x20 && byte < 0x7f && (c != '\\' || keep_backslash)) {
            out.push_back(c);
        } else {
            out += "\\x" + hex_digits(&byte, 1);
        }
    }
    if (value.size() > max_length) {
        out += "...";
    }
    return out;
}

}  // namespace

std::string printable(std::string_view value) {
    return escaped(value, 64, false);
}

std::string printable_line(std::string_view text, std::size_t max_length) {
    // Backslashes stay: messages were escaped where they were made, and "\x1b" must read as such.
    return escaped(text, max_length, true);
}

}  // namespace dsvm
