// Processes that hold secrets never dump core: the real binary, run as an unprivileged user on a
// command that waits for a key on standard input, is not dumpable and has a core limit of 0.
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <climits>
#include <sstream>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/fs.h"
#include "support/process.h"
#include "support/sandbox.h"

using namespace dsvm;
using namespace dsvm::test;

namespace {

constexpr uid_t k_nobody = 65534;

// The agent started as uid/gid nobody with a pipe on stdin that the test keeps open, so it blocks
// reading the key. Before dropping root the child sets a core limit the agent must lower: the
// test's own limit may already be 0, which would prove nothing.
class BlockedAgent {
  public:
    explicit BlockedAgent(const std::vector<std::string>& arguments) {
        std::vector<std::string> argv{DSVM_AGENT_BINARY};
        argv.insert(argv.end(), arguments.begin(), arguments.end());
        std::vector<char*> pointers;
        for (auto& arg : argv) {
            pointers.push_back(arg.data());
        }
        pointers.push_back(nullptr);
        int input[2];
        REQUIRE(::pipe2(input, O_CLOEXEC) == 0);
        Fd read_end(input[0]);
        m_input.reset(input[1]);
        Fd null_output(::open("/dev/null", O_WRONLY | O_CLOEXEC));
        REQUIRE(null_output);
        // Only async-signal-safe calls between fork and exec: the test may have threads.
        m_pid = ::fork();
        REQUIRE(m_pid >= 0);
        if (m_pid == 0) {
            const rlimit some_core{1 << 20, RLIM_INFINITY};
            if (::setrlimit(RLIMIT_CORE, &some_core) != 0 || ::setgroups(0, nullptr) != 0 ||
                ::setgid(k_nobody) != 0 || ::setuid(k_nobody) != 0 ||
                ::dup2(read_end.get(), 0) < 0 || ::dup2(null_output.get(), 1) < 0 ||
                ::dup2(null_output.get(), 2) < 0) {
                ::_exit(126);
            }
            ::execv(pointers[0], pointers.data());
            ::_exit(127);
        }
    }
    ~BlockedAgent() {
        ::kill(m_pid, SIGKILL);
        int status = 0;
        ::waitpid(m_pid, &status, 0);
    }
    BlockedAgent(const BlockedAgent&) = delete;
    BlockedAgent& operator=(const BlockedAgent&) = delete;

    std::string proc(const std::string& name) const {
        return "/proc/" + std::to_string(m_pid) + "/" + name;
    }

    // True once the agent (not the forked test) sits in read(0, ...): main() has run by then.
    bool reading_stdin() const {
        auto exe = std::string(PATH_MAX, '\0');
        const ssize_t length = ::readlink(proc("exe").c_str(), exe.data(), exe.size());
        if (length <= 0 || exe.substr(0, static_cast<size_t>(length)) != DSVM_AGENT_BINARY) {
            return false;
        }
        auto syscall = read_file(proc("syscall"));
        if (!syscall) {
            return false;
        }
        std::istringstream fields(*syscall);
        int number = -1;
        std::string first_argument;
        fields >> number >> first_argument;
        return number == SYS_read && first_argument == "0x0";
    }

  private:
    pid_t m_pid = -1;
    Fd m_input;
};

// "Max core file size  <soft>  <hard>  bytes" from /proc/<pid>/limits.
std::string core_limits(const BlockedAgent& agent) {
    auto limits = read_file(agent.proc("limits"));
    REQUIRE(limits.ok());
    std::istringstream lines(*limits);
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind("Max core file size", 0) == 0) {
            std::istringstream fields(line.substr(18));
            std::string soft, hard;
            fields >> soft >> hard;
            return soft + " " + hard;
        }
    }
    return "not found";
}

}  // namespace

TEST_CASE("hardening: a process waiting for a key is not dumpable and has no core limit",
          "[hardening]") {
    Sandbox sandbox;
    ::chmod(sandbox.path().c_str(), 0755);
    BlockedAgent agent({"--root", sandbox.path(), "credentials", "set", "acct", "--key-stdin"});
    REQUIRE(eventually([&] { return agent.reading_stdin(); }, 10000));

    // Lowered by the agent from the 1 MiB/unlimited it started with, hard limit included, so
    // the helpers it runs cannot raise it again.
    CHECK(core_limits(agent) == "0 0");
    // The kernel shows a process that is not dumpable by giving its /proc files to root, even
    // when the process runs as another user.
    const struct stat environ_info = stat_of(agent.proc("environ"));
    CHECK(environ_info.st_uid == 0);
    CHECK(environ_info.st_gid == 0);
    // ... while it really runs as nobody.
    auto status = read_file(agent.proc("status"));
    REQUIRE(status.ok());
    CHECK_THAT(*status, Catch::Contains("\nUid:\t65534\t65534\t65534\t65534\n"));
}
