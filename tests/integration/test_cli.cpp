// The command line contract: help that teaches, exit status 2 for bad usage.
#include <catch2/catch.hpp>

#include "integration/agent_fixture.h"

using namespace dsvm::test;

TEST_CASE("cli: --help lists every command and the exit statuses", "[cli]") {
    const auto result = run_agent({"--help"});
    CHECK(result.exit_code == 0);
    for (const char* word : {"run", "reconcile", "status", "mount", "unmount", "version", "--root",
                             "--imds", "Exit status", "pool.json"}) {
        INFO(word);
        CHECK_THAT(result.out, Catch::Contains(word));
    }
    const auto sub = run_agent({"reconcile", "--help"});
    CHECK(sub.exit_code == 0);
    CHECK_THAT(sub.out, Catch::Contains("--dry-run"));
}

TEST_CASE("cli: version prints the version", "[cli]") {
    const auto result = run_agent({"version"});
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::StartsWith("dsvm-agent "));
}

TEST_CASE("cli: bad usage exits 2 with a message naming the value", "[cli]") {
    Sandbox sandbox;
    struct Case {
        std::vector<std::string> args;
        std::string expected;
    };
    const std::vector<Case> cases = {
        {{}, "a command is required"},
        {{"frobnicate"}, "frobnicate"},
        {{"reconcile", "--bogus"}, "--bogus"},
        {{"--root", sandbox.path("missing"), "reconcile"}, sandbox.path("missing")},
        {{"--root", sandbox.path(), "--log-level", "loud", "reconcile"}, "loud"},
        {{"--root", sandbox.path(), "--imds", "ftp://x", "reconcile"}, "ftp://x"},
        {{"--root", sandbox.path(), "--config", "relative.json", "reconcile"}, "relative.json"},
        {{"--root", sandbox.path(), "--imds-timeout", "0", "reconcile"}, "--imds-timeout"},
    };
    for (const auto& bad : cases) {
        const auto result = run_agent(bad.args);
        INFO(result.err);
        CHECK(result.exit_code == 2);
        CHECK_THAT(result.err, Catch::Contains(bad.expected));
    }
    CHECK_FALSE(sandbox.exists("var"));
}

TEST_CASE("cli: global options are accepted after the command too", "[cli]") {
    Sandbox sandbox;
    sandbox.mkdir("srv/share");
    sandbox.write("etc/dsvm-agent/pool.json", R"({"share": {"source": "/srv/share"}})");
    const auto result =
        run_agent({"reconcile", "--dry-run", "--root", sandbox.path(), "--imds", "off"});
    INFO(result.out << result.err);
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::Contains("would: bind-mount " + sandbox.path("srv/share") +
                                           " on " + sandbox.path("datamnt/share")));
}
