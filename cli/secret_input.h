// Reading a secret (a storage key, a password) from standard input, never from argv.
#pragma once

#include <cstddef>
#include <string>

#include "common/result.h"

namespace dsvm::cli {

// Enough for any secret read_secret accepts; reserve it in `out` before reading, so the secret is
// never copied into a buffer that cannot be wiped.
inline constexpr std::size_t k_secret_capacity = 64 * 1024 + 4096;

// On a terminal: `prompt` on stderr with echo off (restored on every way out, Ctrl-C included),
// then one line. Otherwise all of standard input (at most 64 KiB read). One trailing "\n" or
// "\r\n" is dropped. Invalid when empty ("no <what> on standard input") or longer than
// max_bytes; the secret is never in a message.
Result<void> read_secret(std::string& out, const std::string& prompt, std::size_t max_bytes,
                         const std::string& what);

}  // namespace dsvm::cli
