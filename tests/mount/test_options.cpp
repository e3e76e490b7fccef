#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <utility>

#include "mount/options.h"

using namespace dsvm;
using namespace dsvm::mount;

namespace {

constexpr std::string_view k_cred = "/etc/dsvm-agent/credentials/acct.cred";

// How many comma-separated items of `options` are exactly `item`.
int count_item(std::string_view options, std::string_view item) {
    int count = 0;
    std::size_t start = 0;
    while (start <= options.size()) {
        const auto comma = options.find(',', start);
        const auto end = comma == std::string_view::npos ? options.size() : comma;
        if (options.substr(start, end - start) == item) {
            ++count;
        }
        start = end + 1;
    }
    return count;
}

// The message of a refusal, or a note that there was none (so a CHECK on it fails readably).
std::string refusal(ShareType type, std::string_view options) {
    const auto checked = check_share_options(type, options);
    if (checked.ok()) {
        return "(accepted)";
    }
    CHECK(checked.error().kind == ErrorKind::Invalid);
    return checked.error().message;
}

}  // namespace

TEST_CASE("options: smb per-user defaults are root-only", "[options]") {
    CHECK(mount_options(ShareType::Smb, SmbAccess::PerUser, "", k_cred) ==
          "vers=3.1.1,credentials=/etc/dsvm-agent/credentials/acct.cred,serverino,nosharesock,"
          "actimeo=30,mfsymlinks,uid=0,gid=0,dir_mode=0700,file_mode=0600,nosuid,nodev");
}

TEST_CASE("options: smb shared defaults are the reference's world-writable mount", "[options]") {
    CHECK(mount_options(ShareType::Smb, SmbAccess::Shared, "", k_cred) ==
          "vers=3.1.1,credentials=/etc/dsvm-agent/credentials/acct.cred,serverino,nosharesock,"
          "actimeo=30,mfsymlinks,uid=0,gid=0,dir_mode=0777,file_mode=0777,nosuid,nodev");
}

TEST_CASE("options: nfs and bind defaults", "[options]") {
    // SMB access and the credentials file mean nothing to these types.
    CHECK(mount_options(ShareType::Nfs, SmbAccess::Shared, "", k_cred) ==
          "vers=4.1,sec=sys,hard,timeo=600,retrans=2,nconnect=4,nosuid,nodev");
    CHECK(mount_options(ShareType::Bind, SmbAccess::PerUser, "", k_cred) == "bind,nosuid,nodev");
}

TEST_CASE("options: suid and dev are refused on every share type", "[options]") {
    // A set-user-ID root program or a device node left on the share by anyone who can write it
    // must not work on an instance.
    for (const auto type : {ShareType::Smb, ShareType::Nfs, ShareType::Bind}) {
        CHECK_THAT(refusal(type, "suid"),
                   Catch::Contains("'suid' would let a set-user-ID program") &&
                       Catch::Contains("nosuid,nodev"));
        CHECK_THAT(refusal(type, "dev"), Catch::Contains("'dev' would let a device node"));
        CHECK(refusal(type, "nosuid,nodev") == "(accepted)");
        // Even unchecked, they never reach the mount.
        const auto options = mount_options(type, SmbAccess::PerUser, "suid,dev", k_cred);
        CHECK(count_item(options, "nosuid") == 1);
        CHECK(count_item(options, "nodev") == 1);
        CHECK(count_item(options, "suid") == 0);
        CHECK(count_item(options, "dev") == 0);
    }
}

TEST_CASE("options: fs types", "[options]") {
    CHECK(fs_type_for(ShareType::Smb) == "cifs");
    CHECK(fs_type_for(ShareType::Nfs) == "nfs");
    CHECK(fs_type_for(ShareType::Bind).empty());
}

TEST_CASE("options: a share's option replaces the default in place and new ones follow",
          "[options]") {
    CHECK(mount_options(ShareType::Smb, SmbAccess::PerUser, "cache=none,actimeo=60", k_cred) ==
          "vers=3.1.1,credentials=/etc/dsvm-agent/credentials/acct.cred,serverino,nosharesock,"
          "actimeo=60,mfsymlinks,uid=0,gid=0,dir_mode=0700,file_mode=0600,nosuid,nodev,cache=none");
    CHECK(mount_options(ShareType::Nfs, SmbAccess::PerUser, "vers=4,minorversion=1,sec=krb5", "") ==
          "vers=4,sec=krb5,hard,timeo=600,retrans=2,nconnect=4,nosuid,nodev,minorversion=1");
    CHECK(mount_options(ShareType::Bind, SmbAccess::PerUser, "ro,nosuid", "") ==
          "bind,nosuid,nodev,ro");
}

TEST_CASE("options: nfsvers replaces the default vers rather than sitting beside it", "[options]") {
    CHECK(mount_options(ShareType::Nfs, SmbAccess::PerUser, "nfsvers=4.2", "") ==
          "nfsvers=4.2,sec=sys,hard,timeo=600,retrans=2,nconnect=4,nosuid,nodev");
}

TEST_CASE("options: mount options are deterministic and never repeat a key", "[options]") {
    const auto first = mount_options(ShareType::Smb, SmbAccess::PerUser,
                                     "actimeo=5,cache=none,actimeo=7,nobrl", k_cred);
    CHECK(first == mount_options(ShareType::Smb, SmbAccess::PerUser,
                                 "actimeo=5,cache=none,actimeo=7,nobrl", k_cred));
    CHECK(count_item(first, "actimeo=7") == 1);
    CHECK(first.find("actimeo=5") == std::string::npos);
    CHECK(count_item(first, "cache=none") == 1);
}

TEST_CASE("options: unchecked owned keys never replace the agent's values", "[options]") {
    // Given options that skipped the check, we expect the refused items to be dropped.
    const auto smb = mount_options(ShareType::Smb, SmbAccess::PerUser,
                                   "uid=1000,password=hunter2,,=x,vers=2.1,cache=none", k_cred);
    CHECK(smb ==
          "vers=3.1.1,credentials=/etc/dsvm-agent/credentials/acct.cred,serverino,nosharesock,"
          "actimeo=30,mfsymlinks,uid=0,gid=0,dir_mode=0700,file_mode=0600,nosuid,nodev,cache=none");
    CHECK(mount_options(ShareType::Bind, SmbAccess::PerUser, "size=1G,ro", "") ==
          "bind,nosuid,nodev,ro");
}

TEST_CASE("options: every key the agent owns on smb is refused, named", "[options]") {
    const char* owned[] = {"username=bob",  "user=bob",       "password=k", "password2=k",
                           "pass=k",        "credentials=/x", "cred=/x",    "domain=corp",
                           "uid=1000",      "gid=1000",       "forceuid",   "forcegid",
                           "dir_mode=0777", "file_mode=0666", "noperm",     "multiuser",
                           "guest",         "sec=ntlmssp"};
    for (const std::string item : owned) {
        const auto key = item.substr(0, item.find('='));
        INFO(item);
        const auto message = refusal(ShareType::Smb, "actimeo=60," + item);
        CHECK(message.rfind("share.options: ", 0) == 0);
        CHECK(message.find("'" + key + "'") != std::string::npos);
    }
    CHECK(refusal(ShareType::Smb, "uid=0") ==
          "share.options: 'uid' is set by the agent (from smbAccess); remove it");
}

TEST_CASE("options: a credential's value is never shown", "[options]") {
    for (const auto type : {ShareType::Smb, ShareType::Nfs, ShareType::Bind}) {
        const auto message = refusal(type, "password=Sup3rS3cret");
        CHECK(message.find("'password'") != std::string::npos);
        CHECK(message.find("Sup3rS3cret") == std::string::npos);
    }
    // The kernel would reject the upper-case key, but only after fstab had shown it to everyone.
    const auto upper = refusal(ShareType::Smb, "PASSWORD=Sup3rS3cret");
    CHECK(upper.find("'PASSWORD'") != std::string::npos);
    CHECK(upper.find("Sup3rS3cret") == std::string::npos);
}

TEST_CASE("options: smb below 3.0 is refused", "[options]") {
    CHECK(refusal(ShareType::Smb, "vers=2.1") ==
          "share.options: 'vers=2.1' is below SMB 3.0, which Azure Files requires for "
          "encryption; use vers=3.1.1 or 3.0");
    CHECK(refusal(ShareType::Smb, "vers=1.0").find("'vers=1.0' is below SMB 3.0") !=
          std::string::npos);
    CHECK(refusal(ShareType::Smb, "vers=default").find("'vers=default'") != std::string::npos);
    CHECK(refusal(ShareType::Smb, "vers=9").find("'vers=9'") != std::string::npos);
}

TEST_CASE("options: smb 3 dialects and ordinary options are allowed", "[options]") {
    CHECK(check_share_options(ShareType::Smb, "vers=3.0").ok());
    CHECK(check_share_options(ShareType::Smb, "vers=3.1.1,actimeo=60,cache=none,nosharebrl").ok());
    CHECK(check_share_options(ShareType::Smb, "").ok());
}

TEST_CASE("options: nfs takes only version 4 and no credentials", "[options]") {
    CHECK(refusal(ShareType::Nfs, "vers=3") ==
          "share.options: 'vers=3' must be one of 4, 4.0, 4.1, 4.2 for an NFS 4 share");
    CHECK(refusal(ShareType::Nfs, "nfsvers=3").find("'nfsvers=3' must be one of") !=
          std::string::npos);
    CHECK(refusal(ShareType::Nfs, "v3").find("'v3'") != std::string::npos);
    CHECK(refusal(ShareType::Nfs, "username=x").find("'username'") != std::string::npos);
    CHECK(refusal(ShareType::Nfs, "vers=4.1,nfsvers=4.2").find("'vers' and 'nfsvers'") !=
          std::string::npos);
}

TEST_CASE("options: nfs security, minor version and the 4.x versions are allowed", "[options]") {
    CHECK(check_share_options(ShareType::Nfs, "sec=krb5").ok());
    CHECK(check_share_options(ShareType::Nfs, "vers=4,minorversion=1").ok());
    for (const char* version : {"vers=4", "vers=4.0", "vers=4.1", "vers=4.2", "nfsvers=4.2"}) {
        INFO(version);
        CHECK(check_share_options(ShareType::Nfs, version).ok());
    }
}

TEST_CASE("options: bind takes only the access and flag family", "[options]") {
    CHECK(refusal(ShareType::Bind, "size=1G").find("'size' is not allowed on a bind share") !=
          std::string::npos);
    CHECK(refusal(ShareType::Bind, "ro=1").find("'ro' takes no value") != std::string::npos);
    CHECK(refusal(ShareType::Bind, "rbind").find("'rbind'") != std::string::npos);
    CHECK(refusal(ShareType::Bind, "bind").find("'bind' is set by the agent") != std::string::npos);
    CHECK(check_share_options(ShareType::Bind, "ro").ok());
    CHECK(check_share_options(ShareType::Bind, "rw,nosuid,nodev,noexec,noatime,nodiratime").ok());
}

TEST_CASE("options: keys compare case-sensitively, as the kernel does", "[options]") {
    // "UID" is not the kernel's uid (the mount would fail on it), so it is not the agent's key.
    CHECK(check_share_options(ShareType::Smb, "UID=5").ok());
    CHECK(refusal(ShareType::Bind, "RO").find("'RO'") != std::string::npos);
}

TEST_CASE("options: hostile option strings are refused, not passed through", "[options]") {
    CHECK(refusal(ShareType::Smb, "actimeo=60,,cache=none") ==
          "share.options: item 2 is empty (a leading, trailing or double ','); options are "
          "comma-separated key or key=value items of letters, digits and _ . = : / + -");
    CHECK(refusal(ShareType::Smb, "actimeo=60,").find("item 2 is empty") != std::string::npos);
    CHECK(refusal(ShareType::Nfs, ",").find("item 1 is empty") != std::string::npos);
    CHECK(refusal(ShareType::Smb, "=x").find("item 1 has no key before '='") != std::string::npos);
    CHECK(refusal(ShareType::Smb, "actimeo=60,actimeo=5") ==
          "share.options: 'actimeo' is given twice; keep one");
    const auto control = refusal(ShareType::Smb, std::string("cache=none\nuid=0"));
    CHECK(control.find("\\x0a") != std::string::npos);
    CHECK(control.find('\n') == std::string::npos);
    CHECK(refusal(ShareType::Nfs, std::string("hard\0x", 6)).find("\\x00") != std::string::npos);
}

TEST_CASE("options: boot options add network, nofail and a timeout exactly once", "[options]") {
    const auto smb = mount_options(ShareType::Smb, SmbAccess::PerUser, "nofail", k_cred);
    const auto nfs = mount_options(ShareType::Nfs, SmbAccess::PerUser, "nofail,_netdev", "");
    const auto bind = mount_options(ShareType::Bind, SmbAccess::PerUser, "ro", "");
    const std::pair<ShareType, std::string> cases[] = {
        {ShareType::Smb, smb}, {ShareType::Nfs, nfs}, {ShareType::Bind, bind}};
    for (const auto& [type, options] : cases) {
        INFO(options);
        const auto boot = boot_options(type, options);
        CHECK(count_item(boot, "_netdev") == 1);
        CHECK(count_item(boot, "nofail") == 1);
        CHECK(count_item(boot, "x-systemd.mount-timeout=30s") == 1);
        CHECK(boot.rfind(options, 0) == 0);
        CHECK(boot_options(type, boot) == boot);
    }
    CHECK(boot_options(ShareType::Bind, "bind,ro") ==
          "bind,ro,_netdev,nofail,x-systemd.mount-timeout=30s");
    // A share that needs longer than 30 s to mount may say so; its value is kept.
    CHECK(boot_options(ShareType::Nfs, "vers=4.1,x-systemd.mount-timeout=90s") ==
          "vers=4.1,x-systemd.mount-timeout=90s,_netdev,nofail");
    CHECK(boot_options(ShareType::Nfs, "vers=4.1,nofail,nofail") ==
          "vers=4.1,nofail,_netdev,x-systemd.mount-timeout=30s");
}

TEST_CASE("options: credentials are named after the account or the host", "[options]") {
    CHECK(credentials_name("//acct.file.core.windows.net/share") == "acct");
    CHECK(credentials_name("//acct.file.core.windows.net/share/notebooks/alice") == "acct");
    CHECK(credentials_name("//10.0.0.5/share") == "10.0.0.5");
    CHECK(credentials_name("//[fd00::5]/share") == "fd00--5");
    CHECK(credentials_name("//storage/share") == "storage");
    CHECK(credentials_name("//Storage.Example.com/x") == "storage");
}

TEST_CASE("options: options that keep registry locks local are refused", "[options]") {
    const auto smb = check_share_options(ShareType::Smb, "actimeo=30,nobrl");
    REQUIRE_FALSE(smb.ok());
    CHECK_THAT(smb.error().message, Catch::Contains("'nobrl'") && Catch::Contains("lock"));
    for (const char* options : {"nolock", "local_lock=all", "hard,nolock"}) {
        INFO(options);
        const auto nfs = check_share_options(ShareType::Nfs, options);
        REQUIRE_FALSE(nfs.ok());
        CHECK_THAT(nfs.error().message, Catch::Contains("registry"));
    }
}
