// A ServiceManagerApi for tests: one service in memory, its start type and state, and every call
// recorded in the order made ("query dsvm-agent", "start-type dsvm-agent automatic", "start
// dsvm-agent", "control dsvm-agent 128"). A start makes it Running, a stop control Stopped (or
// StopPending for `stops_after` more queries). StartPending turns Running after `starts_after`
// queries. As the real SCM does, a service that is starting or stopping takes no control
// (ERROR_SERVICE_CANNOT_ACCEPT_CTRL). Any call can be made to fail with a Win32 code: it is
// recorded and changes nothing. The real half runs under wine's SCM in
// tests/windows/test_scm_service.cpp; this one shows every branch.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "windows/scm_service.h"

namespace dsvm::test {

class FakeServiceManagerApi final : public windows_platform::ServiceManagerApi {
  public:
    using StartType = windows_platform::StartType;
    using RunState = windows_platform::RunState;

    // The service `name` exists with `state`; installed false: none does.
    explicit FakeServiceManagerApi(std::string name = windows_platform::k_agent_service,
                                   windows_platform::ServiceState state = {}, bool installed = true)
        : m_name(std::move(name)), m_state(state), m_installed(installed) {}

    std::vector<std::string> calls;
    std::map<std::string, std::uint32_t> failures;  // call name ("start") -> Win32 code
    int stops_after = 0;                            // queries a stop stays pending for
    int starts_after = 1000;                        // queries a start stays pending for

    const windows_platform::ServiceState& state() const { return m_state; }
    // A service found StopPending stays so for `queries` more queries.
    void pending_for(int queries) { m_pending = queries; }

    std::uint32_t query(const std::string& service, windows_platform::ServiceState& out) override {
        calls.push_back("query " + service);
        if (const auto code = check("query", service); code != 0) {
            return code;
        }
        if (m_state.run_state == RunState::StopPending && m_pending-- <= 0) {
            m_state.run_state = RunState::Stopped;
        }
        if (m_state.run_state == RunState::StartPending && starts_after-- <= 0) {
            m_state.run_state = RunState::Running;
        }
        out = m_state;
        return 0;
    }
    std::uint32_t set_start_type(const std::string& service, StartType type) override {
        calls.push_back("start-type " + service + " " + name_of(type));
        if (const auto code = check("start-type", service); code != 0) {
            return code;
        }
        m_state.start_type = type;
        return 0;
    }
    std::uint32_t start(const std::string& service) override {
        calls.push_back("start " + service);
        if (const auto code = check("start", service); code != 0) {
            return code;
        }
        if (m_state.run_state != RunState::Stopped) {
            return windows_platform::k_already_running;
        }
        m_state.run_state = RunState::Running;
        return 0;
    }
    std::uint32_t control(const std::string& service, std::uint32_t code) override {
        calls.push_back("control " + service + " " + std::to_string(code));
        if (const auto failed = check("control", service); failed != 0) {
            return failed;
        }
        if (m_state.run_state == RunState::Stopped) {
            return windows_platform::k_not_active;
        }
        if (m_state.run_state == RunState::StartPending ||
            m_state.run_state == RunState::StopPending) {
            return windows_platform::k_cannot_accept_control;
        }
        if (code == windows_platform::k_stop_control) {
            m_state.run_state = RunState::StopPending;
            m_pending = stops_after;
        }
        return 0;
    }

    static std::string name_of(StartType type) {
        switch (type) {
            case StartType::Automatic:
                return "automatic";
            case StartType::OnDemand:
                return "on-demand";
            case StartType::Disabled:
                return "disabled";
            case StartType::Other:
                return "other";
        }
        return "?";
    }

  private:
    std::uint32_t check(const std::string& call, const std::string& service) const {
        if (!m_installed || service != m_name) {
            return windows_platform::k_no_such_service;
        }
        const auto failure = failures.find(call);
        return failure == failures.end() ? 0 : failure->second;
    }

    std::string m_name;
    windows_platform::ServiceState m_state;
    bool m_installed;
    int m_pending = 0;
};

}  // namespace dsvm::test
