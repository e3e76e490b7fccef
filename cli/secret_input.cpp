#include "cli/secret_input.h"

#include "common/terminal.h"

namespace dsvm::cli {

namespace {

// Beyond any real key; reading stops here so a runaway pipe cannot fill memory.
constexpr size_t k_max_input = 64 * 1024;

}  // namespace

Result<void> read_secret(std::string& out, const std::string& prompt, size_t max_bytes,
                         const std::string& what) {
    auto got = standard_input_is_terminal()
                   ? read_terminal_line_without_echo(out, prompt, k_max_input)
                   : read_standard_input(out, ReadUntil::EndOfInput, k_max_input);
    if (!got) {
        return got;
    }
    if (out.size() > k_max_input || out.size() > max_bytes + 2) {
        return invalid("the " + what + " on standard input is longer than " +
                       std::to_string(max_bytes) + " bytes");
    }
    if (out.size() >= 2 && out.compare(out.size() - 2, 2, "\r\n") == 0) {
        out.resize(out.size() - 2);
    } else if (!out.empty() && out.back() == '\n') {
        out.pop_back();
    }
    if (out.size() > max_bytes) {
        return invalid("the " + what + " on standard input is longer than " +
                       std::to_string(max_bytes) + " bytes");
    }
    if (out.empty()) {
        return invalid("no " + what + " on standard input");
    }
    return {};
}

}  // namespace dsvm::cli
