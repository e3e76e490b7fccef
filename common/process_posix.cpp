// SystemProcessRunner on Linux (common/process.h): posix_spawn, poll, a process group.
#include "common/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>

#include "common/fd.h"
#include "common/fs.h"
#include "common/process_common.h"
#include "common/text.h"

namespace dsvm {

namespace {

using Clock = std::chrono::steady_clock;

// How long a killed process may take to die before we stop waiting for it: a process stuck in
// uninterruptible sleep (a dead NFS server) must not hang the agent as well.
constexpr auto k_kill_grace = std::chrono::seconds(1);
// Without a pidfd the child's exit is noticed by polling this often.
constexpr int k_tick_ms = 10;
constexpr int k_max_poll_ms = 60 * 1000;

struct Pipe {
    Fd read;
    Fd write;
};

Result<Pipe> make_pipe() {
    int ends[2];
    if (::pipe2(ends, O_CLOEXEC) != 0) {
        return failure("cannot create a pipe: " + errno_text(errno));
    }
    return Pipe{Fd(ends[0]), Fd(ends[1])};
}

Result<void> set_nonblocking(const Fd& fd) {
    const int flags = ::fcntl(fd.get(), F_GETFL);
    if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK) != 0) {
        return failure("cannot make a pipe non-blocking: " + errno_text(errno));
    }
    return {};
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
    std::vector<char*> out;
    out.reserve(strings.size() + 1);
    for (auto& text : strings) {
        out.push_back(text.data());
    }
    out.push_back(nullptr);
    return out;
}

// Writing to a child that has exited raises SIGPIPE, which would kill the agent. The signal is
// blocked on this thread while we write, and one we caused is consumed before unblocking, so
// the process-wide disposition (which other code may rely on) is never touched.
class SigpipeBlock {
  public:
    SigpipeBlock() {
        sigemptyset(&m_pipe);
        sigaddset(&m_pipe, SIGPIPE);
        sigset_t pending;
        sigpending(&pending);
        m_was_pending = sigismember(&pending, SIGPIPE) == 1;
        pthread_sigmask(SIG_BLOCK, &m_pipe, &m_previous);
    }
    ~SigpipeBlock() {
        sigset_t pending;
        sigpending(&pending);
        if (!m_was_pending && sigismember(&pending, SIGPIPE) == 1) {
            const timespec no_wait{};
            sigtimedwait(&m_pipe, nullptr, &no_wait);
        }
        pthread_sigmask(SIG_SETMASK, &m_previous, nullptr);
    }
    SigpipeBlock(const SigpipeBlock&) = delete;
    SigpipeBlock& operator=(const SigpipeBlock&) = delete;

  private:
    sigset_t m_pipe;
    sigset_t m_previous;
    bool m_was_pending = false;
};

// By syscall: glibc 2.36's <sys/pidfd.h> lacks extern "C", so its pidfd_open cannot link from
// C++. The pid cannot be reused before we reap it, so opening it after the spawn is safe.
int open_pidfd(pid_t pid) {
    return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

// A spawned child: reaped exactly once; killed (with its group) and reaped if abandoned.
class Child {
  public:
    explicit Child(pid_t pid) : m_pid(pid), m_pidfd(open_pidfd(pid)) {}
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;
    ~Child() {
        if (!m_status) {
            kill_group();
            wait_until(Clock::now() + k_kill_grace);
        }
    }

    int pidfd() const { return m_pidfd.get(); }
    bool reaped() const { return m_status.has_value(); }
    int status() const { return m_status.value_or(0); }

    bool try_reap() {
        if (m_status) {
            return true;
        }
        int status = 0;
        pid_t got = 0;
        do {
            got = ::waitpid(m_pid, &status, WNOHANG);
        } while (got < 0 && errno == EINTR);
        if (got == m_pid) {
            m_status = status;
        }
        return m_status.has_value();
    }

    void kill_group() const { ::kill(-m_pid, SIGKILL); }

    bool wait_until(Clock::time_point deadline) {
        while (!try_reap() && Clock::now() < deadline) {
            pollfd exited{m_pidfd.get(), POLLIN, 0};
            ::poll(&exited, 1, k_tick_ms);
        }
        return reaped();
    }

  private:
    pid_t m_pid;
    Fd m_pidfd;  // invalid when the kernel has no pidfd_open; then we poll on a tick
    std::optional<int> m_status;
};

Result<pid_t> spawn(const std::vector<std::string>& argv, int input, int output, int error) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, input, 0);
    posix_spawn_file_actions_adddup2(&actions, output, 1);
    posix_spawn_file_actions_adddup2(&actions, error, 2);
    // Descriptors some library opened without O_CLOEXEC must not leak into the tool.
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    // The agent's working directory may be inside a user's home or an unmounted share.
    posix_spawn_file_actions_addchdir_np(&actions, "/");

    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    // Its own process group, so a timeout kills the tool and everything it started. Signal
    // mask and dispositions reset: ignored signals (SIGPIPE) would otherwise survive exec.
    posix_spawnattr_setflags(
        &attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attributes, 0);
    sigset_t signals;
    sigemptyset(&signals);
    posix_spawnattr_setsigmask(&attributes, &signals);
    sigfillset(&signals);
    posix_spawnattr_setsigdefault(&attributes, &signals);

    std::vector<std::string> arguments = argv;
    std::vector<std::string> environment = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"};
    auto argument_pointers = pointers(arguments);
    auto environment_pointers = pointers(environment);
    pid_t pid = -1;
    const int spawned = ::posix_spawn(&pid, arguments[0].c_str(), &actions, &attributes,
                                      argument_pointers.data(), environment_pointers.data());
    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) {
        return failure("cannot run " + printable(argv[0]) + ": " + errno_text(spawned));
    }
    return pid;
}

enum class ReadState { Data, Empty, End };

// Appends what one read gives, keeping at most k_process_output_cap bytes; reading on past the
// cap keeps the child from blocking on a full pipe.
ReadState read_some(int fd, std::string& sink) {
    char buffer[16384];
    for (;;) {
        const ssize_t got = ::read(fd, buffer, sizeof buffer);
        if (got > 0) {
            append_capped(sink, std::string_view(buffer, static_cast<std::size_t>(got)));
            return ReadState::Data;
        }
        if (got < 0 && errno == EINTR) {
            continue;
        }
        // Any error other than EAGAIN ends the stream as end of file does.
        return got < 0 && errno == EAGAIN ? ReadState::Empty : ReadState::End;
    }
}

// After the child exited, what it wrote is already in the pipe. Anything it left running may
// hold the pipe open, so read what is there and stop.
void drain(Fd& fd, std::string& sink) {
    while (fd) {
        const ReadState state = read_some(fd.get(), sink);
        if (state == ReadState::End) {
            fd.reset();
        } else if (state == ReadState::Empty) {
            break;
        }
    }
}

}  // namespace

Result<CommandResult> SystemProcessRunner::run(const std::vector<std::string>& argv,
                                               std::string_view input,
                                               std::chrono::milliseconds timeout) {
    if (argv.empty() || argv[0].empty() || argv[0].front() != '/') {
        return program_not_absolute(argv);
    }
    const auto deadline = Clock::now() + timeout;
    auto stdin_pipe = make_pipe();
    auto stdout_pipe = make_pipe();
    auto stderr_pipe = make_pipe();
    for (const auto* made : {&stdin_pipe, &stdout_pipe, &stderr_pipe}) {
        if (!*made) {
            return made->error();
        }
    }
    for (const Fd* ours : {&stdin_pipe->write, &stdout_pipe->read, &stderr_pipe->read}) {
        if (auto set = set_nonblocking(*ours); !set) {
            return set.error();
        }
    }
    auto pid =
        spawn(argv, stdin_pipe->read.get(), stdout_pipe->write.get(), stderr_pipe->write.get());
    if (!pid) {
        return pid.error();
    }
    Child child(*pid);
    stdin_pipe->read.reset();
    stdout_pipe->write.reset();
    stderr_pipe->write.reset();

    CommandResult result;
    Fd& to_child = stdin_pipe->write;
    Fd& from_out = stdout_pipe->read;
    Fd& from_err = stderr_pipe->read;
    if (input.empty()) {
        to_child.reset();
    }
    SigpipeBlock no_sigpipe;
    while (!child.try_reap()) {
        const auto now = Clock::now();
        if (now >= deadline) {
            child.kill_group();
            child.wait_until(Clock::now() + k_kill_grace);
            return process_timed_out(argv[0], timeout);
        }
        // Capped so a long timeout cannot overflow poll's int; waking early only loops again.
        const auto wait_ms = std::min<std::chrono::milliseconds::rep>(
            std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count(),
            child.pidfd() < 0 ? k_tick_ms : k_max_poll_ms);
        pollfd fds[4] = {};
        fds[0].fd = to_child.get();
        fds[0].events = POLLOUT;
        fds[1].fd = from_out.get();
        fds[1].events = POLLIN;
        fds[2].fd = from_err.get();
        fds[2].events = POLLIN;
        fds[3].fd = child.pidfd();
        fds[3].events = POLLIN;
        if (::poll(fds, 4, static_cast<int>(wait_ms)) < 0 && errno != EINTR) {
            return failure("cannot wait for " + printable(argv[0]) + ": " + errno_text(errno));
        }
        if (fds[0].revents != 0) {
            const ssize_t written = ::write(to_child.get(), input.data(), input.size());
            if (written >= 0) {
                input.remove_prefix(static_cast<std::size_t>(written));
            }
            // EPIPE: the child stopped reading; the rest of the input is not wanted.
            if (input.empty() || (written < 0 && errno != EAGAIN && errno != EINTR)) {
                to_child.reset();
            }
        }
        if (fds[1].revents != 0 && read_some(from_out.get(), result.out) == ReadState::End) {
            from_out.reset();
        }
        if (fds[2].revents != 0 && read_some(from_err.get(), result.err) == ReadState::End) {
            from_err.reset();
        }
    }
    drain(from_out, result.out);
    drain(from_err, result.err);
    const int status = child.status();
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

}  // namespace dsvm
