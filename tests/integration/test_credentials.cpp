// `dsvm-agent credentials set|list` as an admin runs them: the key arrives on standard input and
// leaves only in a root-only file, never in output.
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/fd.h"
#include "support/process.h"
#include "support/sandbox.h"

using namespace dsvm::test;

namespace {

const std::string k_key =
    "Xk9pQ2wE7rT4yU1iO8aS5dF3gH6jK0lZ2xC4vB7nM9qW1eR3tY5uI8oP0aS2dF4gH6jK8lZ0xC2vB4nM6qW8eR1"
    "==";
const std::string k_file = "etc/dsvm-agent/credentials/acct.cred";

// The agent on this sandbox with `input` on standard input (a pipe, not a terminal).
ProcessResult agent(const Sandbox& sandbox, std::vector<std::string> arguments,
                    const std::string& input = {}) {
    std::vector<std::string> argv{DSVM_AGENT_BINARY, "--root", sandbox.path(), "--imds", "off"};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    return run_process(argv, {}, input);
}

using dsvm::test::mode_of;

void check_never_shows(const ProcessResult& result, const std::string& secret) {
    CHECK_THAT(result.out, !Catch::Contains(secret));
    CHECK_THAT(result.err, !Catch::Contains(secret));
}

// The agent on a pseudo-terminal, as an admin typing at a prompt: the agent is a session leader
// with the terminal as its controlling tty, so Ctrl-C reaches it as it would from a shell.
class TerminalAgent {
  public:
    TerminalAgent(const Sandbox& sandbox, const std::vector<std::string>& arguments) {
        m_master.reset(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
        REQUIRE(m_master.valid());
        REQUIRE(::grantpt(m_master.get()) == 0);
        REQUIRE(::unlockpt(m_master.get()) == 0);
        const std::string slave_path = ::ptsname(m_master.get());
        // Held open by the test too, so the terminal's settings can be read after the agent exits.
        m_slave.reset(::open(slave_path.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC));
        REQUIRE(m_slave.valid());
        std::vector<std::string> args{DSVM_AGENT_BINARY, "--root", sandbox.path(), "--imds", "off"};
        args.insert(args.end(), arguments.begin(), arguments.end());
        std::vector<char*> argv;
        for (auto& arg : args) {
            argv.push_back(arg.data());
        }
        argv.push_back(nullptr);
        m_pid = ::fork();
        REQUIRE(m_pid >= 0);
        if (m_pid == 0) {
            // Only async-signal-safe calls between fork and exec.
            ::setsid();
            const int tty = ::open(slave_path.c_str(), O_RDWR);
            ::dup2(tty, 0);
            ::dup2(tty, 1);
            ::dup2(tty, 2);
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
    }
    ~TerminalAgent() {
        if (m_status < 0) {
            ::kill(m_pid, SIGKILL);
            ::waitpid(m_pid, nullptr, 0);
        }
    }
    TerminalAgent(const TerminalAgent&) = delete;
    TerminalAgent& operator=(const TerminalAgent&) = delete;

    // Reads what the terminal shows until `text` appears or the agent exits (5 s at most).
    bool wait_for(const std::string& text) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (std::chrono::steady_clock::now() < deadline) {
            if (m_screen.find(text) != std::string::npos) {
                return true;
            }
            if (!read_some(50) && exited()) {
                return m_screen.find(text) != std::string::npos;
            }
        }
        return false;
    }
    void type(const std::string& keys) {
        REQUIRE(::write(m_master.get(), keys.data(), keys.size()) ==
                static_cast<ssize_t>(keys.size()));
    }
    // Waits for the agent to end and returns its raw wait status.
    int finish() {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (!exited() && std::chrono::steady_clock::now() < deadline) {
            read_some(20);
        }
        while (read_some(0)) {
        }
        return m_status;
    }
    const std::string& screen() const { return m_screen; }
    termios settings() const {
        termios out{};
        REQUIRE(::tcgetattr(m_slave.get(), &out) == 0);
        return out;
    }

  private:
    bool read_some(int timeout_ms) {
        pollfd ready{m_master.get(), POLLIN, 0};
        if (::poll(&ready, 1, timeout_ms) <= 0) {
            return false;
        }
        char buffer[4096];
        const ssize_t got = ::read(m_master.get(), buffer, sizeof buffer);
        if (got <= 0) {
            return false;
        }
        m_screen.append(buffer, static_cast<size_t>(got));
        return true;
    }
    bool exited() {
        if (m_status < 0) {
            int status = 0;
            if (::waitpid(m_pid, &status, WNOHANG) == m_pid) {
                m_status = status;
            }
        }
        return m_status >= 0;
    }

    dsvm::Fd m_master;
    dsvm::Fd m_slave;
    pid_t m_pid = -1;
    int m_status = -1;
    std::string m_screen;
};

}  // namespace

TEST_CASE("credentials: set stores the key from stdin in a 0600 file and never prints it",
          "[credentials]") {
    Sandbox sandbox;
    const auto result = agent(sandbox, {"credentials", "set", "acct", "--key-stdin"}, k_key + "\n");
    INFO(result.out << result.err);
    CHECK(result.exit_code == 0);
    CHECK(sandbox.read(k_file) == "username=acct\npassword=" + k_key + "\n");
    CHECK(mode_of(sandbox.path(k_file)) == 0600);
    CHECK(mode_of(sandbox.path("etc/dsvm-agent/credentials")) == 0700);
    CHECK_THAT(result.out, Catch::Contains("stored credentials for acct in "
                                           "/etc/dsvm-agent/credentials/acct.cred (mode 0600)"));
    check_never_shows(result, k_key);
}

TEST_CASE("credentials: set without --key-stdin is bad usage and writes nothing", "[credentials]") {
    Sandbox sandbox;
    const auto result = agent(sandbox, {"credentials", "set", "acct"}, k_key);
    INFO(result.out << result.err);
    CHECK(result.exit_code == 2);
    CHECK_THAT(result.err, Catch::Contains("--key-stdin"));
    CHECK_FALSE(sandbox.exists("etc"));
    check_never_shows(result, k_key);
}

TEST_CASE("credentials: a name that is a path is refused and changes nothing", "[credentials]") {
    Sandbox sandbox;
    sandbox.write("etc/passwd", "root:x:0:0:root:/root:/bin/bash\n");
    const std::string before = tree_digest(sandbox.path());
    const auto result =
        agent(sandbox, {"credentials", "set", "../etc/passwd", "--key-stdin"}, k_key);
    INFO(result.out << result.err);
    CHECK(result.exit_code == 2);
    CHECK_THAT(result.err, Catch::Contains("'../etc/passwd'"));
    CHECK(tree_digest(sandbox.path()) == before);
    check_never_shows(result, k_key);
}

TEST_CASE("credentials: no key on stdin is refused and writes nothing", "[credentials]") {
    Sandbox sandbox;
    for (const std::string input : {"", "\n", "\r\n"}) {
        INFO("input of " << input.size() << " bytes");
        const auto result = agent(sandbox, {"credentials", "set", "acct", "--key-stdin"}, input);
        CHECK(result.exit_code == 2);
        CHECK_THAT(result.err, Catch::Contains("no key on standard input"));
    }
    CHECK_FALSE(sandbox.exists("etc"));
}

TEST_CASE("credentials: a key that would add lines to the file is refused", "[credentials]") {
    Sandbox sandbox;
    const auto result =
        agent(sandbox, {"credentials", "set", "acct", "--key-stdin"}, "abcSECRET\nusername=root\n");
    INFO(result.err);
    CHECK(result.exit_code == 2);
    CHECK_THAT(result.err, Catch::Contains("line break"));
    check_never_shows(result, "abcSECRET");
    CHECK_FALSE(sandbox.exists(k_file));
}

TEST_CASE("credentials: an oversized key on stdin is refused", "[credentials]") {
    Sandbox sandbox;
    // Below the 64 KiB read cap, so the agent consumes all of it, and above it.
    for (const size_t size : {size_t{5000}, size_t{66000}}) {
        INFO(size);
        const auto result = agent(sandbox, {"credentials", "set", "acct", "--key-stdin"},
                                  "BIGSECRET" + std::string(size, 'k'));
        CHECK(result.exit_code == 2);
        CHECK_THAT(result.err, Catch::Contains("4096 bytes"));
        check_never_shows(result, "BIGSECRET");
    }
    CHECK_FALSE(sandbox.exists(k_file));
}

TEST_CASE("credentials: --username is written as username=", "[credentials]") {
    Sandbox sandbox;
    const auto result =
        agent(sandbox, {"credentials", "set", "acct", "--username", "storageuser", "--key-stdin"},
              k_key + "\r\n");
    INFO(result.err);
    CHECK(result.exit_code == 0);
    CHECK(sandbox.read(k_file) == "username=storageuser\npassword=" + k_key + "\n");
}

TEST_CASE("credentials: list shows names, modes and state, never the key", "[credentials]") {
    Sandbox sandbox;
    const auto empty = agent(sandbox, {"credentials", "list"});
    CHECK(empty.exit_code == 0);
    CHECK_THAT(empty.out, Catch::Contains("no credentials stored"));
    const auto empty_json = agent(sandbox, {"credentials", "list", "--json"});
    CHECK(empty_json.exit_code == 0);
    CHECK(nlohmann::json::parse(empty_json.out) == nlohmann::json::array());

    REQUIRE(agent(sandbox, {"credentials", "set", "acct", "--key-stdin"}, k_key).exit_code == 0);
    const auto table = agent(sandbox, {"credentials", "list"});
    INFO(table.out << table.err);
    CHECK(table.exit_code == 0);
    for (const char* word : {"NAME", "MODE", "STATE", "acct",
                             "/etc/dsvm-agent/credentials/acct.cred", "0600", " ok"}) {
        INFO(word);
        CHECK_THAT(table.out, Catch::Contains(word));
    }
    check_never_shows(table, k_key);

    const auto listed = agent(sandbox, {"credentials", "list", "--json"});
    CHECK(listed.exit_code == 0);
    check_never_shows(listed, k_key);
    const auto json = nlohmann::json::parse(listed.out);
    REQUIRE(json.is_array());
    REQUIRE(json.size() == 1);
    CHECK(json[0]["name"] == "acct");
    CHECK(json[0]["path"] == "/etc/dsvm-agent/credentials/acct.cred");
    CHECK(json[0]["mode"] == "0600");
    CHECK(json[0]["owner"] == 0);
    CHECK(json[0]["secure"] == true);
    CHECK(json[0]["problem"] == "");
}

TEST_CASE("credentials: list marks a world-readable file NOT USED with the chmod fix",
          "[credentials]") {
    Sandbox sandbox;
    REQUIRE(agent(sandbox, {"credentials", "set", "acct", "--key-stdin"}, k_key).exit_code == 0);
    REQUIRE(::chmod(sandbox.path(k_file).c_str(), 0644) == 0);
    const auto table = agent(sandbox, {"credentials", "list"});
    INFO(table.out << table.err);
    CHECK(table.exit_code == 0);
    CHECK_THAT(table.out, Catch::Contains("0644"));
    CHECK_THAT(table.out, Catch::Contains("NOT USED: "));
    CHECK_THAT(table.out, Catch::Contains("chmod 600 /etc/dsvm-agent/credentials/acct.cred"));
    check_never_shows(table, k_key);
    const auto json = nlohmann::json::parse(agent(sandbox, {"credentials", "list", "--json"}).out);
    REQUIRE(json.size() == 1);
    CHECK(json[0]["secure"] == false);
    CHECK(json[0]["mode"] == "0644");
}

TEST_CASE("credentials: set again replaces the key and keeps mode 0600", "[credentials]") {
    Sandbox sandbox;
    REQUIRE(agent(sandbox, {"credentials", "set", "acct", "--key-stdin"}, k_key).exit_code == 0);
    // A world-readable leftover is replaced by a fresh 0600 file, not reused.
    REQUIRE(::chmod(sandbox.path(k_file).c_str(), 0644) == 0);
    const std::string rotated = "Rotated" + k_key.substr(7);
    const auto result = agent(sandbox, {"credentials", "set", "acct", "--key-stdin"}, rotated);
    INFO(result.err);
    CHECK(result.exit_code == 0);
    CHECK(sandbox.read(k_file) == "username=acct\npassword=" + rotated + "\n");
    CHECK(mode_of(sandbox.path(k_file)) == 0600);
    check_never_shows(result, rotated);
}

TEST_CASE("credentials: on a terminal the key is typed at a prompt without echo", "[credentials]") {
    Sandbox sandbox;
    TerminalAgent terminal(sandbox, {"credentials", "set", "acct", "--key-stdin"});
    REQUIRE(terminal.wait_for("Storage key for acct: "));
    terminal.type("TypedKey0123==\n");
    const int status = terminal.finish();
    INFO(terminal.screen());
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
    CHECK_THAT(terminal.screen(), Catch::Contains("stored credentials for acct"));
    CHECK_THAT(terminal.screen(), !Catch::Contains("TypedKey"));
    CHECK(sandbox.read(k_file) == "username=acct\npassword=TypedKey0123==\n");
    CHECK((terminal.settings().c_lflag & ECHO) != 0);
}

TEST_CASE("credentials: Ctrl-C at the prompt gives the terminal its echo back", "[credentials]") {
    Sandbox sandbox;
    TerminalAgent terminal(sandbox, {"credentials", "set", "acct", "--key-stdin"});
    REQUIRE((terminal.settings().c_lflag & ECHO) != 0);
    REQUIRE(terminal.wait_for("Storage key for acct: "));
    terminal.type("Partial");
    terminal.type(std::string(1, terminal.settings().c_cc[VINTR]));
    const int status = terminal.finish();
    INFO(terminal.screen());
    CHECK((WIFSIGNALED(status) && WTERMSIG(status) == SIGINT));
    CHECK((terminal.settings().c_lflag & ECHO) != 0);
    CHECK_THAT(terminal.screen(), !Catch::Contains("Partial"));
    CHECK_FALSE(sandbox.exists("etc"));
}
