// The pool registry on the share (DESIGN.md §5): the one source of truth for pool users and their
// UIDs, <share>/.dsvm-agent/registry.json, read-modify-written under an fcntl lock on
// <share>/.dsvm-agent/registry.lock (fcntl locks work over NFSv4 and SMB3, and die with their
// process, so a crashed writer never leaves a stale lock). Writes go to a temporary file that is
// fsynced and renamed, so a reader never sees half a registry.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace dsvm {

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
    int version = 1;
    std::uint64_t generation = 0;     // incremented by every write that changes something
    std::vector<RegistryUser> users;  // sorted by name
    bool operator==(const Registry&) const = default;
};

// Parses registry.json. A file that is not a registry (bad JSON, unknown version, wrong types)
// is a Runtime error: the agent stops applying users rather than guess.
Result<Registry> parse_registry(std::string_view text);
std::string render_registry(const Registry& registry);

// Entries that break the rules: a bad name, a UID outside [uid_min, uid_max], a GID other than
// the UID, a name or a UID used twice (every entry involved is rejected). The valid ones apply;
// each rejected one is reported with its reason.
struct CheckedRegistry {
    std::vector<RegistryUser> valid;
    std::vector<std::string> rejected;
};
CheckedRegistry check_registry(const Registry& registry, std::uint32_t uid_min,
                               std::uint32_t uid_max);

// The lowest UID in [uid_min, uid_max] no registry entry uses (deleted ones included), or a
// Runtime error when the range is full.
Result<std::uint32_t> lowest_free_uid(const Registry& registry, std::uint32_t uid_min,
                                      std::uint32_t uid_max);

// The entry named `name`, added first (lowest free UID, GID = UID) when there is none; a
// Runtime error when the range is full. The pointer is valid until the next change to users.
Result<RegistryUser*> find_or_add_user(Registry& registry, const std::string& name,
                                       std::uint32_t uid_min, std::uint32_t uid_max);

class RegistryStore {
  public:
    // share_dir: the real path of the mounted share's top.
    explicit RegistryStore(std::string share_dir);

    // The registry as last written (an absent file is an empty registry, generation 0).
    Result<Registry> read() const;

    // Under the lock: creates .dsvm-agent (root, 0700) if needed, reads, runs `change`, and if the
    // registry differs afterwards, increments the generation and writes it. The lock is waited
    // for (up to 30 s). Returns the registry as it stands after the call. An error from `change`
    // is returned as it is and nothing is written.
    Result<Registry> update(const std::function<Result<void>(Registry&)>& change);

    // A cheap check for "did anything change": the generation, from a small file written after
    // every registry write (the registry file's inode, size and mtime if that file is absent);
    // empty when there is no registry.
    Result<std::string> stamp() const;

    std::string registry_path() const;

  private:
    std::string m_share_dir;
};

}  // namespace dsvm
