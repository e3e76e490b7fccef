// Showing untrusted text in messages, and bytes as hex.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace dsvm {

// The value as it is safe to print in an error: printable ASCII as is, anything else as \xNN,
// cut to 64 characters.
std::string printable(std::string_view value);

enum class HexCase { Lower, Upper };

// The bytes as two hex digits each ("0A1B..." with Upper), as digests and thumbprints are shown.
std::string hex_digits(const unsigned char* bytes, std::size_t length,
                       HexCase letters = HexCase::Lower);

}  // namespace dsvm
