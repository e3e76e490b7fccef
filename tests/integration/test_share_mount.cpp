// SMB and NFS shares through libmount with the real helpers replaced by a recorder: the exact
// argv and environment they would get, the key kept out of everything but its file, fstab.
#include <sys/mount.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "integration/agent_fixture.h"
#include "integration/recording_helper.h"
#include "mount/fstab.h"

using namespace dsvm;
using namespace dsvm::mount;
using namespace dsvm::test;

namespace {

constexpr const char* k_source = "//acct.file.core.windows.net/dsvmshare";
// Shaped like an Azure storage key (base64 of 64 bytes); unique enough to grep for.
const std::string k_key =
    "Zm9vYmFyQmF6UXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6QUJDREVGR0hJSks0NTY3OA==";
const std::string k_new_key =
    "bmV3a2V5TmV3S2V5MTIzNDU2Nzg5MGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6QUJDREVGR0hJSks0NTY3OA==";

std::vector<std::pair<std::string, std::string>> smb_tags() {
    return {{"dsvm-share", k_source}};
}

ProcessResult set_key(AgentFixture& fixture, const std::string& key) {
    return run_process({DSVM_AGENT_BINARY, "--root", fixture.sandbox().path(), "credentials", "set",
                        "acct", "--key-stdin"},
                       {}, key + "\n");
}

bool has_arg(const HelperCall& call, const std::string& arg) {
    return std::find(call.args.begin(), call.args.end(), arg) != call.args.end();
}

// A mount helper that does what another tool might at the same moment: appends a line to the
// sandbox's /etc/fstab, then mounts (a tmpfs, as RecordingHelper does). Bound over the real
// helpers in the test's private mount namespace.
class FstabEditingHelper {
  public:
    FstabEditingHelper(Sandbox& sandbox, const std::string& line) {
        const std::string script = sandbox.write(
            "fstab-helper.sh",
            "#!/bin/sh\nprintf '%s\\n' '" + line + "' >> '" + sandbox.path("etc/fstab") +
                "'\nexec /bin/mount -t tmpfs -o size=1m \"$1\" \"$2\"\n",
            0755);
        for (const char* helper : {"/usr/sbin/mount.cifs", "/usr/sbin/mount.nfs"}) {
            REQUIRE(::mount(script.c_str(), helper, nullptr, MS_BIND, nullptr) == 0);
            m_covered.push_back(helper);
        }
    }
    ~FstabEditingHelper() {
        for (const auto& helper : m_covered) {
            ::umount2(helper.c_str(), MNT_DETACH);
        }
    }
    FstabEditingHelper(const FstabEditingHelper&) = delete;
    FstabEditingHelper& operator=(const FstabEditingHelper&) = delete;

  private:
    std::vector<std::string> m_covered;
};

}  // namespace

TEST_CASE("smb: a pool from tags alone makes exactly one helper call, a second pass none",
          "[share]") {
    AgentFixture fixture;
    RecordingHelper helper(fixture.sandbox());
    fixture.serve_tags(smb_tags());
    REQUIRE(set_key(fixture, k_key).exit_code == 0);

    const auto first = fixture.agent({"reconcile"});
    INFO(first.out << first.err << helper.log_text());
    REQUIRE(first.exit_code == 0);
    const auto calls = helper.calls();
    REQUIRE(calls.size() == 1);
    const HelperCall& call = calls[0];
    CHECK(call.program == "/sbin/mount.cifs");
    REQUIRE(call.args.size() >= 4);
    CHECK(call.args[0] == k_source);
    CHECK(call.args[1] == fixture.sandbox().path("datamnt/dsvmshare"));
    const auto options = std::find(call.args.begin(), call.args.end(), "-o");
    REQUIRE(options != call.args.end());
    REQUIRE(options + 1 != call.args.end());
    const std::string credentials = fixture.sandbox().path("etc/dsvm-agent/credentials/acct.cred");
    // libmount hands the helper the VFS options first ("rw", and the nosuid,nodev every share
    // gets), as mount(8) does.
    CHECK(options[1] ==
          "rw,nosuid,nodev,vers=3.1.1,credentials=" + credentials +
              ",serverino,nosharesock,actimeo=30,mfsymlinks,uid=0,gid=0,dir_mode=0700,"
              "file_mode=0600");
    CHECK(fixture.mounts_at("/datamnt/dsvmshare") == 1);

    const auto second = fixture.agent({"reconcile"});
    INFO(second.out << second.err);
    CHECK(second.exit_code == 0);
    CHECK(second.out == "no changes\n");
    CHECK(helper.calls().size() == 1);
}

TEST_CASE("smb: the key reaches no argv, helper environment, log, status, fstab or other file",
          "[share]") {
    AgentFixture fixture;
    RecordingHelper helper(fixture.sandbox());
    fixture.serve_tags(smb_tags());
    const auto stored = set_key(fixture, k_key);
    REQUIRE(stored.exit_code == 0);

    // The agent is started with the variables mount.cifs would read a password from.
    const auto result = run_agent(fixture.args({"--log-level", "trace", "reconcile"}),
                                  {"PASSWD=" + k_key, "PASSWD_FD=0", "PASSWD_FILE=/x"});
    INFO(result.out << result.err);
    REQUIRE(result.exit_code == 0);
    const auto status = fixture.agent({"status", "--json"});
    const auto human = fixture.agent({"status"});
    const auto listing = fixture.agent({"credentials", "list", "--json"});
    REQUIRE(helper.calls().size() == 1);

    for (const auto& text : {stored.out, stored.err, result.out, result.err, status.out, status.err,
                             human.out, listing.out, helper.log_text()}) {
        CHECK_THAT(text, !Catch::Contains(k_key));
    }
    const auto calls = helper.calls();
    for (const auto& variable : calls[0].environment) {
        CHECK_THAT(variable, !Catch::StartsWith("PASSWD"));
    }
    const std::vector<std::string> holders = files_with_text(fixture.sandbox().path(), k_key);
    REQUIRE(holders.size() == 1);
    CHECK(holders[0] == fixture.sandbox().path("etc/dsvm-agent/credentials/acct.cred"));
    CHECK_THAT(fixture.sandbox().read("etc/dsvm-agent/credentials/acct.cred"),
               Catch::Contains("password=" + k_key));
}

TEST_CASE("smb: the pool can come from userData, and per-user mounts are root-only", "[share]") {
    AgentFixture fixture;
    RecordingHelper helper(fixture.sandbox());
    fixture.serve_tags({}, R"({"dsvmPool": {"share": {"source": ")" + std::string(k_source) +
                               R"(", "mountPoint": "/datamnt/pool", "options": "actimeo=60"}}})");
    REQUIRE(set_key(fixture, k_key).exit_code == 0);
    const auto result = fixture.agent({"reconcile"});
    INFO(result.out << result.err);
    REQUIRE(result.exit_code == 0);
    const auto calls = helper.calls();
    REQUIRE(calls.size() == 1);
    const auto& args = calls[0].args;
    CHECK(args[1] == fixture.sandbox().path("datamnt/pool"));
    const std::string options = *(std::find(args.begin(), args.end(), "-o") + 1);
    CHECK_THAT(options, Catch::Contains("actimeo=60") && !Catch::Contains("actimeo=30") &&
                            Catch::Contains("dir_mode=0700,file_mode=0600"));
}

TEST_CASE("nfs: an NFS pool makes one mount.nfs call with the documented options", "[share]") {
    AgentFixture fixture;
    RecordingHelper helper(fixture.sandbox());
    fixture.serve_tags({{"dsvm-share", "acct.file.core.windows.net:/acct/dsvmshare"}});
    const auto first = fixture.agent({"reconcile"});
    INFO(first.out << first.err << helper.log_text());
    REQUIRE(first.exit_code == 0);
    const auto calls = helper.calls();
    REQUIRE(calls.size() == 1);
    CHECK(calls[0].program == "/sbin/mount.nfs");
    CHECK(calls[0].args[0] == "acct.file.core.windows.net:/acct/dsvmshare");
    CHECK(calls[0].args[1] == fixture.sandbox().path("datamnt/dsvmshare"));
    CHECK(
        has_arg(calls[0], "rw,nosuid,nodev,vers=4.1,sec=sys,hard,timeo=600,retrans=2,nconnect=4"));
    CHECK(fixture.agent({"reconcile"}).out == "no changes\n");
    CHECK(helper.calls().size() == 1);
}

TEST_CASE("smb: a rotated key remounts on the next pass", "[share]") {
    AgentFixture fixture;
    RecordingHelper helper(fixture.sandbox());
    fixture.serve_tags(smb_tags());
    REQUIRE(set_key(fixture, k_key).exit_code == 0);
    REQUIRE(fixture.agent({"reconcile"}).exit_code == 0);
    REQUIRE(helper.calls().size() == 1);

    REQUIRE(set_key(fixture, k_new_key).exit_code == 0);
    const auto result = fixture.agent({"reconcile"});
    INFO(result.out << result.err);
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.out,
               Catch::Contains("done: unmount " + fixture.sandbox().path("datamnt/dsvmshare") +
                               " (the credentials changed)"));
    CHECK(helper.calls().size() == 2);
    CHECK(fixture.mounts_at("/datamnt/dsvmshare") == 1);
    CHECK(fixture.agent({"reconcile"}).out == "no changes\n");
}

TEST_CASE("smb: missing or world-readable credentials are reported, never mounted", "[share]") {
    AgentFixture fixture;
    RecordingHelper helper(fixture.sandbox());
    fixture.serve_tags(smb_tags());

    const auto missing = fixture.agent({"reconcile"});
    INFO(missing.out << missing.err);
    CHECK(missing.exit_code == 1);
    CHECK_THAT(missing.out, Catch::Contains("dsvm-agent credentials set acct --key-stdin"));

    REQUIRE(set_key(fixture, k_key).exit_code == 0);
    ::chmod(fixture.sandbox().path("etc/dsvm-agent/credentials/acct.cred").c_str(), 0644);
    const auto insecure = fixture.agent({"reconcile"});
    INFO(insecure.out << insecure.err);
    CHECK(insecure.exit_code == 1);
    CHECK_THAT(insecure.out, Catch::Contains("refusing to use") && Catch::Contains("chmod 600"));
    CHECK(helper.calls().empty());
    CHECK(fixture.mounts_at("/datamnt/dsvmshare") == 0);
}

TEST_CASE("share: injected options, sources and system mount points exit 2 and change nothing",
          "[share]") {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {R"({"share": {"source": "//acct.file.core.windows.net/s", "options": "uid=1000"}})",
         "uid"},
        {R"({"share": {"source": "//acct.file.core.windows.net/s", "options": "password=x"}})",
         "password"},
        {R"({"share": {"source": "//acct.file.core.windows.net/s", "options": "noperm"}})",
         "noperm"},
        {R"({"share": {"source": "//acct.file.core.windows.net/s", "options": "vers=2.1"}})",
         "vers=2.1"},
        {R"({"share": {"source": "//h/s,uid=0"}})", "share.source"},
        {R"({"share": {"source": "//h/s x"}})", "share.source"},
        {R"({"share": {"source": "host:/export", "mountPoint": "/usr"}})", "/usr"},
        {R"({"share": {"source": "host:/export", "mountPoint": "/"}})", "share.mountPoint"},
        {R"({"share": {"source": "host:/export", "mountPoint": "/etc/x"}})", "/etc"},
    };
    for (const auto& [pool, expected] : cases) {
        DYNAMIC_SECTION(pool) {
            AgentFixture fixture;
            RecordingHelper helper(fixture.sandbox());
            fixture.sandbox().write("etc/dsvm-agent/pool.json", pool);
            fixture.sandbox().write("etc/fstab", "UUID=1 / ext4 defaults 0 1\n");
            const std::string before = tree_digest(fixture.sandbox().path());
            const auto result = fixture.agent({"reconcile"});
            INFO(result.out << result.err);
            CHECK(result.exit_code == 2);
            CHECK_THAT(result.err, Catch::Contains(expected));
            CHECK(tree_digest(fixture.sandbox().path()) == before);
            CHECK(helper.calls().empty());
        }
    }
}

TEST_CASE("fstab: the agent's entry is marked, has the no-hang options, and is stable", "[share]") {
    AgentFixture fixture;
    RecordingHelper helper(fixture.sandbox());
    fixture.serve_tags(smb_tags());
    REQUIRE(set_key(fixture, k_key).exit_code == 0);
    const std::string admin_lines =
        "# /etc/fstab: static file system information.\n"
        "UUID=1234-abcd /               ext4    errors=remount-ro 0       1\n"
        "/swapfile\tnone\tswap\tsw\t0\t0\n";
    fixture.sandbox().write("etc/fstab", admin_lines);

    REQUIRE(fixture.agent({"reconcile"}).exit_code == 0);
    const std::string fstab = fixture.sandbox().read("etc/fstab");
    CHECK_THAT(fstab, Catch::StartsWith(admin_lines));
    CHECK_THAT(fstab, Catch::Contains(std::string(k_fstab_marker)));
    CHECK_THAT(fstab, Catch::Contains(std::string(k_source) + " /datamnt/dsvmshare cifs "));
    CHECK_THAT(fstab, Catch::Contains("credentials=/etc/dsvm-agent/credentials/acct.cred"));
    CHECK_THAT(fstab, Catch::Contains("_netdev") && Catch::Contains("nofail") &&
                          Catch::Contains("x-systemd.mount-timeout=30s"));
    CHECK_THAT(fstab, !Catch::Contains(k_key));
    CHECK(fixture.sandbox().read("etc/fstab.dsvm-agent.bak") == admin_lines);

    const std::string before = tree_digest(fixture.sandbox().path("etc"));
    REQUIRE(fixture.agent({"reconcile"}).exit_code == 0);
    CHECK(tree_digest(fixture.sandbox().path("etc")) == before);

    // Moving the share moves the entry and unmounts the old mount point.
    fixture.serve_tags({{"dsvm-share", k_source}, {"dsvm-mount-point", "/datamnt/moved"}});
    const auto moved = fixture.agent({"reconcile"});
    INFO(moved.out << moved.err);
    CHECK(moved.exit_code == 0);
    CHECK(fixture.mounts_at("/datamnt/dsvmshare") == 0);
    CHECK(fixture.mounts_at("/datamnt/moved") == 1);
    const std::string after = fixture.sandbox().read("etc/fstab");
    CHECK_THAT(after, Catch::StartsWith(admin_lines));
    CHECK_THAT(after, Catch::Contains(" /datamnt/moved cifs ") &&
                          !Catch::Contains(" /datamnt/dsvmshare "));
}

TEST_CASE("smb: a busy share is not unmounted for a rotation, the next pass retries", "[share]") {
    AgentFixture fixture;
    RecordingHelper helper(fixture.sandbox());
    fixture.serve_tags(smb_tags());
    REQUIRE(set_key(fixture, k_key).exit_code == 0);
    REQUIRE(fixture.agent({"reconcile"}).exit_code == 0);
    REQUIRE(set_key(fixture, k_new_key).exit_code == 0);
    {
        // A user has a notebook open on the share.
        std::ofstream open_file(fixture.sandbox().path("datamnt/dsvmshare/notebook.ipynb"));
        REQUIRE(open_file.good());
        const auto busy = fixture.agent({"reconcile"});
        INFO(busy.out << busy.err);
        CHECK(busy.exit_code == 1);
        CHECK_THAT(busy.out, Catch::Contains("busy") && Catch::Contains("skipped"));
        CHECK(fixture.mounts_at("/datamnt/dsvmshare") == 1);
        CHECK(helper.calls().size() == 1);
    }
    const auto retried = fixture.agent({"reconcile"});
    INFO(retried.out << retried.err);
    CHECK(retried.exit_code == 0);
    CHECK_THAT(retried.out, Catch::Contains("(the credentials changed)"));
    CHECK(helper.calls().size() == 2);
    CHECK(fixture.mounts_at("/datamnt/dsvmshare") == 1);
}

TEST_CASE("smb: a mount helper that fails is a failed pass, and status says so", "[share]") {
    AgentFixture fixture;
    RecordingHelper helper(fixture.sandbox(), 32);  // mount.cifs: the server refused
    fixture.serve_tags(smb_tags());
    REQUIRE(set_key(fixture, k_key).exit_code == 0);

    const auto pass = fixture.agent({"reconcile"});
    INFO(pass.out << pass.err);
    CHECK(pass.exit_code == 1);
    REQUIRE(helper.calls().size() == 1);
    CHECK(fixture.mounts_at("/datamnt/dsvmshare") == 0);
    CHECK_THAT(pass.out + pass.err, Catch::Contains("exit status 32"));

    const auto status = fixture.agent({"status", "--json"});
    INFO(status.out);
    const auto document = nlohmann::json::parse(status.out);
    CHECK(document["result"] == "failed");
    CHECK(document["share"]["mounted"] == false);
    bool reported = false;
    for (const auto& action : document["actions"]) {
        reported = reported ||
                   (action["ok"] == false &&
                    action["error"].get<std::string>().find("exit status 32") != std::string::npos);
    }
    CHECK(reported);

    // The next pass tries again (and would mount once the server takes the key).
    const auto again = fixture.agent({"reconcile"});
    CHECK(again.exit_code == 1);
    CHECK(helper.calls().size() == 2);
}

TEST_CASE("fstab: a line another tool adds while the agent mounts is kept", "[share][fstab]") {
    // given fstab read before the mount and a line appended during it, we expect fstab after the
    // pass to hold the admin's line, that line and the agent's entry
    AgentFixture fixture;
    const std::string admin = "UUID=1234 / ext4 defaults 0 1\n";
    const std::string added = "UUID=abcd /data ext4 defaults,nofail 0 2";
    fixture.sandbox().write("etc/fstab", admin);
    FstabEditingHelper helper(fixture.sandbox(), added);
    fixture.serve_tags({{"dsvm-share", "acct.file.core.windows.net:/acct/dsvmshare"}});

    const auto result = fixture.agent({"reconcile"});
    INFO(result.out << result.err);
    REQUIRE(result.exit_code == 0);
    REQUIRE(fixture.mounts_at("/datamnt/dsvmshare") == 1);
    const std::string fstab = fixture.sandbox().read("etc/fstab");
    INFO(fstab);
    CHECK_THAT(fstab, Catch::StartsWith(admin) && Catch::Contains("\n" + added + "\n"));
    const auto entries = managed_fstab_entries(fstab);
    REQUIRE(entries.size() == 1);
    CHECK(entries[0].source == "acct.file.core.windows.net:/acct/dsvmshare");
    CHECK(entries[0].target == "/datamnt/dsvmshare");
    CHECK(fixture.agent({"reconcile"}).out == "no changes\n");
}
