// An owned handle of the service control manager (OpenSCManagerW, OpenServiceW, CreateServiceW),
// closed with CloseServiceHandle.
#pragma once

#include <windows.h>

#include <memory>
#include <type_traits>

namespace dsvm::windows_platform {

struct CloseServiceHandleDeleter {
    void operator()(SC_HANDLE handle) const { ::CloseServiceHandle(handle); }
};
using ScHandle = std::unique_ptr<std::remove_pointer_t<SC_HANDLE>, CloseServiceHandleDeleter>;

}  // namespace dsvm::windows_platform
