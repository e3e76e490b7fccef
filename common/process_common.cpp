#include "common/process_common.h"

#include <algorithm>

#include "common/text.h"

namespace dsvm {

namespace {

// "0.2 s", "30 s": the timeout as a person wrote it.
std::string seconds_text(std::chrono::milliseconds timeout) {
    const auto ms = timeout.count();
    std::string text = std::to_string(ms / 1000);
    if (ms % 1000 != 0) {
        std::string fraction = std::to_string(1000 + ms % 1000).substr(1);
        while (fraction.back() == '0') {
            fraction.pop_back();
        }
        text += "." + fraction;
    }
    return text + " s";
}

}  // namespace

void append_capped(std::string& sink, std::string_view bytes) {
    const auto room = k_process_output_cap - std::min(k_process_output_cap, sink.size());
    sink.append(bytes.data(), std::min(room, bytes.size()));
}

Error program_not_absolute(const std::vector<std::string>& argv) {
    return failure("cannot run '" + (argv.empty() ? std::string() : printable(argv[0])) +
                   "': the program must be given as an absolute path");
}

Error process_timed_out(const std::string& program, std::chrono::milliseconds timeout) {
    return failure(printable(program) + " timed out after " + seconds_text(timeout));
}

}  // namespace dsvm
