#include "common/clock.h"

#include <cstdio>
#include <thread>

namespace dsvm {

std::chrono::steady_clock::time_point SystemClock::now() {
    return std::chrono::steady_clock::now();
}

std::chrono::system_clock::time_point SystemClock::wall_now() {
    return std::chrono::system_clock::now();
}

void SystemClock::sleep_for(std::chrono::milliseconds duration) {
    std::this_thread::sleep_for(duration);
}

Clock& real_clock() {
    // Never destroyed: a worker a DeadlineGate abandoned may still be waiting on it at exit.
    static Clock* const clock = new SystemClock;
    return *clock;
}

std::string format_utc(std::chrono::system_clock::time_point time) {
    // The civil calendar of <chrono> (C++20): no gmtime_r, which not every platform has.
    using namespace std::chrono;
    const auto day = floor<days>(time);
    const year_month_day date{day};
    const hh_mm_ss clock{floor<seconds>(time - day)};
    char text[32];
    std::snprintf(text, sizeof text, "%04d-%02u-%02uT%02d:%02d:%02dZ",
                  static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                  static_cast<unsigned>(date.day()), static_cast<int>(clock.hours().count()),
                  static_cast<int>(clock.minutes().count()),
                  static_cast<int>(clock.seconds().count()));
    return text;
}

}  // namespace dsvm
