// A ServiceHost for unit tests of the daemon loop: controls arrive at set times on a FakeClock,
// a wait moves the clock instead of sleeping, and everything the loop tells the service manager
// is recorded with the time it was told.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "service/host.h"
#include "support/fake_clock.h"

namespace dsvm::test {

class FakeServiceHost final : public service::ServiceHost {
  public:
    struct Message {
        enum class Kind { Ready, Status, Stopping, Watchdog };
        Kind kind = Kind::Status;
        std::chrono::milliseconds at{};  // since listen()
        std::string text;
    };

    explicit FakeServiceHost(FakeClock& clock) : m_clock(clock) {}

    // `control` arrives `at` after listen().
    void send(std::chrono::milliseconds at, service::Control control) {
        m_controls.emplace(at, control);
    }
    void set_watchdog_period(std::chrono::microseconds period) { m_period = period; }
    void fail_listen(std::string message) { m_listen_error = std::move(message); }

    Result<void> listen() override {
        ++m_listens;
        if (!m_listen_error.empty()) {
            return failure(m_listen_error);
        }
        m_start = m_clock.now();
        return {};
    }

    service::Control wait(std::chrono::milliseconds timeout) override {
        m_waits.push_back(timeout);
        // The loop must listen first and never spin; a test that forgot its Stop ends here, a
        // day of fake time or a million waits after listen(), with Control::Failed.
        if (m_listens == 0 || timeout.count() <= 0 || m_waits.size() > k_max_waits) {
            return service::Control::Failed;
        }
        const auto now = elapsed();
        if (!m_controls.empty() && m_controls.begin()->first <= now + timeout) {
            const auto [at, control] = *m_controls.begin();
            m_controls.erase(m_controls.begin());
            if (at > now) {
                m_clock.advance(at - now);
            }
            return control;
        }
        if (now + timeout > k_give_up) {
            return service::Control::Failed;
        }
        m_clock.advance(timeout);
        return service::Control::None;
    }

    void ready(const std::string& status) override { record(Message::Kind::Ready, status); }
    void status(const std::string& status) override { record(Message::Kind::Status, status); }
    void stopping() override { record(Message::Kind::Stopping, ""); }
    std::chrono::microseconds watchdog_period() override { return m_period; }
    void watchdog() override { record(Message::Kind::Watchdog, ""); }
    // A Stop due by now (fake time since listen()) and not yet taken by wait().
    bool stop_requested() override {
        for (const auto& [at, control] : m_controls) {
            if (control == service::Control::Stop && m_listens > 0 && at <= elapsed()) {
                return true;
            }
        }
        return false;
    }

    const std::vector<Message>& messages() const { return m_messages; }
    const std::vector<std::chrono::milliseconds>& waits() const { return m_waits; }
    int listens() const { return m_listens; }
    // When each pass ended: the times of the ready and status messages.
    std::vector<std::chrono::milliseconds> passes() const {
        std::vector<std::chrono::milliseconds> times;
        for (const Message& message : m_messages) {
            if (message.kind == Message::Kind::Ready || message.kind == Message::Kind::Status) {
                times.push_back(message.at);
            }
        }
        return times;
    }
    std::vector<std::chrono::milliseconds> times_of(Message::Kind kind) const {
        std::vector<std::chrono::milliseconds> times;
        for (const Message& message : m_messages) {
            if (message.kind == kind) {
                times.push_back(message.at);
            }
        }
        return times;
    }

  private:
    static constexpr std::size_t k_max_waits = 1'000'000;
    static constexpr std::chrono::milliseconds k_give_up = std::chrono::hours(24);

    std::chrono::milliseconds elapsed() const {
        return std::chrono::duration_cast<std::chrono::milliseconds>(m_clock.now() - m_start);
    }
    void record(Message::Kind kind, std::string text) {
        m_messages.push_back({kind, elapsed(), std::move(text)});
    }

    FakeClock& m_clock;
    std::multimap<std::chrono::milliseconds, service::Control> m_controls;
    std::chrono::microseconds m_period{0};
    std::string m_listen_error;
    int m_listens = 0;
    std::chrono::steady_clock::time_point m_start{};
    std::vector<Message> m_messages;
    std::vector<std::chrono::milliseconds> m_waits;
};

}  // namespace dsvm::test
