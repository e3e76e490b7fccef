// A Clock for unit tests: sleeping advances time at once and is recorded.
#pragma once

#include <chrono>
#include <vector>

#include "common/clock.h"

namespace dsvm::test {

class FakeClock final : public Clock {
  public:
    std::chrono::steady_clock::time_point now() override { return m_now; }
    std::chrono::system_clock::time_point wall_now() override {
        return std::chrono::system_clock::time_point{} + std::chrono::hours(24 * 365 * 56) +
               (m_now - std::chrono::steady_clock::time_point{});
    }
    void sleep_for(std::chrono::milliseconds duration) override {
        m_sleeps.push_back(duration);
        m_now += duration;
    }
    void advance(std::chrono::milliseconds duration) { m_now += duration; }

    const std::vector<std::chrono::milliseconds>& sleeps() const { return m_sleeps; }

  private:
    std::chrono::steady_clock::time_point m_now{};
    std::vector<std::chrono::milliseconds> m_sleeps;
};

}  // namespace dsvm::test
