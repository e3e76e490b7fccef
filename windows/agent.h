// The Windows agent as a function of the system's APIs: the composition root of windows/main.cpp
// without main(), so the same wiring runs on the recording fakes in the tests
// (tests/windows/agent_fakes_main.cpp) as on WMI and the SAM on an instance.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "extension/crypto_win32.h"
#include "service/host.h"
#include "windows/account_api.h"
#include "windows/scm_service.h"
#include "windows/smb_mapping_api.h"

namespace dsvm::windows_platform {

// The system calls the backends make: SMB global mappings, the local accounts, the service
// control manager (the extension handler's service control) and the certificate store the
// extension's protected settings are decrypted with.
struct SystemApis {
    SmbMappingApi& mappings;
    AccountApi& accounts;
    ServiceManagerApi& services;
    const extension::StoreDecryption& decryption;
};

// The host of every command but `run`, which only the service runs: nothing to listen to.
class ConsoleHost final : public service::ServiceHost {
  public:
    Result<void> listen() override;
    service::Control wait(std::chrono::milliseconds timeout) override;
    void ready(const std::string&) override {}
    void status(const std::string&) override {}
    void stopping() override {}
    std::chrono::microseconds watchdog_period() override { return {}; }
    void watchdog() override {}
    bool stop_requested() override { return false; }
};

// The command line as UTF-8 (wmain's arguments are UTF-16).
std::vector<std::string> utf8_arguments(int argc, wchar_t** argv);

// Where the agent's tree is: <ProgramData>\dsvm-agent (C:/ProgramData/dsvm-agent), with forward
// slashes, holding the same etc/dsvm-agent and var/lib/dsvm-agent as on Linux.
std::string default_root();

// The service's log file inside the root, where `run` under the SCM writes its log.
inline constexpr const char* k_service_log = "/var/log/dsvm-agent.log";

// Runs one command of the command line (cli/cli.h) on the Windows backends: WinHTTP, the process
// runner, the SMB global mapping and the SAM over `apis`, the extension handler with the service
// under the SCM and the protected settings decrypted with `apis.decryption`, no name service and
// no metadata guard (docs/windows.md). With a --root other than `root_default`, the mappings, the
// accounts and the service are the machine's, not the root's: no mapping is seen or made there
// (the share's top is its mount point inside the root, as in a Linux sandbox), the accounts are
// read but never changed, and the extension handler leaves the service alone.
// `log_file`: where the log goes (the service's); empty: stderr.
int run_agent(std::vector<std::string> arguments, const SystemApis& apis,
              service::ServiceHost& service_host, const std::string& root_default,
              const std::string& log_file = {});

}  // namespace dsvm::windows_platform
