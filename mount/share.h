// Share kinds the agent mounts (docs/design.md, "The share backend").
#pragma once

namespace dsvm {

enum class ShareType { Smb, Nfs, Bind };

// SMB only: per-user (the whole share root-only; each user's folder mounted for that user) or
// shared (the reference behaviour: one mount every user can read and write).
enum class SmbAccess { PerUser, Shared };

}  // namespace dsvm
