// registry.json on the share (docs/users.md, "The registry"): read, verified and written under an
// fcntl lock on <share>/.dsvm-agent/registry.lock (fcntl locks work over NFSv4 and SMB3 and die
// with their process, so a crashed writer never leaves a stale lock). Writes go to a temporary
// file that is fsynced and renamed, so a reader never sees half a registry. Everything read from
// the share goes through the one safe reader (common/safe_open.h): no symlink is followed, no FIFO
// blocks, sizes and nesting are bounded, and where the share has POSIX owners (NFS, bind)
// .dsvm-agent and its files must be root's and writable by nobody else.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/result.h"
#include "users/registry.h"
#include "users/registry_format.h"
#include "users/registry_key.h"

namespace dsvm::users {

struct RegistryShare {
    std::string dir;  // the real path of the mounted share's top
    // NFS and bind shares: owners mean something, so .dsvm-agent and its files must be root's
    // (the effective uid) and not group/other-writable. SMB: owners and modes are the client's
    // fiction (set by mount options), so only the signature protects the registry.
    bool posix_owners = true;
};

// registry.json as read now: absent, or parsed and checked against the keys.
struct LoadedRegistry {
    bool exists = false;
    RegistryFile file;  // the registry is file.registry (empty when absent)
    Verification verification;
    std::string problem;  // the one-line refusal when it exists and is not Verified

    bool verified() const { return !exists || verification.trust == RegistryTrust::Verified; }
    const Registry& registry() const { return file.registry; }
};

struct RegistryUpdate {
    // Refuse a registry that vanished or went back in time (check_not_older), under the lock.
    bool check_seen = false;
    SeenRegistry seen;
    std::string share_source;
    // `dsvm-agent registry sign`: take an unsigned (version 1) registry as it is, or (with
    // accept_unverified) one whose signature fails or whose key is unknown; write even when
    // nothing changed; the new generation is at least min_generation.
    bool accept_unsigned = false;
    bool accept_unverified = false;
    bool force_write = false;
    std::uint64_t min_generation = 0;
    // Content that is not already trusted — unsigned, unverified, or (with review_older) older
    // than `seen` — is taken only when its content digest is `expect_digest`: exactly what the
    // admin reviewed, checked under the lock, so nothing swapped in meanwhile gets signed.
    bool review_older = false;
    std::string expect_digest;
};

class RegistryStore {
  public:
    // The wait for the registry's lock (30 s) goes through `clock`. A store used on a worker
    // that may outlive its caller (a DeadlineGate's) keeps the process's real clock.
    RegistryStore(RegistryShare share, std::shared_ptr<const RegistryKeys> keys,
                  Clock& clock = real_clock());

    // The registry and whether it verifies. A Runtime error when it cannot be read safely
    // (a symlink, a FIFO, too big, the wrong owner) or is not a registry.
    Result<LoadedRegistry> load() const;

    // Under the lock: creates .dsvm-agent (0700) if needed, loads, refuses a registry that does
    // not verify (or is older than `options.seen`), runs `change`, and if the registry differs
    // afterwards (or force_write), raises the generation, signs it with the current key and
    // writes it. Returns it as it stands after the call. An error from `change` is returned as it
    // is and nothing is written. Needs the current key (Runtime error without).
    Result<LoadedRegistry> update(const std::function<Result<void>(Registry&)>& change,
                                  const RegistryUpdate& options = {});

    // A cheap check for "did anything change": the generation file (written after every
    // registry write) and registry.json's identity; never followed through a symlink, never
    // blocking. Empty when there is no .dsvm-agent.
    Result<std::string> stamp() const;

    std::string registry_path() const;

  private:
    RegistryShare m_share;
    std::shared_ptr<const RegistryKeys> m_keys;
    Clock* m_clock;
};

}  // namespace dsvm::users
