#include "agent/extension_enable.h"

#include <string.h>
#include <sys/types.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "agent/config_rules.h"
#include "agent/extension_crypto.h"
#include "agent/extension_files.h"
#include "agent/pool_config.h"
#include "common/fd.h"
#include "mount/credentials.h"
#include "mount/options.h"

namespace dsvm {

namespace {

// Everything enable will write, checked and decrypted before anything is written.
struct Validated {
    std::string config_text;       // pool.json
    std::string credentials_name;  // empty when no key is stored
    std::optional<SecretBytes> key;
};

Result<std::optional<SecretBytes>> storage_key(const Root& root, const HandlerSettings& settings) {
    if (settings.protected_settings.empty()) {
        return std::optional<SecretBytes>();
    }
    auto der = base64_decode(settings.protected_settings);
    if (!der) {
        return der.error();
    }
    auto plaintext = decrypt_protected_settings(root, settings.thumbprint, *der);
    if (!plaintext) {
        return plaintext.error();
    }
    auto parsed = parse_protected_settings(plaintext->view());
    if (!parsed) {
        return parsed.error();
    }
    return std::move(parsed->storage_key);
}

// The config rules explain a refused secret in terms of instance metadata; public settings are
// refused for the same reason, but the admin should read where they really are.
Error public_settings_error(Error error) {
    const std::string_view metadata = config_rules::k_no_secrets_in_metadata;
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
    if (auto checked = check_layer(layer, true); !checked) {
        return public_settings_error(checked.error());
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
    }
    auto key = storage_key(context.root, *settings);
    if (!key) {
        return key.error();
    }
    Validated out;
    out.config_text = layer.data.dump(2) + "\n";
    const bool smb = share && share->type == ShareType::Smb;
    if (smb) {
        if (!*key) {
            return invalid("the share " + share->source +
                           " is SMB and needs its storage key: put {\"storageAccountKey\": "
                           "\"...\"} in the protected settings");
        }
        out.credentials_name = credentials_name(share->source);
        if (auto checked = check_credentials_name(out.credentials_name); !checked) {
            return with_context("share.source", checked.error());
        }
        if (auto checked = check_storage_key((*key)->view()); !checked) {
            return with_context("protected settings: storageAccountKey", checked.error());
        }
        out.key = std::move(*key);
    } else if (*key) {
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

// Whether the credentials file already holds exactly this key, root-only: then it is left alone
// (same inode and mtime, so the service does not remount for nothing).
bool credentials_match(const Root& root, const std::string& name, std::string_view key) {
    auto file = inspect_credentials(root, name);
    if (!file || !file->secure) {
        return false;
    }
    std::string expected = render_credentials(name, key);
    ScopeGuard wipe([&] { ::explicit_bzero(expected.data(), expected.size()); });
    auto current = read_secret_file(root.path(credentials_path(name)), credentials_path(name),
                                    expected.size());
    return current && current->view() == expected;
}

Result<void> prepare_directories(const Context& context, const Validated& validated) {
    const std::string& config_name = context.request.config_file;
    std::vector<std::pair<std::string, mode_t>> directories{
        {config_name.substr(0, config_name.find_last_of('/')), 0755},
        {context.request.state_dir, 0755}};
    if (!validated.credentials_name.empty()) {
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
    if (name.empty() || credentials_match(context.root, name, validated.key->view())) {
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
        std::sort(updated.credentials.begin(), updated.credentials.end());
        updated.credentials.erase(
            std::unique(updated.credentials.begin(), updated.credentials.end()),
            updated.credentials.end());
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
    // it lists); the key comes last, so that a failure before it never touches the key file,
    // whose identity the service compares to remount on a rotated key (docs/extension.md).
    FileTransaction transaction;
    if (auto recorded = store_record(context, validated, transaction); !recorded) {
        return recorded;
    }
    auto config_changed = store_config(context, validated, transaction);
    if (!config_changed) {
        return config_changed.error();
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
    auto service =
        start_service(context.service(), context.runner, *config_changed || *key_changed);
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

}  // namespace dsvm
