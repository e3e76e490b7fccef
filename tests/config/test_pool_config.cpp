#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "config/pool_config.h"

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using nlohmann::json;

namespace dsvm {

using namespace dsvm::mount;
using namespace dsvm::users;
using namespace dsvm::config;
namespace {

const std::string k_file = "/etc/dsvm-agent/pool.json";
const std::string k_ed25519 =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOVBMq5Mpj6TIleWKV4Qi3ll8n4jG+wePC90IL4Y6klz alice@laptop";
const std::string k_ecdsa =
    "ecdsa-sha2-nistp256 "
    "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBKfmPlsASaYCdMIeZeTomVt+1CXEf3xx1IntENLOAC"
    "2QM21cZmnRIqSiVXoKEcPK0KeRAObtHHVdBsy3B7kbN+U=";
const std::string k_rsa =
    "ssh-rsa "
    "AAAAB3NzaC1yc2EAAAADAQABAAABgQCUnms4xFhjBLZRfi2Q3qnIfzdockAV3hXb0PFfOJX2bY1JGmSZo01EYSpWOB+8a+"
    "omAredv75cW/SoDKmXNV2nSt2eAWLwF0NXQ3P2FJZLIz5dW2U/qBJMJgRvmxQjzOWv5YGGctZci8pqBMN/YCoEB0jOl/"
    "00umsJWh/+Qkj0oQU0k0ZbGpy1YlpzLbBViiwnx7wsegVT0CDFU5ZX5SGy03PEX0GJlGI8/x0sonnXgOe8wCZnhFET+"
    "YSCHTTr0+3eSFUVqx8gPsZFTXw1Rjh0fcDWtYw9b6u3WHVvw/D9J4rSCvwEM13T24PJ57EB/"
    "RAU6e6YwlKsWfrxSv3ed87WFU"
    "DfdKkL/bY9EKQlamHKHbd7va2b6/WHyraion0gMH3jDPDI/ytl2EwvYZqR710HH8Q0nPVdqT18wme+BnQlPR+"
    "y06arhKKydzW3CRbj6dvKxSNomYPrcF240tUxvAkktPmVfCxydRBdkATEp0DI07FVSFSo+elS4og90NlNlQE= bob";
// The shape of an Azure storage account key: 64 random bytes in base64.
const std::string k_account_key =
    "gP//8omujeTMW9H4RTnm8AlY99ebmCjhKHc+VN8yDk7jim2IV7U6NDk9ODAR5wsP+v1g6J8odvmWkqIa05oIUw==";
const std::string k_sas = "sv=2022-11-02&ss=f&srt=sco&sp=rwdlc&se=2030-01-01&sig=Zm9vYmFyU2VjcmV0";

template <class T>
std::string error_of(const Result<T>& result) {
    return result ? std::string() : result.error().message;
}

Result<PoolConfig> build_file(const json& document) {
    auto layer = layer_from_file(document.dump(), k_file);
    if (!layer) {
        return layer.error();
    }
    return build_pool_config(merge_layers({layer.value()}));
}

// The error pool.json with this content gives, from the layer check or the build; "" if none.
std::string file_error(const json& document) {
    return error_of(build_file(document));
}

std::string user_data_error(const json& pool) {
    return error_of(layer_from_user_data(json{{"dsvmPool", pool}}.dump()));
}

json share_with(const json& fields) {
    json share = {{"source", "//acct.file.core.windows.net/dsvmshare"}};
    share.update(fields);
    return {{"share", share}};
}

std::string share_error(const json& fields) {
    return file_error(share_with(fields));
}

ShareConfig share_of(const json& share) {
    auto config = build_file({{"share", share}});
    REQUIRE(error_of(config) == "");
    REQUIRE(config->share);
    return *config->share;
}

}  // namespace

TEST_CASE("config: tags alone give share, type, mount point and users", "[config]") {
    const std::vector<ImdsTag> tags = {{"environment", "lab"},
                                       {"dsvm-share", "//acct.file.core.windows.net/dsvmshare"},
                                       {"dsvm-share-type", "smb"},
                                       {"dsvm-mount-point", "/datamnt/pool"},
                                       {"dsvm-users", "alice,bob"}};
    auto layer = layer_from_tags(tags);
    REQUIRE(error_of(layer) == "");
    CHECK(layer->origin == "IMDS tags");
    auto config = build_pool_config(merge_layers({layer.value()}));
    REQUIRE(error_of(config) == "");
    REQUIRE(config->share);
    CHECK(config->share->source == "//acct.file.core.windows.net/dsvmshare");
    CHECK(config->share->type == ShareType::Smb);
    CHECK(config->share->mount_point == "/datamnt/pool");
    REQUIRE(config->users.size() == 2);
    CHECK(config->users[0].name == "alice");
    CHECK(config->users[1].name == "bob");
    CHECK_FALSE(config->users[0].sudo);
}

TEST_CASE("config: tags without dsvm- prefix are ignored", "[config]") {
    auto layer = layer_from_tags({{"owner", "lab"}, {"storageKey", k_account_key}, {"dsvm", "x"}});
    REQUIRE(error_of(layer) == "");
    CHECK(layer->data == json::object());
}

TEST_CASE("config: dsvm-users is split on commas, trimmed, empty items skipped", "[config]") {
    auto layer = layer_from_tags({{"dsvm-users", " alice , ,bob,,  carol "}});
    REQUIRE(error_of(layer) == "");
    CHECK(layer->data ==
          json::parse(R"({"users": [{"name": "alice"}, {"name": "bob"}, {"name": "carol"}]})"));

    auto bad = layer_from_tags({{"dsvm-users", "alice,Bob"}});
    CHECK_THAT(error_of(bad), StartsWith("IMDS tag dsvm-users: users[1].name: user name 'Bob'"));
    auto twice = layer_from_tags({{"dsvm-users", "alice,alice"}});
    CHECK_THAT(error_of(twice), Contains("users[1].name: 'alice' is listed twice"));
    auto root = layer_from_tags({{"dsvm-users", "root"}});
    CHECK_THAT(error_of(root), Contains("reserved"));
}

TEST_CASE("config: dsvm tags are recognised in any case but must be spelt exactly", "[config]") {
    auto upper = layer_from_tags({{"DSVM-Share", "//h/share"}});
    CHECK_THAT(error_of(upper), StartsWith("IMDS tags: tag 'DSVM-Share' is not recognised"));
    CHECK_THAT(error_of(upper), Contains("use 'dsvm-share'"));
    auto unknown = layer_from_tags({{"dsvm-mountpoint", "/datamnt/x"}});
    CHECK_THAT(error_of(unknown), StartsWith("IMDS tags: unknown tag 'dsvm-mountpoint'"));
    CHECK_THAT(error_of(unknown),
               Contains("dsvm-share, dsvm-share-type, dsvm-mount-point, dsvm-users"));
    auto twice = layer_from_tags({{"dsvm-share", "//h/a"}, {"dsvm-share", "//h/b"}});
    CHECK_THAT(error_of(twice), Contains("appears twice"));
}

TEST_CASE("config: a bad tag value names the tag, the field and the rule", "[config]") {
    auto etc = layer_from_tags({{"dsvm-mount-point", "/datamnt/../etc"}});
    CHECK(error_of(etc) ==
          "IMDS tag dsvm-mount-point: share.mountPoint: '/datamnt/../etc' is not normalised: no "
          "'.', '..', '//' or trailing '/' allowed");
    auto type = layer_from_tags({{"dsvm-share-type", "cifs"}});
    CHECK_THAT(error_of(type), StartsWith("IMDS tag dsvm-share-type: share.type: 'cifs' is not "
                                          "one of smb, nfs, bind"));
    auto source = layer_from_tags({{"dsvm-share", "not a share"}});
    CHECK_THAT(error_of(source), StartsWith("IMDS tag dsvm-share: share.source:"));
}

TEST_CASE("config: userData alone gives a pool config", "[config]") {
    const std::string text = R"({"dsvmPool": {
        "share": {"source": "nfsacct.file.core.windows.net:/nfsacct/pool", "options": "nconnect=4"},
        "users": [{"name": "alice", "sudo": true, "groups": ["datasci"]}],
        "interval": 120},
        "other": {"tool": "settings of someone else"}})";
    auto layer = layer_from_user_data(text);
    REQUIRE(error_of(layer) == "");
    REQUIRE(*layer);
    CHECK((*layer)->origin == "IMDS userData");
    auto config = build_pool_config(merge_layers({**layer}));
    REQUIRE(error_of(config) == "");
    CHECK(config->share->type == ShareType::Nfs);
    CHECK(config->share->mount_point == "/datamnt/pool");
    CHECK(config->share->options == "nconnect=4");
    REQUIRE(config->users.size() == 1);
    CHECK(config->users[0].sudo);
    CHECK(config->users[0].groups == std::vector<std::string>{"datasci"});
    CHECK(config->interval == 120);
}

TEST_CASE("config: sudoAuthentication is password unless the pool says none", "[config]") {
    auto defaulted = build_pool_config(merge_layers({{k_file, json::object()}}));
    REQUIRE(error_of(defaulted) == "");
    CHECK(defaulted->sudo_authentication == SudoAuthentication::Password);
    CHECK(to_json(*defaulted)["sudoAuthentication"] == "password");

    // From userData too: the key is not taken for a secret.
    auto layer = layer_from_user_data(R"({"dsvmPool": {"sudoAuthentication": "none"}})");
    REQUIRE(error_of(layer) == "");
    REQUIRE(*layer);
    auto none = build_pool_config(merge_layers({**layer}));
    REQUIRE(error_of(none) == "");
    CHECK(none->sudo_authentication == SudoAuthentication::None);
    CHECK(to_json(*none)["sudoAuthentication"] == "none");

    CHECK_THAT(file_error({{"sudoAuthentication", "NOPASSWD"}}),
               Contains("sudoAuthentication: 'NOPASSWD' is not one of"));
    CHECK_THAT(file_error({{"sudoAuthentication", false}}),
               Contains("sudoAuthentication: expected a string, got a boolean"));
}

TEST_CASE("config: userData that holds no pool config is ignored", "[config]") {
    const std::string text =
        GENERATE(as<std::string>(), "#cloud-config\npackages:\n  - htop\n", "[{\"dsvmPool\": {}}]",
                 "{\"runcmd\": [\"echo hi\"]}", "\"dsvmPool\"", "", "{\"dsvmPool\": {}",
                 "{\"DsvmPool\": {\"interval\": 5}}");
    CAPTURE(text);
    auto layer = layer_from_user_data(text);
    REQUIRE(error_of(layer) == "");
    CHECK_FALSE(layer->has_value());
}

TEST_CASE("config: a dsvmPool that is not an object is refused", "[config]") {
    const json pool = GENERATE(json(nullptr), json::array(), json("//h/share"), json(3));
    auto layer = layer_from_user_data(json{{"dsvmPool", pool}}.dump());
    CHECK_THAT(error_of(layer), StartsWith("IMDS userData: dsvmPool: expected an object"));
}

TEST_CASE("config: pool.json alone gives a pool config", "[config]") {
    auto config = build_file(json::parse(R"({
        "share": {"source": "/srv/pool", "mountPoint": "/datamnt/demo"},
        "users": [{"name": "carol", "sshKeys": [")" +
                                         k_ed25519 + R"("]}],
        "notebooks": "nb/{user}", "uidRange": [30000, 39999]})"));
    REQUIRE(error_of(config) == "");
    CHECK(config->share->type == ShareType::Bind);
    CHECK(config->share->mount_point == "/datamnt/demo");
    CHECK(config->users[0].ssh_keys == std::vector<std::string>{k_ed25519});
    CHECK(config->notebooks == "nb/{user}");
    CHECK(config->uid_min == 30000);
    CHECK(config->uid_max == 39999);
}

TEST_CASE("config: pool.json must be a JSON object", "[config]") {
    CHECK_THAT(error_of(layer_from_file("[1, 2]", k_file)),
               StartsWith(k_file + ": not a JSON object"));
    CHECK_THAT(error_of(layer_from_file("", k_file)), StartsWith(k_file + ": not valid JSON"));
    // given a syntax error on line 3, we expect its position, and no echo of the text read
    const auto broken =
        layer_from_file("{\n  \"share\": {\n    \"source\": hunter2secret\n}}", k_file);
    CHECK_THAT(error_of(broken), StartsWith(k_file + ": not valid JSON: parse error at line 3"));
    CHECK_THAT(error_of(broken), !Contains("hunter2"));
    const auto bad_utf8 = layer_from_file("{\"notebooks\": \"\xff\xfe/{user}\"}", k_file);
    CHECK_THAT(error_of(bad_utf8), StartsWith(k_file + ": not valid JSON"));
}

TEST_CASE("config: tags override nothing, userData overrides tags field by field", "[config]") {
    auto tags = layer_from_tags({{"dsvm-share", "//acct.file.core.windows.net/dsvmshare"},
                                 {"dsvm-mount-point", "/datamnt/from-tags"},
                                 {"dsvm-users", "alice,bob"}});
    auto user_data = layer_from_user_data(
        R"({"dsvmPool": {"share": {"mountPoint": "/datamnt/from-user-data"}, "interval": 30}})");
    auto file = layer_from_file(
        R"({"share": {"options": "actimeo=30"}, "interval": 300, "notebooks": "work/{user}"})",
        k_file);
    REQUIRE(error_of(tags) == "");
    REQUIRE(error_of(user_data) == "");
    REQUIRE(error_of(file) == "");
    auto config = build_pool_config(merge_layers({*tags, **user_data, *file}));
    REQUIRE(error_of(config) == "");
    CHECK(config->share->source == "//acct.file.core.windows.net/dsvmshare");
    CHECK(config->share->mount_point == "/datamnt/from-user-data");
    CHECK(config->share->options == "actimeo=30");
    CHECK(config->users.size() == 2);
    CHECK(config->interval == 300);
    CHECK(config->notebooks == "work/{user}");
}

TEST_CASE("config: arrays replace whole, objects merge key by key", "[config]") {
    const ConfigLayer first{"a", json::parse(R"({"users": [{"name": "alice"}, {"name": "bob"}],
        "share": {"source": "//h/s", "options": "actimeo=30"}, "uidRange": [20000, 29999]})")};
    const ConfigLayer second{"b", json::parse(R"({"users": [{"name": "carol", "sudo": true}],
        "share": {"type": "smb"}, "uidRange": [30000, 39999]})")};
    const json merged = merge_layers({first, second});
    CHECK(merged == json::parse(R"({"users": [{"name": "carol", "sudo": true}],
        "share": {"source": "//h/s", "options": "actimeo=30", "type": "smb"},
        "uidRange": [30000, 39999]})"));
    CHECK(merge_layers({}) == json::object());
}

TEST_CASE("config: a type from one layer contradicting a source from another is refused",
          "[config]") {
    const ConfigLayer tags{"IMDS tags", {{"share", {{"source", "//h/share"}}}}};
    const ConfigLayer file{k_file, {{"share", {{"type", "nfs"}}}}};
    auto config = build_pool_config(merge_layers({tags, file}));
    CHECK(error_of(config) ==
          "share.type: 'nfs' contradicts share.source, which is an SMB share (//host/share)");
}

TEST_CASE("config: unknown keys are named by their path with the allowed keys", "[config]") {
    CHECK(file_error({{"shares", json::object()}}) ==
          k_file +
              ": shares: unknown key (did you mean 'share'?); allowed keys at the top level: "
              "share, users, notebooks, uidRange, interval, keyVault, sudoAuthentication");
    CHECK(share_error({{"mountpiont", "/datamnt/x"}}) ==
          k_file +
              ": share.mountpiont: unknown key (did you mean 'mountPoint'?); allowed keys in "
              "share: source, type, mountPoint, options, smbAccess");
    const json users = json::parse(
        R"({"users": [{"name": "a1"}, {"name": "a2"}, {"name": "a3", "shell": "/bin/zsh"}]})");
    CHECK(file_error(users) == k_file +
                                   ": users[2].shell: unknown key; allowed keys in users[2]: "
                                   "name, sudo, sshKeys, groups");
    CHECK_THAT(user_data_error({{"Interval", 60}}), StartsWith("IMDS userData: Interval: unknown"));
}

TEST_CASE("config: wrong JSON types name the path and the expected type", "[config]") {
    CHECK(file_error({{"share", "//h/s"}}) ==
          k_file +
              ": share: expected an object with source, type, mountPoint, options, "
              "smbAccess, got a string");
    CHECK(share_error({{"mountPoint", 7}}) ==
          k_file + ": share.mountPoint: expected a string, got an integer");
    CHECK(file_error({{"users", {{"name", "alice"}}}}) ==
          k_file + ": users: expected an array of user objects, got an object");
    CHECK_THAT(
        file_error({{"users", {"alice"}}}),
        Contains("users[0]: expected an object such as {\"name\": \"alice\"}, got a string"));
    CHECK_THAT(file_error({{"users", {{{"name", "a"}, {"sudo", "yes"}}}}}),
               Contains("users[0].sudo: expected a boolean (true or false), got a string"));
    CHECK_THAT(
        file_error({{"users", {{{"name", "a"}, {"sshKeys", k_ed25519}}}}}),
        Contains("users[0].sshKeys: expected an array of OpenSSH public keys, got a string"));
    CHECK_THAT(file_error({{"users", {{{"name", "a"}, {"groups", {1}}}}}}),
               Contains("users[0].groups[0]: expected a string, got an integer"));
    CHECK_THAT(file_error({{"users", {{{"name", nullptr}}}}}),
               Contains("users[0].name: expected a string, got null"));
    CHECK_THAT(file_error({{"notebooks", true}}), Contains("notebooks: expected a string"));
    CHECK_THAT(file_error({{"share", nullptr}}), Contains("share: expected an object"));
}

TEST_CASE("config: share.type is inferred from the shape of the source", "[config]") {
    CHECK(share_of({{"source", "//acct.file.core.windows.net/dsvmshare"}}).type == ShareType::Smb);
    CHECK(share_of({{"source", "//10.0.0.4/pool/sub/dir"}}).type == ShareType::Smb);
    CHECK(share_of({{"source", "//[fd00::4]/pool"}}).type == ShareType::Smb);
    CHECK(share_of({{"source", "acct.file.core.windows.net:/acct/pool"}}).type == ShareType::Nfs);
    CHECK(share_of({{"source", "10.0.0.5:/export/pool"}}).type == ShareType::Nfs);
    CHECK(share_of({{"source", "[fd00::5]:/export/pool"}}).type == ShareType::Nfs);
    CHECK(share_of({{"source", "[::ffff:10.0.0.5]:/export/pool"}}).type == ShareType::Nfs);
    CHECK(share_of({{"source", "/srv/pool"}}).type == ShareType::Bind);
    CHECK(share_of({{"source", "//h/pool"}, {"type", "smb"}}).type == ShareType::Smb);
    CHECK(share_of({{"source", "h:/pool"}, {"type", "nfs"}}).type == ShareType::Nfs);
    CHECK(share_of({{"source", "/srv/pool"}, {"type", "bind"}}).type == ShareType::Bind);
}

TEST_CASE("config: a share.type that contradicts the source is refused", "[config]") {
    CHECK(file_error({{"share", {{"source", "h:/pool"}, {"type", "smb"}}}}) ==
          "share.type: 'smb' contradicts share.source, which is an NFS export (host:/export)");
    CHECK_THAT(file_error({{"share", {{"source", "/srv/pool"}, {"type", "nfs"}}}}),
               Contains("which is a local directory (bind)"));
    CHECK_THAT(file_error({{"share", {{"source", "//h/pool"}, {"type", "bind"}}}}),
               Contains("which is an SMB share"));
    CHECK_THAT(share_error({{"type", "SMB"}}), Contains("share.type: 'SMB' is not one of"));
}

TEST_CASE("config: malformed share sources are refused naming the rule", "[config]") {
    using Case = std::pair<std::string, std::string>;
    const Case bad = GENERATE(
        Case{"", "is empty"}, Case{"share", "is not a share source"}, Case{"//", "host '' in '//'"},
        Case{"//host", "names no share"}, Case{"//host/", "is not normalised"},
        Case{"//host/a//b", "is not normalised"}, Case{"//host/share/../x", "is not normalised"},
        Case{"//-bad-/share", "host '-bad-'"}, Case{"//ho_st/share", "is not a DNS name"},
        Case{"//999.1.1.1/share", "host '999.1.1.1'"},
        Case{"//[fd00::1/share", "not a DNS name or an IPv4 or [IPv6] address"},
        Case{"//[1:2:3:4:5:6:7:8:9]/s", "[IPv6]"}, Case{"host:", "is not an NFS export"},
        Case{"host:export", "is not an NFS export"}, Case{"fd00::1:/export", "in brackets"},
        Case{"host:/a/./b", "is not normalised"}, Case{"https://acct/share", "is a URL"},
        Case{"\\\\host\\share", "uses backslashes"}, Case{"//host/sh are", "contains whitespace"},
        Case{"//host/share,uid=0", "contains ','"}, Case{"//host/share\tx", "control character"},
        Case{"//host/sh;are", "contains ';'"}, Case{"/", "'/' is the root directory"},
        Case{"/etc", "is a system directory; use a dedicated path such as /srv/<share>"},
        Case{"/var/lib/pool", "inside the system directory /var"}, Case{"/home", "would cover"});
    CAPTURE(bad.first);
    CHECK_THAT(share_error({{"source", bad.first}}),
               StartsWith(k_file + ": share.source:") && Contains(bad.second));
}

TEST_CASE("config: credentials in the source are refused and never shown", "[config]") {
    const std::string source = "//pooluser:Hunter2Secret@acct.file.core.windows.net/share";
    const std::string from_file = share_error({{"source", source}});
    CHECK_THAT(from_file, StartsWith(k_file + ": share.source: contains '@' (value not shown)"));
    CHECK_THAT(from_file, Contains("/etc/dsvm-agent/credentials/<account>.cred"));
    const std::string from_metadata = user_data_error({{"share", {{"source", source}}}});
    CHECK_THAT(from_metadata, StartsWith("IMDS userData: share.source:"));
    for (const auto& message : {from_file, from_metadata}) {
        CHECK_THAT(message, !Contains("Hunter2") && !Contains("pooluser"));
    }
    const std::string sas_file = share_error({{"source", "//acct/share?" + k_sas}});
    CHECK_THAT(sas_file, Contains("value not shown") && !Contains("Zm9vYmFy"));
}

TEST_CASE("config: mount points must be dedicated, absolute, normalised paths", "[config]") {
    const std::string good =
        GENERATE(as<std::string>(), "/datamnt/dsvmshare", "/mnt/pool", "/srv/pool/data", "/data",
                 "/homework", "/etcetera", "/opt/lab-1.2_x+y~");
    CAPTURE(good);
    CHECK(share_of({{"source", "//h/share"}, {"mountPoint", good}}).mount_point == good);
}

TEST_CASE("config: mount points inside homes, root's home or /tmp are refused", "[config]") {
    // A share mounted over ~/.ssh would put its writer's authorized_keys there, owned by root.
    for (const char* inside : {"/root/.ssh", "/home/azureuser/.ssh", "/home/pool", "/tmp/share"}) {
        CAPTURE(inside);
        CHECK_THAT(share_error({{"source", "//h/share"}, {"mountPoint", inside}}),
                   Contains("where users' or root's own files live"));
    }
}

TEST_CASE("config: a mount point from a tag must be under /datamnt", "[config]") {
    for (const char* elsewhere : {"/root/.ssh", "/opt/conda/bin", "/mnt/pool", "/datamnt/"}) {
        CAPTURE(elsewhere);
        CHECK_THAT(error_of(layer_from_tags({{"dsvm-mount-point", elsewhere}})),
                   Contains("IMDS tag dsvm-mount-point") &&
                       (Contains("is not under /datamnt") || Contains("is not normalised")));
    }
    CHECK(error_of(layer_from_tags({{"dsvm-mount-point", "/datamnt/pool"}})).empty());
}

TEST_CASE("config: system and top-level directories are refused as mount points", "[config]") {
    using Case = std::pair<std::string, std::string>;
    const Case bad = GENERATE(
        Case{"/", "'/' is the root directory; use a dedicated path such as /datamnt/<share>"},
        Case{"/etc", "'/etc' is a system directory; use a dedicated path such as /datamnt/<share>"},
        Case{"/usr", "'/usr' is a system directory"},
        Case{"/usr/local", "'/usr/local' is inside the system directory /usr"},
        Case{"/var/lib/pool", "inside the system directory /var"},
        Case{"/proc/self", "inside the system directory /proc"},
        Case{"/lib64", "is a system directory"},
        Case{"/home", "'/home' would cover everything in /home"}, Case{"/tmp", "would cover"},
        Case{"/root", "would cover"}, Case{"/datamnt", "would cover"},
        Case{"/etc/../etc", "is not normalised"}, Case{"/datamnt/./x", "is not normalised"},
        Case{"/datamnt//x", "is not normalised"}, Case{"/datamnt/x/", "is not normalised"},
        Case{"datamnt/x", "'datamnt/x' is not an absolute path"}, Case{"", "is empty"},
        Case{"/data mnt", "contains whitespace"},
        Case{"/data\nmnt", "'/data\\x0amnt' contains a control character"},
        Case{"/data$mnt", "contains '$'"});
    CAPTURE(bad.first);
    CHECK_THAT(share_error({{"mountPoint", bad.first}}),
               StartsWith(k_file + ": share.mountPoint: ") && Contains(bad.second));
}

TEST_CASE("config: the default mount point is /datamnt/<share name>", "[config]") {
    CHECK(share_of({{"source", "//acct.file.core.windows.net/dsvmshare"}}).mount_point ==
          "/datamnt/dsvmshare");
    CHECK(share_of({{"source", "//h/share/sub/dir"}}).mount_point == "/datamnt/share");
    CHECK(share_of({{"source", "acct.file.core.windows.net:/acct/share"}}).mount_point ==
          "/datamnt/share");
    CHECK(share_of({{"source", "/srv/lab/pool"}}).mount_point == "/datamnt/pool");
    CHECK(share_of({{"source", "h:/"}, {"mountPoint", "/datamnt/root"}}).mount_point ==
          "/datamnt/root");
    CHECK_THAT(share_error({{"source", "h:/"}}),
               Contains("share.mountPoint: no default /datamnt/<share name> can be derived"));
    CHECK_THAT(share_error({{"source", "//winserver/pool$"}}), Contains("set share.mountPoint"));
    CHECK(share_of({{"source", "//winserver/pool$"}, {"mountPoint", "/datamnt/pool"}}).source ==
          "//winserver/pool$");
}

TEST_CASE("config: a bind share may not be mounted onto itself", "[config]") {
    CHECK_THAT(share_error({{"source", "/srv/pool"}, {"mountPoint", "/srv/pool"}}),
               Contains("share.mountPoint: '/srv/pool' is the bind source itself"));
}

TEST_CASE("config: share.options are plain key or key=value items", "[config]") {
    const std::string good =
        GENERATE(as<std::string>(), "", "actimeo=30", "vers=3.1.1,nconnect=4,cache=strict", "ro",
                 "x-systemd.idle=5min", "a=b:c/d+e-f_g.h");
    CAPTURE(good);
    CHECK(share_of({{"source", "//h/share"}, {"options", good}}).options == good);
}

TEST_CASE("config: share.options that are not plain items are refused", "[config]") {
    using Case = std::pair<std::string, std::string>;
    const Case bad = GENERATE(Case{",", "empty item"}, Case{"a,,b", "empty item"},
                              Case{"actimeo=30,", "empty item"}, Case{"=x", "has no key"},
                              Case{"a b", "contains ' '"}, Case{"a;b", "contains ';'"},
                              Case{"uid=$(id)", "contains '$'"}, Case{"a\nb", "contains '\\x0a'"});
    CAPTURE(bad.first);
    CHECK_THAT(share_error({{"options", bad.first}}),
               StartsWith(k_file + ": share.options: ") && Contains(bad.second));
}

TEST_CASE("config: share.options refuse credential-bearing keys without showing values",
          "[config]") {
    const std::string option = GENERATE(
        as<std::string>(), "password=Hunter2Secret", "Password=Hunter2Secret", "pass=Hunter2Secret",
        "password2=Hunter2Secret", "user=Hunter2Secret", "username=Hunter2Secret",
        "credentials=/root/Hunter2Secret", "cred=/root/Hunter2Secret");
    CAPTURE(option);
    const std::string message = share_error({{"options", "vers=3.1.1," + option}});
    CHECK_THAT(message, StartsWith(k_file + ": share.options: option '"));
    CHECK_THAT(message, Contains("would carry a credential") && !Contains("Hunter2"));
    CHECK_THAT(message, Contains("dsvm-agent credentials set"));
}

TEST_CASE("config: smbAccess is per-user by default, or shared", "[config]") {
    CHECK(share_of({{"source", "//h/share"}}).smb_access == SmbAccess::PerUser);
    CHECK(share_of({{"source", "//h/share"}, {"smbAccess", "shared"}}).smb_access ==
          SmbAccess::Shared);
    CHECK(share_of({{"source", "//h/share"}, {"smbAccess", "per-user"}}).smb_access ==
          SmbAccess::PerUser);
    CHECK(share_error({{"smbAccess", "public"}}) ==
          k_file + ": share.smbAccess: 'public' is not one of per-user, shared");
}

TEST_CASE("config: a share needs a source, a config without a share is allowed", "[config]") {
    CHECK(file_error({{"share", {{"mountPoint", "/datamnt/x"}}}}) ==
          "share.source: required when share is set (//host/share, host:/export or a local "
          "directory)");
    auto users_only = build_file({{"users", {{{"name", "alice"}}}}});
    REQUIRE(error_of(users_only) == "");
    CHECK_FALSE(users_only->share);
    CHECK(users_only->users.size() == 1);
}

TEST_CASE("config: user entries follow the user and group name rules", "[config]") {
    auto config = build_file(json::parse(
        R"({"users": [{"name": "alice", "sudo": true, "groups": ["datasci", "video", "_lab-1"]},
                      {"name": "svc-2", "sudo": false}]})"));
    REQUIRE(error_of(config) == "");
    CHECK(config->users[0].groups == std::vector<std::string>{"datasci", "video", "_lab-1"});
    CHECK(config->users[1].name == "svc-2");
    CHECK_FALSE(config->users[1].sudo);

    const auto user_error = [](const json& user) { return file_error({{"users", {user}}}); };
    CHECK_THAT(user_error({{"sudo", true}}), Contains("users[0].name: required"));
    CHECK_THAT(user_error({{"name", "Alice"}}),
               Contains("users[0].name: user name 'Alice' is not allowed"));
    CHECK_THAT(user_error({{"name", "root"}}),
               Contains("users[0].name: user name 'root' is reserved"));
    CHECK_THAT(user_error({{"name", std::string(33, 'a')}}), Contains("33 characters long"));
    CHECK_THAT(user_error({{"name", "a"}, {"groups", {"Docker"}}}),
               Contains("users[0].groups[0]: group name 'Docker' is not allowed"));
    CHECK_THAT(user_error({{"name", "a"}, {"groups", {"1lab"}}}), Contains("group name '1lab'"));
    CHECK_THAT(user_error({{"name", "a"}, {"groups", {std::string(33, 'g')}}}),
               Contains("users[0].groups[0]: group name"));
    CHECK_THAT(user_error({{"name", "a"}, {"groups", {"video", "video"}}}),
               Contains("users[0].groups[1]: 'video' is listed twice (also users[0].groups[0])"));
    CHECK(file_error(json::parse(R"({"users": [{"name": "alice"}, {"name": "alice"}]})")) ==
          k_file + ": users[1].name: 'alice' is listed twice (also users[0])");
}

// Given a privileged group in users[].groups, we expect the whole config to be Invalid (exit
// status 2) with the group named: sudo comes only from "sudo": true (docs/pool-config.md).
TEST_CASE("config: privileged groups are never granted through groups", "[config]") {
    const std::string group = GENERATE(as<std::string>(), "sudo", "docker", "root", "adm", "shadow",
                                       "disk", "lxd", "libvirt", "dsvm-sudo", "wheel", "admin");
    CAPTURE(group);
    auto config = build_file({{"users", {{{"name", "alice"}, {"groups", {"video", group}}}}}});
    REQUIRE_FALSE(config);
    CHECK(config.error().kind == ErrorKind::Invalid);
    CHECK(exit_status_for(config.error()) == 2);
    CHECK_THAT(config.error().message,
               StartsWith(k_file + ": users[0].groups[1]: group '" + group + "' is privileged") &&
                   Contains("sudo comes only from \"sudo\": true"));
    // The same list reaches the config through userData and is refused there too.
    CHECK_THAT(user_data_error({{"users", {{{"name", "alice"}, {"groups", {group}}}}}}),
               Contains("users[0].groups[0]: group '" + group + "' is privileged"));
}

// Given a user named after what a package creates later, or after the agent's own groups, we
// expect the config to be refused, naming the value and the rule.
TEST_CASE("config: reserved user names are refused in every source", "[config]") {
    const auto user_error = [](const std::string& name) {
        return file_error({{"users", {{{"name", name}}}}});
    };
    CHECK_THAT(user_error("dsvm-sudo"),
               Contains("users[0].name: user name 'dsvm-sudo' is reserved: names starting with "
                        "'dsvm-'"));
    CHECK_THAT(user_error("docker"),
               Contains("users[0].name: user name 'docker' is reserved: it is a privileged group"));
    CHECK_THAT(user_error("postgres"),
               Contains("users[0].name: user name 'postgres' is reserved for postgresql"));
    CHECK_THAT(user_error("_svc-2"), Contains("user name '_svc-2' is reserved"));
    CHECK_THAT(error_of(layer_from_tags({{"dsvm-users", "alice,lxd"}})),
               StartsWith("IMDS tag dsvm-users: users[1].name: user name 'lxd' is reserved"));
}

TEST_CASE("config: ssh keys are one-line OpenSSH public keys of known types", "[config]") {
    const std::string good = GENERATE_COPY(
        as<std::string>(), k_ed25519, k_rsa, k_ecdsa, k_ed25519.substr(0, k_ed25519.rfind(' ')),
        std::string(
            "ssh-ed25519  AAAAC3NzaC1lZDI1NTE5AAAAIOVBMq5Mpj6TIleWKV4Qi3ll8n4jG+wePC90IL4Y6klz "
            "Alice's key (2024)"));
    CAPTURE(good);
    auto config = build_file({{"users", {{{"name", "alice"}, {"sshKeys", {good}}}}}});
    REQUIRE(error_of(config) == "");
    CHECK(config->users[0].ssh_keys == std::vector<std::string>{good});
}

TEST_CASE("config: ssh keys of unknown types, several lines or bad data are refused", "[config]") {
    const std::string ed_data =
        "AAAAC3NzaC1lZDI1NTE5AAAAIOVBMq5Mpj6TIleWKV4Qi3ll8n4jG+wePC90IL4Y6klz";
    using Case = std::pair<std::string, std::string>;
    const Case bad = GENERATE_COPY(
        Case{"ssh-dss AAAAB3NzaC1kc3MAAACBAP", "key type 'ssh-dss' is not accepted"},
        Case{"command=\"/bin/sh\" " + k_ed25519, "authorized_keys options"},
        Case{k_ed25519 + "\n" + k_ecdsa, "contains a line break; give one key per array item"},
        Case{k_ed25519 + "\r", "line break"}, Case{"ssh-ed25519", "has no key data"},
        Case{"ssh-ed25519 ", "has no key data"}, Case{"ssh-ed25519 AAAA$bad", "is not base64"},
        Case{"ssh-ed25519 " + ed_data + "=", "is not base64"},
        Case{"ssh-rsa " + ed_data, "does not hold a ssh-rsa key"},
        Case{"ssh-ed25519 AAAAC3NzaC1l", "does not hold a ssh-ed25519 key"},
        Case{"ssh-ed25519 " + ed_data +
                 " a\x01"
                 "b",
             "control character"},
        Case{"", "key type '' is not accepted"});
    CAPTURE(bad.first);
    CHECK_THAT(file_error({{"users", {{{"name", "alice"}, {"sshKeys", {k_ed25519, bad.first}}}}}}),
               StartsWith(k_file + ": users[0].sshKeys[1]: ") && Contains(bad.second));
}

TEST_CASE("config: notebooks is a relative pattern with {user} once", "[config]") {
    auto defaults = build_file(json::object());
    REQUIRE(error_of(defaults) == "");
    CHECK(defaults->notebooks == "notebooks/{user}");
    const std::string good = GENERATE(as<std::string>(), "notebooks/{user}", "{user}",
                                      "nb-{user}/work", "lab/2024/{user}.d");
    CAPTURE(good);
    auto config = build_file({{"notebooks", good}});
    REQUIRE(error_of(config) == "");
    CHECK(config->notebooks == good);
}

TEST_CASE("config: notebooks patterns that are absolute, lack {user} or climb out are refused",
          "[config]") {
    using Case = std::pair<std::string, std::string>;
    const Case bad = GENERATE(
        Case{"", "is empty"}, Case{"/notebooks/{user}", "must be relative"},
        Case{"notebooks", "must contain {user} exactly once"},
        Case{"{user}/{user}", "exactly once"}, Case{"{User}", "exactly once"},
        Case{"../{user}", "not normalised"}, Case{"a/./{user}", "not normalised"},
        Case{"notebooks//{user}", "not normalised"}, Case{"notebooks/{user}/", "not normalised"},
        Case{"{user}}", "brace outside {user}"}, Case{"a b/{user}", "contains whitespace"},
        Case{"a\x7f/{user}", "control character"}, Case{"a*/{user}", "contains '*'"});
    CAPTURE(bad.first);
    CHECK_THAT(file_error({{"notebooks", bad.first}}),
               StartsWith(k_file + ": notebooks: ") && Contains(bad.second));
}

TEST_CASE("config: uidRange stays within 1000..2147483646 and clear of 60001-65535", "[config]") {
    using Range = std::pair<std::uint32_t, std::uint32_t>;
    const Range good = GENERATE(Range{20000, 59999}, Range{1000, 1000}, Range{1000, 60000},
                                Range{65536, 2147483646});
    auto config = build_file({{"uidRange", {good.first, good.second}}});
    REQUIRE(error_of(config) == "");
    CHECK(config->uid_min == good.first);
    CHECK(config->uid_max == good.second);
}

TEST_CASE("config: uidRange outside the rules is refused, naming the rule", "[config]") {
    using Case = std::pair<std::string, std::string>;
    const Case bad = GENERATE(
        Case{"[999, 5000]", "[999, 5000] starts below 1000"},
        Case{"[30000, 20000]", "[30000, 20000] is empty: the minimum is greater than the maximum"},
        Case{"[50000, 70000]", "[50000, 70000] overlaps 60001-65535"},
        Case{"[60001, 60001]", "overlaps 60001-65535"}, Case{"[65535, 70000]", "overlaps"},
        Case{"[1000, 2147483647]", "ends above 2147483646"},
        Case{"[-1, 5000]", "starts below 1000"},
        Case{"[1000, 18446744073709551615]", "ends above 2147483646"},
        Case{"[1, 2, 3]", "uidRange: expected [min, max], an array of two integers, got an array"},
        Case{"[20000]", "expected [min, max]"}, Case{"\"20000-59999\"", "got a string"},
        Case{"[20000.0, 30000]", "uidRange[0]: expected an integer, got a floating-point number"},
        Case{"[20000, \"30000\"]", "uidRange[1]: expected an integer, got a string"});
    CAPTURE(bad.first);
    const auto layer = layer_from_file("{\"uidRange\": " + bad.first + "}", k_file);
    CHECK_THAT(error_of(layer), StartsWith(k_file + ": uidRange") && Contains(bad.second));
}

TEST_CASE("config: interval is whole seconds from 10 to 86400", "[config]") {
    const int good = GENERATE(10, 60, 86400);
    auto config = build_file({{"interval", good}});
    REQUIRE(error_of(config) == "");
    CHECK(config->interval == good);
}

TEST_CASE("config: interval out of range or not an integer is refused", "[config]") {
    using Case = std::pair<std::string, std::string>;
    const Case bad = GENERATE(
        Case{"9", "interval: 9 is out of range: an integer number of seconds from 10 to 86400"},
        Case{"86401", "86401 is out of range"}, Case{"0", "0 is out of range"},
        Case{"-60", "-60 is out of range"},
        Case{"99999999999999999999", "expected an integer number of seconds, got a floating"},
        Case{"18446744073709551615", "is out of range"},
        Case{"60.0", "expected an integer number of seconds, got a floating-point number"},
        Case{"6e1", "got a floating-point number"}, Case{"\"60\"", "got a string"},
        Case{"null", "got null"}, Case{"[60]", "got an array"});
    CAPTURE(bad.first);
    CHECK_THAT(error_of(layer_from_file("{\"interval\": " + bad.first + "}", k_file)),
               StartsWith(k_file + ": interval: ") && Contains(bad.second));
}

TEST_CASE("config: an empty config gets every default", "[config]") {
    auto config = build_pool_config(merge_layers({}));
    REQUIRE(error_of(config) == "");
    CHECK_FALSE(config->share);
    CHECK(config->users.empty());
    CHECK(config->notebooks == "notebooks/{user}");
    CHECK(config->uid_min == 20000);
    CHECK(config->uid_max == 59999);
    CHECK(config->interval == 60);
    const ShareConfig share = share_of({{"source", "//h/share"}});
    CHECK(share.options == "");
    CHECK(share.smb_access == SmbAccess::PerUser);
}

TEST_CASE("config: secret-named tags are refused without showing their value", "[config]") {
    const std::string name =
        GENERATE(as<std::string>(), "dsvm-storage-key", "DSVM-Storage-Key", "dsvm-sas",
                 "dsvm-password", "dsvm-share-token", "dsvm-credentials", "dsvm-secret");
    CAPTURE(name);
    const std::string message =
        error_of(layer_from_tags({{"dsvm-share", "//h/share"}, {name, k_account_key}}));
    CHECK_THAT(message, StartsWith("IMDS tags: tag '" + name + "' is named like a secret"));
    CHECK_THAT(message, Contains("secrets never come from instance metadata"));
    CHECK_THAT(message, Contains("/etc/dsvm-agent/credentials/<account>.cred"));
    CHECK_THAT(message, !Contains(k_account_key.substr(0, 12)));
}

TEST_CASE("config: secret values in tags are refused without showing them", "[config]") {
    const std::string message =
        error_of(layer_from_tags({{"dsvm-share", "//acct.file.core.windows.net/share?" + k_sas}}));
    CHECK_THAT(message, StartsWith("IMDS tag dsvm-share: share.source: looks like"));
    CHECK_THAT(message, Contains("secrets never come from instance metadata"));
    CHECK_THAT(message, !Contains("Zm9vYmFy") && !Contains("sig="));
    const std::string users = error_of(layer_from_tags({{"dsvm-users", k_account_key}}));
    CHECK_THAT(users, Contains("secrets never come from instance metadata"));
    CHECK_THAT(users, !Contains(k_account_key.substr(0, 12)));
}

TEST_CASE("config: secrets in userData are refused, never shown, and win over unknown keys",
          "[config]") {
    using Case = std::pair<json, std::string>;
    const Case given = GENERATE_COPY(
        Case{{{"share", {{"source", "//h/s"}, {"storageAccountKey", k_account_key}}}},
             "share.storageAccountKey: a key named like a secret"},
        Case{{{"password", "Hunter2Secret"}}, "password: a key named like a secret"},
        Case{{{"users", {{{"name", "a"}, {"Token", "Hunter2Secret"}}}}}, "users[0].Token: a key"},
        Case{{{"share", {{"source", "//h/s"}, {"options", "actimeo=30,x=" + k_account_key}}}},
             "share.options: looks like a storage account key or SAS token (value not shown)"},
        Case{{{"share", {{"source", "//h/s?" + k_sas}}}}, "share.source: looks like"},
        Case{{{"notes", {{"mine", {"x", k_account_key}}}}}, "notes.mine[1]: looks like"},
        Case{{{"share", {{"mountPoint", "/datamnt/" + k_account_key}}}},
             "share.mountPoint: looks"});
    CAPTURE(given.first.dump());
    const std::string message = user_data_error(given.first);
    CHECK_THAT(message, StartsWith("IMDS userData: " + given.second));
    CHECK_THAT(message, Contains("secrets never come from instance metadata, which any process "
                                 "on the VM can read"));
    CHECK_THAT(message, Contains("extension's protected settings") &&
                            Contains("dsvm-agent credentials set"));
    CHECK_THAT(message, !Contains("Hunter2") && !Contains(k_account_key.substr(0, 12)) &&
                            !Contains("Zm9vYmFy"));
}

TEST_CASE("config: sshKeys is the one key name with 'key' in it that metadata may carry",
          "[config]") {
    auto layer = layer_from_user_data(
        json{{"dsvmPool", {{"users", {{{"name", "alice"}, {"sshKeys", {k_rsa, k_ecdsa}}}}}}}}
            .dump());
    CHECK(error_of(layer) == "");
    CHECK_THAT(user_data_error({{"users", {{{"name", "a"}, {"SSHKeys", {k_rsa}}}}}}),
               Contains("users[0].SSHKeys: a key named like a secret"));
}

TEST_CASE("config: pool.json may not carry secrets in options or show them", "[config]") {
    const std::string unknown = share_error({{"storageAccountKey", k_account_key}});
    CHECK_THAT(unknown, StartsWith(k_file + ": share.storageAccountKey: unknown key"));
    CHECK_THAT(unknown, Contains("/etc/dsvm-agent/credentials/<account>.cred"));
    CHECK_THAT(unknown, !Contains(k_account_key.substr(0, 12)));
    // given a value that looks like a key where a path belongs, we expect it hidden
    const std::string hidden = share_error({{"mountPoint", "rel/" + k_account_key}});
    CHECK_THAT(hidden, Contains("not shown") && !Contains(k_account_key.substr(0, 12)));
}

TEST_CASE("config: hostile input is refused with short, printable messages", "[config]") {
    SECTION("very long strings") {
        const std::string huge(1 << 20, 'a');
        for (const json& document :
             {share_with({{"source", "//h/" + huge}}), share_with({{"mountPoint", "/" + huge}}),
              share_with({{"options", huge}}), json{{"notebooks", huge + "{user}"}},
              json{{"users", {{{"name", huge}}}}}, json{{huge, 1}},
              json{{"users", {{{"name", "a"}, {"sshKeys", {"ssh-rsa " + huge}}}}}}}) {
            const std::string message = file_error(document);
            CHECK_FALSE(message.empty());
            CHECK(message.size() < 400);
        }
    }
    SECTION("control characters and NUL bytes inside strings") {
        const std::string nul("/datamnt/a\0b", 12);
        const std::string message = share_error({{"mountPoint", nul}});
        CHECK_THAT(message, Contains("'/datamnt/a\\x00b' contains a control character"));
        CHECK(message.find('\0') == std::string::npos);
        const auto from_text = layer_from_file(R"({"notebooks": "nb/\u0000/{user}"})", k_file);
        CHECK_THAT(error_of(from_text),
                   Contains("notebooks: 'nb/\\x00/{user}' contains a control"));
        const auto tag = layer_from_tags({{"dsvm-users", std::string("alice,b\0b", 9)}});
        CHECK_THAT(error_of(tag), Contains("'b\\x00b' is not allowed"));
        const auto tag_name = layer_from_tags({{std::string("dsvm-\x1b[2J", 9), "x"}});
        CHECK_THAT(error_of(tag_name), Contains("unknown tag 'dsvm-\\x1b[2J'"));
        const std::string key = file_error({{"share\n", 1}});
        CHECK_THAT(key, Contains("share\\x0a: unknown key"));
    }
    SECTION("deep nesting") {
        const std::string deep = std::string(100000, '[') + std::string(100000, ']');
        CHECK_THAT(error_of(layer_from_user_data("{\"dsvmPool\": {\"users\": " + deep + "}}")),
                   StartsWith("IMDS userData: pool config: nested deeper than 16 levels"));
        CHECK_THAT(error_of(layer_from_file("{\"x\": " + deep + "}", k_file)),
                   Contains("nested deeper"));
        // given a deep array as the whole userData, we expect it ignored like any non-object
        auto ignored = layer_from_user_data(deep);
        REQUIRE(ignored);
        CHECK_FALSE(ignored->has_value());
    }
    SECTION("numbers out of range, negative, or with fractions") {
        CHECK_THAT(error_of(layer_from_file(R"({"interval": 1e400})", k_file)),
                   StartsWith(k_file + ": not valid JSON"));
        CHECK_THAT(error_of(layer_from_file(R"({"interval": -1e3})", k_file)),
                   Contains("got a floating-point number"));
        CHECK_THAT(error_of(layer_from_file(R"({"uidRange": [-20000, -10000]})", k_file)),
                   Contains("starts below 1000"));
        CHECK_THAT(error_of(layer_from_file(R"({"users": [{"name": "a", "sudo": 1}]})", k_file)),
                   Contains("expected a boolean"));
    }
}

TEST_CASE("config: to_json gives the canonical form, which round-trips", "[config]") {
    const json document = json::parse(R"({
        "share": {"source": "//acct.file.core.windows.net/dsvmshare/sub", "options": "actimeo=30",
                  "smbAccess": "shared"},
        "users": [{"name": "alice", "sudo": true, "sshKeys": [")" +
                                      k_ed25519 + R"("]},
                  {"name": "bob", "groups": ["datasci"]}],
        "notebooks": "nb/{user}", "uidRange": [70000, 80000], "interval": 15,
        "sudoAuthentication": "none"})");
    auto config = build_file(document);
    REQUIRE(error_of(config) == "");
    const json canonical = to_json(*config);
    CHECK(canonical == json::parse(R"({
        "share": {"source": "//acct.file.core.windows.net/dsvmshare/sub", "type": "smb",
                  "mountPoint": "/datamnt/dsvmshare", "options": "actimeo=30",
                  "smbAccess": "shared"},
        "users": [{"name": "alice", "sudo": true, "sshKeys": [")" +
                                   k_ed25519 + R"("],
                   "groups": []},
                  {"name": "bob", "sudo": false, "sshKeys": [], "groups": ["datasci"]}],
        "notebooks": "nb/{user}", "uidRange": [70000, 80000], "interval": 15,
        "sudoAuthentication": "none"})"));
    auto again = build_pool_config(canonical);
    REQUIRE(error_of(again) == "");
    CHECK(*again == *config);
    CHECK(error_of(layer_from_file(canonical.dump(), k_file)) == "");

    const PoolConfig defaults;
    auto from_defaults = build_pool_config(to_json(defaults));
    REQUIRE(error_of(from_defaults) == "");
    CHECK(*from_defaults == defaults);
    CHECK_FALSE(to_json(defaults).contains("share"));
}

TEST_CASE("config: share types and access modes have their schema names", "[config]") {
    CHECK(to_string(ShareType::Smb) == "smb");
    CHECK(to_string(ShareType::Nfs) == "nfs");
    CHECK(to_string(ShareType::Bind) == "bind");
    CHECK(to_string(SmbAccess::PerUser) == "per-user");
    CHECK(to_string(SmbAccess::Shared) == "shared");
}

TEST_CASE("config: check_layer prefixes errors with the layer's origin", "[config]") {
    const ConfigLayer layer{"IMDS userData (cached)", {{"interval", 5}}};
    CHECK(error_of(check_layer(layer, LayerSource::Metadata)) ==
          "IMDS userData (cached): interval: 5 is out of range: an integer number of seconds "
          "from 10 to 86400");
    const ConfigLayer metadata{"IMDS tags", {{"share", {{"sasToken", "x"}}}}};
    CHECK_THAT(error_of(check_layer(metadata, LayerSource::Metadata)),
               Contains("a key named like a secret"));
    CHECK_THAT(error_of(check_layer(metadata, LayerSource::Local)),
               Contains("share.sasToken: unknown key"));
}

}  // namespace dsvm

namespace dsvm {
namespace {

json vault_pool(const json& vault) {
    json pool = share_with(json::object());
    pool["keyVault"] = vault;
    return pool;
}

const json k_vault = {
    {"vault", "contoso-pool-kv"},
    {"secrets", {{"storageAccountKey", "storage-key"}, {"registryKey", "registry-key"}}}};

}  // namespace

TEST_CASE("config: keyVault names the vault and its secrets, from userData too", "[config]") {
    // Named like secrets, these are the schema's own names: the metadata scan lets them be.
    CHECK(user_data_error(vault_pool(k_vault)) == "");
    json with_client = k_vault;
    with_client["clientId"] = "0f7e3c2a-1b2c-4d5e-8f90-a1b2c3d4e5f6";
    with_client["refreshInterval"] = 600;
    with_client["secrets"]["previousRegistryKey"] = "registry-key-old";
    auto config = build_file(vault_pool(with_client));
    REQUIRE(error_of(config) == "");
    REQUIRE(config->key_vault);
    CHECK(config->key_vault->vault == "contoso-pool-kv");
    CHECK(config->key_vault->client_id == "0f7e3c2a-1b2c-4d5e-8f90-a1b2c3d4e5f6");
    CHECK(config->key_vault->refresh_interval == 600);
    CHECK(config->key_vault->storage_account_key == "storage-key");
    CHECK(config->key_vault->registry_key == "registry-key");
    CHECK(config->key_vault->previous_registry_key == "registry-key-old");
    // The canonical form reads back as the same config.
    auto again = build_file(to_json(*config));
    REQUIRE(error_of(again) == "");
    CHECK(*again == *config);
    // Defaults.
    auto plain = build_file(vault_pool(k_vault));
    REQUIRE(error_of(plain) == "");
    CHECK(plain->key_vault->refresh_interval == 3600);
    CHECK(plain->key_vault->client_id.empty());
}

TEST_CASE("config: keyVault's fields each have their rule", "[config]") {
    const auto error_with = [](const json& changes) {
        json vault = k_vault;
        vault.update(changes);
        return file_error(vault_pool(vault));
    };
    CHECK_THAT(error_with({{"vault", "ab"}}),
               Contains(": keyVault.vault: the value (2 characters, not shown) is not a vault"));
    CHECK_THAT(error_with({{"vault", "1pool"}}), Contains("starts with a letter"));
    CHECK_THAT(error_with({{"vault", "pool--kv"}}), Contains("no \"--\""));
    CHECK_THAT(error_with({{"vault", "pool-"}}), Contains("ends with a letter or digit"));
    CHECK_THAT(error_with({{"vault", "pool.evil.example/x"}}), Contains(": keyVault.vault:"));
    CHECK_THAT(error_with({{"clientId", "not-a-guid"}}), Contains(": keyVault.clientId:"));
    CHECK_THAT(error_with({{"refreshInterval", 59}}), Contains(": keyVault.refreshInterval: 59"));
    CHECK_THAT(error_with({{"refreshInterval", "3600"}}), Contains("an integer"));
    CHECK_THAT(error_with({{"secrets", {{"storageAccountKey", "a/b"}}}}),
               Contains(": keyVault.secrets.storageAccountKey: the value (3 characters, not "
                        "shown) is not a secret name"));
    CHECK_THAT(error_with({{"secrets", {{"storageAccountKey", std::string(128, 'a')}}}}),
               Contains("1 to 127"));
    CHECK_THAT(
        error_with({{"secrets", {{"storageKey", "x"}}}}),
        Contains("keyVault.secrets.storageKey: unknown key; allowed keys in keyVault.secrets: "
                 "storageAccountKey, registryKey, previousRegistryKey"));
    CHECK_THAT(error_with({{"secrets", json::object()}}), Contains("names no secret to read"));
    CHECK_THAT(error_with({{"secrets", {{"previousRegistryKey", "old"}}}}),
               Contains("with keyVault.secrets.registryKey"));
    CHECK_THAT(error_with({{"vaultName", "x"}}), Contains("keyVault.vaultName: unknown key"));
    json no_name = k_vault;
    no_name.erase("vault");
    CHECK_THAT(file_error(vault_pool(no_name)), StartsWith("keyVault.vault: required"));
}

TEST_CASE("config: keyVault's storage key needs an SMB share", "[config]") {
    json pool = {{"share", {{"source", "nfs.example:/export"}}}, {"keyVault", k_vault}};
    CHECK_THAT(file_error(pool), Contains("only an SMB share"));
    json none = {{"keyVault", k_vault}};
    CHECK_THAT(file_error(none), Contains("no share is set"));
    // The registry key alone needs no SMB share.
    json registry_only = {
        {"share", {{"source", "nfs.example:/export"}}},
        {"keyVault", {{"vault", "contoso-pool-kv"}, {"secrets", {{"registryKey", "r"}}}}}};
    CHECK(file_error(registry_only) == "");
}

TEST_CASE("config: a key pasted where keyVault wants a name is refused and never shown",
          "[config]") {
    // What `openssl rand -base64 32` and `-hex 32` give: registry keys, not storage-key shaped.
    for (const std::string& key : {std::string("9Z3WkzQx1c0bF7yVt2R5pLmN8aHd4JgU6eYoXsIiKqA="),
                                   std::string(64, 'a') + "0f"}) {
        for (const char* field : {"storageAccountKey", "registryKey", "previousRegistryKey"}) {
            json vault = k_vault;
            vault["secrets"][field] = key;
            const std::string error = file_error(vault_pool(vault));
            INFO(field);
            CHECK_THAT(error, Contains(std::string("keyVault.secrets.") + field));
            CHECK_THAT(error, !Contains(key.substr(0, 12)));
        }
        json vault = k_vault;
        vault["vault"] = key;
        CHECK_THAT(file_error(vault_pool(vault)), !Contains(key.substr(0, 12)));
        vault = k_vault;
        vault["clientId"] = key;
        CHECK_THAT(file_error(vault_pool(vault)), !Contains(key.substr(0, 12)));
    }
    // A long name with hyphens is a name.
    json vault = k_vault;
    vault["secrets"]["storageAccountKey"] = "pool-storage-account-key-for-the-2026-course";
    CHECK(file_error(vault_pool(vault)) == "");
}

TEST_CASE("config: a secret value inside keyVault is still refused from metadata", "[config]") {
    json vault = k_vault;
    vault["secrets"]["storageAccountKey"] = k_account_key;
    const std::string error = user_data_error(vault_pool(vault));
    CHECK_THAT(error, Contains("keyVault.secrets.storageAccountKey: looks like a storage"));
    CHECK_THAT(error, !Contains(k_account_key));
}

}  // namespace dsvm
