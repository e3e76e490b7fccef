// The agent's entries in /etc/fstab. Each is the line right after a marker comment; every other
// line is the admin's and is kept byte for byte. Parsing and rendering are pure (text in, text
// out); the engine writes the result atomically and keeps a backup.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dsvm::mount {

inline constexpr std::string_view k_fstab_marker =
    "# dsvm-agent: the next line is managed by dsvm-agent; edits to it are overwritten";

struct FstabEntry {
    std::string source;
    std::string target;   // the mount point as the instance sees it (inside --root)
    std::string fs_type;  // "cifs", "nfs", "none" for a bind mount
    std::string options;

    bool operator==(const FstabEntry&) const = default;
};

// One fstab line: fields separated by single spaces, space/tab/newline/backslash in a field
// escaped as \040 \011 \012 \134 (fstab(5)), dump 0 and pass 0.
std::string render_fstab_line(const FstabEntry& entry);

// The agent's entries in `text` (lines after a marker), decoded. A marker followed by no line,
// by a blank or comment line, or by a malformed line does not make an entry.
std::vector<FstabEntry> managed_fstab_entries(std::string_view text);

// `current` with the agent's entries replaced by `entries`: an existing managed entry for the
// same target is rewritten in place, managed entries for other targets are removed (marker and
// line), new ones are appended at the end (marker, line). Every other line is kept byte for
// byte; a missing final newline is added before appending. Idempotent: feeding the result back
// with the same entries returns it unchanged.
std::string update_fstab(std::string_view current, const std::vector<FstabEntry>& entries);

}  // namespace dsvm::mount
