#include "windows/smb_global_mappings.h"

#include <algorithm>

#include "common/file_handles_win32.h"
#include "common/safe_open.h"
#include "common/text.h"
#include "mount/credentials.h"
#include "mount/options.h"

namespace dsvm::windows_platform {

namespace {

using config::ShareConfig;
using engine::NotebookFolder;

constexpr std::string_view k_credentials_option = "credentials=";
constexpr std::string_view k_windows_fix = " for pools with Windows instances";
// No access list of its own (common/fs gives 0755 none on Windows): a folder made on the share
// inherits the share's.
constexpr mode_t k_folder_mode = 0755;

// //host/share/dir/sub as its parts; config/rules.cpp has checked the source's shape.
struct SmbSource {
    std::string host;
    std::string share;
    std::vector<std::string> below;
};

SmbSource parse_source(std::string_view source) {
    SmbSource parts;
    for (const auto part : split(source, '/')) {
        if (part.empty()) {
            continue;
        }
        if (parts.host.empty()) {
            parts.host = std::string(part);
        } else if (parts.share.empty()) {
            parts.share = std::string(part);
        } else {
            parts.below.emplace_back(part);
        }
    }
    return parts;
}

// `path` with every `from` made `to`.
std::string replaced(std::string_view path, char from, char to) {
    std::string out(path);
    for (char& c : out) {
        if (c == from) {
            c = to;
        }
    }
    return out;
}

// The mapping's own name, \\host\share: both in lower case (SMB ignores the case of either).
std::string mapped_share(const SmbSource& source) {
    return "\\\\" + ascii_lower(source.host) + "\\" + ascii_lower(source.share);
}

Error unsupported_type(std::string_view kind) {
    return invalid("share.type: " + std::string(kind) +
                   " shares are not supported on Windows instances, which map SMB shares only "
                   "(an SMB global mapping); use an SMB share (\"type\": \"smb\", //host/share)" +
                   std::string(k_windows_fix));
}

// The NAME of credentials=NAME among comma-separated options; empty when there is none.
std::string credentials_option(std::string_view options) {
    for (const auto option : split(options, ',')) {
        if (option.starts_with(k_credentials_option)) {
            return std::string(option.substr(k_credentials_option.size()));
        }
    }
    return {};
}

class SmbShareFolders final : public engine::ShareFolders {
  public:
    Result<bool> ensure(const std::string& share_dir, const NotebookFolder& folder,
                        bool /*owners*/) const override {
        auto names = folder_names(folder);
        if (!names) {
            return names.error();
        }
        std::string parent;
        for (std::size_t at = 0; at + 1 < names->size(); ++at) {
            parent += (at == 0 ? "" : "/") + (*names)[at];
        }
        // Each missing parent made from its own parent's handle: a link or junction someone put
        // on the share is refused, never followed.
        auto top = make_directories_below(share_dir, parent, k_folder_mode);
        if (!top) {
            return top.error();
        }
        bool created = false;
        auto made =
            open_or_create_directory_at(top->get(), names->back(), k_folder_mode,
                                        static_cast<uid_t>(-1), static_cast<gid_t>(-1), created);
        if (!made) {
            return with_context(folder.path, made.error());
        }
        return created;
    }

    Result<bool> differs(const std::string& share_dir, const NotebookFolder& folder,
                         bool /*owners*/) const override {
        auto names = folder_names(folder);
        if (!names) {
            return names.error();
        }
        auto current = open_directory(share_dir);
        if (!current) {
            return current.error();
        }
        std::string shown = share_dir;
        for (const auto& name : *names) {
            shown += "\\" + name;
            // Looked at as itself (a link is not followed): missing means ensure would make it.
            Fd entry;
            const DWORD error =
                win32::open_at(current->get(), name, {.access = FILE_READ_ATTRIBUTES}, entry);
            if (error == ERROR_FILE_NOT_FOUND || error == ERROR_PATH_NOT_FOUND) {
                return true;
            }
            auto next = open_directory_at(current->get(), name, shown);
            if (!next) {
                return next.error();
            }
            *current = std::move(next).value();
        }
        return false;
    }

  private:
    static Result<std::vector<std::string>> folder_names(const NotebookFolder& folder) {
        auto names = path_components(folder.path, "/\\");
        if (names && names->empty()) {
            return invalid("the notebook folder of " + dsvm::quoted(folder.user) + " is empty");
        }
        return names;
    }
};

}  // namespace

std::string normalized_unc(std::string_view path) {
    std::string out = replaced(path, '/', '\\');
    if (!out.starts_with("\\\\")) {
        return out;
    }
    // Host and share: up to the second backslash after the leading two.
    const std::size_t host_end = out.find('\\', 2);
    const std::size_t end =
        host_end == std::string::npos ? std::string::npos : out.find('\\', host_end + 1);
    const std::size_t split_at = std::min(end, out.size());
    return ascii_lower(std::string_view(out).substr(0, split_at)) + out.substr(split_at);
}

SmbGlobalMappings::SmbGlobalMappings(const Root& root, SmbMappingApi& api)
    : m_root(root), m_api(api) {}

Result<void> SmbGlobalMappings::check(const ShareConfig& share) const {
    switch (share.type) {
        case mount::ShareType::Nfs:
            return unsupported_type("NFS");
        case mount::ShareType::Bind:
            return unsupported_type("bind");
        case mount::ShareType::Smb:
            break;
    }
    if (share.per_user_smb()) {
        return invalid(
            "share.smbAccess: per-user SMB access needs a mount of each user's folder, which "
            "Windows cannot make (one SMB global mapping serves every user); set \"smbAccess\": "
            "\"shared\"" +
            std::string(k_windows_fix));
    }
    if (parse_source(share.source).host.starts_with('[')) {
        return invalid("share.source: " + dsvm::quoted(share.source) +
                       " names its server by an IPv6 address, which a Windows UNC path cannot "
                       "hold; use the server's DNS name" +
                       std::string(k_windows_fix));
    }
    return {};
}

engine::DesiredState SmbGlobalMappings::desired(const config::PoolConfig& config) const {
    engine::DesiredState desired;
    desired.local_mount_point = false;
    if (!config.share || !check(*config.share)) {
        return desired;
    }
    const SmbSource source = parse_source(config.share->source);
    desired.credentials_name = mount::credentials_name(config.share->source);
    const std::string target = mapped_share(source);
    desired.share =
        mount::MountRequest{replaced(target, '\\', '/'), target, std::string(k_mapping_type),
                            std::string(k_credentials_option) + desired.credentials_name};
    return desired;
}

Result<void> SmbGlobalMappings::write_boot_entries(const engine::UpdateFstab& /*step*/,
                                                   Clock& /*clock*/) {
    return {};
}

std::string SmbGlobalMappings::share_dir(const ShareConfig& share) const {
    const SmbSource source = parse_source(share.source);
    std::string dir = mapped_share(source);
    for (const auto& name : source.below) {
        dir += "\\" + name;
    }
    return dir;
}

std::string SmbGlobalMappings::notebook_target(const ShareConfig& share,
                                               const NotebookFolder& folder) const {
    return share_dir(share) + "\\" + replaced(folder.path, '/', '\\');
}

std::shared_ptr<const engine::ShareFolders> SmbGlobalMappings::folders() const {
    return std::make_shared<const SmbShareFolders>();
}

std::optional<engine::WriteNotebookMap> SmbGlobalMappings::user_mount_map(
    const ShareConfig& /*share*/, const std::vector<NotebookFolder>& /*folders*/) const {
    return std::nullopt;
}

std::vector<ActionOutcome> SmbGlobalMappings::install_user_mounts(
    const engine::WriteNotebookMap& /*map*/) {
    return {};
}

Result<bool> SmbGlobalMappings::user_mounts_differ(const engine::WriteNotebookMap& /*map*/) {
    return false;
}

Result<std::vector<ActionOutcome>> SmbGlobalMappings::remove_user_mounts() {
    return std::vector<ActionOutcome>{};
}

Result<void> SmbGlobalMappings::mount(const mount::MountRequest& request) {
    const std::string remote = normalized_unc(request.target);
    const std::string what = "cannot map " + remote;
    const std::string name = credentials_option(request.options);
    if (name.empty()) {
        return invalid(what + ": its options name no credentials (credentials=NAME)");
    }
    auto credentials = mount::read_credentials(m_root, name);
    if (!credentials) {
        return with_context(what, credentials.error());
    }
    auto mapped = m_api.list();
    if (!mapped) {
        return mapped.error();
    }
    // A mapping of the path made before, with other credentials maybe (WMI does not tell which):
    // Create would refuse it.
    for (const auto& mapping : *mapped) {
        if (normalized_unc(mapping.remote_path) == remote) {
            if (auto removed = m_api.remove(mapping.remote_path); !removed) {
                return removed;
            }
        }
    }
    return m_api.create(remote, "localhost\\" + credentials->username, credentials->key);
}

Result<void> SmbGlobalMappings::unmount(const std::string& target) {
    return m_api.remove(normalized_unc(target));
}

Result<std::vector<mount::MountEntry>> SmbGlobalMappings::mounts() {
    auto mapped = m_api.list();
    if (!mapped) {
        return mapped.error();
    }
    std::vector<mount::MountEntry> entries;
    for (const auto& mapping : *mapped) {
        mount::MountEntry entry;
        entry.mount_id = 0;
        entry.mount_point = normalized_unc(mapping.remote_path);
        entry.source = replaced(entry.mount_point, '\\', '/');
        entry.fs_type = std::string(k_mapping_type);
        entries.push_back(std::move(entry));
    }
    return entries;
}

}  // namespace dsvm::windows_platform
