// The protected settings' plaintext (declared in extension_settings.h): parsed here by hand, in
// place, because it holds the storage key and the pool registry keys.
#include <cstdint>
#include <optional>

#include "agent/extension_settings.h"
#include "common/text.h"
#include "users/registry_key.h"

namespace dsvm {

namespace {

constexpr std::string_view k_storage_key_name = "storageAccountKey";
constexpr std::string_view k_registry_key_name = "registryKey";
constexpr std::string_view k_previous_registry_key_name = "previousRegistryKey";
constexpr std::string_view k_allowed_keys =
    "storageAccountKey, registryKey and previousRegistryKey";

// Where the value of each key the protected settings may hold goes; nullptr for any other key.
std::optional<SecretBytes>* field_for(ProtectedSettings& out, std::string_view key) {
    if (key == k_storage_key_name) {
        return &out.storage_key;
    }
    if (key == k_registry_key_name) {
        return &out.registry_key;
    }
    if (key == k_previous_registry_key_name) {
        return &out.previous_registry_key;
    }
    return nullptr;
}

// The registry keys' rules, which hold wherever the keys go (unlike the storage key's, which
// depend on the share): each one a valid key, a previous key only beside a current one, and not
// the current one again. An empty previousRegistryKey is none, so that a template can always
// pass its optional parameter (docs/extension.md). No message shows a key.
Result<void> check_registry_keys(ProtectedSettings& out) {
    if (out.previous_registry_key && out.previous_registry_key->empty()) {
        out.previous_registry_key.reset();
    }
    const std::string prefix = "protected settings: ";
    if (out.registry_key) {
        if (auto checked = check_registry_key(out.registry_key->view()); !checked) {
            return with_context(prefix + std::string(k_registry_key_name), checked.error());
        }
    }
    if (!out.previous_registry_key) {
        return {};
    }
    if (auto checked = check_registry_key(out.previous_registry_key->view()); !checked) {
        return with_context(prefix + std::string(k_previous_registry_key_name), checked.error());
    }
    if (!out.registry_key) {
        return invalid(prefix +
                       "previousRegistryKey without registryKey: a previous key only keeps "
                       "registries it signed readable while the pool moves to a new registryKey");
    }
    if (out.registry_key->view() == out.previous_registry_key->view()) {
        return invalid(prefix +
                       "previousRegistryKey is the same key as registryKey: give the key being "
                       "replaced, or leave previousRegistryKey out (docs/deploy.md)");
    }
    return {};
}

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// A reader for the protected settings' plaintext: a flat JSON object of strings, parsed in
// place. nlohmann's lexer would copy the key into buffers it frees without wiping them.
class FlatObjectReader {
  public:
    explicit FlatObjectReader(std::string_view text) : m_text(text) {
        // A UTF-8 byte order mark, as some tools write one.
        if (m_text.substr(0, 3) == "\xEF\xBB\xBF") {
            m_text.remove_prefix(3);
        }
    }

    Result<ProtectedSettings> read() {
        ProtectedSettings out;
        skip_space();
        if (!take('{')) {
            return not_json("it does not start with '{'");
        }
        skip_space();
        if (take('}')) {
            return finish(std::move(out));
        }
        for (;;) {
            skip_space();
            if (peek() != '"') {
                return not_json("a key is not a string");
            }
            auto name = string_value();
            if (!name) {
                return name.error();
            }
            const std::string key(name->view());
            skip_space();
            if (!take(':')) {
                return not_json("no ':' after a key");
            }
            skip_space();
            std::optional<SecretBytes>* field = field_for(out, key);
            if (field == nullptr) {
                return invalid("protected settings: unknown key '" + printable(key) +
                               "'; the protected settings hold only " +
                               std::string(k_allowed_keys));
            }
            if (field->has_value()) {
                return invalid("protected settings: " + key + " appears twice");
            }
            if (peek() != '"') {
                return invalid("protected settings: " + key + ": expected a string");
            }
            auto value = string_value();
            if (!value) {
                return value.error();
            }
            *field = std::move(value).value();
            skip_space();
            if (take('}')) {
                return finish(std::move(out));
            }
            if (!take(',')) {
                return not_json("no ',' or '}' after a value");
            }
        }
    }

  private:
    static Error not_json(std::string_view why) {
        return invalid("protected settings: the decrypted text is not a JSON object (" +
                       std::string(why) + "); expected {\"storageAccountKey\": \"...\", " +
                       "\"registryKey\": \"...\", \"previousRegistryKey\": \"...\"}, each " +
                       "optional");
    }

    Result<ProtectedSettings> finish(ProtectedSettings out) {
        skip_space();
        if (m_at != m_text.size()) {
            return not_json("text follows the object");
        }
        if (auto checked = check_registry_keys(out); !checked) {
            return checked.error();
        }
        return out;
    }

    char peek() const { return m_at < m_text.size() ? m_text[m_at] : '\0'; }
    bool take(char c) {
        if (m_at < m_text.size() && m_text[m_at] == c) {
            ++m_at;
            return true;
        }
        return false;
    }
    void skip_space() {
        while (m_at < m_text.size() && is_space(m_text[m_at])) {
            ++m_at;
        }
    }

    std::optional<std::uint32_t> hex4() {
        if (m_text.size() - m_at < 4) {
            return std::nullopt;
        }
        std::uint32_t value = 0;
        for (int i = 0; i < 4; ++i) {
            const char c = m_text[m_at++];
            const int digit = c >= '0' && c <= '9'   ? c - '0'
                              : c >= 'a' && c <= 'f' ? c - 'a' + 10
                              : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                     : -1;
            if (digit < 0) {
                return std::nullopt;
            }
            value = value * 16 + static_cast<std::uint32_t>(digit);
        }
        return value;
    }

    static void put_utf8(SecretBytes& out, std::uint32_t code) {
        if (code < 0x80) {
            out.push_back(static_cast<char>(code));
        } else if (code < 0x800) {
            out.push_back(static_cast<char>(0xC0 | (code >> 6)));
            out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
        } else if (code < 0x10000) {
            out.push_back(static_cast<char>(0xE0 | (code >> 12)));
            out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
        } else {
            out.push_back(static_cast<char>(0xF0 | (code >> 18)));
            out.push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
        }
    }

    // A "\uXXXX" escape after the "\u"; a high surrogate must be followed by a low one.
    Result<std::uint32_t> unicode_escape() {
        const auto high = hex4();
        if (!high) {
            return not_json("a \\u escape without four hexadecimal digits");
        }
        if (*high >= 0xDC00 && *high <= 0xDFFF) {
            return not_json("a lone low surrogate in a \\u escape");
        }
        if (*high < 0xD800 || *high > 0xDBFF) {
            return *high;
        }
        if (!take('\\') || !take('u')) {
            return not_json("a high surrogate without its low surrogate");
        }
        const auto low = hex4();
        if (!low || *low < 0xDC00 || *low > 0xDFFF) {
            return not_json("a high surrogate without its low surrogate");
        }
        return 0x10000 + ((*high - 0xD800) << 10) + (*low - 0xDC00);
    }

    // A JSON string at m_at (which is '"'), unescaped. An unescaped string is never longer than
    // its JSON text, so the capacity of the rest of the input is enough and nothing reallocates.
    Result<SecretBytes> string_value() {
        ++m_at;
        SecretBytes out(m_text.size() - m_at);
        for (;;) {
            if (m_at >= m_text.size()) {
                return not_json("a string is not terminated");
            }
            const char c = m_text[m_at++];
            if (c == '"') {
                return out;
            }
            if (static_cast<unsigned char>(c) < 0x20) {
                return not_json("a control character inside a string");
            }
            if (c != '\\') {
                out.push_back(c);
                continue;
            }
            if (m_at >= m_text.size()) {
                return not_json("a string is not terminated");
            }
            const char escaped = m_text[m_at++];
            switch (escaped) {
                case '"':
                case '\\':
                case '/':
                    out.push_back(escaped);
                    break;
                case 'b':
                    out.push_back('\b');
                    break;
                case 'f':
                    out.push_back('\f');
                    break;
                case 'n':
                    out.push_back('\n');
                    break;
                case 'r':
                    out.push_back('\r');
                    break;
                case 't':
                    out.push_back('\t');
                    break;
                case 'u': {
                    auto code = unicode_escape();
                    if (!code) {
                        return code.error();
                    }
                    put_utf8(out, *code);
                    break;
                }
                default:
                    return not_json("an unknown escape in a string");
            }
        }
    }

    std::string_view m_text;
    std::size_t m_at = 0;
};

}  // namespace

Result<ProtectedSettings> parse_protected_settings(std::string_view plaintext) {
    return FlatObjectReader(plaintext).read();
}

}  // namespace dsvm
