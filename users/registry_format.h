// registry.json on the share, as text (docs/users.md, "The registry"). Version 2 is signed:
//
//   {"version": 2, "keyId": "<16 hex>", "hmacSha256": "<64 hex>",
//    "registry": {"poolId": "<32 hex>", "generation": 42, "nextUid": 20003, "users": [...]}}
//
// The signature is HMAC-SHA256, under the pool's registry key, of a fixed label and the
// canonical form of the "registry" value (nlohmann's compact dump with sorted keys) — of the
// value as parsed, so what is verified is exactly what is applied, however the file is laid out.
// Version 1 (written by dsvm-agent 0.1) has no signature: it is read so an admin can review and
// sign it (`dsvm-agent registry sign`), and never applied as it is.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/result.h"
#include "users/registry.h"
#include "users/registry_key.h"

namespace dsvm::users {

// About twice a 10,000-user registry with a key each (4 MB); bounds memory (a parsed document
// takes some 30 times its text) and parse time.
inline constexpr std::size_t k_max_registry_bytes = 8 * 1024 * 1024;
// The format nests 5 deep (document, registry, users, entry, keys); a little room beyond.
inline constexpr std::size_t k_max_registry_depth = 8;

struct RegistryFile {
    int version = 2;
    Registry registry;
    std::string key_id;       // version 2: the key that signed it
    std::string mac;          // version 2: the signature as written
    std::string signed_text;  // version 2: what the signature covers
    // 16 hex digits of SHA-256 over the registry's canonical form: what an admin reviewed, named
    // back to `registry sign --expect` so that exactly that content is signed.
    std::string digest;
};

// Parses registry.json (bounded in size and nesting first). A file that is not a registry (bad
// JSON, unknown version, wrong types, an entry beyond the limits) is a Runtime error naming the
// field: the agent stops applying users rather than guess. Nothing is verified here.
Result<RegistryFile> parse_registry_file(std::string_view text);

// Whether a parsed file may be trusted with these keys.
enum class RegistryTrust {
    Verified,      // signed with the current or the previous key
    Unsigned,      // version 1
    UnknownKey,    // signed with a key this instance does not hold
    BadSignature,  // signed with a key it holds, but the content was changed since
};
struct Verification {
    RegistryTrust trust = RegistryTrust::Unsigned;
    bool previous_key = false;  // verified with the previous key (a rotation is under way)
};
Verification verify_registry_file(const RegistryFile& file, const RegistryKeys& keys);

// The one-line refusal for a registry that is not Verified, naming `path` and the fix.
std::string trust_problem(const Verification& verification, const RegistryFile& file,
                          const RegistryKeys& keys, std::string_view path);

// registry.json, version 2, signed with `key`: pretty-printed, users in name order.
std::string render_registry_file(const Registry& registry, std::string_view key);

// The content digest (RegistryFile::digest) `registry` has once written.
std::string registry_digest(const Registry& registry);

// The signature render_registry_file writes for `registry` under `key`.
std::string registry_signature(const Registry& registry, std::string_view key);

}  // namespace dsvm::users
