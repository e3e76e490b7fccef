// SystemProcessRunner on Windows (common/process_win32.cpp), run under wine against the helper
// child tests/windows/process_child_main.cpp.
#include <windows.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <string>

#include "common/fs.h"
#include "common/process.h"
#include "support/temporary_directory_win32.h"

using namespace dsvm;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t k_cap = 1024 * 1024;

// The child's path as Windows names it: wine shows the host's / as drive Z:.
std::string child() {
    std::string path = std::string("Z:") + DSVM_PROCESS_CHILD;
    for (char& c : path) {
        if (c == '/') {
            c = '\\';
        }
    }
    return path;
}

// Runs the child with `arguments` after its own path.
CommandResult run_ok(const std::vector<std::string>& arguments, std::string_view input = {},
                     std::chrono::milliseconds timeout = 30s) {
    std::vector<std::string> argv;
    argv.reserve(arguments.size() + 1);
    argv.push_back(child());
    for (const auto& argument : arguments) {
        argv.push_back(argument);
    }
    SystemProcessRunner runner;
    auto result = runner.run(argv, input, timeout);
    INFO((result ? std::string() : result.error().message));
    REQUIRE(result.ok());
    return *result;
}

}  // namespace

TEST_CASE("process: exit codes are results, not errors", "[process]") {
    CHECK(run_ok({"exit", "0"}).exit_code == 0);
    CHECK(run_ok({"exit", "1"}).exit_code == 1);
    CHECK(run_ok({"exit", "7"}).exit_code == 7);
}

TEST_CASE("process: stdout and stderr are captured apart, input reaches stdin", "[process]") {
    const auto result = run_ok({"echo"}, "line one\nline two\n");
    CHECK(result.exit_code == 0);
    CHECK(result.out == "line one\nline two\n");
    CHECK(result.err == "to stderr\n");
    // No input: stdin is at its end at once, so the child cannot wait for it.
    CHECK(run_ok({"echo"}).out.empty());
}

TEST_CASE("process: input larger than a pipe buffer is written while output is read", "[process]") {
    const std::string input(3 * 1024 * 1024 + 17, 'x');
    CHECK(run_ok({"count"}, input).out == std::to_string(input.size()));
    // Echoed back, so the child writes while we write: neither side may wait on the other.
    const std::string small(200 * 1024, 'y');
    CHECK(run_ok({"echo"}, small).out == small);
}

TEST_CASE("process: a child that never reads its input does not block the run", "[process]") {
    const auto start = std::chrono::steady_clock::now();
    CHECK(run_ok({"exit", "4"}, std::string(4 * 1024 * 1024, 'z')).exit_code == 4);
    CHECK(std::chrono::steady_clock::now() - start < 10s);
}

TEST_CASE("process: large output is capped at 1 MiB on each stream", "[process]") {
    const auto result = run_ok({"spew", "3000000"});
    CHECK(result.exit_code == 0);
    CHECK(result.out.size() == k_cap);
    CHECK(result.err.size() == k_cap);
    CHECK(run_ok({"spew", "1000"}).out.size() == 1000);
}

TEST_CASE("process: arguments arrive whole: spaces, quotes, backslashes, empty ones", "[process]") {
    const auto result = run_ok({"args", "two words", "", "say \"hi\"", "C:\\my dir\\", "a\\\\b",
                                "\\\"", "%PATH%", "a|b & c"});
    CHECK(result.out == "[" + child() +
                            "]\n[args]\n[two words]\n[]\n[say \"hi\"]\n[C:\\my dir\\]\n[a\\\\b]\n"
                            "[\\\"]\n[%PATH%]\n[a|b & c]\n");
}

TEST_CASE("process: a relative or empty program is refused", "[process]") {
    SystemProcessRunner runner;
    for (const std::vector<std::string>& argv :
         {std::vector<std::string>{"cmd.exe", "/c", "echo"}, std::vector<std::string>{".\\x.exe"},
          std::vector<std::string>{"C:x.exe"},
          std::vector<std::string>{"\\Windows\\System32\\cmd.exe"}, std::vector<std::string>{""},
          std::vector<std::string>{}}) {
        auto result = runner.run(argv, {}, 5s);
        REQUIRE_FALSE(result.ok());
        CHECK(result.error().kind == ErrorKind::Runtime);
        CHECK_THAT(result.error().message, Catch::Contains("absolute path"));
    }
}

TEST_CASE("process: a batch file is refused before anything runs", "[process]") {
    // Given a batch file that would leave a mark, we expect an Invalid error and no mark: cmd.exe
    // would read the arguments' metacharacters as commands.
    test::TemporaryDirectory dir;
    const std::string script = dir / "setup.CMD";
    const std::string mark = dir / "ran";
    REQUIRE(write_file_atomic(script, "echo x > \"" + mark + "\"\r\n", 0644));
    SystemProcessRunner runner;
    auto result = runner.run({script, "&", "echo"}, {}, 5s);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().kind == ErrorKind::Invalid);
    CHECK_THAT(result.error().message, Catch::Contains("cmd.exe"));
    CHECK_FALSE(path_exists(mark));
}

TEST_CASE("process: a missing program is an error naming it", "[process]") {
    SystemProcessRunner runner;
    auto result = runner.run({"C:\\no\\such\\program.exe"}, {}, 5s);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().kind == ErrorKind::Runtime);
    CHECK_THAT(result.error().message, Catch::Contains("C:\\x5cno"));
}

TEST_CASE("process: a timeout kills the child and says so", "[process]") {
    SystemProcessRunner runner;
    const auto start = std::chrono::steady_clock::now();
    auto result = runner.run({child(), "sleep"}, {}, 500ms);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().kind == ErrorKind::Runtime);
    CHECK_THAT(result.error().message, Catch::Contains("timed out after 0.5 s"));
    CHECK(elapsed >= 500ms);
    // Generous: wine starts processes slowly.
    CHECK(elapsed < 10s);
}

TEST_CASE("process: a timeout also kills what the child started", "[process]") {
    // given a child whose own child holds stdout open, we expect the job to end both at the
    // deadline rather than the run waiting on the grandchild's pipe.
    SystemProcessRunner runner;
    const auto start = std::chrono::steady_clock::now();
    auto result = runner.run({child(), "sleep-in-grandchild"}, {}, 500ms);
    REQUIRE_FALSE(result.ok());
    CHECK(std::chrono::steady_clock::now() - start < 10s);
}

TEST_CASE("process: a child that exits while its own child holds the pipe returns", "[process]") {
    const auto start = std::chrono::steady_clock::now();
    const auto result = run_ok({"exit-leaving-grandchild"}, {}, 60s);
    CHECK(result.exit_code == 0);
    CHECK(result.out == "done\n");
    CHECK(std::chrono::steady_clock::now() - start < 20s);
}

TEST_CASE("process: the environment is clean", "[process]") {
    // given a marker in the environment a child would inherit by default, we expect the child
    // to see only what the runner gives it.
    REQUIRE(::SetEnvironmentVariableA("DSVM_TEST_LEAK", "secret-value"));
    const auto result = run_ok({"env"});
    ::SetEnvironmentVariableA("DSVM_TEST_LEAK", nullptr);
    CHECK_THAT(result.out, !Catch::Contains("DSVM_TEST_LEAK"));
    CHECK_THAT(result.out, !Catch::Contains("secret-value"));
    CHECK_THAT(result.out, Catch::Contains("\nSystemRoot=") || Catch::StartsWith("SystemRoot="));
    CHECK_THAT(result.out, Catch::StartsWith("PATH=") && Catch::Contains("\\System32;"));
}
