// The protected settings' plaintext (declared in extension_settings.h): parsed here by hand, in
// place, because it holds the storage key and the pool registry keys.
#include <array>
#include <optional>

#include "common/json_fields.h"
#include "common/text.h"
#include "extension/settings.h"
#include "users/registry_key.h"

namespace dsvm::extension {

using namespace dsvm::users;

namespace {

constexpr std::string_view k_storage_key_name = "storageAccountKey";
constexpr std::string_view k_registry_key_name = "registryKey";
constexpr std::string_view k_previous_registry_key_name = "previousRegistryKey";
constexpr std::string_view k_allowed_keys =
    "storageAccountKey, registryKey and previousRegistryKey";

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

Error not_json(std::string_view why) {
    return invalid("protected settings: the decrypted text is not a JSON object (" +
                   std::string(why) + "); expected {\"storageAccountKey\": \"...\", " +
                   "\"registryKey\": \"...\", \"previousRegistryKey\": \"...\"}, each " +
                   "optional");
}

}  // namespace

// A flat JSON object of strings, read in place by common/json_fields.h: nlohmann's lexer would
// copy the keys into buffers it frees without wiping them. An unescaped string is never longer
// than the text, so buffers of the text's size never overflow.
Result<ProtectedSettings> parse_protected_settings(std::string_view plaintext) {
    SecretBytes values[3] = {SecretBytes(plaintext.size()), SecretBytes(plaintext.size()),
                             SecretBytes(plaintext.size())};
    std::array fields{JsonField{k_storage_key_name, &values[0], nullptr},
                      JsonField{k_registry_key_name, &values[1], nullptr},
                      JsonField{k_previous_registry_key_name, &values[2], nullptr}};
    if (const auto failure = scan_json_fields(plaintext, fields, {.only_listed = true})) {
        const std::string prefix = "protected settings: ";
        switch (failure->kind) {
            case JsonFieldsError::NotJson:
                return not_json(failure->detail);
            case JsonFieldsError::UnknownMember:
                return invalid(prefix + "unknown key '" + printable(failure->member) +
                               "'; the protected settings hold only " +
                               std::string(k_allowed_keys));
            case JsonFieldsError::Duplicate:
                return invalid(prefix + failure->member + " appears twice");
            case JsonFieldsError::WrongType:
            case JsonFieldsError::TooLong:
                return invalid(prefix + failure->member + ": expected a string");
        }
    }
    ProtectedSettings out;
    std::optional<SecretBytes>* targets[3] = {&out.storage_key, &out.registry_key,
                                              &out.previous_registry_key};
    for (std::size_t i = 0; i < fields.size(); ++i) {
        if (fields[i].found) {
            *targets[i] = std::move(values[i]);
        }
    }
    if (auto checked = check_registry_keys(out); !checked) {
        return checked.error();
    }
    return out;
}

}  // namespace dsvm::extension
