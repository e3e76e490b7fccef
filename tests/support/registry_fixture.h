// Registry fixtures for tests: a pool's keys in memory, and registry entries.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "users/registry.h"
#include "users/registry_key.h"

namespace dsvm::test {

inline constexpr std::string_view k_pool_key = "test-pool-registry-key-0123456789abcdef+/AB";
inline constexpr std::string_view k_other_key = "another-pool-registry-key-9876543210fedcba=";

inline SecretBytes secret_of(std::string_view text) {
    SecretBytes bytes(text.size());
    bytes.append(text);
    return bytes;
}

// Keys as read_registry_keys returns them: `current` and `previous` (empty: none).
inline std::shared_ptr<const users::RegistryKeys> keys_of(std::string_view current,
                                                          std::string_view previous = {}) {
    auto keys = std::make_shared<users::RegistryKeys>();
    if (!current.empty()) {
        keys->current = secret_of(current);
        keys->current_id = users::registry_key_id(current);
    }
    if (!previous.empty()) {
        keys->previous = secret_of(previous);
        keys->previous_id = users::registry_key_id(previous);
    }
    return keys;
}

// An entry with its own group (gid = uid), as the agent makes them.
inline users::RegistryUser make_user(std::string name, std::uint32_t uid) {
    users::RegistryUser user;
    user.name = std::move(name);
    user.uid = uid;
    user.gid = uid;
    return user;
}

}  // namespace dsvm::test
