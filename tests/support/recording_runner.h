// A ProcessRunner for unit tests: records every argv it is asked to run and answers with a
// fixed result, or fails to start the program. Subclasses may look at the world as each command
// runs (on_run), e.g. at the file a validator is given.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/process.h"

namespace dsvm::test {

class RecordingRunner : public ProcessRunner {
  public:
    explicit RecordingRunner(CommandResult answer = {0, "", ""}) : m_answer(std::move(answer)) {}

    Result<CommandResult> run(const std::vector<std::string>& argv, std::string_view,
                              std::chrono::milliseconds) override {
        commands_ran.push_back(argv);
        on_run(argv);
        if (m_fail_to_start) {
            return failure("cannot run " + argv.at(0) + ": No such file or directory");
        }
        return m_answer;
    }

    // From now on every command fails to start, as a missing program does.
    void fail_to_start() { m_fail_to_start = true; }

    std::vector<std::vector<std::string>> commands_ran;

  protected:
    virtual void on_run(const std::vector<std::string>& /*argv*/) {}

  private:
    CommandResult m_answer;
    bool m_fail_to_start = false;
};

}  // namespace dsvm::test
