// The pool's registry key: a secret that only root on the pool's instances and the pool admin
// hold. Every registry write is signed with it (HMAC-SHA256), so an instance can tell the agent's
// writes from those of anyone else who can write the share (docs/security.md). It is delivered
// like the storage key — the extension's protected settings or `dsvm-agent registry set-key
// --key-stdin` — and kept beside the storage keys, root-only. A previous key may be kept during a
// rotation: registries signed with it still verify; new writes use the current key.
#pragma once

#include <string>
#include <string_view>

#include "common/digest.h"
#include "common/result.h"
#include "common/root.h"
#include "common/secret.h"

namespace dsvm::users {

inline constexpr std::string_view k_registry_key_path = "/etc/dsvm-agent/credentials/registry.key";
inline constexpr std::string_view k_previous_registry_key_path =
    "/etc/dsvm-agent/credentials/registry.previous.key";

// 32 to 256 printable ASCII characters without spaces (`openssl rand -base64 32` gives 44).
// Invalid otherwise; the message never shows the key.
Result<void> check_registry_key(std::string_view key);

// The key's public name: 16 hex digits of SHA-256 over a fixed label and the key. Registries say
// which key signed them with it; it reveals nothing about the key.
std::string registry_key_id(std::string_view key);

// The keys an instance holds; an empty one is absent.
struct RegistryKeys {
    SecretBytes current;
    SecretBytes previous;
    std::string current_id;
    std::string previous_id;
};

// Reads both key files. Each must be a regular file owned by root with mode 0600 (never a
// symlink) holding one valid key; a missing file is an absent key. A Runtime error names the
// file and the fix.
Result<RegistryKeys> read_registry_keys(const Root& root);

// Writes the key files atomically (mode 0600, root, in the root-only credentials directory,
// created 0700 when missing): `current`, and `previous` (empty removes its file). Both are
// checked first: an Invalid key changes nothing.
Result<void> write_registry_keys(const Root& root, std::string_view current,
                                 std::string_view previous);

}  // namespace dsvm::users
