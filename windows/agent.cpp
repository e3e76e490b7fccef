#include "windows/agent.h"

#include <windows.h>

#include <shlobj.h>

#include <memory>
#include <utility>

#include "cli/cli.h"
#include "common/clock.h"
#include "common/process.h"
#include "common/windows_api_win32.h"
#include "users/name_service.h"
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

// The mappings under another --root: read as they are, never made or removed.
class ReadOnlyMappings final : public SmbMappingApi {
  public:
    explicit ReadOnlyMappings(SmbMappingApi& api) : m_api(api) {}
    Result<std::vector<GlobalMapping>> list() override { return m_api.list(); }
    Result<void> remove(const std::string&) override {
        return failure(machine_only("an SMB global mapping"));
    }
    Result<void> create(const std::string&, const std::string&, const SecretBytes&) override {
        return failure(machine_only("an SMB global mapping"));
    }

  private:
    SmbMappingApi& m_api;
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
              service::ServiceHost& service_host, const std::string& root_default) {
    std::vector<char*> argv;
    for (auto& argument : arguments) {
        argv.push_back(argument.data());
    }
    argv.push_back(nullptr);
    SystemClock clock;
    WinHttpClient http;
    SystemProcessRunner runner;
    ReadOnlyMappings read_only_mappings(apis.mappings);
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
            SmbMappingApi& api = same_root(root, root_default) ? apis.mappings : read_only_mappings;
            return std::make_unique<SmbGlobalMappings>(root, api);
        },
        .accounts = [&](const Root& root) -> std::unique_ptr<engine::AccountBackend> {
            AccountApi& api = same_root(root, root_default) ? apis.accounts : read_only_accounts;
            return std::make_unique<WindowsAccounts>(api);
        },
        .guard = nullptr,
        .extension = nullptr,
        .default_root = root_default,
        .log_target = service::LogTarget::Plain};
    return cli::run_cli(static_cast<int>(arguments.size()), argv.data(), platform);
}

}  // namespace dsvm::windows_platform
