// On-demand per-user SMB notebook mounts through autofs (docs/users.md, smbAccess "per-user").
//
// An instance of a 10,000-user pool cannot hold 10,000 SMB mounts, so no user's folder is
// mounted ahead of time. The agent keeps one autofs indirect map instead:
//   /etc/auto.master.d/dsvm-agent.autofs   /run/dsvm-agent/notebooks <map> --timeout=<idle>
//   /etc/dsvm-agent/notebooks.autofs       alice -fstype=cifs,...,uid=20001,...
//   ://host/share/notebooks/alice
// The first access to /run/dsvm-agent/notebooks/alice (through ~alice/notebooks/remote) mounts
// alice's folder alone, with her uid/gid and 0700/0600; autofs unmounts it after `idle`
// seconds unused. Mounts held per instance = users active in the last `idle` seconds.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/root.h"

namespace dsvm::mount {

inline constexpr const char* k_autofs_master_path = "/etc/auto.master.d/dsvm-agent.autofs";
inline constexpr const char* k_notebook_map_path = "/etc/dsvm-agent/notebooks.autofs";
inline constexpr const char* k_notebook_mount_dir = "/run/dsvm-agent/notebooks";
inline constexpr int k_notebook_idle_seconds = 600;

struct NotebookMount {
    std::string user;  // a checked pool user name: the map key
    unsigned uid = 0;
    unsigned gid = 0;
    std::string folder;  // the folder on the share, e.g. "notebooks/alice"
};

// Where `user`'s folder appears on this instance: /run/dsvm-agent/notebooks/<user>.
std::string notebook_mount_path(std::string_view user);

// One map line: `alice -fstype=cifs,<notebook_mount_options> ://host/share/notebooks/alice`.
// smb_source is the share's validated //host/share[/sub] source; `$` (hidden shares) is escaped
// so autofs does not expand it as a variable.
std::string notebook_map_entry(std::string_view smb_source, const NotebookMount& mount,
                               std::string_view user_options, std::string_view credentials_file);

// The whole map, one entry per mount in the given order, under a header naming its owner.
std::string render_notebook_map(std::string_view smb_source,
                                const std::vector<NotebookMount>& mounts,
                                std::string_view user_options, std::string_view credentials_file);

// The master map drop-in: the mount directory, the map file, the idle timeout.
std::string render_autofs_master(int idle_seconds);

struct AutomountChange {
    bool map_changed = false;
    bool master_changed = false;  // autofs must re-read its master map (a reload)
};

// Writes the map (root 0600: it names the credentials file) and the master drop-in (0644),
// each atomically and only when its content differs. Parent directories are created 0755.
Result<AutomountChange> install_notebook_automount(const Root& root, std::string_view map_text,
                                                   int idle_seconds = k_notebook_idle_seconds);

// Whether install_notebook_automount would write either file (a dry run); reads only.
Result<bool> notebook_automount_differs(const Root& root, std::string_view map_text,
                                        int idle_seconds = k_notebook_idle_seconds);

// Removes both files when present (the share is no longer SMB per-user). Returns whether the
// master drop-in was removed (autofs must then be reloaded).
Result<bool> remove_notebook_automount(const Root& root);

}  // namespace dsvm::mount
