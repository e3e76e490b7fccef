#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "common/deadline.h"

using namespace dsvm;
using namespace std::chrono_literals;

namespace {

// Work that blocks until released, as a read on a share whose server stopped answering does.
struct Hang {
    std::mutex mutex;
    std::condition_variable released;
    bool open = false;
    void release() {
        const std::lock_guard<std::mutex> lock(mutex);
        open = true;
        released.notify_all();
    }
    void wait() {
        std::unique_lock<std::mutex> lock(mutex);
        released.wait(lock, [&] { return open; });
    }
};

template <class Predicate>
bool eventually(Predicate predicate) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!predicate()) {
        if (std::chrono::steady_clock::now() > deadline) {
            return false;
        }
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

}  // namespace

TEST_CASE("deadline: work that finishes in time gives its result", "[deadline]") {
    DeadlineGate gate("share /datamnt/pool");
    const auto value = gate.run<int>(5s, [] { return Result<int>(42); });
    REQUIRE(value.ok());
    CHECK(*value == 42);
    const auto error = gate.run<int>(5s, [] { return Result<int>(failure("refused")); });
    REQUIRE_FALSE(error.ok());
    CHECK(error.error().message == "refused");
    CHECK_FALSE(gate.busy());
}

TEST_CASE("deadline: hung work is abandoned, the gate refuses at once until it returns",
          "[deadline]") {
    DeadlineGate gate("share /datamnt/pool");
    auto hang = std::make_shared<Hang>();
    std::atomic<int> ran{0};
    const auto start = std::chrono::steady_clock::now();
    const auto first = gate.run<int>(100ms, [hang, &ran] {
        hang->wait();
        ++ran;
        return Result<int>(1);
    });
    const auto waited = std::chrono::steady_clock::now() - start;
    REQUIRE_FALSE(first.ok());
    CHECK(first.error().message == "share /datamnt/pool not responding: no answer within 0.1 s");
    CHECK(waited >= 100ms);
    CHECK(waited < 3s);
    CHECK(gate.busy());

    // While the first is stuck, no second worker piles up behind the same dead server.
    bool second_ran = false;
    const auto second = gate.run<int>(5s, [&second_ran] {
        second_ran = true;
        return Result<int>(2);
    });
    REQUIRE_FALSE(second.ok());
    CHECK_THAT(second.error().message,
               Catch::StartsWith("share /datamnt/pool not responding: an access started") &&
                   Catch::EndsWith("s ago has not returned"));
    CHECK_FALSE(second_ran);

    // The server comes back: the stuck worker finishes (its result dropped) and the gate opens.
    hang->release();
    REQUIRE(eventually([&] { return !gate.busy(); }));
    CHECK(ran == 1);
    const auto third = gate.run<int>(5s, [] { return Result<int>(3); });
    REQUIRE(third.ok());
    CHECK(*third == 3);
}

TEST_CASE("deadline: an exception in the work is an error, not a crash", "[deadline]") {
    DeadlineGate gate("share");
    const auto thrown =
        gate.run<int>(5s, []() -> Result<int> { throw std::runtime_error("bad_alloc-ish"); });
    REQUIRE_FALSE(thrown.ok());
    CHECK(thrown.error().message == "share: bad_alloc-ish");
    CHECK_FALSE(gate.busy());
}

TEST_CASE("deadline: the resource can be renamed between calls", "[deadline]") {
    DeadlineGate gate("share");
    gate.set_what("share /datamnt/other");
    CHECK(gate.what() == "share /datamnt/other");
    auto hang = std::make_shared<Hang>();
    const auto stuck = gate.run<int>(10ms, [hang] {
        hang->wait();
        return Result<int>(0);
    });
    CHECK_THAT(stuck.error().message, Catch::StartsWith("share /datamnt/other not responding"));
    hang->release();
    CHECK(eventually([&] { return !gate.busy(); }));
}
