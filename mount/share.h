// Share kinds the agent mounts (docs/design.md, "The share backend").
#pragma once

#include <string_view>

namespace dsvm::mount {

enum class ShareType { Smb, Nfs, Bind };

// "smb", "nfs", "bind": the words of the pool config and of status.
constexpr std::string_view to_string(ShareType type) {
    switch (type) {
        case ShareType::Smb:
            return "smb";
        case ShareType::Nfs:
            return "nfs";
        case ShareType::Bind:
            return "bind";
    }
    return "unknown";
}

// SMB only: per-user (the whole share root-only; each user's folder mounted for that user) or
// shared (the reference behaviour: one mount every user can read and write).
enum class SmbAccess { PerUser, Shared };

// "per-user", "shared".
constexpr std::string_view to_string(SmbAccess access) {
    return access == SmbAccess::Shared ? "shared" : "per-user";
}

}  // namespace dsvm::mount
