// Reading a few top-level string members of a JSON object whose values are secrets (an access
// token, a Key Vault secret) without the parsed copies a DOM or SAX parser leaves behind: the
// wanted values are decoded straight into SecretBytes, everything else is only checked and
// skipped. The whole document must be valid JSON.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/result.h"
#include "common/secret.h"

namespace dsvm {

// A member to read. Exactly one of `secret` and `text` is set: a secret value is decoded into
// SecretBytes (its capacity is the limit), a plain one into a string. A plain member may also be
// a number (its text is returned), as some services send numbers as either.
struct JsonField {
    std::string_view name;
    SecretBytes* secret = nullptr;
    std::string* text = nullptr;
    bool found = false;
};

enum class JsonFieldsError {
    NotJson,        // not a JSON object (detail says where and why)
    UnknownMember,  // a member not in the list, with only_listed
    Duplicate,      // a listed member twice
    WrongType,      // a listed member that is not a string (nor a number, for a plain field)
    TooLong,        // a secret longer than its buffer's capacity
};

struct JsonFieldsFailure {
    JsonFieldsError kind = JsonFieldsError::NotJson;
    std::string member;  // the member concerned (never a value), empty for NotJson
    std::string detail;  // for NotJson: what is wrong and at which offset
};

struct JsonFieldsOptions {
    // Any member not in the list is a failure (the extension's protected settings), instead of
    // being checked and skipped (a service's answer, which may grow new members).
    bool only_listed = false;
};

// Reads the fields from `json`, a JSON object nested at most 32 deep (a UTF-8 byte order mark
// before it is skipped). A field that is absent is left with found = false. Nothing of the
// document's content is ever put in a failure but member names.
std::optional<JsonFieldsFailure> scan_json_fields(std::string_view json,
                                                  std::span<JsonField> fields,
                                                  const JsonFieldsOptions& options = {});

// scan_json_fields with the failure as an Invalid error: "invalid JSON at offset 12: ...",
// "member \"value\" is not a string", ...
Result<void> read_json_fields(std::string_view json, std::span<JsonField> fields);

}  // namespace dsvm
