// reconcile, dry-run, status and unmount against a sandbox root, with a real bind mount.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "integration/agent_fixture.h"

using namespace dsvm;
using namespace dsvm::test;
using nlohmann::json;

TEST_CASE("reconcile: a bind pool from tags is mounted, and a second pass changes nothing",
          "[reconcile]") {
    AgentFixture fixture;
    fixture.serve_tags(bind_pool_tags());
    fixture.sandbox().write("srv/share/notebooks/hello.ipynb", "{}");

    const auto first = fixture.agent({"reconcile"});
    INFO(first.out << first.err);
    REQUIRE(first.exit_code == 0);
    CHECK_THAT(first.out, Catch::Contains("done: create directory " +
                                          fixture.sandbox().path("datamnt/share")));
    CHECK_THAT(first.out, Catch::Contains("done: bind-mount"));
    CHECK(fixture.mounts_at("/datamnt/share") == 1);
    // The share's content is visible through the mount point.
    CHECK(fixture.sandbox().read("datamnt/share/notebooks/hello.ipynb") == "{}");

    const auto second = fixture.agent({"reconcile"});
    INFO(second.out << second.err);
    CHECK(second.exit_code == 0);
    CHECK(second.out == "no changes\n");
    CHECK(fixture.mounts_at("/datamnt/share") == 1);

    // The metadata requests carried the header IMDS requires, on the documented path.
    const auto requests = fixture.imds().requests();
    REQUIRE_FALSE(requests.empty());
    CHECK(requests[0].target == "/metadata/instance?api-version=2021-02-01");
    CHECK(requests[0].headers.at("metadata") == "true");
}

TEST_CASE("reconcile: --dry-run prints the plan and changes nothing", "[reconcile]") {
    AgentFixture fixture;
    fixture.serve_tags(bind_pool_tags());
    fixture.sandbox().mkdir("srv/share");
    const std::string before = tree_digest(fixture.sandbox().path());

    const auto result = fixture.agent({"reconcile", "--dry-run"});
    INFO(result.out << result.err);
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::Contains("would: create directory"));
    CHECK_THAT(result.out,
               Catch::Contains("would: bind-mount " + fixture.sandbox().path("srv/share") + " on " +
                               fixture.sandbox().path("datamnt/share")));
    CHECK(tree_digest(fixture.sandbox().path()) == before);
    CHECK(fixture.mounts_at("/datamnt/share") == 0);
}

TEST_CASE("reconcile: bad configs exit 2, name the field and change nothing", "[reconcile]") {
    struct Case {
        const char* name;
        std::vector<std::pair<std::string, std::string>> tags;
        std::string user_data;
        std::string pool_json;
        std::string expected;  // in the error
        std::string secret;    // must not be echoed
    };
    const std::vector<Case> cases = {
        {"system mount point in tags",
         {{"dsvm-share", "/srv/share"}, {"dsvm-mount-point", "/etc"}},
         "",
         "",
         "mountPoint",
         ""},
        {"relative mount point in pool.json",
         {},
         "",
         R"({"share": {"source": "/srv/share", "mountPoint": "datamnt"}})",
         "mountPoint",
         ""},
        {"unknown key in pool.json",
         {},
         "",
         R"({"share": {"source": "/srv/share", "mountpiont": "/datamnt/x"}})",
         "mountpiont",
         ""},
        {"unknown share type in userData",
         {},
         R"({"dsvmPool": {"share": {"source": "/srv/share", "type": "ftp"}}})",
         "",
         "type",
         ""},
        {"bad uidRange", {}, "", R"({"uidRange": [10, 5]})", "uidRange", ""},
        {"storage key tag",
         {{"dsvm-share", "/srv/share"}, {"dsvm-storage-key", "S3cr3tK3y=="}},
         "",
         "",
         "dsvm-storage-key",
         "S3cr3tK3y=="},
        {"storage key in userData",
         {},
         R"({"dsvmPool": {"share": {"source": "/srv/share", "storageAccountKey": "hunter2hunter2"}}})",
         "",
         "storageAccountKey",
         "hunter2hunter2"},
    };
    for (const auto& bad : cases) {
        DYNAMIC_SECTION(bad.name) {
            AgentFixture fixture;
            fixture.serve_tags(bad.tags, bad.user_data);
            fixture.sandbox().mkdir("srv/share");
            if (!bad.pool_json.empty()) {
                fixture.sandbox().write("etc/dsvm-agent/pool.json", bad.pool_json);
            }
            const std::string before = tree_digest(fixture.sandbox().path());
            for (const char* command : {"reconcile", "mount"}) {
                const auto result = fixture.agent({command});
                INFO(command << ": " << result.out << result.err);
                CHECK(result.exit_code == 2);
                CHECK_THAT(result.err, Catch::Contains(bad.expected));
                if (!bad.secret.empty()) {
                    CHECK_THAT(result.out + result.err, !Catch::Contains(bad.secret));
                }
            }
            CHECK(tree_digest(fixture.sandbox().path()) == before);
            CHECK(fixture.mounts_at("/datamnt/share") == 0);
        }
    }
}

TEST_CASE("reconcile: userData that is not a pool config is ignored", "[reconcile]") {
    AgentFixture fixture;
    fixture.serve_tags(bind_pool_tags(), "#cloud-config\npackages: [htop]\n");
    fixture.sandbox().mkdir("srv/share");
    const auto result = fixture.agent({"reconcile"});
    INFO(result.out << result.err);
    REQUIRE(result.exit_code == 0);
    const auto status = fixture.agent({"status", "--json"});
    REQUIRE(status.exit_code == 0);
    const json parsed = json::parse(status.out);
    bool ignored = false;
    for (const auto& source : parsed["sources"]) {
        ignored = ignored || (source["name"] == "IMDS userData" && source["state"] == "ignored");
    }
    CHECK(ignored);
}

TEST_CASE("reconcile: unreachable metadata falls back to the last-known-good config",
          "[reconcile]") {
    AgentFixture fixture;
    fixture.serve_tags(bind_pool_tags());
    fixture.sandbox().mkdir("srv/share");
    REQUIRE(fixture.agent({"reconcile"}).exit_code == 0);
    REQUIRE(fixture.sandbox().exists("var/lib/dsvm-agent/metadata-cache.json"));

    const auto result = run_agent({"--root", fixture.sandbox().path(), "--imds",
                                   "http://127.0.0.1:" + std::to_string(unused_loopback_port()),
                                   "--imds-timeout", "1", "reconcile"});
    INFO(result.out << result.err);
    CHECK(result.exit_code == 0);
    CHECK(result.out == "no changes\n");
    CHECK_THAT(result.err, Catch::Contains("last-known-good"));
    const json status = json::parse(fixture.sandbox().read("var/lib/dsvm-agent/status.json"));
    CHECK(status["sources"][0]["state"] == "cached");
    CHECK(status["share"]["mounted"] == true);
}

TEST_CASE("reconcile: with metadata unreachable and nothing cached, pool.json still applies",
          "[reconcile]") {
    AgentFixture fixture;
    fixture.sandbox().mkdir("srv/share");
    fixture.sandbox().write(
        "etc/dsvm-agent/pool.json",
        R"({"share": {"source": "/srv/share", "mountPoint": "/datamnt/share"}})");
    const auto result = run_agent({"--root", fixture.sandbox().path(), "--imds",
                                   "http://127.0.0.1:" + std::to_string(unused_loopback_port()),
                                   "--imds-timeout", "1", "reconcile"});
    INFO(result.out << result.err);
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.err, Catch::Contains("nothing cached"));
    CHECK(fixture.mounts_at("/datamnt/share") == 1);
}

TEST_CASE("reconcile: a foreign mount on the mount point is reported, never stacked",
          "[reconcile]") {
    AgentFixture fixture;
    fixture.serve_tags(bind_pool_tags());
    fixture.sandbox().mkdir("srv/share");
    fixture.sandbox().mkdir("datamnt/share");
    const auto foreign = run_process(
        {"/bin/mount", "-t", "tmpfs", "foreign", fixture.sandbox().path("datamnt/share")});
    REQUIRE(foreign.exit_code == 0);

    const auto result = fixture.agent({"reconcile"});
    INFO(result.out << result.err);
    CHECK(result.exit_code == 1);
    CHECK_THAT(result.out, Catch::Contains("problem:") && Catch::Contains("did not make"));
    CHECK(fixture.mounts_at("/datamnt/share") == 1);
    const auto status = fixture.agent({"status"});
    CHECK_THAT(status.out, Catch::Contains("Problem:") && Catch::Contains("never stacks"));
}

TEST_CASE("status: shows sources, share and last result, --json is machine-readable", "[status]") {
    AgentFixture fixture;
    const auto before = fixture.agent({"status"});
    CHECK(before.exit_code == 1);
    CHECK_THAT(before.err, Catch::Contains("no pass has been recorded"));

    fixture.serve_tags(bind_pool_tags());
    fixture.sandbox().mkdir("srv/share");
    REQUIRE(fixture.agent({"reconcile"}).exit_code == 0);

    const auto human = fixture.agent({"status"});
    INFO(human.out << human.err);
    CHECK(human.exit_code == 0);
    CHECK_THAT(human.out, Catch::Contains("Result:      changed"));
    CHECK_THAT(human.out, Catch::Contains("/datamnt/share (mounted)"));
    CHECK_THAT(human.out, Catch::Contains("IMDS tags: used"));

    const auto machine = fixture.agent({"status", "--json"});
    REQUIRE(machine.exit_code == 0);
    const json parsed = json::parse(machine.out);
    CHECK(parsed["result"] == "changed");
    CHECK(parsed["share"]["source"] == "/srv/share");
    CHECK(parsed["share"]["type"] == "bind");
    CHECK(parsed["share"]["mountPoint"] == "/datamnt/share");
    CHECK(parsed["share"]["mounted"] == true);
    CHECK(parsed["live"]["shareMounted"] == true);
    CHECK(parsed["actions"].size() == 3);  // mkdir, mount, fstab
    CHECK_FALSE(parsed["time"].get<std::string>().empty());
}

TEST_CASE("unmount: unmounts the agent's mount and nothing else", "[reconcile]") {
    AgentFixture fixture;
    fixture.serve_tags(bind_pool_tags());
    fixture.sandbox().mkdir("srv/share");
    REQUIRE(fixture.agent({"mount"}).exit_code == 0);
    REQUIRE(fixture.mounts_at("/datamnt/share") == 1);

    const auto result = fixture.agent({"unmount"});
    INFO(result.out << result.err);
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::Contains("done: unmount"));
    CHECK(fixture.mounts_at("/datamnt/share") == 0);

    const auto again = fixture.agent({"unmount"});
    CHECK(again.exit_code == 0);
    CHECK_THAT(again.out, Catch::Contains("nothing mounted by the agent"));

    // A mount the agent did not make is never unmounted by it.
    REQUIRE(run_process(
                {"/bin/mount", "-t", "tmpfs", "foreign", fixture.sandbox().path("datamnt/share")})
                .exit_code == 0);
    CHECK(fixture.agent({"unmount"}).exit_code == 0);
    CHECK(fixture.mounts_at("/datamnt/share") == 1);
}
