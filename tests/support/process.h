// Running the real dsvm-agent binary (and other programs) from tests, without a shell.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace dsvm::test {

struct ProcessResult {
    int exit_code = -1;  // -1 when killed by a signal
    std::string out;
    std::string err;
};

// Runs argv[0] (a path) with argv, the current environment plus `environment` ("NAME=value"),
// `input` on stdin; waits and captures stdout and stderr.
ProcessResult run_process(const std::vector<std::string>& argv,
                          const std::vector<std::string>& environment = {},
                          const std::string& input = {});

// The agent binary with arguments: run_agent({"--root", dir, "reconcile"}).
ProcessResult run_agent(const std::vector<std::string>& arguments,
                        const std::vector<std::string>& environment = {});

// A program running in the background, its output sent to a file; killed (SIGKILL) and reaped
// on destruction if still running.
class Child {
  public:
    Child(const std::vector<std::string>& argv, const std::string& output_file,
          const std::vector<std::string>& environment = {});
    ~Child();
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;

    pid_t pid() const { return m_pid; }
    void signal(int number) const;
    // Waits up to timeout_ms for exit; returns the exit code, -1 for a signal, -2 on timeout.
    int wait(int timeout_ms);

  private:
    pid_t m_pid = -1;
    bool m_reaped = false;
};

// Polls `condition` every 20 ms for up to timeout_ms; true as soon as it holds.
template <class Condition>
bool eventually(Condition condition, int timeout_ms);

}  // namespace dsvm::test

#include <chrono>
#include <thread>

template <class Condition>
bool dsvm::test::eventually(Condition condition, int timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
        if (condition()) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return condition();
}
