// The users phase's per-user steps: the pure plan, and the inspect half of each step, which a
// dry run asks and which must agree with what the step then does, creating nothing itself.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "engine/user_files.h"
#include "mount/automount.h"
#include "support/fake_mounter.h"
#include "support/linux_backends.h"
#include "support/recording_runner.h"
#include "support/sandbox.h"
#include "users/accounts.h"
#include "users/notebooks.h"
#include "users/ssh_keys.h"

using namespace dsvm;
using namespace dsvm::mount;
using namespace dsvm::users;
using namespace dsvm::config;
using namespace dsvm::engine;
using namespace dsvm::test;

namespace {

constexpr std::uint32_t k_uid = 20001;
constexpr std::uint32_t k_gid = 20001;
const std::string k_key =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOVBMq5Mpj6TIleWKV4Qi3ll8n4jG+wePC90IL4Y6klz alice@laptop";

RegistryUser user(const std::string& name, std::uint32_t uid, std::vector<std::string> keys = {}) {
    RegistryUser out;
    out.name = name;
    out.uid = uid;
    out.gid = uid;
    out.ssh_keys = std::move(keys);
    return out;
}

PoolConfig pool(ShareType type, SmbAccess access = SmbAccess::PerUser) {
    PoolConfig config;
    ShareConfig share;
    share.type = type;
    share.source = type == ShareType::Smb ? "//acct.file.core.windows.net/dsvmshare" : "/srv/share";
    share.mount_point = "/datamnt/share";
    share.smb_access = access;
    config.share = share;
    return config;
}

}  // namespace

TEST_CASE(
    "user files: the plan covers managed active users in order, then inactive keys, "
    "folders and the map",
    "[user-files]") {
    const std::vector<RegistryUser> active{user("alice", 20000, {k_key}), user("carol", 20002)};
    const std::vector<RegistryUser> inactive{user("dave", 20003)};
    FakeMounter mounter;
    RecordingRunner runner;
    const LinuxBackends backends(Root("/"), mounter, runner);
    const auto plan = [&](const PoolConfig& config, const std::vector<RegistryUser>& inactive_users,
                          const std::set<std::string>& managed) {
        return plan_user_files(config, active, inactive_users, managed, backends.accounts,
                               backends.share);
    };

    const auto bind = plan(pool(ShareType::Bind), inactive, {"alice"});
    REQUIRE(bind.size() == 5);
    CHECK(bind[0] == UserFilesAction(CreateHome{"alice", "/home/alice", 20000, 20000}));
    CHECK(bind[1] == UserFilesAction(WriteKeys{"alice", "/home/alice", 20000, 20000, {k_key}}));
    CHECK(bind[2] == UserFilesAction(LinkNotebooks{"alice", "/home/alice", 20000, 20000,
                                                   "/datamnt/share/notebooks/alice"}));
    // carol is in the registry but not (yet) an account the agent made: nothing of hers.
    CHECK(bind[3] == UserFilesAction(WriteKeys{"dave", "/home/dave", 20003, 20003, {}, true}));
    CHECK(bind[4] ==
          UserFilesAction(MakeNotebookFolders{{{"alice", "notebooks/alice", 20000, 20000}}, true}));
    CHECK(describe(bind[1]) == "write SSH keys of alice");
    CHECK(describe(bind[3]) == "remove the SSH keys of dave");
    CHECK(describe(bind[2]) ==
          "link /home/alice/notebooks/remote to /datamnt/share/notebooks/alice");

    const auto smb = plan(pool(ShareType::Smb), {}, {"alice", "carol"});
    REQUIRE(smb.size() == 8);
    CHECK(std::get<LinkNotebooks>(smb[2]).target == "/run/dsvm-agent/notebooks/alice");
    CHECK_FALSE(std::get<MakeNotebookFolders>(smb[6]).owners);
    const auto& map = std::get<WriteNotebookMap>(smb[7]);
    CHECK(map.users == 2);
    CHECK_THAT(map.text, Catch::Contains("alice -fstype=cifs,"));
    CHECK_THAT(map.text, Catch::Contains("carol -fstype=cifs,"));
    CHECK(describe(smb[7]) ==
          "write the notebook mount map /etc/dsvm-agent/notebooks.autofs (2 users)");

    // A shared SMB mount has no map.
    const auto shared = plan(pool(ShareType::Smb, SmbAccess::Shared), {}, {"alice"});
    CHECK_FALSE(std::holds_alternative<WriteNotebookMap>(shared.back()));
}

TEST_CASE("user files: each inspect says what its step would change, and changes nothing",
          "[user-files]") {
    Sandbox sandbox;
    const Root root(sandbox.path());
    sandbox.write("etc/passwd", "root:x:0:0:root:/root:/bin/bash\n");
    sandbox.mkdir("home");
    const std::string share = sandbox.mkdir("share");
    const std::string target = "/datamnt/share/notebooks/alice";
    const std::string map = "alice -fstype=cifs,uid=20001 ://h/s/notebooks/alice\n";
    const auto inspect_all = [&] {
        std::vector<bool> out;
        out.push_back(home_missing(root, "/home/alice"));
        const auto keys = authorized_keys_differ(root, "/home/alice", k_uid, {k_key});
        const auto link = notebook_link_differs(root, "/home/alice", k_uid, target);
        const auto folder =
            notebook_folder_differs(share, "notebooks/alice", FolderOwner{k_uid, k_gid});
        const auto bare = notebook_folder_differs(share, "notebooks/alice", std::nullopt);
        const auto automount = notebook_automount_differs(root, map);
        for (const auto* result : {&keys, &link, &folder, &bare, &automount}) {
            REQUIRE(result->ok());
            out.push_back(**result);
        }
        return out;
    };

    const std::string before = tree_digest(sandbox.path());
    CHECK(inspect_all() == std::vector<bool>{true, true, true, true, true, true});
    CHECK(tree_digest(sandbox.path()) == before);
    // Without keys to write, a missing home has none to change.
    CHECK_FALSE(*authorized_keys_differ(root, "/home/alice", k_uid, {}));

    REQUIRE(create_home(root, "/home/alice", k_uid, k_gid).ok());
    REQUIRE(write_authorized_keys(root, "/home/alice", k_uid, k_gid, {k_key}).ok());
    REQUIRE(ensure_notebook_link(root, "/home/alice", k_uid, k_gid, target).ok());
    REQUIRE(ensure_notebook_folder(share, "notebooks/alice", k_uid, k_gid).ok());
    REQUIRE(install_notebook_automount(root, map).ok());
    CHECK(inspect_all() == std::vector<bool>{false, false, false, false, false, false});

    // Each kind of drift is seen by its own inspect.
    CHECK(*authorized_keys_differ(root, "/home/alice", k_uid, {}));
    CHECK(*notebook_link_differs(root, "/home/alice", k_uid, "/elsewhere"));
    REQUIRE(::chmod((share + "/notebooks/alice").c_str(), 0755) == 0);
    CHECK(*notebook_folder_differs(share, "notebooks/alice", FolderOwner{k_uid, k_gid}));
    CHECK_FALSE(*notebook_folder_differs(share, "notebooks/alice", std::nullopt));
    CHECK(*notebook_automount_differs(root, map + "bob -fstype=cifs ://h/s/notebooks/bob\n"));

    // The same refusals as the steps. .ssh writable by others:
    REQUIRE(::chmod(sandbox.path("home/alice/.ssh").c_str(), 0777) == 0);
    const auto open_ssh = authorized_keys_differ(root, "/home/alice", k_uid, {k_key});
    REQUIRE_FALSE(open_ssh.ok());
    CHECK_THAT(open_ssh.error().message, Catch::Contains("writable by group or others"));
    CHECK_FALSE(write_authorized_keys(root, "/home/alice", k_uid, k_gid, {k_key}).ok());
    // A file where the link goes, and a directory with content, are left alone by the step.
    std::filesystem::remove(sandbox.path("home/alice/notebooks/remote"));
    sandbox.write("home/alice/notebooks/remote", "mine");
    const auto file = notebook_link_differs(root, "/home/alice", k_uid, target);
    REQUIRE_FALSE(file.ok());
    CHECK_THAT(file.error().message, Catch::Contains("is not a link"));
    std::filesystem::remove(sandbox.path("home/alice/notebooks/remote"));
    sandbox.write("home/alice/notebooks/remote/work.ipynb", "{}");
    CHECK_FALSE(notebook_link_differs(root, "/home/alice", k_uid, target).ok());
    std::filesystem::remove(sandbox.path("home/alice/notebooks/remote/work.ipynb"));
    CHECK(*notebook_link_differs(root, "/home/alice", k_uid, target));  // empty: replaced
    // A home that is not the user's.
    CHECK_FALSE(notebook_link_differs(root, "/home/alice", k_uid + 1, target).ok());
    // A share folder below a planted symlink is refused, not looked up through it.
    std::filesystem::remove_all(share + "/notebooks");
    std::filesystem::create_symlink(sandbox.path("home"), share + "/notebooks");
    const auto planted_folder = notebook_folder_differs(share, "notebooks/alice", std::nullopt);
    REQUIRE_FALSE(planted_folder.ok());
    CHECK_THAT(planted_folder.error().message, Catch::Contains("symlink"));

    // A notebooks directory that is a symlink is not followed.
    std::filesystem::remove_all(sandbox.path("home/alice/notebooks"));
    std::filesystem::create_symlink("/etc", sandbox.path("home/alice/notebooks"));
    const auto planted = notebook_link_differs(root, "/home/alice", k_uid, target);
    REQUIRE_FALSE(planted.ok());
    CHECK_THAT(planted.error().message, Catch::Contains("symlink"));
}
