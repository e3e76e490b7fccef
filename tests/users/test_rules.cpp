#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <utility>

#include "users/rules.h"

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace dsvm {

using namespace dsvm::users;
namespace {

const std::string k_ed25519 =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOVBMq5Mpj6TIleWKV4Qi3ll8n4jG+wePC90IL4Y6klz alice@laptop";
const std::string k_ed_data =
    "AAAAC3NzaC1lZDI1NTE5AAAAIOVBMq5Mpj6TIleWKV4Qi3ll8n4jG+wePC90IL4Y6klz";
// The shape of an Azure storage account key: 64 random bytes in base64.
const std::string k_account_key =
    "gP//8omujeTMW9H4RTnm8AlY99ebmCjhKHc+VN8yDk7jim2IV7U6NDk9ODAR5wsP+v1g6J8odvmWkqIa05oIUw==";

std::string error_of(const Result<void>& result) {
    return result ? std::string() : result.error().message;
}

// A file of the repository's docs/, found from this test's own source path.
std::string read_doc(const std::string& name) {
    const auto path =
        std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / "docs" / name;
    std::ifstream in(path);
    REQUIRE(in);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

}  // namespace

TEST_CASE("rules: user names follow ^[a-z_][a-z0-9_-]{0,31}$", "[rules]") {
    for (const char* good : {"alice", "a", "bob-2", "a_b", "abcdefghijklmnopqrstuvwxyz012345",
                             "dsvm", "systemd", "docker2", "jupyter", "data-sci"}) {
        INFO(good);
        CHECK(error_of(check_user_name(good)) == "");
    }
    CHECK(error_of(check_user_name("")) ==
          "empty user name: user names must match ^[a-z_][a-z0-9_-]{0,31}$");
    CHECK(error_of(check_user_name("Alice")) ==
          "user name 'Alice' is not allowed: user names must match ^[a-z_][a-z0-9_-]{0,31}$");
    CHECK_THAT(error_of(check_user_name(std::string(33, 'a'))), Contains("33 characters long"));
    CHECK_THAT(error_of(check_user_name("al\x1b[2Jice")), Contains("'al\\x1b[2Jice'"));
}

TEST_CASE("rules: the base system's names are reserved", "[rules]") {
    for (const char* name : {"root", "daemon", "nobody", "nogroup", "www-data", "messagebus",
                             "sshd", "users", "video", "kvm", "netdev"}) {
        INFO(name);
        const auto checked = check_user_name(name);
        REQUIRE_FALSE(checked);
        CHECK(checked.error().kind == ErrorKind::Invalid);
        CHECK_THAT(checked.error().message,
                   StartsWith("user name '" + std::string(name) + "' is reserved"));
    }
    CHECK(error_of(check_user_name("daemon")) ==
          "user name 'daemon' is reserved for the base system; see the reserved names in "
          "docs/users.md");
}

// Given a pool user named dsvm-sudo, its own group would be dsvm-sudo, which the sudoers
// drop-in's %dsvm-sudo matches: we expect every dsvm- name to be refused.
TEST_CASE("rules: the agent's names and the reserved prefixes are refused", "[rules]") {
    using Case = std::pair<std::string, std::string>;
    const Case reserved = GENERATE(Case{"dsvm-sudo", "'dsvm-' belong to the agent"},
                                   Case{"dsvm-agent", "'dsvm-' belong to the agent"},
                                   Case{"dsvm-x", "'dsvm-' belong to the agent"},
                                   Case{"systemd-journal", "'systemd-' belong to systemd"},
                                   Case{"systemd-anything", "'systemd-' belong to systemd"},
                                   Case{"_svc", "'_' belong to system accounts"},
                                   Case{"_chrony", "'_' belong to system accounts"});
    CAPTURE(reserved.first);
    CHECK_THAT(error_of(check_user_name(reserved.first)),
               StartsWith("user name '" + reserved.first + "' is reserved: names starting with ") &&
                   Contains(reserved.second));
}

// Given a pool user named docker, `apt install docker.io` later finds the group docker and
// keeps it, so the user would control the Docker daemon: we expect such names refused.
TEST_CASE("rules: names that packages create later are refused, naming the package", "[rules]") {
    using Case = std::pair<std::string, std::string>;
    const Case reserved = GENERATE(
        Case{"docker", "it is a privileged group (the Docker daemon's socket: root on the host)"},
        Case{"lxd", "it is a privileged group (the LXD daemon's socket"},
        Case{"libvirt", "it is a privileged group (the system libvirt daemon"},
        Case{"libvirt-qemu", "reserved for libvirt-daemon-system"},
        Case{"postgres", "reserved for postgresql"}, Case{"mysql", "reserved for mysql-server"},
        Case{"redis", "reserved for redis-server"}, Case{"mongodb", "reserved for mongodb"},
        Case{"syslog", "it is a privileged group"}, Case{"tss", "it is a privileged group"},
        Case{"uuidd", "reserved for uuid-runtime"}, Case{"tcpdump", "reserved for tcpdump"},
        Case{"ntp", "reserved for ntp"}, Case{"avahi", "reserved for avahi-daemon"},
        Case{"colord", "reserved for colord"}, Case{"rtkit", "reserved for rtkit"},
        Case{"pulse", "reserved for pulseaudio"}, Case{"gdm", "reserved for gdm3"},
        Case{"lightdm", "reserved for lightdm"}, Case{"sddm", "reserved for sddm"},
        Case{"polkitd", "reserved for polkitd"},
        Case{"nvidia-persistenced", "reserved for NVIDIA's drivers"},
        Case{"ollama", "reserved for ollama"}, Case{"jupyterhub", "reserved for JupyterHub"},
        Case{"admin", "it is a privileged group (Ubuntu's sudoers"});
    CAPTURE(reserved.first);
    CHECK_THAT(
        error_of(check_user_name(reserved.first)),
        StartsWith("user name '" + reserved.first + "' is reserved") && Contains(reserved.second));
}

TEST_CASE("rules: every listed name is refused and is a name useradd would accept", "[rules]") {
    std::set<std::string_view> seen;
    for (const auto& entry : reserved_user_names()) {
        INFO(entry.name);
        CHECK(seen.insert(entry.name).second);
        CHECK_FALSE(entry.owner.empty());
        // A listed name that breaks the syntax would be dead weight: the syntax refuses it.
        CHECK(error_of(check_group_name("n", entry.name)) == "");
        CHECK_THAT(error_of(check_user_name(entry.name)), Contains("is reserved"));
    }
    for (const auto& entry : privileged_groups()) {
        INFO(entry.name);
        CHECK(seen.insert(entry.name).second);
        CHECK_FALSE(entry.gives.empty());
        CHECK(error_of(check_group_name("n", entry.name)) == "");
        // systemd-journal is refused for its prefix first; either way it is reserved.
        CHECK_THAT(error_of(check_user_name(entry.name)), Contains("is reserved"));
    }
}

TEST_CASE("rules: group names follow the name syntax and name the path", "[rules]") {
    for (const char* good : {"video", "_lab-1", "datasci", "a"}) {
        INFO(good);
        CHECK(error_of(check_group_name("g", good)) == "");
    }
    CHECK(error_of(check_group_name("users[0].groups[0]", "Docker")) ==
          "users[0].groups[0]: group name 'Docker' is not allowed: group names must match "
          "^[a-z_][a-z0-9_-]{0,31}$");
    for (const std::string& bad : {std::string(), std::string("1lab"), std::string("a b"),
                                   std::string("a:b"), std::string("a,b"), std::string(33, 'g')}) {
        INFO(bad);
        CHECK_THAT(error_of(check_group_name("--groups", bad)), StartsWith("--groups: group name"));
    }
    // Syntax alone says nothing about privilege.
    CHECK(error_of(check_group_name("g", "sudo")) == "");
}

// Given `"groups": ["sudo"]` from any source, we expect a refusal that names the group and
// says that sudo comes only from "sudo": true.
TEST_CASE("rules: privileged groups are never granted", "[rules]") {
    for (const auto& entry : privileged_groups()) {
        INFO(entry.name);
        CHECK(is_privileged_group(entry.name));
        CHECK(error_of(check_group_grant("users[0].groups[1]", entry.name)) ==
              "users[0].groups[1]: group '" + std::string(entry.name) + "' is privileged (" +
                  std::string(entry.gives) +
                  ") and is never granted through groups; sudo comes only from \"sudo\": true "
                  "(docs/users.md)");
    }
    for (const char* name :
         {"sudo", "root", "adm", "shadow", "disk", "kmem", "sys", "staff", "systemd-journal",
          "docker", "lxd", "libvirt", "incus-admin", "wheel", "admin", "dsvm-sudo", "dsvm-agent"}) {
        INFO(name);
        CHECK(is_privileged_group(name));
        const auto refused = check_group_grant("--groups", name);
        REQUIRE_FALSE(refused);
        CHECK(refused.error().kind == ErrorKind::Invalid);
        CHECK_THAT(refused.error().message,
                   StartsWith("--groups: group '" + std::string(name) + "' is privileged"));
    }
    CHECK_THAT(error_of(check_group_grant("g", "dsvm-sudo")),
               Contains("names starting with 'dsvm-' are the agent's"));
}

TEST_CASE("rules: ordinary groups are granted, a bad name fails on syntax first", "[rules]") {
    for (const char* name : {"video", "render", "audio", "datasci", "_lab-1", "kvm", "plugdev",
                             "users", "dsvm", "dockers"}) {
        INFO(name);
        CHECK_FALSE(is_privileged_group(name));
        CHECK(error_of(check_group_grant("g", name)) == "");
    }
    CHECK_THAT(error_of(check_group_grant("g", "Sudo")), StartsWith("g: group name 'Sudo' is not"));
}

TEST_CASE("rules: ssh keys are one-line OpenSSH public keys of known types", "[rules]") {
    CHECK(error_of(check_ssh_key("k", k_ed25519)) == "");
    CHECK(error_of(check_ssh_key("k", "ssh-ed25519 " + k_ed_data)) == "");
    using Case = std::pair<std::string, std::string>;
    const Case bad = GENERATE_COPY(
        Case{"ssh-dss AAAAB3NzaC1kc3MAAACBAP", "key type 'ssh-dss' is not accepted"},
        Case{"command=\"/bin/sh\" " + k_ed25519, "authorized_keys options"},
        Case{k_ed25519 + "\n" + k_ed25519, "contains a line break; give one key per array item"},
        Case{"ssh-ed25519", "has no key data"}, Case{"ssh-ed25519 AAAA$bad", "is not base64"},
        Case{"ssh-rsa " + k_ed_data, "does not hold a ssh-rsa key"},
        Case{"ssh-ed25519 AAAAC3NzaC1l", "does not hold a ssh-ed25519 key"},
        Case{"ssh-ed25519 " + k_ed_data + " a\x01", "control character"},
        Case{"ssh-rsa " + std::string(16384, 'A'), "at most 16384 are allowed"},
        Case{"", "key type '' is not accepted"});
    CAPTURE(bad.first);
    const auto refused = check_ssh_key("registry users[0].sshKeys[1]", bad.first);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().kind == ErrorKind::Invalid);
    CHECK_THAT(refused.error().message,
               StartsWith("registry users[0].sshKeys[1]: ") && Contains(bad.second));
}

// Given a storage key pasted where a key or a group belongs, we expect the refusal not to show
// it: messages reach status.json, which every user can read.
TEST_CASE("rules: values that look like secrets are never shown", "[rules]") {
    CHECK(looks_like_secret_value(k_account_key));
    CHECK(looks_like_secret_value("sv=2022-11-02&sig=Zm9vYmFy"));
    CHECK_FALSE(looks_like_secret_value("alice"));
    CHECK(shown_value("al\nice") == "'al\\x0aice'");
    CHECK(shown_value(k_account_key) == "(a value not shown because it looks like a secret)");
    const std::string pasted = error_of(check_ssh_key("k", k_account_key));
    CHECK_THAT(pasted, Contains("not shown"));
    CHECK(pasted.find(k_account_key.substr(0, 20)) == std::string::npos);
    const std::string group = error_of(check_group_grant("g", k_account_key));
    CHECK_THAT(group, Contains("not shown"));
    CHECK(group.find(k_account_key.substr(0, 20)) == std::string::npos);
}

// docs/pool-config.schema.json and docs/users.md repeat the lists; given a name added to the
// code alone, we expect this to fail until the docs have it too.
TEST_CASE("rules: the schema and docs/users.md list the same names and groups as the code",
          "[rules]") {
    const auto schema = nlohmann::json::parse(read_doc("pool-config.schema.json"));
    const auto& user = schema.at("$defs").at("user").at("properties");
    std::set<std::string> reserved;
    std::set<std::string> privileged;
    for (const auto& entry : reserved_user_names()) {
        reserved.emplace(entry.name);
    }
    for (const auto& entry : privileged_groups()) {
        privileged.emplace(entry.name);
        reserved.emplace(entry.name);
    }
    CHECK(user.at("name").at("not").at("enum").get<std::set<std::string>>() == reserved);
    CHECK(user.at("groups").at("items").at("not").at("enum").get<std::set<std::string>>() ==
          privileged);
    // The prefixes: "_" by the first character, the others by a lookahead.
    CHECK(user.at("name").at("pattern") == "^(?!dsvm-|systemd-)[a-z][a-z0-9_-]{0,31}$");
    CHECK(user.at("groups").at("items").at("pattern") == "^(?!dsvm-)[a-z_][a-z0-9_-]{0,31}$");

    const std::string users_md = read_doc("users.md");
    for (const std::string& name : reserved) {
        INFO(name);
        CHECK(users_md.find("`" + name + "`") != std::string::npos);
    }
    for (const auto& entry : reserved_prefixes()) {
        INFO(entry.prefix);
        CHECK(users_md.find("`" + std::string(entry.prefix) + "`") != std::string::npos);
    }
}

}  // namespace dsvm
