#include "engine/user_files.h"

#include <fmt/format.h>

#include "common/overloaded.h"
#include "mount/automount.h"
#include "mount/credentials.h"
#include "mount/options.h"
#include "users/notebooks.h"

namespace dsvm::engine {

using namespace dsvm::mount;
using namespace dsvm::users;
using namespace dsvm::config;

std::string home_of(const RegistryUser& user) {
    return "/home/" + user.name;
}

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
                                             const std::set<std::string>& managed) {
    std::vector<UserFilesAction> actions;
    const ShareConfig& share = *config.share;
    const bool per_user = share.per_user_smb();
    MakeNotebookFolders folders{{}, !per_user};
    std::vector<NotebookMount> mounts;
    for (const RegistryUser& user : active) {
        if (managed.count(user.name) == 0) {
            continue;
        }
        const std::string home = home_of(user);
        const std::string folder = notebook_folder(config.notebooks, user.name);
        actions.emplace_back(CreateHome{user.name, home, user.uid, user.gid});
        actions.emplace_back(WriteKeys{user.name, home, user.uid, user.gid, user.ssh_keys});
        actions.emplace_back(LinkNotebooks{
            user.name, home, user.uid, user.gid,
            per_user ? notebook_mount_path(user.name) : share.mount_point + "/" + folder});
        folders.folders.push_back({user.name, folder, user.uid, user.gid});
        mounts.push_back({user.name, user.uid, user.gid, folder});
    }
    for (const RegistryUser& user : inactive) {
        actions.emplace_back(WriteKeys{user.name, home_of(user), user.uid, user.gid, {}, true});
    }
    if (!folders.folders.empty()) {
        actions.emplace_back(std::move(folders));
    }
    if (per_user) {
        actions.emplace_back(
            WriteNotebookMap{std::string(k_notebook_map_path),
                             render_notebook_map(share.source, mounts, share.options,
                                                 credentials_path(credentials_name(share.source))),
                             mounts.size()});
    }
    return actions;
}

}  // namespace dsvm::engine
