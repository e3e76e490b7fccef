#include <catch2/catch.hpp>

#include "engine/status.h"

using namespace dsvm;
using namespace dsvm::mount;
using namespace dsvm::config;
using namespace dsvm::engine;

namespace {

RunStatus sample() {
    RunStatus status;
    status.time = "2026-11-27T11:00:00Z";
    status.result = PassResult::Failed;
    status.message = "2 action(s), 1 failed";
    status.instance = "pool_3";
    status.sources = {{"IMDS tags", SourceState::Used, "dsvm-share"},
                      {"/etc/dsvm-agent/pool.json", SourceState::Absent, ""}};
    status.warnings = {"careful"};
    status.share =
        ShareReport{"//a.file.core.windows.net/s", "smb", "/datamnt/s", "shared", true, true};
    status.actions = {{"create directory /x (mode 0755)", true, ""},
                      {"mount a on b", false, "permission denied"}};
    status.problems = {"something in the way"};
    return status;
}

}  // namespace

TEST_CASE("status: the JSON form round-trips", "[status]") {
    const RunStatus status = sample();
    const auto parsed = run_status_from_json(to_json(status).dump());
    REQUIRE(parsed.ok());
    CHECK(*parsed == status);
}

TEST_CASE("status: JSON has the documented keys", "[status]") {
    const auto json = to_json(sample());
    CHECK(json["version"] == 1);
    CHECK(json["share"]["mountPoint"] == "/datamnt/s");
    CHECK(json["share"]["insecure"] == true);
    CHECK(json["actions"][1]["error"] == "permission denied");
    CHECK_FALSE(json["actions"][0].contains("error"));
    CHECK(to_json(RunStatus{})["share"].is_null());
}

TEST_CASE("status: a corrupt status file is an error", "[status]") {
    CHECK_FALSE(run_status_from_json("{").ok());
    CHECK_FALSE(run_status_from_json("[1]").ok());
}

TEST_CASE("status: the human table names share, failures and the insecure mode", "[status]") {
    const std::string text = render_status(sample(), false);
    CHECK_THAT(text, Catch::Contains("Result:      failed (2 action(s), 1 failed)"));
    CHECK_THAT(text, Catch::Contains("/datamnt/s (not mounted)"));
    CHECK_THAT(text, Catch::Contains("INSECURE"));
    CHECK_THAT(text, Catch::Contains("FAILED:      mount a on b: permission denied"));
    CHECK_THAT(text, Catch::Contains("IMDS tags: used (dsvm-share)"));
    CHECK_THAT(render_status(sample(), true), Catch::Contains("/datamnt/s (mounted)"));
}

TEST_CASE("state: managed mounts and users round-trip, malformed entries are errors", "[status]") {
    ManagedMount mount;
    mount.target = "/datamnt/s";
    mount.mount_id = 63;
    mount.request = MountRequest{"//a/s", "/datamnt/s", "cifs", "vers=3.1.1"};
    mount.credentials_stamp = "1:2:3:4.5";
    AgentState state;
    state.mounts = {mount};
    state.users = {"alice", "bob"};
    state.locked = {"bob"};
    state.groups["alice"] = {"docker", "dsvm-sudo"};
    state.users_fingerprint = "1:2:3|{}";
    state.users_verified = 1790000000;
    state.pool_users = 2;
    const auto parsed = agent_state_from_json(to_json(state).dump());
    REQUIRE(parsed.ok());
    CHECK(*parsed == state);
    CHECK_FALSE(agent_state_from_json(R"({"mounts":[{"target":"/x"}]})").ok());
    CHECK_FALSE(agent_state_from_json(R"({"mounts":[{"target":"","mountId":3}]})").ok());
    CHECK_FALSE(agent_state_from_json("not json").ok());
}
