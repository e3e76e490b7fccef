// The Windows share backend over a recording SmbMappingApi (wine has no SMB provider), with real
// credentials files under a Root in %TEMP%, and the notebook folders on a local directory
// standing in for the share's top (wine cannot reach a UNC path).
#include <windows.h>

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "common/digest.h"
#include "common/fs.h"
#include "common/root.h"
#include "mount/credentials.h"
#include "support/fake_clock.h"
#include "support/fake_smb_mapping_api.h"
#include "support/temporary_directory_win32.h"
#include "windows/smb_global_mappings.h"

namespace dsvm::windows_platform {

namespace {

using Kind = test::FakeSmbMappingApi::Kind;

constexpr const char* k_key = "c2VjcmV0a2V5c3RvcmFnZQ==";
constexpr const char* k_source = "//acct.file.core.windows.net/share";
constexpr const char* k_unc = R"(\\acct.file.core.windows.net\share)";

config::ShareConfig smb_share(std::string source = k_source) {
    config::ShareConfig share;
    share.source = std::move(source);
    share.type = mount::ShareType::Smb;
    share.mount_point = "/datamnt/share";
    share.smb_access = mount::SmbAccess::Shared;
    return share;
}

config::PoolConfig pool_with(const config::ShareConfig& share) {
    config::PoolConfig config;
    config.share = share;
    return config;
}

// A backend over a temporary root and a fake; store_key() stores the pool's storage key as
// `dsvm-agent credentials set` does.
struct Fixture {
    test::TemporaryDirectory dir;
    Root root{dir.path()};
    test::FakeSmbMappingApi api;
    SmbGlobalMappings share{root, api};

    void store_key() { REQUIRE(mount::write_credentials(root, "acct", "acct", k_key)); }
    mount::MountRequest request() const { return *share.desired(pool_with(smb_share())).share; }
};

// The backend's folder steps, used after the backend is gone, as the share gate's worker may.
std::shared_ptr<const engine::ShareFolders> folders_of_a_gone_backend() {
    test::FakeSmbMappingApi api;
    const SmbGlobalMappings share(Root("C:/ProgramData/dsvm-agent"), api);
    return share.folders();
}

}  // namespace

TEST_CASE("windows share: NFS and bind shares are refused, naming share.type and the fix",
          "[windows][share]") {
    test::FakeSmbMappingApi api;
    const SmbGlobalMappings share(Root("C:/ProgramData/dsvm-agent"), api);
    config::ShareConfig nfs = smb_share("files.example.com:/export");
    nfs.type = mount::ShareType::Nfs;
    config::ShareConfig bind = smb_share("/srv/share");
    bind.type = mount::ShareType::Bind;

    const auto nfs_checked = share.check(nfs);
    const auto bind_checked = share.check(bind);

    REQUIRE_FALSE(nfs_checked);
    CHECK(nfs_checked.error().kind == ErrorKind::Invalid);
    CHECK_THAT(nfs_checked.error().message,
               Catch::StartsWith("share.type: NFS shares are not supported on Windows instances") &&
                   Catch::Contains(R"(use an SMB share ("type": "smb", //host/share))"));
    REQUIRE_FALSE(bind_checked);
    CHECK(bind_checked.error().kind == ErrorKind::Invalid);
    CHECK_THAT(bind_checked.error().message,
               Catch::StartsWith("share.type: bind shares are not supported on Windows"));
    // Given a refused share, nothing is asked of the instance.
    CHECK_FALSE(share.desired(pool_with(nfs)).share);
    CHECK(api.calls().empty());
}

TEST_CASE("windows share: per-user SMB access is refused, saying to set smbAccess shared",
          "[windows][share]") {
    test::FakeSmbMappingApi api;
    const SmbGlobalMappings share(Root("C:/ProgramData/dsvm-agent"), api);
    config::ShareConfig per_user = smb_share();
    per_user.smb_access = mount::SmbAccess::PerUser;

    const auto checked = share.check(per_user);

    REQUIRE_FALSE(checked);
    CHECK(checked.error().kind == ErrorKind::Invalid);
    CHECK_THAT(
        checked.error().message,
        Catch::StartsWith("share.smbAccess: per-user SMB access needs") &&
            Catch::EndsWith(R"(set "smbAccess": "shared" for pools with Windows instances)"));
}

TEST_CASE("windows share: a shared SMB share is accepted, one named by an IPv6 address is not",
          "[windows][share]") {
    test::FakeSmbMappingApi api;
    const SmbGlobalMappings share(Root("C:/ProgramData/dsvm-agent"), api);

    CHECK(share.check(smb_share()).ok());
    const auto ipv6 = share.check(smb_share("//[fd00::1]/share"));
    REQUIRE_FALSE(ipv6);
    CHECK_THAT(ipv6.error().message, Catch::StartsWith("share.source: '//[fd00::1]/share'") &&
                                         Catch::Contains("use the server's DNS name"));
}

TEST_CASE("windows share: desired is one mapping of the UNC path, no fstab, no local mount point",
          "[windows][share]") {
    test::FakeSmbMappingApi api;
    const SmbGlobalMappings share(Root("C:/ProgramData/dsvm-agent"), api);

    const auto desired = share.desired(pool_with(smb_share("//ACCT.file.core.windows.net/share")));

    REQUIRE(desired.share);
    CHECK(*desired.share ==
          mount::MountRequest{k_source, k_unc, "smb-global-mapping", "credentials=acct"});
    CHECK(desired.credentials_name == "acct");
    CHECK(desired.fstab_path.empty());
    CHECK(desired.fstab_entries.empty());
    CHECK_FALSE(desired.local_mount_point);
    const auto nothing = share.desired(config::PoolConfig{});
    CHECK_FALSE(nothing.share);
    CHECK_FALSE(nothing.local_mount_point);
    CHECK(nothing.fstab_path.empty());
    CHECK(api.calls().empty());
}

TEST_CASE("windows share: the share's top and a user's folder are UNC paths with backslashes",
          "[windows][share]") {
    test::FakeSmbMappingApi api;
    const SmbGlobalMappings share(Root("C:/ProgramData/dsvm-agent"), api);
    const config::ShareConfig below = smb_share("//Acct.file.core.windows.net/Share/pool/a");
    const engine::NotebookFolder folder{"alice", "notebooks/alice", 20001, 20001};

    CHECK(share.share_dir(smb_share()) == k_unc);
    CHECK(share.share_dir(below) == R"(\\acct.file.core.windows.net\share\pool\a)");
    CHECK(share.notebook_target(below, folder) ==
          R"(\\acct.file.core.windows.net\share\pool\a\notebooks\alice)");
    // Given a source with folders below the share, only the share is mapped.
    CHECK(share.desired(pool_with(below)).share->target == k_unc);
}

TEST_CASE("windows share: mount maps with exactly the stored key, as the account on localhost",
          "[windows][share]") {
    Fixture fixture;
    fixture.store_key();

    const auto mapped = fixture.share.mounter().mount(fixture.request());

    INFO((mapped ? "" : mapped.error().message));
    REQUIRE(mapped);
    const auto created = fixture.api.calls_of(Kind::Create);
    REQUIRE(created.size() == 1);
    CHECK(created[0].remote_path == k_unc);
    CHECK(created[0].user == R"(localhost\acct)");
    CHECK(created[0].key_sha256 == sha256_hex(k_key));
    CHECK(fixture.api.calls_of(Kind::Remove).empty());
    REQUIRE(fixture.api.mappings().size() == 1);
    CHECK(fixture.api.mappings()[0].remote_path == k_unc);
}

TEST_CASE("windows share: a credentials file others may read is refused and nothing is mapped",
          "[windows][share]") {
    Fixture fixture;
    fixture.store_key();
    const std::string path = fixture.root.path(mount::credentials_path("acct"));
    REQUIRE(remove_file_if_exists(path));
    test::write_with_security(path, mount::render_credentials("acct", k_key),
                              L"D:P(A;;FA;;;SY)(A;;FR;;;WD)");

    const auto mapped = fixture.share.mount(fixture.request());

    REQUIRE_FALSE(mapped);
    CHECK_THAT(mapped.error().message,
               Catch::StartsWith(std::string("cannot map ") + k_unc +
                                 ": refusing to use /etc/dsvm-agent/credentials/acct.cred"));
    CHECK(mapped.error().message.find(k_key) == std::string::npos);
    CHECK(fixture.api.calls_of(Kind::Create).empty());
    CHECK(fixture.api.mappings().empty());
}

TEST_CASE("windows share: without a credentials file the error names the command that stores it",
          "[windows][share]") {
    Fixture fixture;

    const auto mapped = fixture.share.mount(fixture.request());

    REQUIRE_FALSE(mapped);
    CHECK_THAT(mapped.error().message,
               Catch::Contains("dsvm-agent credentials set acct --key-stdin"));
    CHECK(fixture.api.calls().empty());
}

TEST_CASE("windows share: a mapping of the path made before is removed, then made again",
          "[windows][share]") {
    Fixture fixture;
    fixture.store_key();
    // Shown by WMI with the host in upper case.
    fixture.api.add_mapping(R"(\\ACCT.FILE.CORE.WINDOWS.NET\share)");
    fixture.api.add_mapping(R"(\\other.file.core.windows.net\share)");

    REQUIRE(fixture.share.mount(fixture.request()));

    const auto& calls = fixture.api.calls();
    REQUIRE(calls.size() == 3);
    CHECK(calls[0].kind == Kind::List);
    CHECK(calls[1].kind == Kind::Remove);
    CHECK(calls[1].remote_path == R"(\\ACCT.FILE.CORE.WINDOWS.NET\share)");
    CHECK(calls[2].kind == Kind::Create);
    CHECK(calls[2].key_sha256 == sha256_hex(k_key));
    CHECK(fixture.api.mappings() ==
          std::vector<GlobalMapping>{{R"(\\other.file.core.windows.net\share)"}, {k_unc}});
}

TEST_CASE("windows share: mounts() lists WMI's mappings normalized, so the agent finds its own",
          "[windows][share]") {
    Fixture fixture;
    fixture.api.add_mapping(R"(\\ACCT.File.Core.Windows.NET\Share)",
                            SmbMappingStatus::Reconnecting);

    const auto entries = fixture.share.mounts();

    REQUIRE(entries);
    REQUIRE(entries->size() == 1);
    const mount::MountEntry& entry = entries->front();
    CHECK(entry.mount_id == 0);
    CHECK(entry.mount_point == k_unc);
    CHECK(entry.source == k_source);
    CHECK(entry.fs_type == "smb-global-mapping");
    CHECK(mount::find_mount(*entries, fixture.request().target) == &entry);
}

TEST_CASE("windows share: unmount removes the mapping, and one that is not there is an error",
          "[windows][share]") {
    Fixture fixture;
    fixture.api.add_mapping(k_unc);

    const auto removed = fixture.share.unmount(R"(\\Acct.file.core.windows.net\share)");
    const auto again = fixture.share.unmount(k_unc);

    REQUIRE(removed);
    CHECK(fixture.api.mappings().empty());
    REQUIRE_FALSE(again);
    CHECK_THAT(again.error().message,
               Catch::StartsWith(std::string("cannot remove the SMB global mapping of ") + k_unc) &&
                   Catch::Contains("error 2250"));
    REQUIRE(fixture.api.calls_of(Kind::Remove).size() == 2);
    CHECK(fixture.api.calls_of(Kind::Remove)[0].remote_path == k_unc);
}

TEST_CASE("windows share: a refused mapping is an error with the code, never with the key",
          "[windows][share]") {
    Fixture fixture;
    fixture.store_key();
    std::vector<std::string> errors;

    fixture.api.fail(Kind::Create, ERROR_LOGON_FAILURE);
    const auto refused = fixture.share.mount(fixture.request());
    fixture.api.fail(Kind::List, ERROR_ACCESS_DENIED);
    const auto unlisted = fixture.share.mount(fixture.request());
    fixture.api.add_mapping(k_unc);
    fixture.api.fail(Kind::Remove, ERROR_BUSY);
    const auto kept = fixture.share.mount(fixture.request());

    REQUIRE_FALSE(refused);
    CHECK_THAT(refused.error().message,
               Catch::StartsWith(std::string("cannot map ") + k_unc + R"( as localhost\acct: )") &&
                   Catch::Contains("error 1326"));
    REQUIRE_FALSE(unlisted);
    CHECK_THAT(unlisted.error().message, Catch::Contains("error 5"));
    REQUIRE_FALSE(kept);
    CHECK_THAT(kept.error().message, Catch::Contains("error 170"));
    // Given the old mapping kept, no new one was asked for.
    CHECK(fixture.api.calls_of(Kind::Create).size() == 1);
    for (const auto& error : {refused.error(), unlisted.error(), kept.error()}) {
        CHECK(error.message.find(k_key) == std::string::npos);
    }
}

TEST_CASE("windows share: a notebook folder is made below the share's top, once",
          "[windows][share]") {
    test::TemporaryDirectory top;
    const auto folders = folders_of_a_gone_backend();
    const engine::NotebookFolder folder{"alice", "notebooks/alice", 20001, 20001};

    const auto before = folders->differs(top.path(), folder, true);
    const auto made = folders->ensure(top.path(), folder, true);
    const auto again = folders->ensure(top.path(), folder, true);
    const auto after = folders->differs(top.path(), folder, true);

    REQUIRE(before);
    CHECK(*before);
    REQUIRE(made);
    CHECK(*made);
    CHECK(is_directory(top / "notebooks/alice"));
    REQUIRE(again);
    CHECK_FALSE(*again);
    REQUIRE(after);
    CHECK_FALSE(*after);
}

TEST_CASE("windows share: a file in the way of a folder, or a '..', is refused and nothing made",
          "[windows][share]") {
    test::TemporaryDirectory top;
    const auto folders = folders_of_a_gone_backend();
    REQUIRE(write_file_atomic(top / "notebooks", "not a directory", 0644));
    const engine::NotebookFolder blocked{"alice", "notebooks/alice", 20001, 20001};
    const engine::NotebookFolder escaping{"bob", "notebooks/../../bob", 20002, 20002};

    const auto made = folders->ensure(top.path(), blocked, false);
    const auto looked = folders->differs(top.path(), blocked, false);
    const auto escaped = folders->ensure(top.path(), escaping, false);

    REQUIRE_FALSE(made);
    CHECK_THAT(made.error().message, Catch::Contains("notebooks"));
    REQUIRE_FALSE(looked);
    CHECK_THAT(looked.error().message, Catch::Contains("not a directory"));
    REQUIRE_FALSE(escaped);
    CHECK(escaped.error().kind == ErrorKind::Invalid);
    CHECK_FALSE(path_exists(top.path() + "/bob"));
    CHECK(file_status(top / "notebooks", Links::DoNotFollow).type == FileType::Regular);
}

TEST_CASE("windows share: no per-user mounts and no boot entries, and nothing written for them",
          "[windows][share]") {
    Fixture fixture;
    test::FakeClock clock;
    const engine::WriteNotebookMap map{"/etc/auto.dsvm-notebooks", "alice -fstype=cifs ...", 1};

    CHECK_FALSE(fixture.share.user_mount_map(smb_share(), {{"alice", "notebooks/alice", 1, 1}}));
    CHECK(fixture.share.install_user_mounts(map).empty());
    const auto differ = fixture.share.user_mounts_differ(map);
    REQUIRE(differ);
    CHECK_FALSE(*differ);
    const auto removed = fixture.share.remove_user_mounts();
    REQUIRE(removed);
    CHECK(removed->empty());
    CHECK(fixture.share.write_boot_entries(
        {"/etc/fstab", {{k_source, "/datamnt/share", "cifs", "rw"}}}, clock));
    CHECK(directory_is_empty(fixture.dir.path()));
    CHECK(fixture.api.calls().empty());
}

}  // namespace dsvm::windows_platform
