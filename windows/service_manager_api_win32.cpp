// The service control manager of this machine behind ServiceManagerApi (windows/scm_service.h).
// Each call opens the SCM and the service with only the access it needs, and closes both.
#include <windows.h>

#include <memory>
#include <type_traits>
#include <vector>

#include "common/windows_api_win32.h"
#include "windows/sc_handle_win32.h"
#include "windows/scm_service.h"

namespace dsvm::windows_platform {

namespace {

StartType start_type_of(DWORD type) {
    switch (type) {
        case SERVICE_AUTO_START:
            return StartType::Automatic;
        case SERVICE_DEMAND_START:
            return StartType::OnDemand;
        case SERVICE_DISABLED:
            return StartType::Disabled;
        default:
            return StartType::Other;
    }
}

RunState run_state_of(DWORD state) {
    switch (state) {
        case SERVICE_STOPPED:
            return RunState::Stopped;
        case SERVICE_START_PENDING:
            return RunState::StartPending;
        case SERVICE_RUNNING:
            return RunState::Running;
        case SERVICE_STOP_PENDING:
            return RunState::StopPending;
        default:
            return RunState::Other;
    }
}

class SystemServiceManagerApi final : public ServiceManagerApi {
  public:
    std::uint32_t query(const std::string& service, ServiceState& out) override {
        ScHandle handle;
        if (const auto code = open(service, SERVICE_QUERY_CONFIG | SERVICE_QUERY_STATUS, handle);
            code != ERROR_SUCCESS) {
            return code;
        }
        DWORD needed = 0;
        ::QueryServiceConfigW(handle.get(), nullptr, 0, &needed);
        if (::GetLastError() != ERROR_INSUFFICIENT_BUFFER) {
            return ::GetLastError();
        }
        std::vector<std::uint64_t> buffer(needed / sizeof(std::uint64_t) + 1);
        auto* config = reinterpret_cast<QUERY_SERVICE_CONFIGW*>(buffer.data());
        if (!::QueryServiceConfigW(handle.get(), config,
                                   static_cast<DWORD>(buffer.size() * sizeof(std::uint64_t)),
                                   &needed)) {
            return ::GetLastError();
        }
        SERVICE_STATUS_PROCESS status{};
        if (!::QueryServiceStatusEx(handle.get(), SC_STATUS_PROCESS_INFO,
                                    reinterpret_cast<BYTE*>(&status), sizeof status, &needed)) {
            return ::GetLastError();
        }
        out.start_type = start_type_of(config->dwStartType);
        out.run_state = run_state_of(status.dwCurrentState);
        return ERROR_SUCCESS;
    }

    std::uint32_t set_start_type(const std::string& service, StartType type) override {
        DWORD start = SERVICE_DEMAND_START;
        if (type == StartType::Automatic) {
            start = SERVICE_AUTO_START;
        } else if (type == StartType::Disabled) {
            start = SERVICE_DISABLED;
        }
        ScHandle handle;
        if (const auto code = open(service, SERVICE_CHANGE_CONFIG, handle); code != ERROR_SUCCESS) {
            return code;
        }
        if (!::ChangeServiceConfigW(handle.get(), SERVICE_NO_CHANGE, start, SERVICE_NO_CHANGE,
                                    nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                                    nullptr)) {
            return ::GetLastError();
        }
        return ERROR_SUCCESS;
    }

    std::uint32_t start(const std::string& service) override {
        ScHandle handle;
        if (const auto code = open(service, SERVICE_START, handle); code != ERROR_SUCCESS) {
            return code;
        }
        return ::StartServiceW(handle.get(), 0, nullptr) ? ERROR_SUCCESS : ::GetLastError();
    }

    std::uint32_t control(const std::string& service, std::uint32_t code) override {
        // A user control needs SERVICE_USER_DEFINED_CONTROL, a stop SERVICE_STOP.
        const DWORD access =
            code == SERVICE_CONTROL_STOP ? SERVICE_STOP : SERVICE_USER_DEFINED_CONTROL;
        ScHandle handle;
        if (const auto opened = open(service, access, handle); opened != ERROR_SUCCESS) {
            return opened;
        }
        SERVICE_STATUS status{};
        return ::ControlService(handle.get(), code, &status) ? ERROR_SUCCESS : ::GetLastError();
    }

  private:
    static std::uint32_t open(const std::string& service, DWORD access, ScHandle& out) {
        const ScHandle manager(::OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CONNECT));
        if (!manager) {
            return ::GetLastError();
        }
        out.reset(::OpenServiceW(manager.get(), widen(service).c_str(), access));
        return out ? ERROR_SUCCESS : ::GetLastError();
    }
};

}  // namespace

std::unique_ptr<ServiceManagerApi> make_system_service_manager_api() {
    return std::make_unique<SystemServiceManagerApi>();
}

}  // namespace dsvm::windows_platform
