// format_utc: RFC 3339 UTC with whole seconds, from the civil calendar of <chrono>.
#include <catch2/catch.hpp>
#include <chrono>

#include "common/clock.h"

using namespace dsvm;
using namespace std::chrono;

TEST_CASE("clock: format_utc writes RFC 3339 UTC with whole seconds", "[clock]") {
    CHECK(format_utc(system_clock::time_point{}) == "1970-01-01T00:00:00Z");
    const sys_days day = year{2026} / November / 27;
    CHECK(format_utc(day + 11h + 10min + 27s) == "2026-11-27T11:10:27Z");
    // Parts of a second are dropped, never rounded up into the next second.
    CHECK(format_utc(day + 23h + 59min + 59s + 999ms) == "2026-11-27T23:59:59Z");
    CHECK(format_utc(sys_days{year{2024} / February / 29} + 12h) == "2024-02-29T12:00:00Z");
    // Before the epoch the day still starts at midnight (floor, not truncation towards zero).
    CHECK(format_utc(system_clock::time_point{} - 1s) == "1969-12-31T23:59:59Z");
    CHECK(format_utc(system_clock::time_point{} - 1ms) == "1969-12-31T23:59:59Z");
    // The last second of a year, then the first of the next.
    const sys_days new_year = year{2027} / January / 1;
    CHECK(format_utc(new_year - 1s) == "2026-12-31T23:59:59Z");
    CHECK(format_utc(new_year) == "2027-01-01T00:00:00Z");
}
