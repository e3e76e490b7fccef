#include "config/source_report.h"

#include "common/enum_words.h"

namespace dsvm::config {

namespace {

constexpr EnumWords<SourceState, 8> k_source_states = {
    {SourceState::Used, "used"},
    {SourceState::Absent, "absent"},
    {SourceState::Ignored, "ignored"},
    {SourceState::Cached, "cached"},
    {SourceState::Unreachable, "unreachable"},
    {SourceState::Disabled, "disabled"},
    {SourceState::NotRead, "not read"},
    {SourceState::Failed, "failed"},
};

}  // namespace

std::string_view to_string(SourceState state) {
    return word_of(k_source_states, state);
}

std::optional<SourceState> source_state_from(std::string_view word) {
    return value_of(k_source_states, word);
}

}  // namespace dsvm::config
