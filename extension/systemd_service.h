// dsvm-agent.service under systemd, through the process seam (`systemctl`): the Linux
// implementation of extension::ServiceControl (extension/service.h), which the Linux build
// compiles.
#pragma once

#include <string>
#include <utility>

#include "common/process.h"
#include "common/result.h"
#include "common/root.h"
#include "extension/service.h"

namespace dsvm::extension {

inline constexpr const char* k_service_unit = "dsvm-agent.service";

// Where the service is controlled. offline (any --root but "/") means unit files in the root are
// changed with `systemctl --root=R` and the running system's systemd is never asked anything.
struct ServiceTarget {
    Root root;
    bool offline = false;
};

// Whether a unit file for the service exists in /etc/systemd/system, /lib/systemd/system or
// /usr/lib/systemd/system inside the root.
bool service_installed(const Root& root);

class SystemdService final : public ServiceControl {
  public:
    SystemdService(ServiceTarget target, ProcessRunner& runner)
        : m_target(std::move(target)), m_runner(runner) {}

    // Enables the service and starts it; when the config changed, `reload-or-restart` instead,
    // so a running agent gets SIGHUP and applies it at once. Start and reload do not wait
    // (--no-block). Offline: `systemctl --root=R enable` only, start reported as skipped; a root
    // without the unit file skips both. A missing unit on the running system or a failed
    // systemctl is a Runtime error with its output.
    Result<std::string> start(ConfigChange change) override;

    // Stops and disables the service (`systemctl disable --now`; offline: `disable` only).
    Result<std::string> stop() override;

  private:
    ServiceTarget m_target;
    ProcessRunner& m_runner;
};

}  // namespace dsvm::extension
