#include "common/json_fields.h"

#include <cstdint>

namespace dsvm {

namespace {

constexpr int k_max_depth = 32;

// Where a decoded string goes: a secret, a plain string, or nowhere (a skipped value or a name).
struct Sink {
    SecretBytes* secret = nullptr;
    std::string* text = nullptr;
    std::string* name = nullptr;  // member names are not secrets; short, bounded by the input
    bool overflow = false;

    void put(char c) {
        if (secret != nullptr) {
            overflow = overflow || !secret->push_back(c);
        } else if (text != nullptr) {
            text->push_back(c);
        } else if (name != nullptr) {
            name->push_back(c);
        }
    }
};

using Failure = std::optional<JsonFieldsFailure>;

class Reader {
  public:
    Reader(std::string_view json, const JsonFieldsOptions& options)
        : m_json(json), m_options(options) {
        // A UTF-8 byte order mark, as some tools write one.
        if (m_json.substr(0, 3) == "\xEF\xBB\xBF") {
            m_json.remove_prefix(3);
        }
    }

    Failure read(std::span<JsonField> fields) {
        skip_space();
        if (!consume('{')) {
            return error("it does not start with '{'");
        }
        skip_space();
        if (!consume('}')) {
            for (;;) {
                skip_space();
                if (peek() != '"') {
                    return error("a key is not a string");
                }
                std::string name;
                Sink name_sink;
                name_sink.name = &name;
                if (auto failed = string(name_sink)) {
                    return failed;
                }
                skip_space();
                if (!consume(':')) {
                    return error("no ':' after a key");
                }
                skip_space();
                JsonField* field = nullptr;
                for (JsonField& candidate : fields) {
                    if (candidate.name == name) {
                        field = &candidate;
                    }
                }
                if (field != nullptr) {
                    if (auto failed = wanted(*field)) {
                        return failed;
                    }
                } else if (m_options.only_listed) {
                    return JsonFieldsFailure{JsonFieldsError::UnknownMember, name, {}};
                } else if (auto failed = value(1)) {
                    return failed;
                }
                skip_space();
                if (consume('}')) {
                    break;
                }
                if (!consume(',')) {
                    return error("no ',' or '}' after a value");
                }
            }
        }
        skip_space();
        if (m_at != m_json.size()) {
            return error("text follows the object");
        }
        return std::nullopt;
    }

  private:
    Failure wanted(JsonField& field) {
        const std::string name(field.name);
        if (field.found) {
            return JsonFieldsFailure{JsonFieldsError::Duplicate, name, {}};
        }
        field.found = true;
        if (peek() == '"') {
            Sink sink;
            sink.secret = field.secret;
            sink.text = field.text;
            if (auto failed = string(sink)) {
                return failed;
            }
            if (sink.overflow) {
                return JsonFieldsFailure{JsonFieldsError::TooLong, name,
                                         std::to_string(field.secret->capacity())};
            }
            return std::nullopt;
        }
        if (field.text != nullptr && (peek() == '-' || is_digit(peek()))) {
            const std::size_t start = m_at;
            if (auto failed = number()) {
                return failed;
            }
            field.text->assign(m_json.substr(start, m_at - start));
            return std::nullopt;
        }
        return JsonFieldsFailure{JsonFieldsError::WrongType, name, {}};
    }

    Failure value(int depth) {
        if (depth > k_max_depth) {
            return error("nested deeper than " + std::to_string(k_max_depth) + " levels");
        }
        const char c = peek();
        if (c == '"') {
            Sink none;
            return string(none);
        }
        if (c == '{' || c == '[') {
            const char close = c == '{' ? '}' : ']';
            ++m_at;
            skip_space();
            if (consume(close)) {
                return std::nullopt;
            }
            for (;;) {
                skip_space();
                if (c == '{') {
                    if (peek() != '"') {
                        return error("a key is not a string");
                    }
                    Sink none;
                    if (auto failed = string(none)) {
                        return failed;
                    }
                    skip_space();
                    if (!consume(':')) {
                        return error("no ':' after a key");
                    }
                    skip_space();
                }
                if (auto failed = value(depth + 1)) {
                    return failed;
                }
                skip_space();
                if (consume(close)) {
                    return std::nullopt;
                }
                if (!consume(',')) {
                    return error(std::string("no ',' or '") + close + "' after a value");
                }
            }
        }
        if (c == '-' || is_digit(c)) {
            return number();
        }
        for (const std::string_view literal : {"true", "false", "null"}) {
            if (m_json.substr(m_at, literal.size()) == literal) {
                m_at += literal.size();
                return std::nullopt;
            }
        }
        return error("not a JSON value");
    }

    // RFC 8259 strings: no raw control characters; escapes decoded, \u as UTF-8 (surrogate pairs
    // joined, lone surrogates refused).
    Failure string(Sink& sink) {
        if (!consume('"')) {
            return error("not a string");
        }
        for (;;) {
            if (m_at >= m_json.size()) {
                return error("a string is not terminated");
            }
            const char c = m_json[m_at++];
            if (c == '"') {
                return std::nullopt;
            }
            if (static_cast<unsigned char>(c) < 0x20) {
                return error("a control character inside a string");
            }
            if (c != '\\') {
                sink.put(c);
                continue;
            }
            if (m_at >= m_json.size()) {
                return error("a string is not terminated");
            }
            const char escape = m_json[m_at++];
            switch (escape) {
                case '"':
                case '\\':
                case '/':
                    sink.put(escape);
                    break;
                case 'b':
                    sink.put('\b');
                    break;
                case 'f':
                    sink.put('\f');
                    break;
                case 'n':
                    sink.put('\n');
                    break;
                case 'r':
                    sink.put('\r');
                    break;
                case 't':
                    sink.put('\t');
                    break;
                case 'u': {
                    std::uint32_t code = 0;
                    if (auto failed = code_point(code)) {
                        return failed;
                    }
                    put_utf8(sink, code);
                    break;
                }
                default:
                    return error("an unknown escape in a string");
            }
        }
    }

    Failure hex4(std::uint32_t& value) {
        if (m_json.size() - m_at < 4) {
            return error("a \\u escape without four hexadecimal digits");
        }
        value = 0;
        for (int i = 0; i < 4; ++i) {
            const char c = m_json[m_at++];
            value <<= 4;
            if (c >= '0' && c <= '9') {
                value |= static_cast<std::uint32_t>(c - '0');
            } else if (c >= 'a' && c <= 'f') {
                value |= static_cast<std::uint32_t>(c - 'a' + 10);
            } else if (c >= 'A' && c <= 'F') {
                value |= static_cast<std::uint32_t>(c - 'A' + 10);
            } else {
                return error("a \\u escape without four hexadecimal digits");
            }
        }
        return std::nullopt;
    }

    // A "\uXXXX" escape after the "\u"; a high surrogate must be followed by a low one.
    Failure code_point(std::uint32_t& code) {
        std::uint32_t high = 0;
        if (auto failed = hex4(high)) {
            return failed;
        }
        if (high >= 0xDC00 && high <= 0xDFFF) {
            return error("a lone low surrogate in a \\u escape");
        }
        if (high < 0xD800 || high > 0xDBFF) {
            code = high;
            return std::nullopt;
        }
        if (m_json.substr(m_at, 2) != "\\u") {
            return error("a high surrogate without its low surrogate");
        }
        m_at += 2;
        std::uint32_t low = 0;
        if (auto failed = hex4(low)) {
            return failed;
        }
        if (low < 0xDC00 || low > 0xDFFF) {
            return error("a high surrogate without its low surrogate");
        }
        code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
        return std::nullopt;
    }

    static void put_utf8(Sink& sink, std::uint32_t code) {
        if (code < 0x80) {
            sink.put(static_cast<char>(code));
        } else if (code < 0x800) {
            sink.put(static_cast<char>(0xC0 | (code >> 6)));
            sink.put(static_cast<char>(0x80 | (code & 0x3F)));
        } else if (code < 0x10000) {
            sink.put(static_cast<char>(0xE0 | (code >> 12)));
            sink.put(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
            sink.put(static_cast<char>(0x80 | (code & 0x3F)));
        } else {
            sink.put(static_cast<char>(0xF0 | (code >> 18)));
            sink.put(static_cast<char>(0x80 | ((code >> 12) & 0x3F)));
            sink.put(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
            sink.put(static_cast<char>(0x80 | (code & 0x3F)));
        }
    }

    // RFC 8259 numbers: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
    Failure number() {
        consume('-');
        if (consume('0')) {
            // A leading zero stands alone.
        } else if (is_digit(peek())) {
            digits();
        } else {
            return error("not a JSON number");
        }
        if (consume('.')) {
            if (!is_digit(peek())) {
                return error("not a JSON number");
            }
            digits();
        }
        if (peek() == 'e' || peek() == 'E') {
            ++m_at;
            if (peek() == '+' || peek() == '-') {
                ++m_at;
            }
            if (!is_digit(peek())) {
                return error("not a JSON number");
            }
            digits();
        }
        return std::nullopt;
    }

    void digits() {
        while (is_digit(peek())) {
            ++m_at;
        }
    }
    static bool is_digit(char c) { return c >= '0' && c <= '9'; }
    char peek() const { return m_at < m_json.size() ? m_json[m_at] : '\0'; }
    bool consume(char c) {
        if (peek() != c || m_at >= m_json.size()) {
            return false;
        }
        ++m_at;
        return true;
    }
    void skip_space() {
        while (m_at < m_json.size() && (m_json[m_at] == ' ' || m_json[m_at] == '\t' ||
                                        m_json[m_at] == '\n' || m_json[m_at] == '\r')) {
            ++m_at;
        }
    }
    Failure error(const std::string& what) const {
        return JsonFieldsFailure{
            JsonFieldsError::NotJson, {}, what + " (at offset " + std::to_string(m_at) + ")"};
    }

    std::string_view m_json;
    const JsonFieldsOptions& m_options;
    std::size_t m_at = 0;
};

}  // namespace

std::optional<JsonFieldsFailure> scan_json_fields(std::string_view json,
                                                  std::span<JsonField> fields,
                                                  const JsonFieldsOptions& options) {
    return Reader(json, options).read(fields);
}

Result<void> read_json_fields(std::string_view json, std::span<JsonField> fields) {
    const auto failure = scan_json_fields(json, fields);
    if (!failure) {
        return {};
    }
    const std::string member = "member \"" + failure->member + "\"";
    switch (failure->kind) {
        case JsonFieldsError::NotJson:
            return invalid("not a JSON object: " + failure->detail);
        case JsonFieldsError::UnknownMember:
            return invalid("unexpected " + member);
        case JsonFieldsError::Duplicate:
            return invalid(member + " appears twice");
        case JsonFieldsError::WrongType:
            return invalid(member + " is not a string");
        case JsonFieldsError::TooLong:
            return invalid(member + " is longer than " + failure->detail + " bytes");
    }
    return invalid("not a JSON object");
}

}  // namespace dsvm
