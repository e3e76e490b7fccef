#include "agent/credentials_command.h"

#include <signal.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/fd.h"
#include "common/fs.h"
#include "mount/credentials.h"

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
Result<void> read_from_terminal(std::string& out, const std::string& name) {
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
    std::fprintf(stderr, "Storage key for %s: ", name.c_str());
    std::fflush(stderr);
    return read_input(out, true);
}

// Exit status and message for an error, through the CLI's logger.
int report(const Error& error) {
    spdlog::error("{}", error.message);
    return exit_status_for(error);
}

std::string state_of(const CredentialsFile& file) {
    return file.secure ? std::string("ok") : "NOT USED: " + file.problem;
}

std::string octal(mode_t mode) {
    return fmt::format("{:04o}", mode & 07777);
}

void print_table(const std::vector<CredentialsFile>& files) {
    size_t name_width = 4;
    size_t path_width = 4;
    for (const auto& file : files) {
        name_width = std::max(name_width, file.name.size());
        path_width = std::max(path_width, file.path.size());
    }
    fmt::print("{:<{}}  {:<{}}  {:<4}  {:>5}  {}\n", "NAME", name_width, "FILE", path_width, "MODE",
               "OWNER", "STATE");
    for (const auto& file : files) {
        fmt::print("{:<{}}  {:<{}}  {:<4}  {:>5}  {}\n", file.name, name_width, file.path,
                   path_width, octal(file.mode), file.owner, state_of(file));
    }
}

}  // namespace

int credentials_set(const Root& root, const std::string& name, const std::string& username,
                    bool key_stdin) {
    if (!key_stdin) {
        return report(
            invalid("the key is read from standard input only, never from the command "
                    "line: run `dsvm-agent credentials set " +
                    name + " --key-stdin`"));
    }
    // Refuse a bad name before anyone types or pipes a key.
    if (auto checked = check_credentials_name(name); !checked) {
        return report(checked.error());
    }
    if (auto checked = check_credentials_name(username); !checked) {
        return report(with_context("--username", checked.error()));
    }
    std::string key;
    // Reserved up front so the key is never copied into a buffer we cannot wipe.
    key.reserve(k_max_input + k_read_chunk);
    ScopeGuard wipe([&] { ::explicit_bzero(key.data(), key.size()); });
    auto got = ::isatty(STDIN_FILENO) != 0 ? read_from_terminal(key, name) : read_input(key, false);
    if (!got) {
        return report(got.error());
    }
    if (key.size() > k_max_input) {
        return report(invalid("the key on standard input is longer than 4096 bytes"));
    }
    if (key.size() >= 2 && key.compare(key.size() - 2, 2, "\r\n") == 0) {
        key.resize(key.size() - 2);
    } else if (!key.empty() && key.back() == '\n') {
        key.pop_back();
    }
    if (key.empty()) {
        return report(invalid("no key on standard input"));
    }
    if (auto written = write_credentials(root, name, username, key); !written) {
        return report(written.error());
    }
    fmt::print(
        "stored credentials for {} in {} (mode 0600); the next pass remounts shares that use "
        "them\n",
        name, credentials_path(name));
    return 0;
}

int credentials_list(const Root& root, bool as_json) {
    auto files = list_credentials(root);
    if (!files) {
        return report(files.error());
    }
    if (as_json) {
        auto out = nlohmann::json::array();
        for (const auto& file : *files) {
            out.push_back({{"name", file.name},
                           {"path", file.path},
                           {"mode", octal(file.mode)},
                           {"owner", file.owner},
                           {"secure", file.secure},
                           {"problem", file.problem}});
        }
        fmt::print("{}\n", out.dump(2));
        return 0;
    }
    if (files->empty()) {
        fmt::print("no credentials stored in {}\n", k_credentials_dir);
        return 0;
    }
    print_table(*files);
    return 0;
}

}  // namespace dsvm
