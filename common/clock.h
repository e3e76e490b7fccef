// The clock seam: everything that waits or reads the time goes through a Clock, so unit tests
// run retries and backoff instantly with a fake one.
#pragma once

#include <chrono>
#include <string>

namespace dsvm {

class Clock {
  public:
    virtual ~Clock() = default;
    // Monotonic time, for deadlines and backoff.
    virtual std::chrono::steady_clock::time_point now() = 0;
    // Wall-clock time, for timestamps in status files.
    virtual std::chrono::system_clock::time_point wall_now() = 0;
    virtual void sleep_for(std::chrono::milliseconds duration) = 0;
};

class SystemClock final : public Clock {
  public:
    std::chrono::steady_clock::time_point now() override;
    std::chrono::system_clock::time_point wall_now() override;
    void sleep_for(std::chrono::milliseconds duration) override;
};

// The process's real clock (a SystemClock): the default for functions that take a Clock, so
// callers without one of their own need not make one. Tests pass a FakeClock instead.
Clock& real_clock();

// RFC 3339 UTC with seconds ("2026-11-27T11:10:27Z").
std::string format_utc(std::chrono::system_clock::time_point time);

}  // namespace dsvm
