#include "extension/enable.h"

#include <string.h>
#include <sys/types.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "common/fd.h"
#include "config/pool_config.h"
#include "config/rules.h"
#include "extension/crypto.h"
#include "extension/files.h"
#include "mount/credentials.h"
#include "mount/options.h"
#include "users/registry_key.h"

namespace dsvm::extension {

using namespace dsvm::mount;
using namespace dsvm::users;
using namespace dsvm::config;

namespace {

// Everything enable will write, checked and decrypted before anything is written.
struct Validated {
    std::string config_text;       // pool.json
    std::string credentials_name;  // empty when no key is stored
    std::optional<SecretBytes> key;
    // The pool registry keys; none leaves the key files as they are (an admin may have set them
    // with `dsvm-agent registry set-key`).
    std::optional<SecretBytes> registry_key;
    std::optional<SecretBytes> previous_registry_key;
};

// The decrypted protected settings; none of their keys when there are none.
Result<ProtectedSettings> decrypt_protected(const Context& context,
                                            const HandlerSettings& settings) {
    if (settings.protected_settings.empty()) {
        return ProtectedSettings{};
    }
    auto der = base64_decode(settings.protected_settings);
    if (!der) {
        return der.error();
    }
    auto plaintext = context.ports.decrypt(context.root, settings.thumbprint, *der);
    if (!plaintext) {
        return plaintext.error();
    }
    return parse_protected_settings(plaintext->view());
}

// The config rules explain a refused secret in terms of instance metadata; public settings are
// refused for the same reason, but the admin should read where they really are.
Error public_settings_error(Error error) {
    const std::string_view metadata = config::rules::k_no_secrets_in_metadata;
    if (const auto at = error.message.find(metadata); at != std::string::npos) {
        error.message.replace(at, metadata.size(),
                              "public settings are kept in the VM model, readable by anyone who "
                              "can read the VM");
    }
    return error;
}

Result<Validated> validate_enable(const Context& context) {
    const HandlerEnvironment& environment = context.handler.environment;
    if (!context.handler.settings) {
        return invalid("no settings to enable: " + environment.config_folder +
                       " holds no <n>.settings file and ConfigSequenceNumber is not set");
    }
    const std::string settings_file =
        environment.config_folder + "/" + context.handler.settings->file_name;
    auto text = read_file_if_exists(settings_file);
    if (!text) {
        return text.error();
    }
    if (!text->found) {
        return failure("the settings file " + settings_file + " does not exist (sequence number " +
                       std::to_string(context.handler.settings->sequence) + ")");
    }
    auto settings = parse_settings(text->text);
    if (!settings) {
        return with_context(settings_file, settings.error());
    }
    // Public settings are visible in the VM model to anyone who can read it: they are held to
    // the metadata rule, so a key there is refused.
    const ConfigLayer layer{"publicSettings", settings->public_settings};
    if (auto checked = check_layer(layer, LayerSource::Metadata); !checked) {
        return public_settings_error(checked.error());
    }
    // Every pass would stop before reading the vault (engine.cpp): refused here, not reported as
    // a success.
    if (!context.ports.metadata_guard && layer.data.contains("keyVault")) {
        return invalid(
            "publicSettings: keyVault: not supported on this platform: it has no guard that keeps "
            "pool users from the metadata service, which would give them the identity's token and "
            "with it the vault's keys; give the storage key in protectedSettings instead");
    }
    std::optional<ShareConfig> share;
    const auto share_json = layer.data.find("share");
    // A share without a source is completed by metadata on the instance; only a whole one can be
    // checked across its fields here.
    if (share_json == layer.data.end() || share_json->contains("source")) {
        auto config = build_pool_config(merge_layers({layer}));
        if (!config) {
            return with_context("publicSettings", config.error());
        }
        share = config->share;
        if (share && context.ports.check_share) {
            if (auto checked = context.ports.check_share(*share); !checked) {
                return with_context("publicSettings", checked.error());
            }
        }
    }
    // The registry keys' rules hold whatever the share, so the parser has checked them already.
    auto secrets = decrypt_protected(context, *settings);
    if (!secrets) {
        return secrets.error();
    }
    std::optional<SecretBytes>& key = secrets->storage_key;
    Validated out;
    out.config_text = layer.data.dump(2) + "\n";
    out.registry_key = std::move(secrets->registry_key);
    out.previous_registry_key = std::move(secrets->previous_registry_key);
    const bool smb = share && share->type == ShareType::Smb;
    if (smb) {
        if (!key) {
            return invalid("the share " + share->source +
                           " is SMB and needs its storage key: put {\"storageAccountKey\": "
                           "\"...\"} in the protected settings");
        }
        out.credentials_name = credentials_name(share->source);
        if (auto checked = check_credentials_name(out.credentials_name); !checked) {
            return with_context("share.source", checked.error());
        }
        if (auto checked = check_storage_key(key->view()); !checked) {
            return with_context("protected settings: storageAccountKey", checked.error());
        }
        out.key = std::move(key);
    } else if (key) {
        if (!share) {
            return invalid(
                "the protected settings carry a storageAccountKey, but publicSettings name no "
                "SMB share (share.source), so the key's storage account is unknown");
        }
        context.steps.add("credentials", HandlerStatus::Warning,
                          "storageAccountKey ignored: the share " + share->source + " is " +
                              std::string(to_string(share->type)) + ", which takes no key");
    }
    return out;
}

Result<void> prepare_directories(const Context& context, const Validated& validated) {
    const std::string& config_name = context.request.config_file;
    std::vector<std::pair<std::string, mode_t>> directories{
        {config_name.substr(0, config_name.find_last_of('/')), 0755},
        {context.request.state_dir, 0755}};
    if (!validated.credentials_name.empty() || validated.registry_key) {
        directories.emplace_back(std::string(k_credentials_dir), 0700);
    }
    for (const auto& [dir, mode] : directories) {
        if (auto made = make_directories(context.root.path(dir), mode); !made) {
            return made;
        }
    }
    return {};
}

// Stores the key unless the file already holds it; true when it was written.
Result<bool> store_key(const Context& context, const Validated& validated,
                       FileTransaction& transaction) {
    const std::string& name = validated.credentials_name;
    if (name.empty() || credentials_hold(context.root, name, name, validated.key->view())) {
        return false;
    }
    if (auto kept = transaction.keep(context.root.path(credentials_path(name))); !kept) {
        return kept.error();
    }
    if (auto written = write_credentials(context.root, name, name, validated.key->view());
        !written) {
        return written.error();
    }
    return true;
}

// What storing the registry keys did, for the status: key ids only, never a key.
struct RegistryKeysStored {
    bool changed = false;
    std::string removed_previous_id;  // the previous key the write removed; empty if none
};

// Writes the registry key files unless they already hold exactly these keys, readable as keys
// (root, 0600): then they are left alone, so a repeated enable changes nothing. Files that cannot
// be read as keys (another mode, owner or content) are rewritten.
Result<RegistryKeysStored> store_registry_keys(const Context& context, const Validated& validated,
                                               FileTransaction& transaction) {
    RegistryKeysStored stored;
    if (!validated.registry_key) {
        return stored;
    }
    const std::string_view current = validated.registry_key->view();
    const std::string_view previous = validated.previous_registry_key
                                          ? validated.previous_registry_key->view()
                                          : std::string_view();
    auto held = read_registry_keys(context.root);
    if (held && held->current.view() == current && held->previous.view() == previous) {
        return stored;
    }
    if (held && previous.empty()) {
        stored.removed_previous_id = held->previous_id;
    }
    for (const std::string_view path : {k_registry_key_path, k_previous_registry_key_path}) {
        if (auto kept = transaction.keep(context.root.path(path)); !kept) {
            return kept.error();
        }
    }
    if (auto written = write_registry_keys(context.root, current, previous); !written) {
        return written.error();
    }
    stored.changed = true;
    return stored;
}

// The registry key step when the settings carry none: which key this instance holds, by id.
// Never an error: the files are an admin's, and the service reports a key it cannot read.
void report_held_registry_key(const Context& context) {
    const std::string none =
        "no registryKey in the protected settings, so the registry key files are left as they "
        "are";
    auto held = read_registry_keys(context.root);
    if (!held) {
        context.steps.add("registry key", HandlerStatus::Warning,
                          none + ", but they cannot be read: " + held.error().message);
    } else if (held->current.empty()) {
        context.steps.add("registry key", HandlerStatus::Warning,
                          none +
                              ", and this instance holds no registry key: without one the "
                              "pool registry can be neither verified nor written (set "
                              "registryKey, docs/deploy.md)");
    } else {
        const std::string previous =
            held->previous.empty() ? "" : "; previous key " + held->previous_id + " kept";
        context.steps.add("registry key", HandlerStatus::Success,
                          "registry key " + held->current_id +
                              " on this instance left as it is (no registryKey in the "
                              "protected settings)" +
                              previous);
    }
}

// Writes pool.json unless it already holds the config; true when it was written.
Result<bool> store_config(const Context& context, const Validated& validated,
                          FileTransaction& transaction) {
    const std::string path = context.root.path(context.request.config_file);
    auto current = read_file_if_exists(path);
    if (!current) {
        return current.error();
    }
    if (current->found && current->text == validated.config_text) {
        return false;
    }
    if (auto kept = transaction.keep(path); !kept) {
        return kept.error();
    }
    if (auto written = write_file_atomic(path, validated.config_text, 0644); !written) {
        return written.error();
    }
    return true;
}

// Records what this enable writes, beside what earlier ones wrote, unless the record says so.
Result<void> store_record(const Context& context, const Validated& validated,
                          FileTransaction& transaction) {
    auto record = load_record(context);
    if (!record) {
        return record.error();
    }
    ExtensionRecord updated = *record;
    updated.config_file = context.request.config_file;
    updated.config_sha256 = sha256_hex(validated.config_text);
    if (!validated.credentials_name.empty()) {
        updated.credentials.push_back(validated.credentials_name);
    }
    // Both files: enable writes the previous key's file or removes it, so both are its.
    if (validated.registry_key) {
        updated.registry_keys.emplace_back(k_registry_key_path);
        updated.registry_keys.emplace_back(k_previous_registry_key_path);
    }
    for (auto* names : {&updated.credentials, &updated.registry_keys}) {
        std::sort(names->begin(), names->end());
        names->erase(std::unique(names->begin(), names->end()), names->end());
    }
    if (updated == *record) {
        return {};
    }
    const std::string path = context.root.path(context.record_name());
    if (auto kept = transaction.keep(path); !kept) {
        return kept;
    }
    return write_file_atomic(path, render_record(updated), 0644);
}

Result<void> apply_enable(const Context& context, const Validated& validated) {
    // Directories first: a path that cannot be made fails here, before any file changes.
    if (auto prepared = prepare_directories(context, validated); !prepared) {
        return prepared;
    }
    // Every file replaced is kept (in memory) until all are written: a failure on the way puts
    // back the same bytes, mode and owner when the transaction goes out of scope. The record
    // comes first, so that a crash never leaves a key it does not list (uninstall removes what
    // it lists). The key files come last, so that a failure before them never touches them.
    // Of those, the registry keys go before the storage key: the service reads the registry keys
    // afresh on every pass, so putting them back after a later failure costs nothing, while the
    // storage key file's identity is what the service compares to remount on a rotated key, so
    // it is touched only when everything before it is in place (docs/extension.md).
    FileTransaction transaction;
    if (auto recorded = store_record(context, validated, transaction); !recorded) {
        return recorded;
    }
    auto config_changed = store_config(context, validated, transaction);
    if (!config_changed) {
        return config_changed.error();
    }
    auto registry_stored = store_registry_keys(context, validated, transaction);
    if (!registry_stored) {
        return registry_stored.error();
    }
    auto key_changed = store_key(context, validated, transaction);
    if (!key_changed) {
        return key_changed.error();
    }
    transaction.commit();

    const std::string& config_name = context.request.config_file;
    context.steps.add(
        "pool config", HandlerStatus::Success,
        (*config_changed ? "pool config written to " : "pool config unchanged in ") + config_name);
    if (const std::string& name = validated.credentials_name; !name.empty()) {
        context.steps.add(
            "credentials", HandlerStatus::Success,
            *key_changed ? "storage key for '" + name + "' stored in " + credentials_path(name) +
                               " (root only, mode 0600)"
                         : "storage key for '" + name + "' unchanged in " + credentials_path(name));
    }
    if (validated.registry_key) {
        const std::string path(k_registry_key_path);
        std::string message =
            "registry key " + registry_key_id(validated.registry_key->view()) +
            (registry_stored->changed ? " stored in " + path + " (root only, mode 0600)"
                                      : " unchanged in " + path);
        if (validated.previous_registry_key) {
            message += "; previous key " +
                       registry_key_id(validated.previous_registry_key->view()) +
                       " kept for registries it signed";
        } else if (!registry_stored->removed_previous_id.empty()) {
            message += "; previous key " + registry_stored->removed_previous_id + " removed";
        }
        context.steps.add("registry key", HandlerStatus::Success, message);
    } else {
        report_held_registry_key(context);
    }
    // A new registry key is applied at once too: the next pass verifies the registry with it
    // and signs a registry the previous key signed again with it.
    auto service = context.service().start(
        *config_changed || *key_changed || registry_stored->changed ? ConfigChange::Changed
                                                                    : ConfigChange::None);
    if (!service) {
        return with_context("the config is in place, but the service could not be started",
                            service.error());
    }
    context.steps.add("service", HandlerStatus::Success, *service);
    return {};
}

}  // namespace

Result<void> enable(const Context& context) {
    auto validated = validate_enable(context);
    if (!validated) {
        return validated.error();
    }
    return apply_enable(context, *validated);
}

}  // namespace dsvm::extension
