// The local account database: /etc/passwd, group, shadow and gshadow under a root, changed in
// batches. The texts are kept line by line, so every line the agent does not change stays byte
// for byte; all changes of a pass are applied in memory and written once, under the same lock
// shadow-utils takes (lckpwdf(3): a write lock on /etc/.pwd.lock), each file replaced
// atomically with its mode and owner kept.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "common/clock.h"
#include "common/ids.h"
#include "common/outcome.h"
#include "common/result.h"
#include "common/root.h"
#include "users/account_changes.h"

namespace dsvm::users {

// The GECOS field of every account the agent creates; with the state dir's list, how the agent
// knows an account is its own. Only its first subfield (the full name) is compared: chfn lets a
// user change the others (room, phones: CHFN_RESTRICT "rwh" on Debian and Ubuntu), which must not
// let them slip out from under the agent (a deluser that no longer locks them).
inline constexpr std::string_view k_managed_gecos = "dsvm-agent pool user";

// Whether a GECOS field marks an account as the agent's: its full-name subfield is the marker.
bool is_managed_gecos(std::string_view gecos);

struct AccountFiles {
    std::string passwd;
    std::string group;
    std::string shadow;
    std::string gshadow;

    bool operator==(const AccountFiles&) const = default;
};

struct UserRecord {
    std::string name;
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
    std::string gecos;
    std::string home;
    std::string shell;
};

struct GroupRecord {
    std::string name;
    std::uint32_t gid = 0;
    std::vector<std::string> members;
};

// Lookups over parsed account files. Malformed lines are skipped here (and kept as they are
// by every change).
class AccountView {
  public:
    static AccountView parse(const AccountFiles& files);

    const UserRecord* user(std::string_view name) const;
    const UserRecord* user_by_uid(std::uint32_t uid) const;
    const GroupRecord* group(std::string_view name) const;
    const GroupRecord* group_by_gid(std::uint32_t gid) const;
    // The shadow password field ("!" locked, "*", "$y$...", ...), or nullopt without an entry.
    std::optional<std::string> password_hash(std::string_view name) const;
    // Whether the shadow entry is locked as LockAccount leaves it: expired (expire field 1).
    bool is_locked(std::string_view name) const;
    // The members gshadow lists for a group, or null when gshadow has no entry for it.
    const std::vector<std::string>* gshadow_members(std::string_view group) const;
    // True for an account whose GECOS is marked (is_managed_gecos).
    bool is_marked_managed(std::string_view name) const;
    std::size_t user_count() const { return m_users.size(); }

  private:
    std::vector<UserRecord> m_users;
    std::vector<GroupRecord> m_groups;
    std::unordered_map<std::string, std::size_t> m_user_by_name;
    std::unordered_map<std::uint32_t, std::size_t> m_user_by_uid;
    std::unordered_map<std::string, std::size_t> m_group_by_name;
    std::unordered_map<std::uint32_t, std::size_t> m_group_by_gid;
    std::unordered_map<std::string, std::string> m_hashes;
    std::unordered_map<std::string, std::string> m_expire;
    std::unordered_map<std::string, std::vector<std::string>> m_gshadow_members;
};

struct AppliedAccounts {
    AccountFiles files;
    std::vector<ActionOutcome> outcomes;  // one per change, in order
};

// Pure: applies the changes to the texts. A change fails alone (reported, the others applied)
// when it would touch an account not marked as the agent's, or create a name, uid or gid that
// already exists. Creating appends lines to all four files; no other line moves or changes.
// Today's date (shadow's "last password change" of a new account) is read from `clock`.
AppliedAccounts apply_account_changes(const AccountFiles& current,
                                      const std::vector<AccountChange>& changes,
                                      Clock& clock = real_clock());

// Reads the four files (a missing gshadow or shadow reads as empty).
Result<AccountFiles> read_account_files(const Root& root);

// Takes the lckpwdf-compatible lock on <root>/etc/.pwd.lock (waiting up to 15 s, as lckpwdf
// does), reads the files, applies the changes, writes the files that changed (atomically, mode
// and owner kept; new files get passwd/group 0644, shadow/gshadow 0640 root:shadow or root),
// and releases the lock. The outcomes say which changes failed. The wait for the lock and
// today's date go through `clock`.
Result<std::vector<ActionOutcome>> commit_account_changes(const Root& root,
                                                          const std::vector<AccountChange>& changes,
                                                          Clock& clock = real_clock());

// Creates a home directory (mode 0700) owned by uid:gid with a copy of <root>/etc/skel, never
// following a symlink (openat/O_NOFOLLOW, fchownat AT_SYMLINK_NOFOLLOW). The home is built under
// a temporary name beside it (.dsvm-agent-home.<name>) and renamed into place only when complete
// (RENAME_NOREPLACE), so an interrupted run never leaves a half-made home at the real name; its
// leftover is removed and the home built again on the next call. An existing home is left alone
// (returns false); created → true.
Result<bool> create_home(const Root& root, std::string_view home, uid_t uid, gid_t gid);

// The identity of the account files (passwd, group, shadow, gshadow) as they are now: inode,
// size and modification time of each, "-" for one that is missing. Equal stamps mean files
// that were not written in between.
std::string account_files_stamp(const Root& root);

// Whether create_home would make `home`: nothing at all (not even a symlink) is at its path.
// Reads only; what a dry run and the key removal of a locked user ask.
bool home_missing(const Root& root, std::string_view home);

}  // namespace dsvm::users
