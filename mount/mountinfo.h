// /proc/self/mountinfo, parsed from text (proc(5)).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace dsvm::mount {

struct MountEntry {
    int mount_id = 0;
    int parent_id = 0;
    unsigned major = 0;
    unsigned minor = 0;
    std::string root;           // path inside the mounted filesystem ("/" or a bind's subdir)
    std::string mount_point;    // octal escapes (\040 ...) decoded
    std::string mount_options;  // per-mount options (rw,nosuid,...)
    std::string fs_type;
    std::string source;
    std::string super_options;
};

// Parses the whole text. Lines that do not have the fields proc(5) documents are an error naming
// the line number; octal escapes (\040 space, \011 tab, \012 newline, \134 backslash) are decoded.
Result<std::vector<MountEntry>> parse_mountinfo(std::string_view text);

// Decodes every \ooo octal escape (as libmount does for mountinfo and fstab fields); a
// backslash not followed by three octal digits stays as it is.
std::string decode_octal_escapes(std::string_view field);

// The entry mounted last on `mount_point` (the visible one when mounts are stacked), or nullptr.
const MountEntry* find_mount(const std::vector<MountEntry>& entries, std::string_view mount_point);

}  // namespace dsvm::mount
