// The seam around the local account database of Windows (docs/windows-backends.md, §6): the
// SAM's users and local groups, a user's profile, and the files WindowsAccounts keeps in it (the
// SSH keys, the notebook link). Each call returns 0 (ERROR_SUCCESS) or the Win32 or NetAPI error
// code, as the Win32 call gave it. The real half is windows/account_api_win32.cpp; tests use a
// recording fake (tests/support/fake_account_api.h), because wine implements neither NetUserAdd
// nor NetUserSetInfo, local group membership or symbolic links (docs/windows.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/secret.h"

namespace dsvm::windows_platform {

// The user flags the agent reads and sets (USER_INFO_1008): UF_ACCOUNTDISABLE, and what a new
// account gets (UF_SCRIPT | UF_NORMAL_ACCOUNT | UF_DONT_EXPIRE_PASSWD).
inline constexpr std::uint32_t k_account_disabled = 0x0002;
inline constexpr std::uint32_t k_new_account_flags = 0x0001 | 0x0200 | 0x10000;

// The well-known groups, by SID: their names depend on the system's language.
inline constexpr std::string_view k_administrators_sid = "S-1-5-32-544";
inline constexpr std::string_view k_remote_desktop_users_sid = "S-1-5-32-555";

// The notebook link inside a profile.
inline constexpr std::string_view k_notebook_link = "notebooks\\remote";

// A local user account (NetUserEnum level 1, the profile from the ProfileList key).
struct SamUser {
    std::string name;
    std::uint32_t flags = 0;  // UF_*
    std::string comment;      // usri1_comment: the admin comment, which the user cannot change
    std::string profile;      // the profile folder; empty when the account has none yet
    bool operator==(const SamUser&) const = default;
};

// A local group and its members that are local accounts (by name, without the computer's).
struct SamGroup {
    bool exists = false;
    std::string name;  // as this system names it (localized for a well-known group)
    std::string sid;
    std::vector<std::string> members;
    bool operator==(const SamGroup&) const = default;
};

// What WindowsAccounts plans from: the local users and the names of the local groups (users()),
// and the groups it was asked about (members()), keyed by the pool's name for them: "dsvm-sudo",
// k_remote_desktop_group, or a group of `groups`.
struct SamView {
    std::vector<SamUser> users;
    std::vector<std::string> local_groups;
    std::map<std::string, SamGroup> groups;
};

// What is at <profile>\notebooks\remote.
enum class LinkKind { Missing, Link, EmptyDirectory, Other };
struct LinkState {
    LinkKind kind = LinkKind::Missing;
    std::string target;  // Link: the stored target (a symbolic link's substitute name)
};

// <profile>\.ssh\authorized_keys as read.
struct KeysFile {
    bool found = false;
    std::string text;
    // Owned by the user, SYSTEM or Administrators, and only they are allowed anything: what
    // Windows OpenSSH requires of it.
    bool private_to_user = false;
};

class AccountApi {
  public:
    virtual ~AccountApi() = default;

    // Every local user (normal accounts) with its profile folder, and the names of the local
    // groups, into `out.users` and `out.local_groups`.
    virtual std::uint32_t users(SamView& out) = 0;
    // The local group `group` (a SID string "S-1-5-32-544", or a name) and its local members.
    // NERR_GroupNotFound when there is no such group.
    virtual std::uint32_t members(const std::string& group, SamGroup& out) = 0;
    // The name this system gives the well-known group `sid` (LookupAccountSidW).
    virtual std::uint32_t well_known_group(const std::string& sid, std::string& name) = 0;

    // NetUserAdd level 1: a normal account with k_new_account_flags, the admin comment and the
    // password in one call, so an account never exists without its marker.
    virtual std::uint32_t add_user(const std::string& name, const std::string& comment,
                                   const SecretBytes& password) = 0;
    // NetUserSetInfo level 1008: replaces every flag.
    virtual std::uint32_t set_flags(const std::string& name, std::uint32_t flags) = 0;
    // NetUserSetInfo level 1003.
    virtual std::uint32_t set_password(const std::string& name, const SecretBytes& password) = 0;
    // NetLocalGroupAddMembers / DelMembers of the local account `user` in `group` (a SID string
    // or a name). ERROR_MEMBER_IN_ALIAS / ERROR_MEMBER_NOT_IN_ALIAS when there is nothing to do.
    virtual std::uint32_t add_member(const std::string& group, const std::string& user) = 0;
    virtual std::uint32_t remove_member(const std::string& group, const std::string& user) = 0;

    // The account's profile (CreateProfile with its SID), or its existing one from ProfileList:
    // its folder into `path`, `created` when this call made it.
    virtual std::uint32_t create_profile(const std::string& name, std::string& path,
                                         bool& created) = 0;

    // What is at `link` (a relative path such as k_notebook_link) inside the profile folder
    // `profile`, every component opened from its parent's handle without following a reparse
    // point. ERROR_FILE_NOT_FOUND when `profile` is missing (a missing component below it is
    // LinkKind::Missing); ERROR_CANT_ACCESS_FILE when a component above the link is a reparse
    // point.
    virtual std::uint32_t read_link(const std::string& profile, const std::string& link,
                                    LinkState& out) = 0;
    // Makes `link` inside `profile` a directory symbolic link to `target` (an NT path,
    // "\??\UNC\host\share\..."): the missing folders above it are made, each opened from its
    // parent's handle; a reparse point among them is refused (ERROR_CANT_ACCESS_FILE); the link
    // is set on the handle of the entry it creates (FSCTL_SET_REPARSE_POINT), never through a
    // path. An existing link is replaced, an empty folder gives way; anything else is left
    // (ERROR_ALREADY_EXISTS). `changed` is false when the link was already there.
    virtual std::uint32_t make_link(const std::string& profile, const std::string& link,
                                    const std::string& target, bool& changed) = 0;

    // <profile>\.ssh\authorized_keys for the account `user`, read the same way: `out.found`
    // false when there is none.
    virtual std::uint32_t read_keys(const std::string& profile, const std::string& user,
                                    KeysFile& out) = 0;
    // Replaces it with `text` atomically, the new file private to `user`, SYSTEM and
    // Administrators from the moment it is made; .ssh is made when missing, and a reparse point
    // there is refused (ERROR_CANT_ACCESS_FILE).
    virtual std::uint32_t write_keys(const std::string& profile, const std::string& user,
                                     std::string_view text) = 0;

    // `size` bytes from the system's random number generator (BCryptGenRandom).
    virtual std::uint32_t random(unsigned char* bytes, std::size_t size) = 0;
};

// The real API of this machine (windows/account_api_win32.cpp).
std::unique_ptr<AccountApi> make_system_account_api();

}  // namespace dsvm::windows_platform
