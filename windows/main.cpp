// main() on Windows: the arguments in UTF-8, then the command line on the system's APIs
// (windows/agent.h). `run` is the service's command: under the service control manager it runs
// the daemon with the SCM as its host, sets the service's recovery actions, and logs to
// <root>/var/log/dsvm-agent.log (a service has no standard error); from a console it is refused.
#include <windows.h>

#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "common/fs.h"
#include "common/windows_api_win32.h"
#include "windows/agent.h"
#include "windows/recovery_actions.h"
#include "windows/scm_host.h"

namespace {

constexpr const char* k_service_name = "dsvm-agent";
// The log is started afresh past this size; the previous one is kept as .1.
constexpr std::uintmax_t k_log_limit = 16 * 1024 * 1024;

// The command: the first argument that is neither a global option nor its value (every global
// option takes one: --root DIR or --root=DIR).
std::string command_of(const std::vector<std::string>& arguments) {
    for (std::size_t i = 1; i < arguments.size(); ++i) {
        const std::string& argument = arguments[i];
        if (argument.rfind("--", 0) != 0) {
            return argument;
        }
        if (argument.find('=') == std::string::npos) {
            ++i;
        }
    }
    return {};
}

// The service's log file: a service has no standard error. One past k_log_limit is kept as .1
// and a new one begun.
std::string service_log(const std::string& root) {
    const std::string path = root + dsvm::windows_platform::k_service_log;
    const std::filesystem::path log = dsvm::widen(path);
    // Private like the rest of the agent's tree (an access list for SYSTEM and Administrators).
    (void)dsvm::make_directories(root + "/var/log", 0700);
    std::error_code ignored;
    const auto size = std::filesystem::file_size(log, ignored);
    if (!ignored && size > k_log_limit) {
        std::filesystem::rename(log, log.wstring() + L".1", ignored);
    }
    return path;
}

}  // namespace

int wmain(int argc, wchar_t** wargv) {
    try {
        const std::vector<std::string> arguments =
            dsvm::windows_platform::utf8_arguments(argc, wargv);
        ::SetConsoleOutputCP(CP_UTF8);

        const auto account_api = dsvm::windows_platform::make_system_account_api();
        dsvm::windows_platform::WmiSmbMappingApi mappings;
        const auto services = dsvm::windows_platform::make_system_service_manager_api();
        const dsvm::extension::StoreDecryption decryption =
            dsvm::extension::machine_store_decryption();
        const dsvm::windows_platform::SystemApis apis{mappings, *account_api, *services,
                                                      decryption};
        const std::string root = dsvm::windows_platform::default_root();
        if (command_of(arguments) != "run") {
            dsvm::windows_platform::ConsoleHost console;
            return dsvm::windows_platform::run_agent(arguments, apis, console, root);
        }
        const auto ran = dsvm::windows_platform::run_as_service(
            k_service_name, [&](dsvm::windows_platform::ScmHost& host) {
                const std::string log = service_log(root);
                if (auto set = dsvm::windows_platform::set_recovery_actions(
                        k_service_name, dsvm::windows_platform::agent_recovery_actions());
                    !set) {
                    std::ofstream(std::filesystem::path(dsvm::widen(log)), std::ios::app)
                        << "warning: " << set.error().message << "\n";
                }
                return dsvm::windows_platform::run_agent(arguments, apis, host, root, log);
            });
        if (!ran) {
            std::fprintf(stderr,
                         "dsvm-agent: `run` is the service's command; start the service with "
                         "`sc.exe start dsvm-agent` (%s)\n",
                         ran.error().message.c_str());
            return 2;
        }
        return *ran;
    } catch (const std::exception& error) {
        std::fprintf(stderr, "dsvm-agent: fatal: %s\n", error.what());
        return 1;
    }
}
