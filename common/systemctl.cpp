#include "common/systemctl.h"

#include "common/text.h"

namespace dsvm {

namespace {

// systemctl's own words, without the trailing newline, at most 1000 characters.
std::string trimmed(std::string_view text) {
    const std::string_view words = trim_end(text, "\n ");
    return words.size() > 1000 ? std::string(words.substr(0, 1000)) + "..." : std::string(words);
}

}  // namespace

Result<void> run_systemctl(ProcessRunner& runner, const std::vector<std::string>& arguments,
                           std::chrono::milliseconds timeout) {
    std::vector<std::string> argv{k_systemctl};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    std::string command = "systemctl";
    for (const auto& argument : arguments) {
        command += " " + argument;
    }
    auto result = runner.run(argv, {}, timeout);
    if (!result) {
        return with_context(command, result.error());
    }
    if (result->exit_code != 0) {
        const std::string output = trimmed(result->err.empty() ? result->out : result->err);
        return failure(command + " failed (exit status " + std::to_string(result->exit_code) + ")" +
                       (output.empty() ? std::string() : ": " + output));
    }
    return {};
}

}  // namespace dsvm
