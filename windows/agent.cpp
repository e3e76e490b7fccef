#include "windows/agent.h"

#include <windows.h>

#include <shlobj.h>

#include <memory>
#include <utility>

#include "cli/cli.h"
#include "common/clock.h"
#include "common/process.h"
#include "common/windows_api_win32.h"
#include "extension/handler.h"
#include "users/name_service.h"
#include "windows/scm_service.h"
#include "windows/smb_global_mappings.h"
#include "windows/windows_accounts.h"
#include "windows/winhttp_client.h"

namespace dsvm::windows_platform {

namespace {

// ERROR_NOT_SUPPORTED: what every change of a read-only account API answers.
constexpr std::uint32_t k_not_supported = 50;

std::string machine_only(const std::string& what) {
    return what + " is the machine's, not --root's: it is changed only with the default --root";
}

// The share under another --root: the machine's mappings are not the root's, so none is seen,
// made or removed there, and the share's top is the mount point inside the root (as a sandbox's
// is on Linux). Nothing reaches the real share.
class ForeignRootShare final : public engine::ShareBackend, public mount::Mounter {
  public:
    ForeignRootShare(const Root& root, SmbMappingApi& api) : m_root(root), m_share(root, api) {}

    Result<void> check(const config::ShareConfig& share) const override {
        return m_share.check(share);
    }
    engine::DesiredState desired(const config::PoolConfig& config) const override {
        return m_share.desired(config);
    }
    mount::Mounter& mounter() override { return *this; }
    Result<void> write_boot_entries(const engine::UpdateFstab& step, Clock& clock) override {
        return m_share.write_boot_entries(step, clock);
    }
    std::string share_dir(const config::ShareConfig& share) const override {
        return m_root.path(share.mount_point);
    }
    // Where a link would point on an instance: the accounts under another root are never
    // changed, so no link is made.
    std::string notebook_target(const config::ShareConfig& share,
                                const engine::NotebookFolder& folder) const override {
        return m_share.notebook_target(share, folder);
    }
    std::shared_ptr<const engine::ShareFolders> folders() const override {
        return m_share.folders();
    }
    std::optional<engine::WriteNotebookMap> user_mount_map(
        const config::ShareConfig& share,
        const std::vector<engine::NotebookFolder>& folders) const override {
        return m_share.user_mount_map(share, folders);
    }
    std::vector<ActionOutcome> install_user_mounts(const engine::WriteNotebookMap& map) override {
        return m_share.install_user_mounts(map);
    }
    Result<bool> user_mounts_differ(const engine::WriteNotebookMap& map) override {
        return m_share.user_mounts_differ(map);
    }
    Result<std::vector<ActionOutcome>> remove_user_mounts() override {
        return m_share.remove_user_mounts();
    }

    Result<void> mount(const mount::MountRequest&) override {
        return failure(machine_only("an SMB global mapping"));
    }
    Result<void> unmount(const std::string&) override {
        return failure(machine_only("an SMB global mapping"));
    }
    Result<std::vector<mount::MountEntry>> mounts() override {
        return std::vector<mount::MountEntry>{};
    }

  private:
    Root m_root;
    SmbGlobalMappings m_share;
};

// The accounts under another --root: read as they are; every change is refused.
class ReadOnlyAccounts final : public AccountApi {
  public:
    explicit ReadOnlyAccounts(AccountApi& api) : m_api(api) {}
    std::uint32_t users(SamView& out) override { return m_api.users(out); }
    std::uint32_t members(const std::string& group, SamGroup& out) override {
        return m_api.members(group, out);
    }
    std::uint32_t well_known_group(const std::string& sid, std::string& name) override {
        return m_api.well_known_group(sid, name);
    }
    std::uint32_t add_user(const std::string&, const std::string&, const SecretBytes&) override {
        return k_not_supported;
    }
    std::uint32_t set_flags(const std::string&, std::uint32_t) override { return k_not_supported; }
    std::uint32_t set_password(const std::string&, const SecretBytes&) override {
        return k_not_supported;
    }
    std::uint32_t add_member(const std::string&, const std::string&) override {
        return k_not_supported;
    }
    std::uint32_t remove_member(const std::string&, const std::string&) override {
        return k_not_supported;
    }
    std::uint32_t create_profile(const std::string&, std::string&, bool&) override {
        return k_not_supported;
    }
    std::uint32_t read_link(const std::string& profile, const std::string& link,
                            LinkState& out) override {
        return m_api.read_link(profile, link, out);
    }
    std::uint32_t make_link(const std::string&, const std::string&, const std::string&,
                            bool&) override {
        return k_not_supported;
    }
    std::uint32_t read_keys(const std::string& profile, const std::string& user,
                            KeysFile& out) override {
        return m_api.read_keys(profile, user, out);
    }
    std::uint32_t write_keys(const std::string&, const std::string&, std::string_view) override {
        return k_not_supported;
    }
    std::uint32_t random(unsigned char* bytes, std::size_t size) override {
        return m_api.random(bytes, size);
    }

  private:
    AccountApi& m_api;
};

// Folder names compare without regard to case on Windows.
bool same_root(const Root& root, const std::string& other) {
    return ::CompareStringOrdinal(widen(root.path("/")).c_str(), -1, widen(other).c_str(), -1,
                                  TRUE) == CSTR_EQUAL;
}

}  // namespace

Result<void> ConsoleHost::listen() {
    return failure("the daemon runs as the Windows service dsvm-agent (`sc.exe start dsvm-agent`)");
}

service::Control ConsoleHost::wait(std::chrono::milliseconds) {
    return service::Control::Stop;
}

std::vector<std::string> utf8_arguments(int argc, wchar_t** argv) {
    std::vector<std::string> arguments;
    for (int i = 0; i < argc; ++i) {
        arguments.push_back(narrow(argv[i]));
    }
    return arguments;
}

std::string default_root() {
    PWSTR folder = nullptr;
    std::string root = "C:/ProgramData";
    if (::SHGetKnownFolderPath(FOLDERID_ProgramData, 0, nullptr, &folder) == S_OK) {
        root = narrow(folder);
        for (char& c : root) {
            c = c == '\\' ? '/' : c;
        }
    }
    ::CoTaskMemFree(folder);
    return root + "/dsvm-agent";
}

int run_agent(std::vector<std::string> arguments, const SystemApis& apis,
              service::ServiceHost& service_host, const std::string& root_default,
              const std::string& log_file) {
    std::vector<char*> argv;
    for (auto& argument : arguments) {
        argv.push_back(argument.data());
    }
    argv.push_back(nullptr);
    SystemClock clock;
    WinHttpClient http;
    SystemProcessRunner runner;
    ReadOnlyAccounts read_only_accounts(apis.accounts);
    cli::Platform platform{
        .clock = clock,
        .http = http,
        .runner = runner,
        .service_host = service_host,
        .name_service = [](const Root&) -> std::shared_ptr<users::NameService> {
            return std::make_shared<users::NoNameService>();
        },
        .share = [&](const Root& root) -> std::unique_ptr<engine::ShareBackend> {
            if (same_root(root, root_default)) {
                return std::make_unique<SmbGlobalMappings>(root, apis.mappings);
            }
            return std::make_unique<ForeignRootShare>(root, apis.mappings);
        },
        .accounts = [&](const Root& root) -> std::unique_ptr<engine::AccountBackend> {
            AccountApi& api = same_root(root, root_default) ? apis.accounts : read_only_accounts;
            return std::make_unique<WindowsAccounts>(api);
        },
        .guard = nullptr,
        .extension =
            [&](const Root& root, const extension::ExtensionRequest& request) {
                ScmService scm(apis.services, clock);
                ForeignRootService foreign(root.dir());
                extension::ServiceControl& service =
                    same_root(root, root_default) ? static_cast<extension::ServiceControl&>(scm)
                                                  : foreign;
                return extension::run_extension(
                    root, request,
                    {.service = service,
                     .clock = clock,
                     .decrypt =
                         [&](const Root&, std::string_view thumbprint, std::string_view der) {
                             return extension::decrypt_with_store(apis.decryption, thumbprint, der);
                         },
                     .check_share =
                         [&](const config::ShareConfig& share) {
                             return SmbGlobalMappings(root, apis.mappings).check(share);
                         },
                     .metadata_guard = false});
            },
        .default_root = root_default,
        .log_target = log_file.empty() ? service::LogTarget::Plain : service::LogTarget::File,
        .log_file = log_file};
    return cli::run_cli(static_cast<int>(arguments.size()), argv.data(), platform);
}

}  // namespace dsvm::windows_platform
