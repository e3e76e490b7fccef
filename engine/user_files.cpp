#include "engine/user_files.h"

#include <fmt/format.h>

#include "common/overloaded.h"
#include "engine/account_backend.h"
#include "engine/share_backend.h"
#include "users/notebook_folder.h"

namespace dsvm::engine {

using namespace dsvm::users;
using namespace dsvm::config;

std::string describe_folder(const NotebookFolder& folder) {
    return fmt::format("make notebook folder {} for {}", folder.path, folder.user);
}

std::string describe(const UserFilesAction& action) {
    return std::visit(Overloaded{
                          [](const CreateHome& home) { return "create home " + home.home; },
                          [](const WriteKeys& keys) {
                              return keys.remove
                                         ? fmt::format("remove the SSH keys of {}", keys.user)
                                         : fmt::format("write SSH keys of {}", keys.user);
                          },
                          [](const LinkNotebooks& link) {
                              return "link " + link.home + "/notebooks/remote to " + link.target;
                          },
                          [](const MakeNotebookFolders& step) {
                              std::string out;
                              for (const auto& folder : step.folders) {
                                  out += (out.empty() ? "" : "; ") + describe_folder(folder);
                              }
                              return out;
                          },
                          [](const WriteNotebookMap& map) {
                              return fmt::format("write the notebook mount map {} ({} users)",
                                                 map.path, map.users);
                          },
                      },
                      action);
}

std::vector<UserFilesAction> plan_user_files(const PoolConfig& config,
                                             const std::vector<RegistryUser>& active,
                                             const std::vector<RegistryUser>& inactive,
                                             const std::set<std::string>& managed,
                                             const AccountBackend& accounts,
                                             const ShareBackend& share_backend) {
    std::vector<UserFilesAction> actions;
    const ShareConfig& share = *config.share;
    MakeNotebookFolders folders{{}, !share.per_user_smb()};
    for (const RegistryUser& user : active) {
        if (managed.count(user.name) == 0) {
            continue;
        }
        const std::string home = accounts.home_of(user.name);
        const NotebookFolder folder{user.name, notebook_folder(config.notebooks, user.name),
                                    user.uid, user.gid};
        actions.emplace_back(CreateHome{user.name, home, user.uid, user.gid});
        actions.emplace_back(WriteKeys{user.name, home, user.uid, user.gid, user.ssh_keys});
        actions.emplace_back(LinkNotebooks{user.name, home, user.uid, user.gid,
                                           share_backend.notebook_target(share, folder)});
        folders.folders.push_back(folder);
    }
    for (const RegistryUser& user : inactive) {
        actions.emplace_back(
            WriteKeys{user.name, accounts.home_of(user.name), user.uid, user.gid, {}, true});
    }
    auto map = share_backend.user_mount_map(share, folders.folders);
    if (!folders.folders.empty()) {
        actions.emplace_back(std::move(folders));
    }
    if (map) {
        actions.emplace_back(std::move(*map));
    }
    return actions;
}

}  // namespace dsvm::engine
