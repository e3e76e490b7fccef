// The pool registry (docs/users.md): the one source of truth for pool users and their UIDs, kept
// on the share and signed with the pool's registry key (users/registry_format.h). This file is
// the model and its rules: what an entry may hold, how UIDs are handed out (never twice), and
// how an instance tells a registry that went back in time or vanished.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace dsvm::users {

struct RegistryUser {
    std::string name;
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
    bool sudo = false;
    std::vector<std::string> groups;
    std::vector<std::string> ssh_keys;
    std::string password_hash;  // crypt(3) hash, or empty for none; never a clear password
    bool deleted = false;       // deluser: locked everywhere, kept so its UID is never reused
    bool operator==(const RegistryUser&) const = default;
};

struct Registry {
    // The pool this registry belongs to: 32 random hex digits chosen when it is first written,
    // inside what is signed, so an instance can tell an old copy of its own pool's registry (put
    // back, or on another share) from another pool's.
    std::string pool_id;
    std::uint64_t generation = 0;  // grows with every write that changes something
    // No UID below this is handed out again, even when the entry that had it is gone: the
    // high-water mark of every UID the pool ever gave (0 when it gave none).
    std::uint32_t next_uid = 0;
    std::vector<RegistryUser> users;  // sorted by name
    bool operator==(const Registry&) const = default;
};

// Limits on one entry, so a registry cannot make the agent do unbounded work per user.
inline constexpr std::size_t k_max_user_groups = 64;
inline constexpr std::size_t k_max_user_keys = 64;
inline constexpr std::size_t k_max_password_hash = 512;

// Entries that break the rules: a bad or reserved name, a UID outside [uid_min, uid_max], a GID
// other than the UID, a name or a UID used twice (every entry involved is rejected), a group
// that is not a group name or is privileged, an SSH key that is not one, a password hash with a
// ':' or control character. The valid ones apply; each rejected one is reported with its
// reasons, its name escaped.
struct CheckedRegistry {
    std::vector<RegistryUser> valid;
    std::vector<std::string> rejected;
};
CheckedRegistry check_registry(const Registry& registry, std::uint32_t uid_min,
                               std::uint32_t uid_max);

// The UID a new user gets: the lowest in [uid_min, uid_max] that is above the registry's
// high-water mark, above every UID an entry holds (deleted ones included) and not in `taken`
// (UIDs this instance knows were the pool's: accounts it made). A Runtime error when none is
// left; UIDs are never reused, so a range is used up once.
Result<std::uint32_t> next_free_uid(const Registry& registry, std::uint32_t uid_min,
                                    std::uint32_t uid_max,
                                    const std::set<std::uint32_t>& taken = {});

// The entry named `name`, added first (next_free_uid, GID = UID, the high-water mark raised)
// when there is none. The pointer is valid until the next change to users.
Result<RegistryUser*> find_or_add_user(Registry& registry, const std::string& name,
                                       std::uint32_t uid_min, std::uint32_t uid_max,
                                       const std::set<std::uint32_t>& taken = {});

void sort_users(std::vector<RegistryUser>& users);

// What an instance remembers of the last registry it accepted from a share, so that a registry
// that vanished or went back in time (an older, validly signed copy put back by someone who can
// write the share) is refused rather than applied.
struct SeenRegistry {
    std::string share;    // the share source it was read from
    std::string pool_id;  // the pool it belongs to
    std::uint64_t generation = 0;
    std::string mac;  // its signature
    bool operator==(const SeenRegistry&) const = default;
};

// What check_not_older looks at in the registry read now.
struct RegistryIdentity {
    bool exists = false;
    std::string pool_id;
    std::uint64_t generation = 0;
    std::string mac;
};

// Whether a registry read from `share` may be applied by an instance that saw `seen`. Absent when
// it saw one on the same share is an error. For the same pool — on this share or any other, so
// an old copy cannot come back through another share source — a lower generation, or the same
// generation with another signature, is an error. Another pool on another share starts afresh.
// The message says what to do.
Result<void> check_not_older(const SeenRegistry& seen, std::string_view share,
                             const RegistryIdentity& now);

// 32 random hex digits for a new pool's pool_id.
std::string new_pool_id();

}  // namespace dsvm::users
