#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "support/sandbox.h"
#include "users/notebooks.h"

using namespace dsvm;
using namespace dsvm::users;
using namespace dsvm::test;

namespace {

constexpr uid_t k_uid = 20001;
constexpr gid_t k_gid = 20001;

// A sandbox root with /home/alice owned by alice and an /etc to protect.
struct Instance {
    Sandbox sandbox;
    Root root{sandbox.path()};
    Instance() {
        sandbox.mkdir("home/alice", 0700);
        REQUIRE(::chown(sandbox.path("home/alice").c_str(), k_uid, k_gid) == 0);
        sandbox.write("etc/passwd", "root:x:0:0:root:/root:/bin/bash\n");
    }
    std::string link() const {
        return std::filesystem::read_symlink(sandbox.path("home/alice/notebooks/remote"));
    }
};

using dsvm::test::stat_of;

}  // namespace

TEST_CASE("notebooks: the folder pattern takes the user's name", "[notebooks]") {
    CHECK(notebook_folder("notebooks/{user}", "alice") == "notebooks/alice");
    CHECK(notebook_folder("teams/x/{user}-nb", "bob") == "teams/x/bob-nb");
}

TEST_CASE("notebooks: the link is made, kept, and a wrong one replaced", "[notebooks]") {
    Instance instance;
    const auto made = ensure_notebook_link(instance.root, "/home/alice", k_uid, k_gid,
                                           "/datamnt/share/notebooks/alice");
    REQUIRE(made.ok());
    CHECK(*made == LinkChange::Created);
    CHECK(instance.link() == "/datamnt/share/notebooks/alice");
    CHECK(stat_of(instance.sandbox.path("home/alice/notebooks")).st_uid == k_uid);
    CHECK(stat_of(instance.sandbox.path("home/alice/notebooks/remote")).st_uid == k_uid);

    const auto again = ensure_notebook_link(instance.root, "/home/alice", k_uid, k_gid,
                                            "/datamnt/share/notebooks/alice");
    REQUIRE(again.ok());
    CHECK(*again == LinkChange::Unchanged);

    const auto moved = ensure_notebook_link(instance.root, "/home/alice", k_uid, k_gid,
                                            "/datamnt/other/notebooks/alice");
    REQUIRE(moved.ok());
    CHECK(*moved == LinkChange::Replaced);
    CHECK(instance.link() == "/datamnt/other/notebooks/alice");
}

TEST_CASE("notebooks: an empty directory in the way is replaced, one with content never",
          "[notebooks]") {
    Instance instance;
    instance.sandbox.mkdir("home/alice/notebooks/remote");
    REQUIRE(::chown(instance.sandbox.path("home/alice/notebooks").c_str(), k_uid, k_gid) == 0);
    REQUIRE(ensure_notebook_link(instance.root, "/home/alice", k_uid, k_gid, "/datamnt/s/a").ok());
    CHECK(instance.link() == "/datamnt/s/a");

    Instance full;
    full.sandbox.write("home/alice/notebooks/remote/thesis.ipynb", "{}");
    REQUIRE(::chown(full.sandbox.path("home/alice/notebooks").c_str(), k_uid, k_gid) == 0);
    const std::string before = tree_digest(full.sandbox.path());
    const auto refused = ensure_notebook_link(full.root, "/home/alice", k_uid, k_gid, "/x");
    REQUIRE_FALSE(refused.ok());
    CHECK_THAT(refused.error().message, Catch::Contains("with content"));
    CHECK(tree_digest(full.sandbox.path()) == before);
}

TEST_CASE("notebooks: ~/notebooks turned into a symlink to /etc gets nothing touched",
          "[notebooks]") {
    Instance instance;
    REQUIRE(::symlink(instance.sandbox.path("etc").c_str(),
                      instance.sandbox.path("home/alice/notebooks").c_str()) == 0);
    const std::string before = tree_digest(instance.sandbox.path());
    const auto refused =
        ensure_notebook_link(instance.root, "/home/alice", k_uid, k_gid, "/datamnt/s/alice");
    REQUIRE_FALSE(refused.ok());
    CHECK_THAT(refused.error().message, Catch::Contains("symlink"));
    CHECK(tree_digest(instance.sandbox.path()) == before);
    CHECK_FALSE(instance.sandbox.exists("etc/remote"));
}

TEST_CASE("notebooks: a home that is a symlink or someone else's is refused", "[notebooks]") {
    Instance instance;
    REQUIRE(::symlink(instance.sandbox.path("etc").c_str(),
                      instance.sandbox.path("home/mallory").c_str()) == 0);
    const std::string before = tree_digest(instance.sandbox.path());
    CHECK_FALSE(ensure_notebook_link(instance.root, "/home/mallory", k_uid, k_gid, "/x").ok());
    const auto foreign = ensure_notebook_link(instance.root, "/home/alice", 4242, 4242, "/x");
    REQUIRE_FALSE(foreign.ok());
    CHECK_THAT(foreign.error().message, Catch::Contains("owned by uid 20001"));
    CHECK(tree_digest(instance.sandbox.path()) == before);
}

TEST_CASE("notebooks: the user's folder on the share is theirs alone", "[notebooks]") {
    Sandbox share;
    const auto made = ensure_notebook_folder(share.path(), "notebooks/alice", k_uid, k_gid);
    REQUIRE(made.ok());
    CHECK(*made);
    const auto folder = stat_of(share.path("notebooks/alice"));
    CHECK(folder.st_uid == k_uid);
    CHECK(folder.st_gid == k_gid);
    CHECK((folder.st_mode & 07777) == 0700);
    CHECK(stat_of(share.path("notebooks")).st_uid == 0);
    const auto again = ensure_notebook_folder(share.path(), "notebooks/alice", k_uid, k_gid);
    REQUIRE(again.ok());
    CHECK_FALSE(*again);

    // A folder left world-readable is closed again.
    ::chmod(share.path("notebooks/alice").c_str(), 0777);
    const auto fixed = ensure_notebook_folder(share.path(), "notebooks/alice", k_uid, k_gid);
    REQUIRE(fixed.ok());
    CHECK(*fixed);
    CHECK((stat_of(share.path("notebooks/alice")).st_mode & 07777) == 0700);
}

TEST_CASE("notebooks: a symlink in the share's folder path is refused", "[notebooks]") {
    Sandbox share;
    Sandbox elsewhere;
    REQUIRE(::symlink(elsewhere.path().c_str(), share.path("notebooks").c_str()) == 0);
    const auto refused = ensure_notebook_folder(share.path(), "notebooks/alice", k_uid, k_gid);
    REQUIRE_FALSE(refused.ok());
    CHECK_FALSE(elsewhere.exists("alice"));
}

TEST_CASE("notebooks: on SMB the folder is only made to exist, never through a symlink",
          "[notebooks]") {
    Sandbox share;
    auto made = ensure_share_folder(share.path(), "notebooks/alice");
    REQUIRE(made);
    CHECK(*made);
    CHECK(share.exists("notebooks/alice"));
    // Owners and modes on SMB are the mount's fiction: nothing is changed once it exists.
    auto again = ensure_share_folder(share.path(), "notebooks/alice");
    REQUIRE(again);
    CHECK_FALSE(*again);

    Sandbox other;
    Sandbox elsewhere;
    REQUIRE(::symlink(elsewhere.path().c_str(), other.path("notebooks").c_str()) == 0);
    CHECK_FALSE(ensure_share_folder(other.path(), "notebooks/bob").ok());
    CHECK_FALSE(elsewhere.exists("bob"));
}

TEST_CASE("notebooks: a link planted among the parents on the share is never followed",
          "[notebooks]") {
    // The pattern nb/{user}/work: someone who can write the share turns nb into a link.
    test::Sandbox share;
    test::Sandbox outside;
    REQUIRE(::symlink(outside.path().c_str(), share.path("nb").c_str()) == 0);
    const auto made =
        ensure_notebook_folder(share.path(), "nb/alice/work", ::geteuid(), ::getegid());
    REQUIRE_FALSE(made.ok());
    CHECK_THAT(made.error().message, Catch::Contains("nb: it is a symlink"));
    CHECK_FALSE(outside.exists("alice"));
}
