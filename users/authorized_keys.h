// The managed block of an authorized_keys file, as text: pure, for both platforms (OpenSSH reads
// the same file on Linux and on Windows).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dsvm::users {

inline constexpr std::string_view k_keys_begin = "# BEGIN dsvm-agent managed keys";
inline constexpr std::string_view k_keys_end = "# END dsvm-agent managed keys";

// Pure: `current` with the managed block replaced by `keys` (removed when keys is empty; added
// at the end when absent). Lines outside the block are kept byte for byte. Idempotent.
std::string merge_authorized_keys(std::string_view current, const std::vector<std::string>& keys);

// Whether `keys` give a managed block at all: false when none is usable (a key that spans lines
// or looks like a marker is left out), so a removal need not create anything.
bool has_usable_keys(const std::vector<std::string>& keys);

}  // namespace dsvm::users
