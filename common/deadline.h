// Bounded waits for work that can hang in the kernel: a read on a share whose NFS or SMB server
// stopped answering blocks (NFS is mounted `hard`) until the server comes back, and a pass that
// waited for it would never end. The work runs on a worker thread; the caller waits up to a
// limit and, past it, gets an error and goes on while the worker is abandoned. One gate stands
// for one resource (the share): while an abandoned worker is still stuck, the gate refuses new
// work at once instead of piling up threads behind the same dead server (docs/security.md,
// "A pass never hangs").
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/result.h"

namespace dsvm {

class DeadlineGate {
  public:
    // `what` names the resource in errors ("share /datamnt/pool").
    explicit DeadlineGate(std::string what);

    // Runs `work` on a worker thread and waits up to `limit` for it. Past the limit: a Runtime
    // error "<what> not responding: no answer within N s", and the worker is left to finish (or
    // not) on its own; its result is dropped. While a worker of this gate is still stuck, run()
    // fails at once ("<what> not responding: an access started N s ago has not returned").
    // Because the worker may outlive the call, `work` must own everything it touches: capture by
    // value, never references to the caller's locals.
    template <class T>
    Result<T> run(std::chrono::milliseconds limit, std::function<Result<T>()> work) {
        auto slot = std::make_shared<std::optional<Result<T>>>();
        auto waited = run_erased(limit, [slot, work = std::move(work)] { slot->emplace(work()); });
        if (!waited) {
            return waited.error();
        }
        return std::move(**slot);
    }

    // Whether a worker of this gate is running now (stuck, if no run() is waiting for it).
    bool busy() const;

    std::string what() const;
    // Renames the resource for the messages of later calls ("share /datamnt/pool").
    void set_what(std::string what);

  private:
    struct Shared;
    Result<void> run_erased(std::chrono::milliseconds limit, std::function<void()> work);

    std::shared_ptr<Shared> m_shared;
};

}  // namespace dsvm
