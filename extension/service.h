// dsvm-agent.service control for the extension handler, through the process seam. The long work
// (mounting, users) is the service's; the handler only enables, starts, reloads or stops it.
#pragma once

#include <string>

#include "common/process.h"
#include "common/result.h"
#include "common/root.h"

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

// Whether enable changed what the running agent reads (its config or a key).
enum class ConfigChange { None, Changed };

// Enables the service and starts it; when the config changed, `reload-or-restart` instead, so a
// running agent gets SIGHUP and applies it at once. Start and reload do not wait (--no-block):
// the first pass may take minutes. Offline: `systemctl --root=R enable` only, start reported as
// skipped; a root without the unit file skips both. Returns what was done, for the status; a
// missing unit on the running system or a failed systemctl is a Runtime error with its output.
Result<std::string> start_service(const ServiceTarget& target, ProcessRunner& runner,
                                  ConfigChange change);

// Stops and disables the service (`systemctl disable --now`; offline: `disable` only). A service
// that is not installed is nothing to do. Returns what was done.
Result<std::string> stop_service(const ServiceTarget& target, ProcessRunner& runner);

}  // namespace dsvm::extension
