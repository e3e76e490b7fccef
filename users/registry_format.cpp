#include "users/registry_format.h"

#include <algorithm>
#include <limits>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "common/json_bounds.h"
#include "common/text.h"

namespace dsvm::users {

namespace {

using nlohmann::json;

constexpr int k_unsigned_version = 1;
constexpr int k_signed_version = 2;
// Signed before the canonical body, so a signature can never be taken for another kind of data.
constexpr std::string_view k_signature_label = "dsvm-agent registry 2\n";

// A JSON value as it may appear in a message: invalid UTF-8 cannot make dump() throw, and
// control characters or a huge value cannot reach a log line as they are.
std::string shown(const json& value) {
    return printable(value.dump(-1, ' ', false, json::error_handler_t::replace));
}

Result<std::uint64_t> unsigned_field(const json& value, const std::string& field,
                                     std::uint64_t maximum) {
    const bool non_negative_integer =
        value.is_number_unsigned() || (value.is_number_integer() && value.get<std::int64_t>() >= 0);
    if (!non_negative_integer || value.get<std::uint64_t>() > maximum) {
        return failure(field + " must be an integer from 0 to " + std::to_string(maximum) +
                       ", not " + shown(value));
    }
    return value.get<std::uint64_t>();
}

// An optional field keeps its default when absent; when present it must have the right type
// (and a list at most `max_items` items).
template <class T>
Result<void> read_optional(const json& entry, const char* key, const std::string& where, T& out,
                           std::size_t max_items = 0) {
    const auto found = entry.find(key);
    if (found == entry.end()) {
        return {};
    }
    bool right_type = false;
    std::string expected;
    if constexpr (std::is_same_v<T, bool>) {
        right_type = found->is_boolean();
        expected = "true or false";
    } else if constexpr (std::is_same_v<T, std::string>) {
        right_type = found->is_string();
        expected = "a string";
    } else {
        right_type = found->is_array() && found->size() <= max_items &&
                     std::all_of(found->begin(), found->end(),
                                 [](const json& item) { return item.is_string(); });
        expected = "a list of at most " + std::to_string(max_items) + " strings";
    }
    if (!right_type) {
        return failure(where + "." + key + " must be " + expected + ", not " + shown(*found));
    }
    out = found->template get<T>();
    return {};
}

Result<RegistryUser> parse_user(const json& entry, std::size_t index) {
    std::string where = "users[" + std::to_string(index) + "]";
    if (!entry.is_object()) {
        return failure(where + " must be an object, not " + shown(entry));
    }
    RegistryUser user;
    const auto name = entry.find("name");
    if (name == entry.end()) {
        return failure(where + ".name is missing");
    }
    if (!name->is_string()) {
        return failure(where + ".name must be a string, not " + shown(*name));
    }
    user.name = name->get<std::string>();
    where += " ('" + printable(user.name) + "')";

    constexpr std::uint64_t k_id_max = std::numeric_limits<std::uint32_t>::max();
    const auto uid = entry.find("uid");
    if (uid == entry.end()) {
        return failure(where + ".uid is missing");
    }
    auto uid_value = unsigned_field(*uid, where + ".uid", k_id_max);
    if (!uid_value) {
        return uid_value.error();
    }
    user.uid = static_cast<std::uint32_t>(*uid_value);
    // gid == uid is the only value check_registry accepts, so an entry written without one
    // means exactly that.
    user.gid = user.uid;
    if (const auto gid = entry.find("gid"); gid != entry.end()) {
        auto gid_value = unsigned_field(*gid, where + ".gid", k_id_max);
        if (!gid_value) {
            return gid_value.error();
        }
        user.gid = static_cast<std::uint32_t>(*gid_value);
    }

    for (auto field : {read_optional(entry, "sudo", where, user.sudo),
                       read_optional(entry, "groups", where, user.groups, k_max_user_groups),
                       read_optional(entry, "sshKeys", where, user.ssh_keys, k_max_user_keys),
                       read_optional(entry, "passwordHash", where, user.password_hash),
                       read_optional(entry, "deleted", where, user.deleted)}) {
        if (!field) {
            return field.error();
        }
    }
    return user;
}

// generation, nextUid and users: the body of a version 2 file, or a whole version 1 file.
Result<Registry> parse_body(const json& body, std::string_view where) {
    const std::string prefix = where.empty() ? "" : std::string(where) + ".";
    Registry registry;
    const auto generation = body.find("generation");
    if (generation == body.end()) {
        return failure(prefix + "generation is missing");
    }
    auto generation_value = unsigned_field(*generation, prefix + "generation",
                                           std::numeric_limits<std::uint64_t>::max());
    if (!generation_value) {
        return generation_value.error();
    }
    registry.generation = *generation_value;
    if (const auto pool_id = body.find("poolId"); pool_id != body.end()) {
        const bool hex32 =
            pool_id->is_string() && pool_id->get<std::string>().size() == 32 &&
            pool_id->get<std::string>().find_first_not_of("0123456789abcdef") == std::string::npos;
        if (!hex32) {
            return failure(prefix + "poolId must be 32 lower-case hex digits, not " +
                           shown(*pool_id));
        }
        registry.pool_id = pool_id->get<std::string>();
    }
    if (const auto next_uid = body.find("nextUid"); next_uid != body.end()) {
        auto value = unsigned_field(*next_uid, prefix + "nextUid",
                                    std::numeric_limits<std::uint32_t>::max());
        if (!value) {
            return value.error();
        }
        registry.next_uid = static_cast<std::uint32_t>(*value);
    }
    const auto users = body.find("users");
    if (users == body.end()) {
        return failure(prefix + "users is missing");
    }
    if (!users->is_array()) {
        return failure(prefix + "users must be a list, not " + shown(*users));
    }
    registry.users.reserve(users->size());
    for (std::size_t index = 0; index < users->size(); ++index) {
        auto user = parse_user((*users)[index], index);
        if (!user) {
            return where.empty() ? user.error() : with_context(where, user.error());
        }
        registry.users.push_back(std::move(*user));
    }
    sort_users(registry.users);
    return registry;
}

bool is_hex(std::string_view text, std::size_t length) {
    return text.size() == length && std::all_of(text.begin(), text.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
}

Result<std::string> hex_field(const json& document, const char* key, std::size_t length) {
    const auto found = document.find(key);
    if (found == document.end()) {
        return failure(std::string(key) + " is missing");
    }
    if (!found->is_string() || !is_hex(found->get<std::string>(), length)) {
        return failure(std::string(key) + " must be " + std::to_string(length) +
                       " lower-case hex digits, not " + shown(*found));
    }
    return found->get<std::string>();
}

// The body as nlohmann::json (keys sorted), whose compact dump is what is signed.
template <class Json>
Json body_json(const Registry& registry) {
    std::vector<RegistryUser> users = registry.users;
    sort_users(users);
    Json body;
    if (!registry.pool_id.empty()) {
        body["poolId"] = registry.pool_id;
    }
    body["generation"] = registry.generation;
    body["nextUid"] = registry.next_uid;
    body["users"] = Json::array();
    for (const auto& user : users) {
        Json entry;
        entry["name"] = user.name;
        entry["uid"] = user.uid;
        entry["gid"] = user.gid;
        entry["sudo"] = user.sudo;
        entry["groups"] = user.groups;
        entry["sshKeys"] = user.ssh_keys;
        entry["passwordHash"] = user.password_hash;
        entry["deleted"] = user.deleted;
        body["users"].push_back(std::move(entry));
    }
    return body;
}

std::string signed_text_of(const json& body) {
    return std::string(k_signature_label) +
           body.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

Result<RegistryFile> parse_registry_file(std::string_view text) {
    auto parsed =
        parse_bounded_json(text, k_max_registry_bytes, k_max_registry_depth, "the registry");
    if (!parsed) {
        return parsed.error();
    }
    const json& document = *parsed;
    if (!document.is_object()) {
        return failure("the registry must be a JSON object, not " + shown(document));
    }
    const auto version = document.find("version");
    if (version == document.end()) {
        return failure("version is missing");
    }
    const bool known =
        version->is_number_integer() && (version->get<std::int64_t>() == k_unsigned_version ||
                                         version->get<std::int64_t>() == k_signed_version);
    if (!known) {
        return failure("version " + shown(*version) + " is not supported (this agent reads " +
                       std::to_string(k_unsigned_version) + " and " +
                       std::to_string(k_signed_version) + ")");
    }
    RegistryFile file;
    file.version = static_cast<int>(version->get<std::int64_t>());
    if (file.version == k_unsigned_version) {
        auto registry = parse_body(document, "");
        if (!registry) {
            return registry.error();
        }
        file.registry = std::move(*registry);
        file.digest =
            sha256_hex(document.dump(-1, ' ', false, json::error_handler_t::replace)).substr(0, 16);
        return file;
    }
    auto key_id = hex_field(document, "keyId", 16);
    auto mac = hex_field(document, "hmacSha256", 64);
    if (!key_id || !mac) {
        return !key_id ? key_id.error() : mac.error();
    }
    const auto body = document.find("registry");
    if (body == document.end()) {
        return failure("registry is missing");
    }
    if (!body->is_object()) {
        return failure("registry must be an object, not " + shown(*body));
    }
    auto registry = parse_body(*body, "registry");
    if (!registry) {
        return registry.error();
    }
    file.registry = std::move(*registry);
    file.key_id = std::move(*key_id);
    file.mac = std::move(*mac);
    file.signed_text = signed_text_of(*body);
    file.digest = sha256_hex(file.signed_text).substr(0, 16);
    return file;
}

Verification verify_registry_file(const RegistryFile& file, const RegistryKeys& keys) {
    Verification verification;
    if (file.version == k_unsigned_version) {
        verification.trust = RegistryTrust::Unsigned;
        return verification;
    }
    const bool current = !keys.current.empty() && keys.current_id == file.key_id;
    const bool previous = !current && !keys.previous.empty() && keys.previous_id == file.key_id;
    if (!current && !previous) {
        verification.trust = RegistryTrust::UnknownKey;
        return verification;
    }
    const SecretBytes& key = current ? keys.current : keys.previous;
    const std::string expected = hmac_sha256_hex(key.view(), file.signed_text);
    verification.trust = equal_in_constant_time(expected, file.mac) ? RegistryTrust::Verified
                                                                    : RegistryTrust::BadSignature;
    verification.previous_key = previous;
    return verification;
}

std::string trust_problem(const Verification& verification, const RegistryFile& file,
                          const RegistryKeys& keys, std::string_view path) {
    const std::string where = "pool registry " + std::string(path);
    switch (verification.trust) {
        case RegistryTrust::Verified:
            return {};
        case RegistryTrust::Unsigned:
            return "registry refused: " + where +
                   " is not signed: written by dsvm-agent 0.1 before an upgrade, or put there by "
                   "someone without the registry key; nothing is applied. After an upgrade, "
                   "review it with `dsvm-agent users` and sign it with `dsvm-agent registry sign "
                   "--accept-unsigned --expect " +
                   file.digest + "`";
        case RegistryTrust::UnknownKey: {
            std::string held = keys.current.empty() ? "none" : keys.current_id;
            if (!keys.previous.empty()) {
                held += " and " + keys.previous_id;
            }
            return "registry refused: " + where + " is signed with registry key " + file.key_id +
                   ", which this instance does not hold (it holds " + held +
                   "); nothing is applied: give this instance the pool's current registry key";
        }
        case RegistryTrust::BadSignature:
            return "registry refused: " + where +
                   " fails its signature check: it was changed by someone without the pool's "
                   "registry key; nothing is applied (content digest " +
                   file.digest + ")";
    }
    return {};
}

std::string registry_digest(const Registry& registry) {
    return sha256_hex(signed_text_of(body_json<json>(registry))).substr(0, 16);
}

std::string registry_signature(const Registry& registry, std::string_view key) {
    return hmac_sha256_hex(key, signed_text_of(body_json<json>(registry)));
}

std::string render_registry_file(const Registry& registry, std::string_view key) {
    // ordered_json keeps the fields in the order written here, which reads best for a human;
    // the signature is over the sorted form, which is what any reader parses back.
    nlohmann::ordered_json document;
    document["version"] = k_signed_version;
    document["keyId"] = registry_key_id(key);
    document["hmacSha256"] = registry_signature(registry, key);
    document["registry"] = body_json<nlohmann::ordered_json>(registry);
    return document.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

}  // namespace dsvm::users
