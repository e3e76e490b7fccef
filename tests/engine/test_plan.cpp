// The plan is a pure function: these tests build desired and observed state by hand, no OS.
#include <catch2/catch.hpp>

#include "engine/plan.h"

using namespace dsvm;
using namespace dsvm::mount;
using namespace dsvm::engine;

namespace {

MountRequest bind_share() {
    return {"/sb/srv/share", "/sb/datamnt/share", "", "bind"};
}
MountRequest smb_share() {
    return {"//acct.file.core.windows.net/share", "/datamnt/share", "cifs", "vers=3.1.1"};
}

MountEntry entry(int id, std::string point, std::string source, std::string type) {
    MountEntry out;
    out.mount_id = id;
    out.parent_id = 1;
    out.root = "/";
    out.mount_point = std::move(point);
    out.source = std::move(source);
    out.fs_type = std::move(type);
    return out;
}

ManagedMount managed(std::string target, int id, MountRequest request, std::string stamp = "") {
    ManagedMount out;
    out.target = std::move(target);
    out.mount_id = id;
    out.request = std::move(request);
    out.credentials_stamp = std::move(stamp);
    return out;
}

DesiredState wants(MountRequest request) {
    DesiredState desired;
    desired.share = std::move(request);
    return desired;
}

ObservedCredentials credentials(std::string stamp, bool secure = true) {
    ObservedCredentials out;
    out.found = true;
    out.secure = secure;
    out.stamp = std::move(stamp);
    out.problem = secure ? "" : "refusing to use /etc/dsvm-agent/credentials/acct.cred: chmod 600";
    return out;
}

ObservedState fresh_directory() {
    ObservedState observed;
    observed.mounts = {entry(1, "/", "/dev/vda", "ext4")};
    observed.target_exists = true;
    observed.target_is_directory = true;
    return observed;
}

}  // namespace

TEST_CASE("plan: nothing desired and nothing managed is an empty plan", "[plan]") {
    const Plan plan = make_plan(DesiredState{}, fresh_directory());
    CHECK(plan.empty());
}

TEST_CASE("plan: a missing mount point is created before the mount", "[plan]") {
    ObservedState observed = fresh_directory();
    observed.target_exists = false;
    observed.target_is_directory = false;
    const Plan plan = make_plan(wants(bind_share()), observed);
    REQUIRE(plan.actions.size() == 2);
    CHECK(plan.actions[0] == Action{MakeDirectory{"/sb/datamnt/share", 0755}});
    CHECK(plan.actions[1] == Action{MountShare{bind_share(), ""}});
    CHECK(plan.problems.empty());
}

TEST_CASE("plan: an existing empty mount point is mounted on directly", "[plan]") {
    const Plan plan = make_plan(wants(bind_share()), fresh_directory());
    REQUIRE(plan.actions.size() == 1);
    CHECK(plan.actions[0] == Action{MountShare{bind_share(), ""}});
}

TEST_CASE("plan: a bind share already showing its source needs nothing", "[plan]") {
    ObservedState observed = fresh_directory();
    observed.mounts.push_back(entry(40, "/sb/datamnt/share", "/dev/vda", "ext4"));
    observed.target_shows_source = true;
    CHECK(make_plan(wants(bind_share()), observed).empty());
}

TEST_CASE("plan: a foreign SMB mount of the same source is left alone", "[plan]") {
    ObservedState observed = fresh_directory();
    // The kernel may report a cifs mount as smb3.
    observed.mounts.push_back(
        entry(41, "/datamnt/share", "//acct.file.core.windows.net/share", "smb3"));
    CHECK(make_plan(wants(smb_share()), observed).empty());
}

TEST_CASE("plan: a foreign mount on the mount point is a problem, never a stacked mount",
          "[plan]") {
    ObservedState observed = fresh_directory();
    observed.mounts.push_back(entry(42, "/sb/datamnt/share", "tmpfs", "tmpfs"));
    const Plan plan = make_plan(wants(bind_share()), observed);
    CHECK(plan.actions.empty());
    REQUIRE(plan.problems.size() == 1);
    CHECK_THAT(plan.problems[0], Catch::Contains("/sb/datamnt/share") &&
                                     Catch::Contains("did not make") &&
                                     Catch::Contains("never stacks"));
}

TEST_CASE("plan: the agent's own outdated mount is replaced", "[plan]") {
    ObservedState observed = fresh_directory();
    observed.mounts.push_back(entry(43, "/datamnt/share", "//old.example/share", "cifs"));
    observed.managed_mounts = {
        managed("/datamnt/share", 43, {"//old.example/share", "/datamnt/share", "cifs", "x"})};
    const Plan plan = make_plan(wants(smb_share()), observed);
    REQUIRE(plan.actions.size() == 2);
    CHECK(std::holds_alternative<UnmountShare>(plan.actions[0]));
    CHECK(std::get<UnmountShare>(plan.actions[0]).target == "/datamnt/share");
    CHECK(plan.actions[1] == Action{MountShare{smb_share(), ""}});
}

TEST_CASE("plan: a mount with a managed target but another mount ID is foreign", "[plan]") {
    // given the agent's mount was replaced by someone else's at the same path
    ObservedState observed = fresh_directory();
    observed.mounts.push_back(entry(77, "/datamnt/share", "//other/share", "cifs"));
    observed.managed_mounts = {managed("/datamnt/share", 43, smb_share())};
    const Plan plan = make_plan(wants(smb_share()), observed);
    CHECK(plan.actions.empty());
    CHECK(plan.problems.size() == 1);
}

TEST_CASE("plan: the agent's mount at an old mount point is unmounted", "[plan]") {
    ObservedState observed = fresh_directory();
    observed.mounts.push_back(entry(50, "/sb/old", "/dev/vda", "ext4"));
    observed.managed_mounts = {managed("/sb/old", 50, bind_share())};
    const Plan plan = make_plan(wants(bind_share()), observed);
    REQUIRE(plan.actions.size() == 2);
    CHECK(std::get<UnmountShare>(plan.actions[0]).target == "/sb/old");
    CHECK(plan.actions[1] == Action{MountShare{bind_share(), ""}});
}

TEST_CASE("plan: a managed mount that is already gone is not unmounted again", "[plan]") {
    ObservedState observed = fresh_directory();
    observed.managed_mounts = {managed("/sb/old", 50, bind_share())};
    CHECK(make_plan(DesiredState{}, observed).empty());
}

TEST_CASE("plan: a bind source that does not exist is a problem", "[plan]") {
    ObservedState observed = fresh_directory();
    observed.source_exists = false;
    const Plan plan = make_plan(wants(bind_share()), observed);
    CHECK(plan.actions.empty());
    REQUIRE(plan.problems.size() == 1);
    CHECK_THAT(plan.problems[0], Catch::Contains("/sb/srv/share"));
}

TEST_CASE("plan: a mount point that is a file is a problem", "[plan]") {
    ObservedState observed = fresh_directory();
    observed.target_is_directory = false;
    const Plan plan = make_plan(wants(bind_share()), observed);
    CHECK(plan.actions.empty());
    REQUIRE(plan.problems.size() == 1);
    CHECK_THAT(plan.problems[0], Catch::Contains("not a directory"));
}

TEST_CASE("plan: actions describe themselves for --dry-run", "[plan]") {
    CHECK(describe(MakeDirectory{"/x", 0755}) == "create directory /x (mode 0755)");
    CHECK(describe(MountShare{bind_share(), ""}) ==
          "bind-mount /sb/srv/share on /sb/datamnt/share");
    CHECK(describe(MountShare{smb_share(), ""}) ==
          "mount //acct.file.core.windows.net/share on /datamnt/share (type cifs, options "
          "vers=3.1.1)");
    CHECK(describe(UnmountShare{"/x", "why"}) == "unmount /x (why)");
    // The fstab step shows the lines the agent will own; the rest of the file is whatever it
    // holds when written.
    CHECK(describe(UpdateFstab{"/etc/fstab", {{"/srv/share", "/datamnt/share", "none", "bind"}}}) ==
          "update the agent's entries in /etc/fstab: /srv/share /datamnt/share none bind 0 0");
    CHECK(describe(UpdateFstab{"/etc/fstab", {}}) == "remove the agent's entries from /etc/fstab");
}

TEST_CASE("plan: the agent's own mount made with the same request needs nothing", "[plan]") {
    // given the recorded request matches, whatever the kernel reports as source and type
    ObservedState observed = fresh_directory();
    observed.mounts.push_back(entry(44, "/datamnt/share", "whatever", "tmpfs"));
    observed.managed_mounts = {managed("/datamnt/share", 44, smb_share(), "stamp-1")};
    observed.credentials = credentials("stamp-1");
    CHECK(make_plan(wants(smb_share()), observed).empty());
}

TEST_CASE("plan: changed options or rotated credentials remount the agent's mount", "[plan]") {
    ObservedState observed = fresh_directory();
    observed.mounts.push_back(
        entry(44, "/datamnt/share", "//acct.file.core.windows.net/share", "cifs"));
    observed.managed_mounts = {managed("/datamnt/share", 44, smb_share(), "stamp-1")};

    SECTION("rotated credentials") {
        observed.credentials = credentials("stamp-2");
        const Plan plan = make_plan(wants(smb_share()), observed);
        REQUIRE(plan.actions.size() == 2);
        CHECK(std::get<UnmountShare>(plan.actions[0]).reason == "the credentials changed");
        CHECK(plan.actions[1] == Action{MountShare{smb_share(), "stamp-2"}});
    }
    SECTION("changed options") {
        observed.credentials = credentials("stamp-1");
        MountRequest changed = smb_share();
        changed.options += ",actimeo=60";
        const Plan plan = make_plan(wants(changed), observed);
        REQUIRE(plan.actions.size() == 2);
        CHECK(std::get<UnmountShare>(plan.actions[0]).reason == "the mount options changed");
        CHECK(plan.actions[1] == Action{MountShare{changed, "stamp-1"}});
    }
    SECTION("rotated to an insecure file: reported, the working mount is kept") {
        observed.credentials = credentials("stamp-2", false);
        const Plan plan = make_plan(wants(smb_share()), observed);
        CHECK(plan.actions.empty());
        REQUIRE(plan.problems.size() == 1);
        CHECK_THAT(plan.problems[0], Catch::Contains("chmod 600"));
    }
}

TEST_CASE("plan: missing or insecure credentials are a problem, never a mount", "[plan]") {
    ObservedState observed = fresh_directory();
    ObservedCredentials missing;
    missing.problem = "no credentials for 'acct'";
    observed.credentials = missing;
    const Plan plan = make_plan(wants(smb_share()), observed);
    CHECK(plan.actions.empty());
    REQUIRE(plan.problems.size() == 1);
    CHECK(plan.problems[0] == "no credentials for 'acct'");
}

TEST_CASE("plan: fstab is rewritten only when the agent's entries differ", "[plan]") {
    DesiredState desired = wants(smb_share());
    desired.fstab_path = "/etc/fstab";
    desired.fstab_entries = {{"//acct.file.core.windows.net/share", "/datamnt/share", "cifs",
                              "vers=3.1.1,_netdev,nofail"}};
    ObservedState observed = fresh_directory();
    observed.mounts.push_back(entry(44, "/datamnt/share", "x", "cifs"));
    observed.managed_mounts = {managed("/datamnt/share", 44, smb_share(), "s")};
    observed.credentials = credentials("s");
    observed.fstab_text = "UUID=1234 / ext4 defaults 0 1\n";

    const Plan plan = make_plan(desired, observed);
    REQUIRE(plan.actions.size() == 1);
    // The action carries the wanted entries, not a finished file: apply merges them into the
    // fstab it finds when it writes.
    CHECK(plan.actions[0] == Action{UpdateFstab{"/etc/fstab", desired.fstab_entries}});

    observed.fstab_text = update_fstab(observed.fstab_text, desired.fstab_entries);
    CHECK(make_plan(desired, observed).empty());
}

TEST_CASE("plan: entries the config no longer wants are removed from fstab", "[plan]") {
    DesiredState desired;
    desired.fstab_path = "/etc/fstab";
    ObservedState observed = fresh_directory();
    observed.fstab_text = "UUID=1234 / ext4 defaults 0 1\n";
    CHECK(make_plan(desired, observed).empty());

    observed.fstab_text =
        update_fstab(observed.fstab_text, {{"/srv/share", "/datamnt/share", "none", "bind"}});
    const Plan plan = make_plan(desired, observed);
    REQUIRE(plan.actions.size() == 1);
    CHECK(plan.actions[0] == Action{UpdateFstab{"/etc/fstab", {}}});
}
