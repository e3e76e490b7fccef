#include "common/deadline.h"

#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>

namespace dsvm {

// Real time, not the Clock seam: the wait is for another thread, which a fake clock cannot
// advance.
struct DeadlineGate::Shared {
    std::string what;
    std::mutex mutex;
    std::condition_variable finished;
    bool busy = false;
    std::chrono::steady_clock::time_point started;
    std::uint64_t calls = 0;  // the number of the call the worker serves
    std::uint64_t done = 0;   // the last call whose worker finished
    std::string failure;      // what the last worker threw, if it did
};

DeadlineGate::DeadlineGate(std::string what) : m_shared(std::make_shared<Shared>()) {
    m_shared->what = std::move(what);
}

std::string DeadlineGate::what() const {
    const std::lock_guard<std::mutex> lock(m_shared->mutex);
    return m_shared->what;
}

void DeadlineGate::set_what(std::string what) {
    const std::lock_guard<std::mutex> lock(m_shared->mutex);
    m_shared->what = std::move(what);
}

bool DeadlineGate::busy() const {
    const std::lock_guard<std::mutex> lock(m_shared->mutex);
    return m_shared->busy;
}

namespace {

long long whole_seconds(std::chrono::steady_clock::duration duration) {
    return std::chrono::duration_cast<std::chrono::seconds>(duration).count();
}

// "30 s", or "0.25 s" for the short limits tests use.
std::string seconds_text(std::chrono::milliseconds limit) {
    const auto count = limit.count();
    if (count % 1000 == 0) {
        return std::to_string(count / 1000) + " s";
    }
    std::string fraction = std::to_string(count % 1000);
    fraction.insert(0, 3 - fraction.size(), '0');
    while (fraction.back() == '0') {
        fraction.pop_back();
    }
    return std::to_string(count / 1000) + "." + fraction + " s";
}

}  // namespace

Result<void> DeadlineGate::run_erased(std::chrono::milliseconds limit, std::function<void()> work) {
    std::shared_ptr<Shared> shared = m_shared;
    std::unique_lock<std::mutex> lock(shared->mutex);
    const auto now = std::chrono::steady_clock::now();
    if (shared->busy) {
        return failure(shared->what + " not responding: an access started " +
                       std::to_string(whole_seconds(now - shared->started)) +
                       " s ago has not returned");
    }
    shared->busy = true;
    shared->started = now;
    const std::uint64_t call = ++shared->calls;
    shared->failure.clear();
    try {
        std::thread([shared, call, work = std::move(work)] {
            std::string thrown;
            try {
                work();
            } catch (const std::exception& error) {
                thrown = error.what();
            } catch (...) {
                thrown = "an unknown exception";
            }
            const std::lock_guard<std::mutex> done_lock(shared->mutex);
            shared->busy = false;
            shared->done = call;
            shared->failure = std::move(thrown);
            shared->finished.notify_all();
        }).detach();
    } catch (const std::system_error& error) {
        shared->busy = false;
        return failure("cannot start a worker for " + shared->what + ": " + error.what());
    }
    if (!shared->finished.wait_for(lock, limit, [&] { return shared->done == call; })) {
        return failure(shared->what + " not responding: no answer within " + seconds_text(limit));
    }
    if (!shared->failure.empty()) {
        return failure(shared->what + ": " + shared->failure);
    }
    return {};
}

}  // namespace dsvm
