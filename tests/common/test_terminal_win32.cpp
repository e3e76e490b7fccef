// Standard input on Windows (common/terminal_win32.cpp), under wine: the helper child
// tests/windows/process_child_main.cpp calls read_standard_input on a pipe the process runner
// feeds. The console (echo off, Ctrl+C) needs a real console and is not tested here.
#include <catch2/catch.hpp>
#include <string>

#include "common/process.h"

using namespace dsvm;
using namespace std::chrono_literals;

namespace {

std::string child() {
    std::string path = std::string("Z:") + DSVM_PROCESS_CHILD;
    for (char& c : path) {
        if (c == '/') {
            c = '\\';
        }
    }
    return path;
}

// The child's "what it read|what it left" for `input`.
std::string read_in_child(const std::string& until, std::size_t limit, std::string_view input) {
    SystemProcessRunner runner;
    auto result = runner.run({child(), "read-stdin", until, std::to_string(limit)}, input, 30s);
    INFO((result ? result->err : result.error().message));
    REQUIRE(result.ok());
    REQUIRE(result->exit_code == 0);
    return result->out;
}

}  // namespace

TEST_CASE("terminal: a pipe on standard input is not a terminal", "[terminal]") {
    SystemProcessRunner runner;
    auto result = runner.run({child(), "is-terminal"}, "x", 30s);
    REQUIRE(result.ok());
    CHECK(result->out == "no");
}

TEST_CASE("terminal: reading to the end of input takes all of it", "[terminal]") {
    CHECK(read_in_child("end", 1000, "key\nmore\n") == "key\nmore\n|");
    CHECK(read_in_child("end", 1000, "") == "|");
    const std::string big(100 * 1024, 'k');
    CHECK(read_in_child("end", 200 * 1024, big) == big + "|");
}

TEST_CASE("terminal: reading to a newline keeps it and consumes nothing after it", "[terminal]") {
    CHECK(read_in_child("newline", 1000, "secret\r\nrest\n") == "secret\r\n|rest\n");
    CHECK(read_in_child("newline", 1000, "no newline") == "no newline|");
}

TEST_CASE("terminal: reading stops once past the limit", "[terminal]") {
    // given a limit of 5, we expect the read to stop at the first byte past it.
    CHECK(read_in_child("newline", 5, "abcdefgh\n") == "abcdef|gh\n");
    const std::string got = read_in_child("end", 100, std::string(10000, 'z'));
    const auto bar = got.find('|');
    REQUIRE(bar != std::string::npos);
    CHECK(bar > 100);
    CHECK(bar <= 100 + 4096);
    CHECK(got.size() == 10000 + 1);
}
