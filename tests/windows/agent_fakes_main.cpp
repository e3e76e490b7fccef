// dsvm-agent-fakes.exe: the Windows agent's command line (windows/agent.h) on the recording
// fakes of the SMB mapping, account and service control APIs and of CryptDecryptMessage, which
// wine lacks (no SMB WMI provider; NetUserAdd and CreateSymbolicLinkW are stubs; no
// CryptDecryptMessage). Each process starts from a fresh Windows Server's SAM, no mapping, and the
// dsvm-agent service as the MSI leaves it (automatic, running); the SCM calls made are printed
// on standard error, one "fake SCM: ..." line each. tests/windows/test_agent_exe.cpp runs it as
// an admin, or the guest agent, would run the exe.
//
// Usage: dsvm-agent-fakes.exe [--fake-default-root DIR] ARGUMENTS...
//   --fake-default-root: the root that stands for the machine's (C:/ProgramData/dsvm-agent),
//   so that a test can use a scratch folder as the agent's own root.
#include <windows.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "support/fake_account_api.h"
#include "support/fake_service_manager_api.h"
#include "support/fake_smb_mapping_api.h"
#include "support/fake_store_decryption_win32.h"
#include "windows/agent.h"

int wmain(int argc, wchar_t** wargv) {
    try {
        std::vector<std::string> arguments = dsvm::windows_platform::utf8_arguments(argc, wargv);
        std::string root = dsvm::windows_platform::default_root();
        if (arguments.size() > 2 && arguments[1] == "--fake-default-root") {
            root = arguments[2];
            // With forward slashes, as default_root() gives it and --root is compared to it.
            std::replace(root.begin(), root.end(), '\\', '/');
            arguments.erase(arguments.begin() + 1, arguments.begin() + 3);
        }
        dsvm::test::FakeSmbMappingApi mappings;
        dsvm::test::FakeAccountApi accounts;
        dsvm::test::FakeServiceManagerApi services(dsvm::windows_platform::k_agent_service,
                                                   {dsvm::windows_platform::StartType::Automatic,
                                                    dsvm::windows_platform::RunState::Running});
        const dsvm::extension::StoreDecryption decryption =
            dsvm::test::fake_store_decryption(DSVM_TEST_DATA_DIR);
        dsvm::windows_platform::ConsoleHost console;
        const int status = dsvm::windows_platform::run_agent(
            arguments, {mappings, accounts, services, decryption}, console, root);
        for (const auto& call : services.calls) {
            std::fprintf(stderr, "fake SCM: %s\n", call.c_str());
        }
        return status;
    } catch (const std::exception& error) {
        std::fprintf(stderr, "dsvm-agent-fakes: fatal: %s\n", error.what());
        return 1;
    }
}
