// On a pool that reads its keys from Key Vault, only root may reach the instance metadata
// service (docs/security.md, "The managed identity"). The metadata service hands a token for the
// VM's managed identity to any local process that asks; with it, a pool user could read the
// storage key and the registry key from the vault. An nftables table of the agent's own drops
// every packet a process other than root sends to 169.254.169.254, as the Azure guest agent does
// for its wire server. It is loaded from a file under the state directory, so that
// dsvm-agent-metadata-guard.service loads it again at boot before any user session starts.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/process.h"
#include "common/result.h"
#include "common/root.h"

namespace dsvm::engine {

inline constexpr std::string_view k_guard_table = "dsvm_agent_metadata";
inline constexpr std::string_view k_nft = "/usr/sbin/nft";

// The nft script: the table, replaced as a whole in one transaction (so loading it again is
// idempotent and never leaves a moment without the rule).
std::string render_metadata_guard();

// What reconcile_metadata_guard did.
struct GuardOutcome {
    std::string action;                  // "" when nothing changed; else what it did
    std::optional<std::string> problem;  // a failure, for status
};

// wanted: the guard's file (<state dir>/metadata-guard.nft, root-only) holds the script and the
// table is loaded in the running kernel; not wanted: both are gone, if the agent made them.
// The live table is checked with `nft list table` and loaded with `nft -f` only when missing or
// different. The firewall belongs to the network namespace the agent runs in, whatever --root is.
GuardOutcome reconcile_metadata_guard(bool wanted, const Root& root, const std::string& state_dir,
                                      ProcessRunner& runner);

// The guard as a port of the engine: what keeps pool users from the metadata service on this OS.
class MetadataGuard {
  public:
    virtual ~MetadataGuard() = default;
    // Brings the guard in line with `wanted` (a pool with keyVault); `state_dir` is inside root.
    virtual GuardOutcome reconcile(bool wanted, const Root& root, const std::string& state_dir) = 0;
};

// The nftables guard above, run through `runner`: Linux.
class NftMetadataGuard final : public MetadataGuard {
  public:
    explicit NftMetadataGuard(ProcessRunner& runner) : m_runner(runner) {}
    GuardOutcome reconcile(bool wanted, const Root& root, const std::string& state_dir) override {
        return reconcile_metadata_guard(wanted, root, state_dir, m_runner);
    }

  private:
    ProcessRunner& m_runner;
};

}  // namespace dsvm::engine
