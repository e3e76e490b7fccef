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

// A new pool user: its own group (gid) and account, GECOS k_managed_gecos. An empty
// password_hash gives "!" (no password login; keys still work).
struct CreateAccount {
    std::string name;
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
    std::string home;
    std::string shell = "/bin/bash";
    std::string password_hash;
};
struct SetPasswordHash {
    std::string name;
    std::string hash;
};
// Locks (deluser, or an entry gone from the registry): the password hash is dropped ("!") and
// the account expires (shadow expire field 1), so neither a password nor a key logs in, and a
// later unlock cannot bring the old password back. Nothing is deleted.
struct LockAccount {
    std::string name;
};
// Lifts a lock: the account no longer expires and its password becomes `hash` ("!", no password
// login, when empty).
struct UnlockAccount {
    std::string name;
    std::string hash;
};
// Undoes what an interrupted batch left of creating `name` (uid, gid): the passwd entry was never
// written (it is written last), but its group, gshadow and shadow entries and memberships may
// have been. Removes exactly those: the group entry only if it has `gid`, the name from every
// member list. Refused when passwd has an entry for `name`.
struct RemovePartialAccount {
    std::string name;
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
};
// Makes `user` a member of exactly those of `managed_groups` that are in `wanted`; groups not
// in managed_groups are not touched. Groups that do not exist are reported, not created.
struct SetSupplementaryGroups {
    std::string user;
    std::vector<std::string> wanted;
    std::vector<std::string> managed_groups;
};
// A system group the agent owns (dsvm-sudo): the highest free gid from 999 down to 100, as
// `groupadd --system` picks. Nothing happens if the group already exists.
struct CreateSystemGroup {
    std::string name;
};
using AccountChange = std::variant<CreateAccount, SetPasswordHash, LockAccount, UnlockAccount,
                                   SetSupplementaryGroups, CreateSystemGroup, RemovePartialAccount>;

// "create user alice (uid 20000)" and so on; never shows a password hash.
std::string describe(const AccountChange& change);

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
