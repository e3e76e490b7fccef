// Digests: SHA-256 of public data, HMAC-SHA256 (OpenSSL's libcrypto on Linux, CNG on Windows),
// and a comparison whose time does not depend on where two MACs differ.
#pragma once

#include <string>
#include <string_view>

namespace dsvm {

// SHA-256 of `data`, as 64 lower-case hex digits. Throws std::runtime_error only when the
// platform's crypto library cannot give SHA-256 at all.
std::string sha256_hex(std::string_view data);

// HMAC-SHA256 of `data` under `key`, as 64 lower-case hex digits; fails as sha256_hex does.
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

// a == b, in time that depends only on their lengths (for MACs).
bool equal_in_constant_time(std::string_view a, std::string_view b);

}  // namespace dsvm
