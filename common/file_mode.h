// Permission bits of a file or a directory (0755, 0600), as the portable layers (config/,
// engine/, cli/) carry them: no POSIX mode_t there. The backends pass them on to the system.
#pragma once

#include <cstdint>

namespace dsvm {

using FileMode = std::uint32_t;

}  // namespace dsvm
