// Showing untrusted text in messages, and bytes as hex.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace dsvm {

// The value as it is safe to print in an error: printable ASCII as is, anything else as \xNN,
// cut to 64 characters.
std::string printable(std::string_view value);

// A whole message as it is safe to show on a terminal or in a world-readable file: the same
// escaping, cut to `max_length` characters ("..." marks the cut). For text that may carry
// values from untrusted places (a registry, metadata) at the output edge.
std::string printable_line(std::string_view text, std::size_t max_length = 1024);

// printable(value) in single quotes, as errors name a value: 'alice'.
std::string quoted(std::string_view value);

// The text with ASCII A-Z made a-z; other bytes as they are (no locale).
std::string ascii_lower(std::string_view text);

// The parts between separators: "a,,b" gives "a", "", "b"; "" gives one empty part.
std::vector<std::string_view> split(std::string_view text, char separator);

// The text without the given characters at its start and end (trim), or at its end only.
std::string_view trim(std::string_view text, std::string_view characters);
std::string_view trim_end(std::string_view text, std::string_view characters);

// ASCII character classes, the same in every locale: the rules they serve are about bytes.
namespace ascii {
constexpr bool is_control(char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
}
constexpr bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
constexpr bool is_lower(char c) {
    return c >= 'a' && c <= 'z';
}
constexpr bool is_upper(char c) {
    return c >= 'A' && c <= 'Z';
}
constexpr bool is_alpha(char c) {
    return is_lower(c) || is_upper(c);
}
constexpr bool is_alnum(char c) {
    return is_alpha(c) || is_digit(c);
}
constexpr bool is_hex(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
constexpr bool is_base64(char c) {
    return is_alnum(c) || c == '+' || c == '/';
}
}  // namespace ascii

enum class HexCase { Lower, Upper };

// The bytes as two hex digits each ("0A1B..." with Upper), as digests and thumbprints are shown.
std::string hex_digits(const unsigned char* bytes, std::size_t length,
                       HexCase letters = HexCase::Lower);

}  // namespace dsvm
