// Standard input and the console behind it on Windows (common/terminal.h): console modes for the
// echo, ReadFile for the bytes, a console control handler in place of the POSIX signals.
#include "common/terminal.h"

#include <atomic>
#include <cstdio>

#include "common/secret.h"
#include "common/windows_api_win32.h"

namespace dsvm {

namespace {

constexpr DWORD k_read_chunk = 4096;

// What the control handler needs to give the console its echo back if the prompt is ended by
// Ctrl+C, Ctrl+Break or the console closing; the handler runs on a thread of its own, with
// nothing but globals to go by.
std::atomic<HANDLE> g_console_input{nullptr};
std::atomic<DWORD> g_saved_mode{0};
std::atomic<bool> g_mode_saved{false};

BOOL WINAPI restore_console(DWORD event) {
    if (event == CTRL_C_EVENT || event == CTRL_BREAK_EVENT || event == CTRL_CLOSE_EVENT) {
        if (g_mode_saved.exchange(false)) {
            ::SetConsoleMode(g_console_input.load(), g_saved_mode.load());
            // Ends the prompt's line, so the shell's prompt does not follow it.
            DWORD written = 0;
            ::WriteFile(::GetStdHandle(STD_ERROR_HANDLE), "\n", 1, &written, nullptr);
        }
    }
    // Not handled: the next handler, in the end the default one, ends the process as it would
    // have without us (and one the caller installed, or an ignored Ctrl+C, still applies).
    return FALSE;
}

// Gives the console back its mode, removes the handler and ends the unechoed line, however the
// read ends.
class RestoreConsole {
  public:
    RestoreConsole(HANDLE input, DWORD saved) : m_input(input), m_saved(saved) {}
    RestoreConsole(const RestoreConsole&) = delete;
    RestoreConsole& operator=(const RestoreConsole&) = delete;
    ~RestoreConsole() {
        ::SetConsoleMode(m_input, m_saved);
        g_mode_saved = false;
        ::SetConsoleCtrlHandler(restore_console, FALSE);
        // The newline the user typed was not echoed.
        std::fputc('\n', stderr);
    }

  private:
    HANDLE m_input;
    DWORD m_saved;
};

}  // namespace

bool standard_input_is_terminal() {
    DWORD mode = 0;
    return ::GetConsoleMode(::GetStdHandle(STD_INPUT_HANDLE), &mode) != FALSE;
}

Result<void> read_standard_input(std::string& out, ReadUntil until, size_t limit) {
    const HANDLE input = ::GetStdHandle(STD_INPUT_HANDLE);
    if (input == nullptr || input == INVALID_HANDLE_VALUE) {
        return failure("cannot read standard input: the process has none");
    }
    const bool stop_at_newline = until == ReadUntil::Newline;
    char buffer[k_read_chunk];
    Result<void> outcome;
    while (out.size() <= limit) {
        const DWORD wanted = stop_at_newline ? 1 : sizeof buffer;
        DWORD got = 0;
        if (!::ReadFile(input, buffer, wanted, &got, nullptr)) {
            const DWORD error = ::GetLastError();
            // The writer closed its end of the pipe: the end of the input, as EOF is.
            if (error != ERROR_BROKEN_PIPE) {
                outcome = failure("cannot read standard input: " + windows_error_text(error));
            }
            break;
        }
        // Zero bytes: the end of a file, or Ctrl+Z on the console.
        if (got == 0) {
            break;
        }
        out.append(buffer, got);
        if (stop_at_newline && buffer[0] == '\n') {
            break;
        }
    }
    wipe_bytes(buffer, sizeof buffer);
    return outcome;
}

Result<void> read_terminal_line_without_echo(std::string& out, const std::string& prompt,
                                             size_t limit) {
    const HANDLE input = ::GetStdHandle(STD_INPUT_HANDLE);
    DWORD saved = 0;
    if (!::GetConsoleMode(input, &saved)) {
        return failure("cannot read the console's settings: " +
                       windows_error_text(::GetLastError()));
    }
    g_console_input = input;
    g_saved_mode = saved;
    g_mode_saved = true;
    ::SetConsoleCtrlHandler(restore_console, TRUE);
    RestoreConsole restore(input, saved);
    // Echo needs line input, which stays on: the line is still edited and ends with Enter.
    if (!::SetConsoleMode(input, saved & ~static_cast<DWORD>(ENABLE_ECHO_INPUT))) {
        return failure("cannot turn off the console's echo: " +
                       windows_error_text(::GetLastError()));
    }
    // Prompted only once echo is off, so nothing typed after the prompt can show.
    std::fprintf(stderr, "%s", prompt.c_str());
    std::fflush(stderr);
    return read_standard_input(out, ReadUntil::Newline, limit);
}

}  // namespace dsvm
