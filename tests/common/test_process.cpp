#include <signal.h>
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <chrono>

#include "common/process.h"

using namespace dsvm;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t k_cap = 1024 * 1024;

CommandResult run_ok(const std::vector<std::string>& argv, std::string_view input = {},
                     std::chrono::milliseconds timeout = 10s) {
    SystemProcessRunner runner;
    auto result = runner.run(argv, input, timeout);
    INFO((result ? std::string() : result.error().message));
    REQUIRE(result.ok());
    return *result;
}

}  // namespace

TEST_CASE("process: exit codes are results, not errors", "[process]") {
    CHECK(run_ok({"/bin/true"}).exit_code == 0);
    CHECK(run_ok({"/bin/false"}).exit_code == 1);
    CHECK(run_ok({"/bin/sh", "-c", "exit 7"}).exit_code == 7);
}

TEST_CASE("process: a child killed by a signal has exit code -1", "[process]") {
    CHECK(run_ok({"/bin/sh", "-c", "kill -TERM $$"}).exit_code == -1);
}

TEST_CASE("process: stdout and stderr are captured apart", "[process]") {
    const auto result = run_ok({"/bin/sh", "-c", "echo out; echo err >&2"});
    CHECK(result.out == "out\n");
    CHECK(result.err == "err\n");
}

TEST_CASE("process: input reaches the child's stdin", "[process]") {
    CHECK(run_ok({"/bin/cat"}, "line one\nline two\n").out == "line one\nline two\n");
    // No input: stdin is at end of file at once, so cat cannot wait on the test's terminal.
    CHECK(run_ok({"/bin/cat"}).out.empty());
}

TEST_CASE("process: input larger than a pipe buffer is written while output is read", "[process]") {
    const std::string input(3 * 1024 * 1024, 'x');
    const auto result = run_ok({"/usr/bin/wc", "-c"}, input);
    CHECK(result.out == std::to_string(input.size()) + "\n");
}

TEST_CASE("process: a child that closes its stdin does not kill us with SIGPIPE", "[process]") {
    // given a child that closes stdin and lives on, we expect our next write to fail with
    // EPIPE (ignored) rather than SIGPIPE ending the test process.
    const std::string input(4 * 1024 * 1024, 'y');
    const auto result =
        run_ok({"/bin/sh", "-c", "exec 0<&-; /bin/sleep 0.3; echo alive; exit 4"}, input);
    CHECK(result.exit_code == 4);
    CHECK(result.out == "alive\n");
    CHECK(run_ok({"/bin/true"}, input).exit_code == 0);
}

TEST_CASE("process: arguments reach the program literally, no shell", "[process]") {
    const auto result = run_ok({"/bin/echo", "$(id)", "; echo x", "`id`", "a|b", "*"});
    CHECK(result.out == "$(id) ; echo x `id` a|b *\n");
}

TEST_CASE("process: a relative or empty program is refused", "[process]") {
    SystemProcessRunner runner;
    for (const std::vector<std::string>& argv :
         {std::vector<std::string>{"echo", "x"}, std::vector<std::string>{"./echo"},
          std::vector<std::string>{""}, std::vector<std::string>{}}) {
        auto result = runner.run(argv, {}, 5s);
        REQUIRE_FALSE(result.ok());
        CHECK(result.error().kind == ErrorKind::Runtime);
        CHECK_THAT(result.error().message, Catch::Contains("absolute path"));
    }
}

TEST_CASE("process: a missing program is an error naming it", "[process]") {
    SystemProcessRunner runner;
    auto result = runner.run({"/no/such/program"}, {}, 5s);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().kind == ErrorKind::Runtime);
    CHECK_THAT(result.error().message, Catch::Contains("/no/such/program"));
    CHECK_THAT(result.error().message, Catch::Contains("No such file"));
}

TEST_CASE("process: a timeout kills the process group and says so", "[process]") {
    SystemProcessRunner runner;
    const auto start = std::chrono::steady_clock::now();
    auto result = runner.run({"/bin/sleep", "10"}, {}, 200ms);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().kind == ErrorKind::Runtime);
    CHECK_THAT(result.error().message, Catch::Contains("/bin/sleep timed out after 0.2 s"));
    CHECK(elapsed >= 200ms);
    CHECK(elapsed < 500ms);
}

TEST_CASE("process: a timeout also kills what the child started", "[process]") {
    // given a shell whose background sleep holds stdout open, we expect the whole group to
    // die at the deadline rather than the run waiting for the grandchild.
    SystemProcessRunner runner;
    const auto start = std::chrono::steady_clock::now();
    auto result = runner.run({"/bin/sh", "-c", "/bin/sleep 10 & /bin/sleep 10"}, {}, 200ms);
    REQUIRE_FALSE(result.ok());
    CHECK(std::chrono::steady_clock::now() - start < 500ms);
}

TEST_CASE("process: a child that exits while its background job holds the pipe returns",
          "[process]") {
    const auto start = std::chrono::steady_clock::now();
    const auto result = run_ok({"/bin/sh", "-c", "echo done; /bin/sleep 3 &"}, {}, 10s);
    CHECK(result.exit_code == 0);
    CHECK(result.out == "done\n");
    CHECK(std::chrono::steady_clock::now() - start < 2s);
}

TEST_CASE("process: large output neither deadlocks nor exceeds the cap", "[process]") {
    // Both streams at once: a runner reading one pipe at a time would block on the other.
    const auto result = run_ok({"/bin/sh", "-c",
                                "/usr/bin/head -c 6000000 /dev/zero >&2 & /usr/bin/head -c 5000000 "
                                "/dev/zero; wait"});
    CHECK(result.exit_code == 0);
    CHECK(result.out.size() == k_cap);
    CHECK(result.err.size() == k_cap);

    const auto small = run_ok({"/usr/bin/head", "-c", "1000", "/dev/zero"});
    CHECK(small.out.size() == 1000);
}

TEST_CASE("process: the environment is clean", "[process]") {
    REQUIRE(::setenv("DSVM_TEST_LEAK", "secret-value", 1) == 0);
    const auto result = run_ok({"/usr/bin/env"});
    ::unsetenv("DSVM_TEST_LEAK");
    CHECK(result.out == "PATH=/usr/sbin:/usr/bin:/sbin:/bin\nLC_ALL=C\n");
    CHECK_THAT(result.out, !Catch::Contains("DSVM_TEST_LEAK"));
}

TEST_CASE("process: ignored signals and blocked masks do not reach the child", "[process]") {
    // given the agent ignores SIGTERM, we expect the child to still die of it.
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    struct sigaction previous {};
    REQUIRE(::sigaction(SIGTERM, &ignore, &previous) == 0);
    const auto result = run_ok({"/bin/sh", "-c", "kill -TERM $$; exit 3"});
    ::sigaction(SIGTERM, &previous, nullptr);
    CHECK(result.exit_code == -1);
}

TEST_CASE("process: the child runs in its own process group, in /", "[process]") {
    const auto result =
        run_ok({"/bin/sh", "-c", "echo $$; /usr/bin/cut -d' ' -f5 /proc/$$/stat; pwd"});
    std::vector<std::string> lines;
    std::string rest = result.out;
    for (auto newline = rest.find('\n'); newline != std::string::npos; newline = rest.find('\n')) {
        lines.push_back(rest.substr(0, newline));
        rest.erase(0, newline + 1);
    }
    REQUIRE(lines.size() == 3);
    CHECK(lines[1] == lines[0]);
    CHECK(lines[2] == "/");
}
