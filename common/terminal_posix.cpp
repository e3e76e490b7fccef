#include "common/terminal.h"

#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <iterator>

#include "common/fd.h"
#include "common/fs.h"
#include "common/secret.h"

namespace dsvm {

namespace {

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

}  // namespace

bool standard_input_is_terminal() {
    return ::isatty(STDIN_FILENO) != 0;
}

Result<void> read_standard_input(std::string& out, ReadUntil until, size_t limit) {
    const bool stop_at_newline = until == ReadUntil::Newline;
    char buffer[k_read_chunk];
    while (out.size() <= limit) {
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
    wipe_bytes(buffer, sizeof buffer);
    return {};
}

Result<void> read_terminal_line_without_echo(std::string& out, const std::string& prompt,
                                             size_t limit) {
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
    return read_standard_input(out, ReadUntil::Newline, limit);
}

}  // namespace dsvm
