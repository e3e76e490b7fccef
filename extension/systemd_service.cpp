#include "extension/systemd_service.h"

#include <chrono>
#include <vector>

#include "common/fs.h"
#include "common/systemctl.h"

namespace dsvm::extension {

namespace {

constexpr const char* k_unit_dirs[] = {"/etc/systemd/system", "/lib/systemd/system",
                                       "/usr/lib/systemd/system"};

// Stopping waits for a pass in progress to end; everything else is quick.
constexpr std::chrono::seconds k_timeout{120};

// systemctl's arguments; offline adds --root=R before the verb.
std::vector<std::string> systemctl(const ServiceTarget& target, std::vector<std::string> verb) {
    std::vector<std::string> arguments;
    if (target.offline) {
        arguments.push_back("--root=" + target.root.dir());
    }
    arguments.insert(arguments.end(), verb.begin(), verb.end());
    arguments.push_back(k_service_unit);
    return arguments;
}

Result<void> run(ProcessRunner& runner, const std::vector<std::string>& arguments) {
    return run_systemctl(runner, arguments, k_timeout);
}

}  // namespace

bool service_installed(const Root& root) {
    for (const char* dir : k_unit_dirs) {
        if (path_exists(root.path(std::string(dir) + "/" + k_service_unit))) {
            return true;
        }
    }
    return false;
}

Result<std::string> SystemdService::start(ConfigChange change) {
    const ServiceTarget& target = m_target;
    ProcessRunner& runner = m_runner;
    const bool config_changed = change == ConfigChange::Changed;
    const std::string unit = k_service_unit;
    if (!service_installed(target.root)) {
        if (target.offline) {
            return unit + " is not installed in " + target.root.dir() +
                   ": enabling and starting it skipped";
        }
        return failure(unit +
                       " is not installed (no unit file in /etc/systemd/system, "
                       "/lib/systemd/system or /usr/lib/systemd/system): install the dsvm-agent "
                       "package, then enable the extension again");
    }
    if (auto enabled = run(runner, systemctl(target, {"enable", "--quiet"})); !enabled) {
        return enabled.error();
    }
    if (target.offline) {
        return unit + " enabled in " + target.root.dir() +
               "; starting it skipped (not the running system)";
    }
    const std::vector<std::string> verb =
        config_changed ? std::vector<std::string>{"--no-block", "reload-or-restart"}
                       : std::vector<std::string>{"--no-block", "start"};
    if (auto started = run(runner, systemctl(target, verb)); !started) {
        return started.error();
    }
    return unit + (config_changed ? " enabled and reloaded (or started) to apply the new config"
                                  : " enabled; started if it was not running");
}

Result<std::string> SystemdService::stop() {
    const ServiceTarget& target = m_target;
    ProcessRunner& runner = m_runner;
    const std::string unit = k_service_unit;
    if (!service_installed(target.root)) {
        return unit + " is not installed: nothing to stop";
    }
    if (target.offline) {
        if (auto disabled = run(runner, systemctl(target, {"disable", "--quiet"})); !disabled) {
            return disabled.error();
        }
        return unit + " disabled in " + target.root.dir() +
               "; stopping it skipped (not the running system)";
    }
    if (auto disabled = run(runner, systemctl(target, {"disable", "--now", "--quiet"}));
        !disabled) {
        return disabled.error();
    }
    return unit + " stopped and disabled";
}

}  // namespace dsvm::extension
