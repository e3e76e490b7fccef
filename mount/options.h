// mount(8) options for a share: Azure's recommended defaults per type (docs/mounting.md,
// "Options"), the options the agent owns, and the boot-time options for fstab.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"
#include "mount/share.h"

namespace dsvm::mount {

// Checks a config's share.options against the keys the agent owns for that type. SMB: the
// credential keys (username, user, password, password2, pass, credentials, cred, domain),
// identity and permission keys (uid, gid, forceuid, forcegid, dir_mode, file_mode, noperm,
// multiuser, guest, sec), nobrl (the registry needs byte-range locks) and vers below 3.0; NFS:
// the credential keys, vers other than 4.x, and nolock/local_lock (locks must reach the server);
// bind: any option but ro/rw and the nosuid/nodev/noexec family; every type: suid and dev (every
// share is mounted nosuid,nodev). Invalid, naming the key and
// the rule ("share.options: 'uid' is set by the agent from smbAccess; remove it").
Result<void> check_share_options(ShareType type, std::string_view options);

// The filesystem type to mount: "cifs", "nfs", or "" for a bind mount.
std::string_view fs_type_for(ShareType type);

// The options to mount with, in a stable order: the agent's defaults for the type, then the
// share's own options (a key given in both takes the share's value, in the default's place;
// new keys follow). SMB: vers=3.1.1,credentials=<file>,serverino,nosharesock,actimeo=30,
// mfsymlinks,uid=0,gid=0 and dir_mode/file_mode 0700/0600 (per-user) or 0777/0777 (shared).
// NFS: vers=4.1,sec=sys,hard,timeo=600,retrans=2,nconnect=4. Bind: "bind". Then nosuid,nodev
// for every type.
// credentials_file is the path as the mount helper will see it; used for SMB only.
std::string mount_options(ShareType type, SmbAccess access, std::string_view user_options,
                          std::string_view credentials_file);

// The options of one user's own SMB mount of their notebook folder (smbAccess "per-user"):
// vers=3.1.1,credentials=<file>,serverino,actimeo=30,mfsymlinks,uid=<uid>,forceuid,
// gid=<gid>,forcegid,dir_mode=0700,file_mode=0600,nosuid,nodev, then the share's own options as
// mount_options takes them. No nosharesock: the user mounts of one instance share a connection,
// so a pool of thousands of users does not open thousands of sockets to the storage account.
std::string notebook_mount_options(std::string_view user_options, std::string_view credentials_file,
                                   unsigned uid, unsigned gid);

// The fstab options: the mount options plus _netdev (wait for the network), nofail (boot never
// waits for or fails on the share) and x-systemd.mount-timeout=30s, for a bind share too (its
// source may itself be on a network filesystem).
std::string boot_options(ShareType type, std::string_view mount_options);

// The name of an SMB share's credentials: the storage account for an Azure Files host (the first
// DNS label: "acct" for //acct.file.core.windows.net/share), the host itself for an IP literal
// or a single-label host. Takes a source already validated as //host/share[/sub].
std::string credentials_name(std::string_view smb_source);

// Whether a mount option key (any case) is one mount.cifs reads as a credential: refused in
// share.options on every share type and in every config source.
bool is_credential_key(std::string_view key);

}  // namespace dsvm::mount
