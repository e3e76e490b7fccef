// The per-user part of the users phase as a plan (docs/users.md): each active user's home, SSH
// keys and ~/notebooks/remote link, the keys of users who may no longer log in, every active
// user's notebook folder on the share and, on SMB per-user shares, the autofs map of their
// notebook mounts. plan_user_files is pure; the users phase runs each action, or in a dry run
// asks whether it would change anything (the inspect half of each step) and lists those.
#pragma once

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "config/pool_config.h"
#include "users/registry.h"

namespace dsvm::engine {

class AccountBackend;
class ShareBackend;

struct CreateHome {
    std::string user;
    std::string home;
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
    bool operator==(const CreateHome&) const = default;
};
// The managed block of ~/.ssh/authorized_keys, holding `keys`. With `remove` (a user who may no
// longer log in) the block goes, and a missing home has none to remove.
struct WriteKeys {
    std::string user;
    std::string home;
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
    std::vector<std::string> keys;
    bool remove = false;
    bool operator==(const WriteKeys&) const = default;
};
struct LinkNotebooks {
    std::string user;
    std::string home;
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
    std::string target;  // the user's folder as the instance sees it
    bool operator==(const LinkNotebooks&) const = default;
};
struct NotebookFolder {
    std::string user;
    std::string path;  // relative to the share's top
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
    bool operator==(const NotebookFolder&) const = default;
};
// Every folder in one access to the share, under its deadline. With `owners` each folder is
// the user's with mode 0700; without (SMB per-user, where the user's own mount decides who
// reaches it) it only has to exist.
struct MakeNotebookFolders {
    std::vector<NotebookFolder> folders;
    bool owners = true;
    bool operator==(const MakeNotebookFolders&) const = default;
};
struct WriteNotebookMap {
    std::string path;  // where the map is, inside the root (the backend names it)
    std::string text;  // the whole map (names the credentials file, never holds the key)
    std::size_t users = 0;
    bool operator==(const WriteNotebookMap&) const = default;
};

using UserFilesAction =
    std::variant<CreateHome, WriteKeys, LinkNotebooks, MakeNotebookFolders, WriteNotebookMap>;

// One line, as `reconcile --dry-run` prints it and status records it (a folder step names
// every folder: describe_folder).
std::string describe(const UserFilesAction& action);
std::string describe_folder(const NotebookFolder& folder);

// The steps for `active` users (only those in `managed`: accounts the agent made, or that the
// account batch makes) and `inactive` ones, in the order they run: homes, keys and links user
// by user, then the removal of inactive users' keys, then the share's folders in one step, then
// the map. Needs config.share. The backends name the homes, the links' targets and the map.
std::vector<UserFilesAction> plan_user_files(const config::PoolConfig& config,
                                             const std::vector<users::RegistryUser>& active,
                                             const std::vector<users::RegistryUser>& inactive,
                                             const std::set<std::string>& managed,
                                             const AccountBackend& accounts,
                                             const ShareBackend& share);

}  // namespace dsvm::engine
