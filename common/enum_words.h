// An enum's words in JSON and on the terminal, from one table per enum: the words are output
// only, the code compares values.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>
#include <utility>

namespace dsvm {

template <class Enum, std::size_t N>
using EnumWords = std::pair<Enum, std::string_view>[N];

// The word of `value` in `table`; "" when it has none.
template <class Enum, std::size_t N>
constexpr std::string_view word_of(const EnumWords<Enum, N>& table, Enum value) {
    for (const auto& [known, word] : table) {
        if (known == value) {
            return word;
        }
    }
    return {};
}

// The value `word` names in `table`; nullopt for a word it does not have.
template <class Enum, std::size_t N>
constexpr std::optional<Enum> value_of(const EnumWords<Enum, N>& table, std::string_view word) {
    for (const auto& [value, known] : table) {
        if (known == word) {
            return value;
        }
    }
    return std::nullopt;
}

}  // namespace dsvm
