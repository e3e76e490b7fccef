// dsvm-agent-fakes.exe: the Windows agent's command line (windows/agent.h) on the recording
// fakes of the SMB mapping and account APIs, which wine lacks (no SMB WMI provider; NetUserAdd
// and CreateSymbolicLinkW are stubs). Each process starts from a fresh Windows Server's SAM and
// no mapping; tests/windows/test_agent_exe.cpp runs it as an admin would run the exe.
#include <windows.h>

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "support/fake_account_api.h"
#include "support/fake_smb_mapping_api.h"
#include "windows/agent.h"

int wmain(int argc, wchar_t** wargv) {
    try {
        dsvm::test::FakeSmbMappingApi mappings;
        dsvm::test::FakeAccountApi accounts;
        dsvm::windows_platform::ConsoleHost console;
        return dsvm::windows_platform::run_agent(
            dsvm::windows_platform::utf8_arguments(argc, wargv), {mappings, accounts}, console,
            dsvm::windows_platform::default_root());
    } catch (const std::exception& error) {
        std::fprintf(stderr, "dsvm-agent-fakes: fatal: %s\n", error.what());
        return 1;
    }
}
