// A service installed in the wine prefix's SCM for one test: a unique name per run, the test
// service (scm_test_service.exe, beside the test executable) as its binary, and a destructor
// that stops it if it still runs and deletes it, so a failed test leaves nothing behind for the
// next run.
#pragma once

#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "windows/sc_handle_win32.h"

namespace dsvm::test {

using windows_platform::ScHandle;

// The folder of the running executable, where the build puts the test service too.
inline std::filesystem::path executable_folder() {
    std::wstring path(MAX_PATH, L'\0');
    for (;;) {
        const DWORD length =
            ::GetModuleFileNameW(nullptr, path.data(), static_cast<DWORD>(path.size()));
        if (length < path.size()) {
            path.resize(length);
            return std::filesystem::path(path).parent_path();
        }
        path.resize(path.size() * 2);
    }
}

// A name no other run or test uses at the same time: the process and the time.
inline std::string unique_name(const std::string& prefix) {
    return prefix + "-" + std::to_string(::GetCurrentProcessId()) + "-" +
           std::to_string(::GetTickCount64());
}

// The service's status as the SCM has it; dwCurrentState 0 when it cannot be queried.
inline SERVICE_STATUS query_status(SC_HANDLE service) {
    SERVICE_STATUS status{};
    if (!::QueryServiceStatus(service, &status)) {
        status.dwCurrentState = 0;
    }
    return status;
}

// Polls every 50 ms until the service is in `state` or `limit` has passed; the last status.
inline SERVICE_STATUS wait_for_state(SC_HANDLE service, DWORD state,
                                     std::chrono::seconds limit = std::chrono::seconds(30)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    SERVICE_STATUS status = query_status(service);
    while (status.dwCurrentState != state && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        status = query_status(service);
    }
    return status;
}

// wine takes any process that calls StartServiceCtrlDispatcherW for the service it started
// last while that service's control pipe (named by the number under
// HKLM\SYSTEM\CurrentControlSet\Control\ServiceCurrent) waits for a connection; Windows
// checks the caller. Waits until the pipe takes none, at most `limit`; false when it still does.
inline bool wait_for_no_control_pipe(std::chrono::seconds limit = std::chrono::seconds(30)) {
    DWORD current = 0;
    DWORD size = sizeof current;
    if (::RegGetValueW(HKEY_LOCAL_MACHINE, L"SYSTEM\\CurrentControlSet\\Control\\ServiceCurrent",
                       nullptr, RRF_RT_REG_DWORD, nullptr, &current, &size) != ERROR_SUCCESS) {
        return true;
    }
    const std::wstring pipe = L"\\\\.\\pipe\\net\\NtControlPipe" + std::to_wstring(current);
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        // Waiting for a pipe, unlike opening it, does not connect to it.
        if (!::WaitNamedPipeW(pipe.c_str(), 1)) {
            return true;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

class InstalledService {
  public:
    // Installs the test service to end with `exit_status`; valid() tells whether it worked.
    explicit InstalledService(int exit_status)
        : m_name(unique_name("dsvm-scm-test")),
          m_results(std::filesystem::temp_directory_path() / (m_name + ".log")) {
        m_manager.reset(::OpenSCManagerW(nullptr, nullptr, SC_MANAGER_ALL_ACCESS));
        if (!m_manager) {
            return;
        }
        const std::wstring binary =
            L"\"" + (executable_folder() / "scm_test_service.exe").wstring() + L"\" " +
            wide(m_name) + L" \"" + m_results.wstring() + L"\" " + std::to_wstring(exit_status);
        m_service.reset(::CreateServiceW(
            m_manager.get(), wide(m_name).c_str(), wide(m_name).c_str(), SERVICE_ALL_ACCESS,
            SERVICE_WIN32_OWN_PROCESS, SERVICE_DEMAND_START, SERVICE_ERROR_NORMAL, binary.c_str(),
            nullptr, nullptr, nullptr, nullptr, nullptr));
    }
    InstalledService(const InstalledService&) = delete;
    InstalledService& operator=(const InstalledService&) = delete;
    ~InstalledService() {
        if (m_service) {
            SERVICE_STATUS status{};
            if (query_status(m_service.get()).dwCurrentState != SERVICE_STOPPED &&
                ::ControlService(m_service.get(), SERVICE_CONTROL_STOP, &status)) {
                wait_for_state(m_service.get(), SERVICE_STOPPED);
            }
            ::DeleteService(m_service.get());
        }
        std::error_code ignored;
        std::filesystem::remove(m_results, ignored);
    }

    bool valid() const { return m_service != nullptr; }
    SC_HANDLE handle() const { return m_service.get(); }
    const std::string& name() const { return m_name; }

    // The lines the test service wrote, in order.
    std::vector<std::string> results() const {
        std::vector<std::string> lines;
        std::ifstream in(m_results);
        for (std::string line; std::getline(in, line);) {
            lines.push_back(line);
        }
        return lines;
    }

  private:
    static std::wstring wide(const std::string& ascii) {
        return std::wstring(ascii.begin(), ascii.end());
    }

    std::string m_name;
    std::filesystem::path m_results;
    ScHandle m_manager;
    ScHandle m_service;
};

}  // namespace dsvm::test
