// The agent's service as the extension handler controls it. The long work (mounting, users) is
// the service's; the handler only makes it start at boot and starts it, asks it to apply a new
// config now, or stops it. Each platform has its implementation, which the composition root
// picks: systemctl on Linux (extension/systemd_service.h), the service control manager on
// Windows (windows/scm_service.h).
#pragma once

#include <string>

#include "common/result.h"

namespace dsvm::extension {

// Whether enable changed what the running agent reads (its config or a key).
enum class ConfigChange { None, Changed };

class ServiceControl {
  public:
    virtual ~ServiceControl() = default;

    // Makes the service start at boot and starts it; when the config changed and it runs, asks it
    // to apply the config now. Does not wait for its first pass, which may take minutes. Returns
    // what was done, for the status; a Runtime error says what failed (a service that is not
    // installed on the running system included).
    [[nodiscard]] virtual Result<std::string> start(ConfigChange change) = 0;

    // Stops the service and keeps it from starting at boot; a service that is not installed is
    // nothing to do. Returns what was done; a Runtime error says what failed.
    [[nodiscard]] virtual Result<std::string> stop() = 0;
};

}  // namespace dsvm::extension
