#include "common/command_line.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using namespace dsvm;

namespace {

// The runtime's split of a command line into argv (the MSVCRT and CommandLineToArgvW rules),
// written from those rules, so the quoting is checked on every platform; the Windows tests of
// the process runner check it against the real runtime too.
std::vector<std::string> split_like_the_runtime(const std::string& line) {
    std::vector<std::string> argv;
    std::size_t i = 0;
    std::string program;
    if (i < line.size() && line[i] == '"') {
        for (++i; i < line.size() && line[i] != '"'; ++i) {
            program.push_back(line[i]);
        }
        ++i;
    } else {
        for (; i < line.size() && line[i] != ' ' && line[i] != '\t'; ++i) {
            program.push_back(line[i]);
        }
    }
    argv.push_back(program);
    for (;;) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) {
            ++i;
        }
        if (i >= line.size()) {
            return argv;
        }
        std::string argument;
        bool quoted_part = false;
        while (i < line.size() && (quoted_part || (line[i] != ' ' && line[i] != '\t'))) {
            if (line[i] == '\\') {
                std::size_t backslashes = 0;
                while (i < line.size() && line[i] == '\\') {
                    ++backslashes;
                    ++i;
                }
                if (i < line.size() && line[i] == '"') {
                    argument.append(backslashes / 2, '\\');
                    if (backslashes % 2 == 1) {
                        argument.push_back('"');
                        ++i;
                    }
                } else {
                    argument.append(backslashes, '\\');
                }
            } else if (line[i] == '"') {
                quoted_part = !quoted_part;
                ++i;
            } else {
                argument.push_back(line[i++]);
            }
        }
        argv.push_back(argument);
    }
}

std::string line_of(const std::vector<std::string>& argv) {
    auto line = quote_windows_command_line(argv);
    INFO((line ? std::string() : line.error().message));
    REQUIRE(line.ok());
    return *line;
}

}  // namespace

TEST_CASE("command line: plain arguments go as they are, the program always quoted",
          "[command_line]") {
    CHECK(line_of({"C:\\Windows\\System32\\net.exe", "use", "Z:", "/delete"}) ==
          "\"C:\\Windows\\System32\\net.exe\" use Z: /delete");
    CHECK(line_of({"C:\\Program Files\\x.exe"}) == "\"C:\\Program Files\\x.exe\"");
    CHECK(line_of({"C:\\x.exe", "C:\\dir\\"}) == "\"C:\\x.exe\" C:\\dir\\");
}

TEST_CASE("command line: spaces, quotes, trailing backslashes and empty arguments are quoted",
          "[command_line]") {
    CHECK(line_of({"C:\\x.exe", ""}) == "\"C:\\x.exe\" \"\"");
    CHECK(line_of({"C:\\x.exe", "a b"}) == "\"C:\\x.exe\" \"a b\"");
    CHECK(line_of({"C:\\x.exe", "a\tb"}) == "\"C:\\x.exe\" \"a\tb\"");
    CHECK(line_of({"C:\\x.exe", "say \"hi\""}) == "\"C:\\x.exe\" \"say \\\"hi\\\"\"");
    // A backslash before a quote is doubled, then the quote escaped: \" becomes \\\".
    CHECK(line_of({"C:\\x.exe", "a\\\"b"}) == "\"C:\\x.exe\" \"a\\\\\\\"b\"");
    // A trailing backslash in a quoted argument is doubled so it does not escape the closing quote.
    CHECK(line_of({"C:\\x.exe", "C:\\my dir\\"}) == "\"C:\\x.exe\" \"C:\\my dir\\\\\"");
    // Backslashes anywhere else stay single.
    CHECK(line_of({"C:\\x.exe", "a\\\\b c"}) == "\"C:\\x.exe\" \"a\\\\b c\"");
}

TEST_CASE("command line: every argument comes back whole from the runtime's split",
          "[command_line]") {
    const std::vector<std::string> argv = {"C:\\Program Files\\tool.exe",
                                           "",
                                           "plain",
                                           "two words",
                                           "\"",
                                           "\"\"",
                                           "\\",
                                           "\\\\",
                                           "a\\",
                                           "a\\\\",
                                           "a b\\",
                                           "a b\\\\",
                                           "\\\"",
                                           "\\\\\"x\\\"",
                                           "tab\there",
                                           "new\nline",
                                           "C:\\Users\\A B\\",
                                           "%PATH% & | < > ^",
                                           "caf\xc3\xa9"};
    CHECK(split_like_the_runtime(line_of(argv)) == argv);
}

TEST_CASE("command line: what cannot be passed is refused", "[command_line]") {
    for (const std::vector<std::string>& argv :
         {std::vector<std::string>{}, std::vector<std::string>{"C:\\a\"b.exe"},
          std::vector<std::string>{"C:\\x.exe", std::string("a\0b", 3)}}) {
        auto line = quote_windows_command_line(argv);
        REQUIRE_FALSE(line.ok());
        CHECK(line.error().kind == ErrorKind::Invalid);
        CHECK_THAT(line.error().message, Catch::StartsWith("cannot make a command line"));
    }
}

TEST_CASE("command line: only drive and UNC paths are absolute", "[command_line]") {
    for (const char* absolute : {"C:\\Windows\\System32\\net.exe", "c:/x.exe",
                                 "\\\\server\\share\\x.exe", "\\\\?\\C:\\x.exe"}) {
        CHECK(is_absolute_windows_path(absolute));
    }
    for (const char* relative : {"", "net.exe", "net", ".\\net.exe", "..\\x.exe", "C:net.exe",
                                 "C:", "\\x.exe", "/x.exe", "\\\\", "\\\\\\x", "1:\\x.exe"}) {
        INFO(relative);
        CHECK_FALSE(is_absolute_windows_path(relative));
    }
}

TEST_CASE("command line: batch files are known for what runs them", "[command_line]") {
    // Given the names Windows hands to cmd.exe, in any case and with the dots and spaces it
    // drops, we expect them known; programs and look-alikes are not.
    CHECK(runs_through_command_interpreter("C:\\tools\\setup.bat"));
    CHECK(runs_through_command_interpreter("C:\\tools\\SETUP.CMD"));
    CHECK(runs_through_command_interpreter("C:\\tools\\setup.Bat. . "));
    CHECK_FALSE(runs_through_command_interpreter("C:\\Windows\\System32\\net.exe"));
    CHECK_FALSE(runs_through_command_interpreter("C:\\tools\\bat"));
    CHECK_FALSE(runs_through_command_interpreter("C:\\tools\\x.bath"));
    CHECK_FALSE(runs_through_command_interpreter(".cm"));
}
