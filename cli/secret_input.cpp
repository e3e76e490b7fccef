#include "cli/secret_input.h"

#include <signal.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <iterator>

#include "common/fd.h"
#include "common/fs.h"

namespace dsvm {

namespace {

// Beyond any real key; reading stops here so a runaway pipe cannot fill memory.
constexpr size_t k_max_input = 64 * 1024;
constexpr size_t k_read_chunk = 4096;
constexpr int k_restore_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

// What a signal handler needs to give the terminal its echo back if the prompt is interrupted;
// a handler can reach nothing but globals.
termios g_saved_terminal{};
volatile sig_atomic_t g_terminal_saved = 0;

void restore_terminal_and_reraise(int number) {
    if (g_terminal_saved != 0) {
        ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &g_saved_terminal);
        // Ends the prompt's line, so the shell's prompt does not follow it.
        (void)!::write(STDERR_FILENO, "\n", 1);
    }
    ::signal(number, SIG_DFL);
    ::raise(number);
}

// Appends what read() returns until end of input, a newline (when stop_at_newline) or more than
// k_max_input bytes.
Result<void> read_input(std::string& out, bool stop_at_newline) {
    char buffer[k_read_chunk];
    while (out.size() <= k_max_input) {
        const size_t wanted = stop_at_newline ? 1 : sizeof buffer;
        const ssize_t got = ::read(STDIN_FILENO, buffer, wanted);
        if (got < 0) {
            if (errno == EINTR) {
                continue;
            }
            return failure("cannot read standard input: " + errno_text(errno));
        }
        if (got == 0) {
            break;
        }
        out.append(buffer, static_cast<size_t>(got));
        if (stop_at_newline && buffer[0] == '\n') {
            break;
        }
    }
    ::explicit_bzero(buffer, sizeof buffer);
    return {};
}

// On a terminal the key is typed blind: echo off for exactly as long as the read, whatever way
// the read ends (return, error, or a signal such as Ctrl-C).
Result<void> read_from_terminal(std::string& out, const std::string& prompt) {
    termios saved{};
    if (::tcgetattr(STDIN_FILENO, &saved) != 0) {
        return failure("cannot read the terminal's settings: " + errno_text(errno));
    }
    g_saved_terminal = saved;
    g_terminal_saved = 1;
    struct sigaction handler {};
    handler.sa_handler = restore_terminal_and_reraise;
    ::sigemptyset(&handler.sa_mask);
    struct sigaction previous[std::size(k_restore_signals)] = {};
    for (size_t i = 0; i < std::size(k_restore_signals); ++i) {
        ::sigaction(k_restore_signals[i], nullptr, &previous[i]);
        // A signal the caller chose to ignore (nohup) stays ignored.
        if (previous[i].sa_handler != SIG_IGN) {
            ::sigaction(k_restore_signals[i], &handler, nullptr);
        }
    }
    ScopeGuard restore([&] {
        ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
        g_terminal_saved = 0;
        for (size_t i = 0; i < std::size(k_restore_signals); ++i) {
            ::sigaction(k_restore_signals[i], &previous[i], nullptr);
        }
        // The newline the user typed was not echoed.
        std::fputc('\n', stderr);
    });
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    if (::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) != 0) {
        return failure("cannot turn off the terminal's echo: " + errno_text(errno));
    }
    // Prompted only once echo is off, so nothing typed after the prompt can show.
    std::fprintf(stderr, "%s", prompt.c_str());
    std::fflush(stderr);
    return read_input(out, true);
}

}  // namespace

Result<void> read_secret(std::string& out, const std::string& prompt, size_t max_bytes,
                         const std::string& what) {
    auto got =
        ::isatty(STDIN_FILENO) != 0 ? read_from_terminal(out, prompt) : read_input(out, false);
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

}  // namespace dsvm
