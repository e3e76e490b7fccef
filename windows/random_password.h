// Random passwords for the agent's Windows accounts (docs/windows-backends.md, trap 2): a pool
// password is a crypt hash that cannot become a Windows password, so every account the agent
// creates, locks or unlocks gets one no one knows. A user who needs a password (RDP) has one set
// on the instance (`net user NAME *`). The password is held only in SecretBytes and never shown.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>

#include "common/result.h"
#include "common/secret.h"

namespace dsvm::windows_platform {

// Fills `size` bytes with random ones: 0, or the Win32 error (AccountApi::random).
using RandomSource = std::function<std::uint32_t(unsigned char* bytes, std::size_t size)>;

inline constexpr std::size_t k_password_length = 24;

// k_password_length characters drawn uniformly from upper and lower case letters, digits and
// symbols, with at least one of each and without `account` in it (any case), as the Windows
// password complexity policy requires. A Runtime error, naming neither, when the source fails
// or gives no such password in 16 draws.
Result<SecretBytes> random_password(std::string_view account, const RandomSource& random);

}  // namespace dsvm::windows_platform
