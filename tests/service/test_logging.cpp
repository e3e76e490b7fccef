// The log's file target (a Windows service has no standard error): lines are appended to the
// file in the plain form, and a file that cannot be opened leaves the log on stderr.
#include <catch2/catch.hpp>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <string>

#include "common/fs.h"
#include "service/logging.h"
#include "support/temporary_directory.h"

using namespace dsvm;
using namespace dsvm::service;
using namespace dsvm::test;

TEST_CASE("logging: the file target appends plain lines with a level word to the file",
          "[logging]") {
    ScratchDirectory dir;
    const std::string log = dir / "agent.log";
    REQUIRE(write_file_atomic(log, "an earlier line\n", 0600));
    setup_logging(spdlog::level::info, LogTarget::File, log);
    spdlog::warn("metadata not reachable yet");
    spdlog::debug("not at info");
    spdlog::default_logger()->flush();
    auto text = read_file(log);
    // The file is closed only with the logger: put stderr back first.
    setup_logging(spdlog::level::info, LogTarget::Plain);
    REQUIRE(text);
    CHECK(text->rfind("an earlier line\n", 0) == 0);
    CHECK(text->find("dsvm-agent[") != std::string::npos);
    CHECK(text->find("warning: metadata not reachable yet") != std::string::npos);
    CHECK(text->find("not at info") == std::string::npos);
}

TEST_CASE("logging: a log file that cannot be opened leaves the log on stderr", "[logging]") {
    ScratchDirectory dir;
    REQUIRE(make_directories(dir / "blocked", 0755));
    // A directory where the file should be: it cannot be opened for appending.
    REQUIRE_NOTHROW(setup_logging(spdlog::level::info, LogTarget::File, dir / "blocked"));
    const auto& sinks = spdlog::default_logger()->sinks();
    REQUIRE(sinks.size() == 1);
    CHECK(std::dynamic_pointer_cast<spdlog::sinks::basic_file_sink_mt>(sinks[0]) == nullptr);
    CHECK(is_directory(dir / "blocked"));
    setup_logging(spdlog::level::info, LogTarget::Plain);
}
