#include "mount/automount.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "common/fd.h"
#include "common/fs.h"
#include "mount/options.h"

namespace dsvm::mount {

namespace {

// autofs expands $NAME and ${NAME} in map entries; a literal `$` is written `\$`.
std::string escape_for_autofs(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        if (c == '$' || c == '\\') {
            out += '\\';
        }
        out += c;
    }
    return out;
}

// Writes `content` at `path` (inside the root) atomically unless it already holds exactly that.
Result<bool> write_if_changed(const Root& root, const std::string& path, std::string_view content,
                              mode_t mode) {
    const std::string full = root.path(path);
    auto current = read_file_if_exists(full);
    if (!current) {
        return current.error();
    }
    if (current->found && current->text == content) {
        return false;
    }
    const auto slash = path.rfind('/');
    if (auto made = make_directories(root.path(path.substr(0, slash)), 0755); !made) {
        return made.error();
    }
    if (auto written = write_file_atomic(full, content, mode); !written) {
        return written.error();
    }
    return true;
}

Result<bool> remove_if_present(const Root& root, const std::string& path) {
    const std::string full = root.path(path);
    if (::unlink(full.c_str()) == 0) {
        return true;
    }
    if (errno == ENOENT || errno == ENOTDIR) {
        return false;
    }
    return failure("cannot remove " + full + ": " + errno_text(errno));
}

}  // namespace

std::string notebook_mount_path(std::string_view user) {
    return std::string(k_notebook_mount_dir) + "/" + std::string(user);
}

std::string notebook_map_entry(std::string_view smb_source, const NotebookMount& mount,
                               std::string_view user_options, std::string_view credentials_file) {
    std::string source(smb_source);
    while (!source.empty() && source.back() == '/') {
        source.pop_back();
    }
    return mount.user + " -fstype=cifs," +
           notebook_mount_options(user_options, credentials_file, mount.uid, mount.gid) + " :" +
           escape_for_autofs(source + "/" + mount.folder) + "\n";
}

std::string render_notebook_map(std::string_view smb_source,
                                const std::vector<NotebookMount>& mounts,
                                std::string_view user_options, std::string_view credentials_file) {
    std::string out =
        "# Managed by dsvm-agent: each pool user's notebook folder, mounted on first access\n"
        "# with that user's uid/gid. Rewritten on every change; edits are lost.\n";
    for (const auto& mount : mounts) {
        out += notebook_map_entry(smb_source, mount, user_options, credentials_file);
    }
    return out;
}

std::string render_autofs_master(int idle_seconds) {
    return std::string("# Managed by dsvm-agent: per-user notebook mounts (see ") +
           k_notebook_map_path + ").\n" + k_notebook_mount_dir + " " + k_notebook_map_path +
           " --timeout=" + std::to_string(idle_seconds) + "\n";
}

Result<AutomountChange> install_notebook_automount(const Root& root, std::string_view map_text,
                                                   int idle_seconds) {
    AutomountChange change;
    // The map first: when the master appears, the map it names is already complete.
    auto map = write_if_changed(root, k_notebook_map_path, map_text, 0600);
    if (!map) {
        return map.error();
    }
    change.map_changed = *map;
    auto master =
        write_if_changed(root, k_autofs_master_path, render_autofs_master(idle_seconds), 0644);
    if (!master) {
        return master.error();
    }
    change.master_changed = *master;
    return change;
}

Result<bool> notebook_automount_differs(const Root& root, std::string_view map_text,
                                        int idle_seconds) {
    const std::string master = render_autofs_master(idle_seconds);
    for (const auto& [path, content] :
         {std::pair<std::string, std::string_view>{k_notebook_map_path, map_text},
          {k_autofs_master_path, master}}) {
        auto current = read_file_if_exists(root.path(path));
        if (!current) {
            return current.error();
        }
        if (!current->found || current->text != content) {
            return true;
        }
    }
    return false;
}

Result<bool> remove_notebook_automount(const Root& root) {
    auto master = remove_if_present(root, k_autofs_master_path);
    if (!master) {
        return master.error();
    }
    auto map = remove_if_present(root, k_notebook_map_path);
    if (!map) {
        return map.error();
    }
    return *master;
}

}  // namespace dsvm::mount
