#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "common/fs.h"
#include "mount/automount.h"
#include "support/sandbox.h"

using namespace dsvm;
using namespace dsvm::mount;
using dsvm::test::mode_of;

namespace {

const std::string k_source = "//acct.file.core.windows.net/dsvmshare";
const std::string k_credentials = "/etc/dsvm-agent/credentials/acct.cred";

}  // namespace

TEST_CASE("automount: a map entry mounts only the user's folder, as that user", "[automount]") {
    const NotebookMount alice{"alice", 20001, 20001, "notebooks/alice"};
    CHECK(notebook_map_entry(k_source, alice, "", k_credentials) ==
          "alice -fstype=cifs,vers=3.1.1,credentials=/etc/dsvm-agent/credentials/acct.cred,"
          "serverino,actimeo=30,mfsymlinks,uid=20001,forceuid,gid=20001,forcegid,dir_mode=0700,"
          "file_mode=0600,nosuid,nodev ://acct.file.core.windows.net/dsvmshare/notebooks/alice\n");
    CHECK(notebook_mount_path("alice") == "/run/dsvm-agent/notebooks/alice");
}

TEST_CASE("automount: the share's options apply, but never nosharesock or an owned key",
          "[automount]") {
    const NotebookMount bob{"bob", 20002, 20010, "lab/bob"};
    const std::string entry = notebook_map_entry(
        k_source + "/", bob, "actimeo=5,nosharesock,uid=0,cache=loose", k_credentials);
    CHECK(entry.find(",actimeo=5,") != std::string::npos);
    CHECK(entry.find(",cache=loose ") != std::string::npos);
    CHECK(entry.find("nosharesock") == std::string::npos);
    CHECK(entry.find("uid=0") == std::string::npos);
    CHECK(entry.find(",uid=20002,forceuid,gid=20010,forcegid,") != std::string::npos);
    CHECK(entry.find(" ://acct.file.core.windows.net/dsvmshare/lab/bob\n") != std::string::npos);
}

TEST_CASE("automount: a hidden share's $ is escaped for autofs", "[automount]") {
    const NotebookMount alice{"alice", 20001, 20001, "notebooks/alice"};
    const std::string entry =
        notebook_map_entry("//files.example.org/lab$", alice, "", k_credentials);
    CHECK(entry.find(" ://files.example.org/lab\\$/notebooks/alice\n") != std::string::npos);
}

TEST_CASE("automount: the map is root-only, written when changed, and removed on request",
          "[automount]") {
    test::Sandbox sandbox;
    const Root root(sandbox.path());
    const std::vector<NotebookMount> users{{"alice", 20001, 20001, "notebooks/alice"},
                                           {"bob", 20002, 20002, "notebooks/bob"}};
    const std::string map = render_notebook_map(k_source, users, "", k_credentials);
    CHECK(map.find("\nalice -fstype=cifs,") != std::string::npos);
    CHECK(map.find("\nbob -fstype=cifs,") != std::string::npos);

    auto first = install_notebook_automount(root, map, 300);
    REQUIRE(first);
    CHECK(first->map_changed);
    CHECK(first->master_changed);
    CHECK(mode_of(sandbox.path("etc/dsvm-agent/notebooks.autofs")) == 0600);
    CHECK(mode_of(sandbox.path("etc/auto.master.d/dsvm-agent.autofs")) == 0644);
    CHECK(sandbox.read("etc/dsvm-agent/notebooks.autofs") == map);
    CHECK(sandbox.read("etc/auto.master.d/dsvm-agent.autofs") == render_autofs_master(300));
    CHECK(render_autofs_master(300).find(
              "\n/run/dsvm-agent/notebooks /etc/dsvm-agent/notebooks.autofs --timeout=300\n") !=
          std::string::npos);

    auto again = install_notebook_automount(root, map, 300);
    REQUIRE(again);
    CHECK_FALSE(again->map_changed);
    CHECK_FALSE(again->master_changed);

    const std::string fewer = render_notebook_map(k_source, {users[0]}, "", k_credentials);
    auto changed = install_notebook_automount(root, fewer, 300);
    REQUIRE(changed);
    CHECK(changed->map_changed);
    CHECK_FALSE(changed->master_changed);
    CHECK(sandbox.read("etc/dsvm-agent/notebooks.autofs").find("bob") == std::string::npos);

    auto removed = remove_notebook_automount(root);
    REQUIRE(removed);
    CHECK(*removed);
    CHECK_FALSE(path_exists(sandbox.path("etc/dsvm-agent/notebooks.autofs")));
    CHECK_FALSE(path_exists(sandbox.path("etc/auto.master.d/dsvm-agent.autofs")));
    auto nothing = remove_notebook_automount(root);
    REQUIRE(nothing);
    CHECK_FALSE(*nothing);
}
