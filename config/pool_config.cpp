#include "config/pool_config.h"

#include "mount/options.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <span>
#include <string>
#include <utility>

#include "common/text.h"
#include "config/rules.h"
#include "mount/options.h"
#include "users/rules.h"

namespace dsvm::config {

using namespace dsvm::mount;
using namespace dsvm::users;

using nlohmann::json;
using rules::joined;

namespace {

// A real pool config nests four levels deep (users[0].sshKeys[0]); the limit keeps every walk
// over untrusted JSON, here and in nlohmann's recursive copy and dump, far from the stack's end.
constexpr int k_max_depth = 16;

constexpr std::string_view k_top_keys[] = {"share",    "users",    "notebooks",         "uidRange",
                                           "interval", "keyVault", "sudoAuthentication"};
constexpr std::string_view k_key_vault_keys[] = {"vault", "clientId", "refreshInterval", "secrets"};
constexpr std::string_view k_key_vault_secrets[] = {"storageAccountKey", "registryKey",
                                                    "previousRegistryKey"};
constexpr std::string_view k_share_keys[] = {"source", "type", "mountPoint", "options",
                                             "smbAccess"};
constexpr std::string_view k_user_keys[] = {"name", "sudo", "sshKeys", "groups"};
constexpr std::string_view k_known_tags[] = {"dsvm-share", "dsvm-share-type", "dsvm-mount-point",
                                             "dsvm-users"};

constexpr std::string_view k_tags_origin = "IMDS tags";
constexpr std::string_view k_user_data_origin = "IMDS userData";

bool iequals(std::string_view a, std::string_view b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
        const auto fold = [](char c) { return c >= 'A' && c <= 'Z' ? c + 32 : c + 0; };
        return fold(x) == fold(y);
    });
}

// A key as it may appear in a path: escaped, and hidden if it is itself a secret-like value.
std::string key_in_path(std::string_view parent, std::string_view key) {
    const std::string shown =
        rules::looks_like_secret_value(key) ? std::string("(hidden key)") : printable(key);
    return parent.empty() ? shown : std::string(parent) + "." + shown;
}

std::string index_in_path(std::string_view parent, std::size_t index) {
    return std::string(parent) + "[" + std::to_string(index) + "]";
}

std::string_view describe(const json& value) {
    switch (value.type()) {
        case json::value_t::null:
            return "null";
        case json::value_t::object:
            return "an object";
        case json::value_t::array:
            return "an array";
        case json::value_t::string:
            return "a string";
        case json::value_t::boolean:
            return "a boolean";
        case json::value_t::number_integer:
        case json::value_t::number_unsigned:
            return "an integer";
        case json::value_t::number_float:
            return "a floating-point number";
        case json::value_t::binary:
            return "binary data";
        case json::value_t::discarded:
            return "invalid JSON";
    }
    return "an unknown value";
}

Error wrong_type(std::string_view path, std::string_view expected, const json& got) {
    return invalid(std::string(path) + ": expected " + std::string(expected) + ", got " +
                   std::string(describe(got)));
}

// The value of an integer JSON number; floats, even 60.0, are not integers. Values beyond
// int64 are clamped, which every range here refuses anyway.
std::optional<std::int64_t> integer_of(const json& value) {
    if (value.is_number_unsigned()) {
        const auto number = value.get<std::uint64_t>();
        constexpr auto k_max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
        return static_cast<std::int64_t>(std::min(number, k_max));
    }
    if (value.is_number_integer()) {
        return value.get<std::int64_t>();
    }
    return std::nullopt;
}

bool within_depth(const json& value, int depth) {
    if (depth > k_max_depth) {
        return false;
    }
    return std::all_of(value.begin(), value.end(), [&](const json& child) {
        return !child.is_structured() || within_depth(child, depth + 1);
    });
}

// keyVault's own field names (storageAccountKey, ...) name secrets in a vault, not secrets: below
// it only values are scanned; check_keys holds its names to the schema.
Result<void> scan_secrets(const json& value, const std::string& path) {
    if (value.is_object()) {
        for (const auto& [key, child] : value.items()) {
            const std::string child_path = key_in_path(path, key);
            const bool schema_names = path == "keyVault" || path == "keyVault.secrets" ||
                                      (path.empty() && key == "keyVault");
            if (!schema_names && rules::looks_like_secret_name(key)) {
                return invalid(child_path + ": a key named like a secret is not accepted here; " +
                               std::string(rules::k_no_secrets_in_metadata) + "; " +
                               std::string(rules::k_keys_belong));
            }
            if (auto checked = scan_secrets(child, child_path); !checked) {
                return checked;
            }
        }
    } else if (value.is_array()) {
        for (std::size_t i = 0; i < value.size(); ++i) {
            if (auto checked = scan_secrets(value[i], index_in_path(path, i)); !checked) {
                return checked;
            }
        }
    } else if (value.is_string() &&
               rules::looks_like_secret_value(value.get_ref<const std::string&>())) {
        return invalid(path +
                       ": looks like a storage account key or SAS token (value not shown); " +
                       std::string(rules::k_no_secrets_in_metadata) + "; " +
                       std::string(rules::k_keys_belong));
    }
    return {};
}

// Levenshtein distance ignoring case, for "did you mean"; callers compare short keys only.
std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) {
        row[j] = j;
    }
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            const bool same = iequals(a.substr(i - 1, 1), b.substr(j - 1, 1));
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (same ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

Result<void> check_keys(const json& object, std::string_view path,
                        std::span<const std::string_view> allowed) {
    for (const auto& [key, child] : object.items()) {
        if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) {
            continue;
        }
        std::string message = key_in_path(path, key) + ": unknown key";
        for (const std::string_view candidate : allowed) {
            if (key.size() <= 64 && edit_distance(key, candidate) <= 2) {
                message += " (did you mean '" + std::string(candidate) + "'?)";
                break;
            }
        }
        message += "; allowed keys " +
                   (path.empty() ? std::string("at the top level") : "in " + std::string(path)) +
                   ": " + joined(allowed);
        if (rules::looks_like_secret_name(key)) {
            message += "; " + std::string(rules::k_keys_belong);
        }
        return invalid(message);
    }
    return {};
}

Result<void> check_string(const json& parent, std::string_view key, const std::string& path,
                          Result<void> (*rule)(std::string_view, std::string_view)) {
    const auto found = parent.find(key);
    if (found == parent.end()) {
        return {};
    }
    if (!found->is_string()) {
        return wrong_type(path, "a string", *found);
    }
    return rule(path, found->get_ref<const std::string&>());
}

Result<void> check_enum(std::string_view path, std::string_view value,
                        std::span<const std::string_view> allowed) {
    if (std::find(allowed.begin(), allowed.end(), value) == allowed.end()) {
        return invalid(std::string(path) + ": " + rules::shown(value) + " is not one of " +
                       joined(allowed));
    }
    return {};
}

constexpr std::string_view k_share_types[] = {"smb", "nfs", "bind"};
constexpr std::string_view k_smb_access[] = {"per-user", "shared"};
constexpr std::string_view k_sudo_authentication[] = {"password", "none"};

using StringRule = Result<void> (*)(std::string_view path, std::string_view value);

Result<void> check_source(std::string_view path, std::string_view value) {
    if (auto shape = rules::parse_source(path, value); !shape) {
        return shape.error();
    }
    return {};
}
Result<void> check_share_type(std::string_view path, std::string_view value) {
    return check_enum(path, value, k_share_types);
}
Result<void> check_smb_access(std::string_view path, std::string_view value) {
    return check_enum(path, value, k_smb_access);
}
Result<void> check_sudo_authentication(std::string_view path, std::string_view value) {
    return check_enum(path, value, k_sudo_authentication);
}

struct StringField {
    std::string_view key;
    StringRule rule;
};
constexpr StringField k_share_fields[] = {{"source", check_source},
                                          {"type", check_share_type},
                                          {"mountPoint", rules::check_mount_point},
                                          {"options", rules::check_options},
                                          {"smbAccess", check_smb_access}};

Result<void> check_share(const json& share) {
    if (!share.is_object()) {
        return wrong_type("share", "an object with source, type, mountPoint, options, smbAccess",
                          share);
    }
    if (auto keys = check_keys(share, "share", k_share_keys); !keys) {
        return keys;
    }
    for (const auto& field : k_share_fields) {
        if (auto checked =
                check_string(share, field.key, "share." + std::string(field.key), field.rule);
            !checked) {
            return checked;
        }
    }
    return {};
}

Result<void> check_string_list(const json& list, const std::string& path, std::string_view what,
                               Result<void> (*rule)(std::string_view, std::string_view)) {
    if (!list.is_array()) {
        return wrong_type(path, "an array of " + std::string(what), list);
    }
    std::map<std::string, std::size_t> seen;
    for (std::size_t i = 0; i < list.size(); ++i) {
        const std::string item_path = index_in_path(path, i);
        if (!list[i].is_string()) {
            return wrong_type(item_path, "a string", list[i]);
        }
        const auto& item = list[i].get_ref<const std::string&>();
        if (auto checked = rule(item_path, item); !checked) {
            return checked;
        }
        if (const auto [it, fresh] = seen.emplace(item, i); !fresh) {
            return invalid(item_path + ": " + rules::shown(item) + " is listed twice (also " +
                           index_in_path(path, it->second) + ")");
        }
    }
    return {};
}

Result<void> check_user(const json& user, const std::string& path) {
    if (!user.is_object()) {
        return wrong_type(path, "an object such as {\"name\": \"alice\"}", user);
    }
    if (auto keys = check_keys(user, path, k_user_keys); !keys) {
        return keys;
    }
    const auto name = user.find("name");
    if (name == user.end()) {
        return invalid(path + ".name: required");
    }
    if (!name->is_string()) {
        return wrong_type(path + ".name", "a string", *name);
    }
    if (auto checked = check_user_name(name->get_ref<const std::string&>()); !checked) {
        return with_context(path + ".name", checked.error());
    }
    if (const auto sudo = user.find("sudo"); sudo != user.end() && !sudo->is_boolean()) {
        return wrong_type(path + ".sudo", "a boolean (true or false)", *sudo);
    }
    if (const auto keys = user.find("sshKeys"); keys != user.end()) {
        if (auto checked = check_string_list(*keys, path + ".sshKeys", "OpenSSH public keys",
                                             rules::check_ssh_key);
            !checked) {
            return checked;
        }
    }
    if (const auto groups = user.find("groups"); groups != user.end()) {
        if (auto checked = check_string_list(*groups, path + ".groups", "group names",
                                             rules::check_group_grant);
            !checked) {
            return checked;
        }
    }
    return {};
}

Result<void> check_users(const json& users) {
    if (!users.is_array()) {
        return wrong_type("users", "an array of user objects", users);
    }
    std::map<std::string, std::size_t> seen;
    for (std::size_t i = 0; i < users.size(); ++i) {
        const std::string path = index_in_path("users", i);
        if (auto checked = check_user(users[i], path); !checked) {
            return checked;
        }
        const auto& name = users[i]["name"].get_ref<const std::string&>();
        if (const auto [it, fresh] = seen.emplace(name, i); !fresh) {
            return invalid(path + ".name: '" + name + "' is listed twice (also " +
                           index_in_path("users", it->second) + ")");
        }
    }
    return {};
}

Result<void> check_key_vault(const json& vault) {
    if (!vault.is_object()) {
        return wrong_type("keyVault",
                          "an object with vault, secrets and optionally clientId, refreshInterval",
                          vault);
    }
    if (auto keys = check_keys(vault, "keyVault", k_key_vault_keys); !keys) {
        return keys;
    }
    if (auto checked = check_string(vault, "vault", "keyVault.vault", rules::check_vault_name);
        !checked) {
        return checked;
    }
    if (auto checked = check_string(vault, "clientId", "keyVault.clientId", rules::check_client_id);
        !checked) {
        return checked;
    }
    if (const auto refresh = vault.find("refreshInterval"); refresh != vault.end()) {
        const auto seconds = integer_of(*refresh);
        if (!seconds) {
            return wrong_type("keyVault.refreshInterval", "an integer number of seconds", *refresh);
        }
        if (auto checked = rules::check_refresh_interval("keyVault.refreshInterval", *seconds);
            !checked) {
            return checked;
        }
    }
    if (const auto secrets = vault.find("secrets"); secrets != vault.end()) {
        if (!secrets->is_object()) {
            return wrong_type("keyVault.secrets",
                              "an object naming the vault's secrets, such as "
                              "{\"storageAccountKey\": \"storage-key\"}",
                              *secrets);
        }
        if (auto keys = check_keys(*secrets, "keyVault.secrets", k_key_vault_secrets); !keys) {
            return keys;
        }
        for (const std::string_view key : k_key_vault_secrets) {
            if (auto checked = check_string(*secrets, key, "keyVault.secrets." + std::string(key),
                                            rules::check_secret_name);
                !checked) {
                return checked;
            }
        }
    }
    return {};
}

Result<void> check_uid_range(const json& range) {
    if (!range.is_array() || range.size() != 2) {
        return wrong_type("uidRange", "[min, max], an array of two integers", range);
    }
    for (std::size_t i = 0; i < 2; ++i) {
        if (!integer_of(range[i])) {
            return wrong_type(index_in_path("uidRange", i), "an integer", range[i]);
        }
    }
    return rules::check_uid_range("uidRange", *integer_of(range[0]), *integer_of(range[1]));
}

Result<void> check_interval(const json& interval) {
    const auto seconds = integer_of(interval);
    if (!seconds) {
        return wrong_type("interval", "an integer number of seconds", interval);
    }
    return rules::check_interval("interval", *seconds);
}

// The schema walk: nesting, secrets (metadata only, and first, so that their message wins over
// an unknown key's), known keys, types, and each field's rule.
Result<void> check_document(const json& document, LayerSource source) {
    if (!document.is_object()) {
        return wrong_type("pool config", "a JSON object", document);
    }
    if (!within_depth(document, 1)) {
        return invalid("pool config: nested deeper than " + std::to_string(k_max_depth) +
                       " levels; a pool config has four");
    }
    if (source == LayerSource::Metadata) {
        if (auto secrets = scan_secrets(document, ""); !secrets) {
            return secrets;
        }
    }
    if (auto keys = check_keys(document, "", k_top_keys); !keys) {
        return keys;
    }
    if (const auto share = document.find("share"); share != document.end()) {
        if (auto checked = check_share(*share); !checked) {
            return checked;
        }
    }
    if (const auto users = document.find("users"); users != document.end()) {
        if (auto checked = check_users(*users); !checked) {
            return checked;
        }
    }
    if (auto checked = check_string(document, "notebooks", "notebooks", rules::check_notebooks);
        !checked) {
        return checked;
    }
    if (const auto range = document.find("uidRange"); range != document.end()) {
        if (auto checked = check_uid_range(*range); !checked) {
            return checked;
        }
    }
    if (const auto interval = document.find("interval"); interval != document.end()) {
        if (auto checked = check_interval(*interval); !checked) {
            return checked;
        }
    }
    if (const auto vault = document.find("keyVault"); vault != document.end()) {
        if (auto checked = check_key_vault(*vault); !checked) {
            return checked;
        }
    }
    if (auto checked = check_string(document, "sudoAuthentication", "sudoAuthentication",
                                    check_sudo_authentication);
        !checked) {
        return checked;
    }
    return {};
}

std::string string_or(const json& object, std::string_view key, std::string fallback) {
    const auto found = object.find(key);
    return found == object.end() ? fallback : found->get<std::string>();
}

std::string_view shape_of(ShareType type) {
    switch (type) {
        case ShareType::Smb:
            return "an SMB share (//host/share)";
        case ShareType::Nfs:
            return "an NFS export (host:/export)";
        case ShareType::Bind:
            return "a local directory (bind)";
    }
    return "unknown";
}

// Fills in the share's defaults and applies the rules between its fields; the document has
// passed check_document, so every present field has the right type and its own rule holds.
Result<ShareConfig> build_share(const json& share) {
    if (!share.contains("source")) {
        return invalid(
            "share.source: required when share is set (//host/share, host:/export or a local "
            "directory)");
    }
    ShareConfig out;
    out.source = share["source"].get<std::string>();
    auto shape = rules::parse_source("share.source", out.source);
    if (!shape) {
        return shape.error();
    }
    out.type = shape->type;
    if (const auto type = share.find("type"); type != share.end()) {
        if (type->get<std::string>() != to_string(shape->type)) {
            return invalid("share.type: '" + type->get<std::string>() +
                           "' contradicts share.source, which is " +
                           std::string(shape_of(shape->type)));
        }
    }
    if (const auto mount_point = share.find("mountPoint"); mount_point != share.end()) {
        out.mount_point = mount_point->get<std::string>();
    } else {
        out.mount_point = "/datamnt/" + shape->share_name;
        if (shape->share_name.empty() ||
            !rules::check_mount_point("share.mountPoint", out.mount_point)) {
            return invalid(
                "share.mountPoint: no default /datamnt/<share name> can be derived from "
                "share.source " +
                rules::shown(out.source) + "; set share.mountPoint");
        }
    }
    if (out.type == ShareType::Bind && out.mount_point == out.source) {
        return invalid("share.mountPoint: " + rules::shown(out.mount_point) +
                       " is the bind source itself; use a different path such as /datamnt/<share>");
    }
    out.options = string_or(share, "options", "");
    if (auto options = check_share_options(out.type, out.options); !options) {
        return options.error();
    }
    out.smb_access = string_or(share, "smbAccess", "per-user") == "shared" ? SmbAccess::Shared
                                                                           : SmbAccess::PerUser;
    return out;
}

// The vault's fields and the rules between them and the share; the document has passed
// check_document.
Result<KeyVaultConfig> build_key_vault(const json& vault, const std::optional<ShareConfig>& share) {
    if (!vault.contains("vault")) {
        return invalid("keyVault.vault: required when keyVault is set (the vault's name)");
    }
    KeyVaultConfig out;
    out.vault = vault["vault"].get<std::string>();
    out.client_id = string_or(vault, "clientId", "");
    if (const auto refresh = vault.find("refreshInterval"); refresh != vault.end()) {
        out.refresh_interval = static_cast<int>(*integer_of(*refresh));
    }
    const json secrets = vault.value("secrets", json::object());
    out.storage_account_key = string_or(secrets, "storageAccountKey", "");
    out.registry_key = string_or(secrets, "registryKey", "");
    out.previous_registry_key = string_or(secrets, "previousRegistryKey", "");
    if (!out.previous_registry_key.empty() && out.registry_key.empty()) {
        return invalid(
            "keyVault.secrets.previousRegistryKey: set only during a rotation, with "
            "keyVault.secrets.registryKey naming the new key");
    }
    if (out.storage_account_key.empty() && out.registry_key.empty()) {
        return invalid(
            "keyVault.secrets: names no secret to read; set storageAccountKey (the SMB share's "
            "storage account key) and/or registryKey (the pool's registry key)");
    }
    if (!out.storage_account_key.empty() && (!share || share->type != ShareType::Smb)) {
        return invalid(
            "keyVault.secrets.storageAccountKey: only an SMB share (//host/share) is "
            "mounted with a storage account key, and " +
            (share ? "share.source " + rules::shown(share->source) + " is " +
                         std::string(shape_of(share->type))
                   : std::string("no share is set")));
    }
    return out;
}

std::vector<std::string> strings_of(const json& object, std::string_view key) {
    std::vector<std::string> out;
    if (const auto found = object.find(key); found != object.end()) {
        for (const auto& item : *found) {
            out.push_back(item.get<std::string>());
        }
    }
    return out;
}

void merge_into(json& target, const json& source) {
    if (!target.is_object() || !source.is_object()) {
        target = source;
        return;
    }
    for (const auto& [key, value] : source.items()) {
        const auto found = target.find(key);
        if (found != target.end() && found->is_object() && value.is_object()) {
            merge_into(*found, value);
        } else {
            target[key] = value;
        }
    }
}

}  // namespace

Result<ConfigLayer> layer_from_tags(const std::vector<ImdsTag>& tags) {
    ConfigLayer layer{std::string(k_tags_origin), json::object()};
    std::set<std::string> seen;
    for (const auto& tag : tags) {
        if (tag.name.size() < 5 || !iequals(std::string_view(tag.name).substr(0, 5), "dsvm-")) {
            continue;
        }
        const std::string name = "'" + printable(tag.name) + "'";
        if (rules::looks_like_secret_name(tag.name)) {
            return invalid(std::string(k_tags_origin) + ": tag " + name +
                           " is named like a secret (value not shown); " +
                           std::string(rules::k_no_secrets_in_metadata) + "; " +
                           std::string(rules::k_keys_belong));
        }
        const auto known = std::find(std::begin(k_known_tags), std::end(k_known_tags), tag.name);
        if (known == std::end(k_known_tags)) {
            for (const std::string_view candidate : k_known_tags) {
                if (iequals(tag.name, candidate)) {
                    return invalid(std::string(k_tags_origin) + ": tag " + name +
                                   " is not recognised: tag names are case-sensitive; use '" +
                                   std::string(candidate) + "'");
                }
            }
            return invalid(std::string(k_tags_origin) + ": unknown tag " + name +
                           "; known dsvm tags: " + joined(k_known_tags));
        }
        if (!seen.insert(tag.name).second) {
            return invalid(std::string(k_tags_origin) + ": tag " + name + " appears twice");
        }
        json field = json::object();
        if (tag.name == "dsvm-share") {
            field["share"]["source"] = tag.value;
        } else if (tag.name == "dsvm-share-type") {
            field["share"]["type"] = tag.value;
        } else if (tag.name == "dsvm-mount-point") {
            if (auto checked = rules::check_metadata_mount_point(
                    "IMDS tag dsvm-mount-point: share.mountPoint", tag.value);
                !checked) {
                return checked.error();
            }
            field["share"]["mountPoint"] = tag.value;
        } else {
            field["users"] = json::array();
            std::string_view rest = tag.value;
            while (!rest.empty()) {
                const std::size_t comma = rest.find(',');
                std::string_view item = rest.substr(0, comma);
                rest =
                    comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
                item.remove_prefix(std::min(item.find_first_not_of(" \t"), item.size()));
                item.remove_suffix(item.size() -
                                   std::min(item.find_last_not_of(" \t") + 1, item.size()));
                if (!item.empty()) {
                    json user = json::object();
                    user["name"] = std::string(item);
                    field["users"].push_back(std::move(user));
                }
            }
        }
        // Checked one tag at a time, so that an error names the tag it came from.
        const ConfigLayer single{"IMDS tag " + tag.name, field};
        if (auto checked = check_layer(single, LayerSource::Metadata); !checked) {
            return checked.error();
        }
        merge_into(layer.data, field);
    }
    if (auto checked = check_layer(layer, LayerSource::Metadata); !checked) {
        return checked.error();
    }
    return layer;
}

Result<std::optional<ConfigLayer>> layer_from_user_data(std::string_view user_data) {
    json document = json::parse(user_data, nullptr, false);
    if (document.is_discarded() || !document.is_object()) {
        return std::optional<ConfigLayer>();
    }
    const auto pool = document.find("dsvmPool");
    if (pool == document.end()) {
        return std::optional<ConfigLayer>();
    }
    // Moved, not copied: nlohmann copies recursively, and the nesting is not checked yet.
    ConfigLayer layer{std::string(k_user_data_origin), std::move(*pool)};
    if (!layer.data.is_object()) {
        return invalid(std::string(k_user_data_origin) +
                       ": dsvmPool: expected an object (a pool "
                       "config), got " +
                       std::string(describe(layer.data)));
    }
    if (auto checked = check_layer(layer, LayerSource::Metadata); !checked) {
        return checked.error();
    }
    return std::optional<ConfigLayer>(std::move(layer));
}

Result<ConfigLayer> layer_from_file(std::string_view text, std::string origin) {
    json document = json::parse(text, nullptr, false);
    if (document.is_discarded()) {
        // Parsed again only to learn where it broke; the "last read" part would echo the text.
        std::string reason = "not valid JSON";
        try {
            const json reparsed = json::parse(text);
            static_cast<void>(reparsed);
        } catch (const json::exception& error) {
            std::string what = error.what();
            what = what.substr(0, what.find("; last read"));
            const std::size_t tag_end = what.find("] ");
            reason += ": " + (tag_end == std::string::npos ? what : what.substr(tag_end + 2));
        }
        return invalid(origin + ": " + reason);
    }
    if (!document.is_object()) {
        return invalid(origin +
                       ": not a JSON object: a pool config is an object such as "
                       "{\"share\": {\"source\": \"//host/share\"}}, got " +
                       std::string(describe(document)));
    }
    ConfigLayer layer{std::move(origin), std::move(document)};
    if (auto checked = check_layer(layer, LayerSource::Local); !checked) {
        return checked.error();
    }
    return layer;
}

Result<void> check_layer(const ConfigLayer& layer, LayerSource source) {
    if (auto checked = check_document(layer.data, source); !checked) {
        return layer.origin.empty() ? checked.error() : with_context(layer.origin, checked.error());
    }
    return {};
}

json merge_layers(const std::vector<ConfigLayer>& layers) {
    json merged = json::object();
    for (const auto& layer : layers) {
        merge_into(merged, layer.data);
    }
    return merged;
}

Result<PoolConfig> build_pool_config(const json& merged) {
    // Checked again as a whole: the merge may come from a cache, and checking is cheap.
    if (auto checked = check_document(merged, LayerSource::Local); !checked) {
        return checked.error();
    }
    PoolConfig config;
    if (const auto share = merged.find("share"); share != merged.end()) {
        auto built = build_share(*share);
        if (!built) {
            return built.error();
        }
        config.share = std::move(built).value();
    }
    if (const auto vault = merged.find("keyVault"); vault != merged.end()) {
        auto built = build_key_vault(*vault, config.share);
        if (!built) {
            return built.error();
        }
        config.key_vault = std::move(built).value();
    }
    if (const auto users = merged.find("users"); users != merged.end()) {
        for (const auto& user : *users) {
            UserConfig out;
            out.name = user["name"].get<std::string>();
            if (const auto sudo = user.find("sudo"); sudo != user.end()) {
                out.sudo = sudo->get<bool>();
            }
            out.ssh_keys = strings_of(user, "sshKeys");
            out.groups = strings_of(user, "groups");
            config.users.push_back(std::move(out));
        }
    }
    config.notebooks = string_or(merged, "notebooks", config.notebooks);
    if (const auto range = merged.find("uidRange"); range != merged.end()) {
        config.uid_min = static_cast<std::uint32_t>(*integer_of((*range)[0]));
        config.uid_max = static_cast<std::uint32_t>(*integer_of((*range)[1]));
    }
    if (const auto interval = merged.find("interval"); interval != merged.end()) {
        config.interval = static_cast<int>(*integer_of(*interval));
    }
    config.sudo_authentication = string_or(merged, "sudoAuthentication", "password") == "none"
                                     ? SudoAuthentication::None
                                     : SudoAuthentication::Password;
    return config;
}

json to_json(const PoolConfig& config) {
    json out = json::object();
    if (config.share) {
        const ShareConfig& share = *config.share;
        out["share"] = {{"source", share.source},
                        {"type", to_string(share.type)},
                        {"mountPoint", share.mount_point},
                        {"options", share.options},
                        {"smbAccess", to_string(share.smb_access)}};
    }
    if (config.key_vault) {
        const KeyVaultConfig& vault = *config.key_vault;
        json secrets = json::object();
        for (const auto& [key, name] :
             {std::pair{"storageAccountKey", &vault.storage_account_key},
              std::pair{"registryKey", &vault.registry_key},
              std::pair{"previousRegistryKey", &vault.previous_registry_key}}) {
            if (!name->empty()) {
                secrets[key] = *name;
            }
        }
        out["keyVault"] = {{"vault", vault.vault},
                           {"refreshInterval", vault.refresh_interval},
                           {"secrets", std::move(secrets)}};
        if (!vault.client_id.empty()) {
            out["keyVault"]["clientId"] = vault.client_id;
        }
    }
    out["users"] = json::array();
    for (const auto& user : config.users) {
        out["users"].push_back(json{{"name", user.name},
                                    {"sudo", user.sudo},
                                    {"sshKeys", user.ssh_keys},
                                    {"groups", user.groups}});
    }
    out["notebooks"] = config.notebooks;
    out["uidRange"] = {config.uid_min, config.uid_max};
    out["interval"] = config.interval;
    out["sudoAuthentication"] = to_string(config.sudo_authentication);
    return out;
}

}  // namespace dsvm::config
