#include "common/json_bounds.h"

#include <string>

namespace dsvm {

std::size_t json_nesting(std::string_view text) {
    std::size_t depth = 0;
    std::size_t deepest = 0;
    bool in_string = false;
    bool escaped = false;
    for (const char c : text) {
        if (in_string) {
            if (escaped) {
                escaped = false;
            } else if (c == '\\') {
                escaped = true;
            } else if (c == '"') {
                in_string = false;
            }
            continue;
        }
        switch (c) {
            case '"':
                in_string = true;
                break;
            case '[':
            case '{':
                ++depth;
                deepest = depth > deepest ? depth : deepest;
                break;
            case ']':
            case '}':
                depth = depth > 0 ? depth - 1 : 0;
                break;
            default:
                break;
        }
    }
    return deepest;
}

Result<nlohmann::json> parse_bounded_json(std::string_view text, std::size_t max_bytes,
                                          std::size_t max_depth, std::string_view shown) {
    if (text.size() > max_bytes) {
        return failure(std::string(shown) + " is " + std::to_string(text.size()) +
                       " bytes long; at most " + std::to_string(max_bytes) + " are read");
    }
    if (const std::size_t depth = json_nesting(text); depth > max_depth) {
        return failure(std::string(shown) + " is nested " + std::to_string(depth) +
                       " levels deep; at most " + std::to_string(max_depth) + " are allowed");
    }
    nlohmann::json document = nlohmann::json::parse(text, nullptr, false);
    if (document.is_discarded()) {
        return failure(std::string(shown) + " is not valid JSON");
    }
    return document;
}

}  // namespace dsvm
