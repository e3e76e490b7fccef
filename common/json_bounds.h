// JSON from places the agent does not trust (the share, instance metadata) is measured before it
// is parsed: nlohmann's parser is iterative, but copying, comparing or dumping a value recurses
// once per level, so a document nested 200,000 deep would overflow the stack long after it was
// parsed (docs/security.md, "One safe reader").
#pragma once

#include <cstddef>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace dsvm {

// The deepest nesting of arrays and objects in `text` ("[]" is 1, "{"a":[1]}" is 2), found in one
// pass without recursion; brackets inside strings (escapes included) do not count. Text that is
// not JSON is measured all the same: the parser rejects it afterwards.
std::size_t json_nesting(std::string_view text);

// Parses `text` when it is at most `max_bytes` long and nested at most `max_depth` deep. Runtime
// error naming `shown` and the limit otherwise, or when it is not JSON.
Result<nlohmann::json> parse_bounded_json(std::string_view text, std::size_t max_bytes,
                                          std::size_t max_depth, std::string_view shown);

}  // namespace dsvm
