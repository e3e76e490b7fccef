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

std::string quoted(std::string_view value) {
    return "'" + printable(value) + "'";
}

std::string ascii_lower(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return out;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
    std::vector<std::string_view> parts;
    for (auto at = text.find(separator); at != std::string_view::npos; at = text.find(separator)) {
        parts.push_back(text.substr(0, at));
        text.remove_prefix(at + 1);
    }
    parts.push_back(text);
    return parts;
}

std::string_view trim_end(std::string_view text, std::string_view characters) {
    const auto last = text.find_last_not_of(characters);
    return last == std::string_view::npos ? std::string_view() : text.substr(0, last + 1);
}

std::string_view trim(std::string_view text, std::string_view characters) {
    const auto first = text.find_first_not_of(characters);
    return first == std::string_view::npos ? std::string_view()
                                           : trim_end(text.substr(first), characters);
}

}  // namespace dsvm
