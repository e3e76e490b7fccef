#include "windows/scm_service.h"

#include "common/windows_api_win32.h"
#include "windows/scm_host.h"

namespace dsvm::windows_platform {

namespace {

// How often stop() asks the SCM whether the service has stopped.
constexpr std::chrono::milliseconds k_poll{250};

std::string named(const std::string& service) {
    return "the service " + service;
}

Error refused(const std::string& service, const std::string& call, std::uint32_t code) {
    return failure(call + " for " + named(service) + " failed: " + windows_error_text(code));
}

}  // namespace

Result<ServiceState> ScmService::query() {
    ServiceState state;
    const std::uint32_t code = m_api.query(m_service, state);
    if (code == k_no_such_service) {
        return failure(named(m_service) +
                       " is not installed: install the dsvm-agent MSI (the handler's install "
                       "does), then enable the extension again");
    }
    if (code != 0) {
        return refused(m_service, "querying the service control manager", code);
    }
    return state;
}

Result<void> ScmService::wait_stopped(std::chrono::steady_clock::time_point deadline) {
    for (;;) {
        ServiceState state;
        const std::uint32_t code = m_api.query(m_service, state);
        if (code == k_no_such_service) {
            return {};
        }
        if (code != 0) {
            return refused(m_service, "querying the service control manager", code);
        }
        if (state.run_state == RunState::Stopped) {
            return {};
        }
        if (m_clock.now() >= deadline) {
            return failure(named(m_service) + " has not stopped within " +
                           std::to_string(m_stop_limit.count() / 1000) +
                           " s of the stop request; it may still be ending a pass");
        }
        m_clock.sleep_for(k_poll);
    }
}

Result<std::string> ScmService::start(extension::ConfigChange change) {
    auto state = query();
    if (!state) {
        return state.error();
    }
    std::string done;
    if (state->start_type != StartType::Automatic) {
        if (const auto code = m_api.set_start_type(m_service, StartType::Automatic); code != 0) {
            return refused(m_service, "setting the start type to automatic", code);
        }
        done = named(m_service) + " set to start automatically";
    } else {
        done = named(m_service) + " starts automatically";
    }
    if (state->run_state == RunState::StopPending) {
        if (auto stopped = wait_stopped(m_clock.now() + m_stop_limit); !stopped) {
            return stopped.error();
        }
        state->run_state = RunState::Stopped;
    }
    if (state->run_state == RunState::Stopped) {
        const auto code = m_api.start(m_service);
        if (code != 0 && code != k_already_running) {
            return refused(m_service, "StartService", code);
        }
        return done + "; started";
    }
    if (change == extension::ConfigChange::None) {
        return done + "; already running";
    }
    const auto code = m_api.control(m_service, k_reconcile_control);
    // A service still starting takes no control yet; its first pass reads the new config.
    if (code == k_cannot_accept_control && state->run_state == RunState::StartPending) {
        return done + "; starting, and its first pass applies the new config";
    }
    if (code != 0) {
        return refused(
            m_service,
            "sending the reconcile control (" + std::to_string(k_reconcile_control) + ")", code);
    }
    return done + "; told to apply the new config now (control " +
           std::to_string(k_reconcile_control) + ")";
}

Result<std::string> ScmService::stop() {
    ServiceState state;
    const std::uint32_t queried = m_api.query(m_service, state);
    if (queried == k_no_such_service) {
        return named(m_service) + " is not installed: nothing to stop";
    }
    if (queried != 0) {
        return refused(m_service, "querying the service control manager", queried);
    }
    // An admin's "disabled" stays; only the automatic start is taken away.
    if (state.start_type == StartType::Automatic) {
        if (const auto code = m_api.set_start_type(m_service, StartType::OnDemand); code != 0) {
            return refused(m_service, "setting the start type to on demand", code);
        }
    }
    const auto deadline = m_clock.now() + m_stop_limit;
    // A service still starting (until it listens for controls) or already stopping takes no
    // control (ERROR_SERVICE_CANNOT_ACCEPT_CTRL): the stop is sent again until it is taken, and
    // one that is stopping anyway is only waited for, all within the one limit.
    while (state.run_state != RunState::Stopped && state.run_state != RunState::StopPending) {
        const auto code = m_api.control(m_service, k_stop_control);
        if (code == 0 || code == k_not_active) {
            break;
        }
        if (code != k_cannot_accept_control) {
            return refused(m_service, "sending the stop control", code);
        }
        if (m_clock.now() >= deadline) {
            return failure(named(m_service) + " has not taken the stop within " +
                           std::to_string(m_stop_limit.count() / 1000) +
                           " s: it is still starting");
        }
        m_clock.sleep_for(k_poll);
        const std::uint32_t again = m_api.query(m_service, state);
        if (again == k_no_such_service) {
            return named(m_service) + " was removed meanwhile: nothing to stop";
        }
        if (again != 0) {
            return refused(m_service, "querying the service control manager", again);
        }
    }
    if (state.run_state != RunState::Stopped) {
        if (auto stopped = wait_stopped(deadline); !stopped) {
            return stopped.error();
        }
    }
    return named(m_service) + " stopped; " +
           (state.start_type == StartType::Disabled ? "it stays disabled"
                                                    : "it starts on demand only");
}

Result<std::string> ForeignRootService::start(extension::ConfigChange) {
    return "the service " + std::string(k_agent_service) + " is the machine's, not " + m_root +
           "'s: starting it skipped";
}

Result<std::string> ForeignRootService::stop() {
    return "the service " + std::string(k_agent_service) + " is the machine's, not " + m_root +
           "'s: stopping it skipped";
}

}  // namespace dsvm::windows_platform
