// The files the Azure guest agent hands a VM extension handler (docs/extension.md, "Files"):
// HandlerEnvironment.json, the numbered <seq>.settings files and, inside them, the protected
// settings. Parsers take text, not paths; nothing here touches the disk or decrypts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "common/secret.h"

namespace dsvm::extension {

// handlerEnvironment's folders, used as written (they are the guest agent's, not the root's).
struct HandlerEnvironment {
    std::string name;  // the handler's name, e.g. "Microsoft.DSVM.DsvmAgent"; may be empty
    std::string config_folder;
    std::string status_folder;
    std::string log_folder;      // empty when absent
    std::string heartbeat_file;  // empty when absent

    bool operator==(const HandlerEnvironment&) const = default;
};

// `[{"name", "version", "handlerEnvironment": {"logFolder", "configFolder", "statusFolder",
// "heartbeatFile", ...}}]`. configFolder and statusFolder are required, and every folder given
// must be an absolute path. Invalid, naming the field, otherwise.
Result<HandlerEnvironment> parse_handler_environment(std::string_view text);

// Which settings file a command acts on.
struct SettingsChoice {
    std::uint64_t sequence = 0;
    std::string file_name;  // "<sequence>.settings"

    bool operator==(const SettingsChoice&) const = default;
};

// The sequence number from $ConfigSequenceNumber when it is set (decimal digits only, else
// Invalid naming the value), otherwise the highest-numbered "<n>.settings" among the names in
// the config folder (other names are ignored). nullopt when neither gives one.
Result<std::optional<SettingsChoice>> choose_settings(
    const std::optional<std::string>& sequence_env, const std::vector<std::string>& folder_names);

// runtimeSettings[0].handlerSettings of a settings file.
struct HandlerSettings {
    // A pool config; an empty object when the settings have none.
    nlohmann::json public_settings = nlohmann::json::object();
    std::string protected_settings;  // base64; empty when there are none
    std::string thumbprint;          // protectedSettingsCertThumbprint; empty when absent
};

// Parses a settings file. publicSettings must be an object (or null/absent);
// protectedSettings a string (or null/absent), and then protectedSettingsCertThumbprint must
// be 40 or 64 hexadecimal digits (a certificate file name under /var/lib/waagent).
Result<HandlerSettings> parse_settings(std::string_view text);

// Standard base64 (RFC 4648, '=' padding required); ASCII whitespace is skipped. Invalid with
// the offending character or length otherwise. For ciphertext, not secrets: the result is an
// ordinary string.
Result<std::string> base64_decode(std::string_view text);

// The decrypted protected settings.
struct ProtectedSettings {
    std::optional<SecretBytes> storage_key;            // storageAccountKey, when present
    std::optional<SecretBytes> registry_key;           // registryKey, when present
    std::optional<SecretBytes> previous_registry_key;  // previousRegistryKey, when present
};

// The plaintext of the protected settings: a JSON object whose keys are storageAccountKey,
// registryKey and previousRegistryKey (strings, each at most once, each optional). Parsed in
// place, so a key is only ever copied into the returned SecretBytes. The registry keys must
// pass check_registry_key (users/registry_key.h); previousRegistryKey needs registryKey and
// must differ from it, and an empty one is none. The storage key's rules depend on the share
// and are enable's. Invalid when it is not a JSON object, has another key, a key twice, a
// non-string value or a registry key that breaks its rule; no message shows any part of the
// plaintext but a key name.
Result<ProtectedSettings> parse_protected_settings(std::string_view plaintext);

}  // namespace dsvm::extension
