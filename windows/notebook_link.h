// The notebook link in a Windows profile (docs/windows-backends.md, trap 4): a directory symbolic
// link whose target is stored verbatim, as an NT path. `//host/share/...` in a link means nothing
// to Windows, so the target is written, and compared, as `\??\UNC\host\share\...`. The reparse
// data is built and read here, as bytes, so its layout is tested where symbolic links cannot be
// made (wine).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace dsvm::windows_platform {

// IO_REPARSE_TAG_SYMLINK.
inline constexpr std::uint32_t k_symlink_tag = 0xA000000CU;

// The NT form of a folder on a share or a drive: `\\host\share\dir` or `//host/share/dir` (either
// separator) gives `\??\UNC\host\share\dir`, `C:\dir` gives `\??\C:\dir`. Invalid for anything
// else (a relative path, a `.` or `..` component, an empty one, no share).
Result<std::string> nt_link_target(std::string_view target);

// The print name Explorer and `dir` show for an NT target: `\\host\share\dir`, `C:\dir`.
std::string print_name(std::string_view nt_target);

// REPARSE_DATA_BUFFER for an absolute symbolic link (flags 0) to `nt_target`, shown as
// `print_name`, both UTF-16 without a terminator, the substitute name first.
std::vector<unsigned char> symlink_reparse_data(std::string_view nt_target,
                                                std::string_view print_name);

// A symbolic link's substitute name from FSCTL_GET_REPARSE_POINT's answer; none for another
// kind of reparse point, or data that does not hold together.
std::optional<std::string> symlink_target(const unsigned char* data, std::size_t size);

}  // namespace dsvm::windows_platform
