#include "support/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>

#include "common/fd.h"

extern char** environ;

namespace dsvm::test {

namespace {

std::vector<char*> pointers(std::vector<std::string>& strings) {
    std::vector<char*> out;
    for (auto& text : strings) {
        out.push_back(text.data());
    }
    out.push_back(nullptr);
    return out;
}

std::vector<std::string> merged_environment(const std::vector<std::string>& extra) {
    std::vector<std::string> out;
    for (char** entry = environ; *entry != nullptr; ++entry) {
        const std::string text = *entry;
        const std::string name = text.substr(0, text.find('='));
        bool overridden = false;
        for (const auto& added : extra) {
            overridden = overridden || added.substr(0, added.find('=')) == name;
        }
        if (!overridden) {
            out.push_back(text);
        }
    }
    out.insert(out.end(), extra.begin(), extra.end());
    return out;
}

// posix_spawn with the three standard descriptors replaced; throws if it cannot run.
pid_t spawn(const std::vector<std::string>& argv, const std::vector<std::string>& environment,
            int input, int output, int error) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, input, 0);
    posix_spawn_file_actions_adddup2(&actions, output, 1);
    posix_spawn_file_actions_adddup2(&actions, error, 2);
    std::vector<std::string> args = argv;
    std::vector<std::string> env = merged_environment(environment);
    auto arg_pointers = pointers(args);
    auto env_pointers = pointers(env);
    pid_t pid = -1;
    const int spawned = ::posix_spawn(&pid, args[0].c_str(), &actions, nullptr, arg_pointers.data(),
                                      env_pointers.data());
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) {
        throw std::runtime_error("cannot run " + args[0]);
    }
    return pid;
}

int decode_status(int status) {
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

ProcessResult run_process(const std::vector<std::string>& argv,
                          const std::vector<std::string>& environment, const std::string& input) {
    int in_pipe[2], out_pipe[2], err_pipe[2];
    if (::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0 ||
        ::pipe2(err_pipe, O_CLOEXEC) != 0) {
        throw std::runtime_error("pipe2 failed");
    }
    Fd in_write(in_pipe[1]), out_read(out_pipe[0]), err_read(err_pipe[0]);
    Fd in_read(in_pipe[0]), out_write(out_pipe[1]), err_write(err_pipe[1]);
    const pid_t pid = spawn(argv, environment, in_read.get(), out_write.get(), err_write.get());
    in_read.reset();
    out_write.reset();
    err_write.reset();
    if (!input.empty()) {
        (void)!::write(in_write.get(), input.data(), input.size());
    }
    in_write.reset();

    ProcessResult result;
    pollfd fds[2] = {{out_read.get(), POLLIN, 0}, {err_read.get(), POLLIN, 0}};
    std::string* sinks[2] = {&result.out, &result.err};
    int open_count = 2;
    while (open_count > 0) {
        if (::poll(fds, 2, -1) < 0 && errno != EINTR) {
            break;
        }
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || fds[i].revents == 0) {
                continue;
            }
            char buffer[8192];
            const ssize_t got = ::read(fds[i].fd, buffer, sizeof buffer);
            if (got > 0) {
                sinks[i]->append(buffer, static_cast<size_t>(got));
            } else if (got == 0 || errno != EINTR) {
                fds[i].fd = -1;
                --open_count;
            }
        }
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    result.exit_code = decode_status(status);
    return result;
}

ProcessResult run_agent(const std::vector<std::string>& arguments,
                        const std::vector<std::string>& environment) {
    std::vector<std::string> argv{DSVM_AGENT_BINARY};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    return run_process(argv, environment);
}

Child::Child(const std::vector<std::string>& argv, const std::string& output_file,
             const std::vector<std::string>& environment) {
    Fd output(::open(output_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    Fd null_input(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!output || !null_input) {
        throw std::runtime_error("cannot open " + output_file);
    }
    m_pid = spawn(argv, environment, null_input.get(), output.get(), output.get());
}

Child::~Child() {
    if (!m_reaped && m_pid > 0) {
        ::kill(m_pid, SIGKILL);
        int status = 0;
        ::waitpid(m_pid, &status, 0);
    }
}

void Child::signal(int number) const {
    ::kill(m_pid, number);
}

int Child::wait(int timeout_ms) {
    int status = 0;
    const bool done = eventually(
        [&] {
            const pid_t got = ::waitpid(m_pid, &status, WNOHANG);
            return got == m_pid;
        },
        timeout_ms);
    if (!done) {
        return -2;
    }
    m_reaped = true;
    return decode_status(status);
}

}  // namespace dsvm::test
