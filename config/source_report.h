// What became of each config or key source on a pass (status.json's "sources").
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace dsvm::config {

// What became of a config or key source on a pass. Words only in status.json and on the
// terminal (to_string).
enum class SourceState { Used, Absent, Ignored, Cached, Unreachable, Disabled, NotRead, Failed };

// "used", "absent", "ignored", "cached", "unreachable", "disabled", "not read", "failed".
std::string_view to_string(SourceState state);
// The state a to_string word names; nullopt for any other word.
std::optional<SourceState> source_state_from(std::string_view word);

// One config source and what became of it on the last pass.
struct SourceReport {
    std::string name;  // "IMDS tags", "IMDS userData", "/etc/dsvm-agent/pool.json"
    SourceState state = SourceState::Absent;
    std::string detail;  // why, in a few words; never a secret

    bool operator==(const SourceReport&) const = default;
};

}  // namespace dsvm::config
