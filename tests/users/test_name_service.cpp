#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "support/fake_name_service.h"
#include "users/name_service.h"

using Catch::Matchers::Contains;

namespace dsvm {

using namespace dsvm::users;

// These ask the machine's own name service (read-only): root and its group exist everywhere.
TEST_CASE("name service: the system's root user and group are taken", "[name_service]") {
    SystemNameService service;
    const auto user = service.user_name("root");
    CHECK(user.state == NameState::Taken);
    CHECK(user.holder == "root");
    CHECK(user.id == 0u);
    CHECK(user.detail == "the system's name service");
    const auto group = service.group_name("root");
    CHECK(group.state == NameState::Taken);
    CHECK(group.id == 0u);
    CHECK(service.user_id(0).holder == "root");
    CHECK(service.group_id(0).holder == "root");
    CHECK(describe(user) == "taken by 'root' (id 0) in the system's name service");
}

TEST_CASE("name service: a name and an ID nobody has are free", "[name_service]") {
    SystemNameService service;
    CHECK(service.user_name("dsvm-no-such-user").state == NameState::Free);
    CHECK(service.group_name("dsvm-no-such-group").state == NameState::Free);
    // 4294967294 is (gid_t)-2, which no account file or directory hands out.
    CHECK(service.user_id(4294967294u).state == NameState::Free);
    CHECK(service.group_id(4294967294u).state == NameState::Free);
    CHECK(describe(service.user_name("dsvm-no-such-user")) == "free");
}

// Given a one-byte buffer, every lookup fails with ERANGE first: we expect the buffer to grow
// until the entry fits, not a "cannot tell" or a "free".
TEST_CASE("name service: a buffer too small grows until the entry fits", "[name_service]") {
    SystemNameService service(1);
    CHECK(service.user_name("root").state == NameState::Taken);
    CHECK(service.group_name("root").state == NameState::Taken);
    CHECK(service.user_id(0).holder == "root");
    CHECK(service.group_id(0).holder == "root");
}

// Given "root\0x", the C string would stop at the NUL and ask about root: we expect no answer.
TEST_CASE("name service: a name with a NUL byte is not looked up as a shorter one",
          "[name_service]") {
    SystemNameService service;
    const std::string name("root\0x", 6);
    const auto user = service.user_name(name);
    CHECK(user.state == NameState::Unknown);
    CHECK_THAT(describe(user), Contains("'root\\x00x' contains a NUL byte"));
    CHECK(service.group_name(name).state == NameState::Unknown);
}

TEST_CASE("name service: the system's service is used only for the root /", "[name_service]") {
    const auto host = name_service_for(Root("/"));
    CHECK(dynamic_cast<SystemNameService*>(host.get()) != nullptr);
    const auto sandbox = name_service_for(Root("/tmp/sandbox"));
    REQUIRE(dynamic_cast<NoNameService*>(sandbox.get()) != nullptr);
    // Under another root, root of this host says nothing about the root's own files.
    CHECK(sandbox->user_name("root").state == NameState::Free);
    CHECK(sandbox->group_name("root").state == NameState::Free);
    CHECK(sandbox->user_id(0).state == NameState::Free);
    CHECK(sandbox->group_id(0).state == NameState::Free);
}

TEST_CASE("name service: find_clash asks for name, group, uid and gid, first clash wins",
          "[name_service]") {
    test::FakeNameService service;
    CHECK_FALSE(find_clash(service, "alice", 20000, 20000));
    CHECK(service.asked ==
          std::vector<std::string>{"user alice", "group alice", "uid 20000", "gid 20000"});

    service.add_user("ldapbob", 20001);
    service.asked.clear();
    const auto uid = find_clash(service, "bob", 20001, 20001);
    REQUIRE(uid);
    CHECK(uid->asked == "uid 20001");
    CHECK(uid->answer.holder == "ldapbob");
    CHECK(describe(uid->answer) == "taken by 'ldapbob' (id 20001) in the fake name service");
    CHECK(service.asked == std::vector<std::string>{"user bob", "group bob", "uid 20001"});

    service.add_group("carol", 5000);
    CHECK(find_clash(service, "carol", 20002, 20002)->asked == "group name 'carol'");

    service.cannot_answer("gid 20003");
    const auto unknown = find_clash(service, "dave", 20003, 20003);
    REQUIRE(unknown);
    CHECK(unknown->asked == "gid 20003");
    CHECK(unknown->answer.state == NameState::Unknown);
    CHECK(describe(unknown->answer) == "cannot tell: the fake cannot tell");
}

// Given a directory entry named with a terminal escape, we expect describe to show it escaped:
// descriptions reach status.json and the terminal.
TEST_CASE("name service: holders are escaped when described", "[name_service]") {
    const NameAnswer hostile{NameState::Taken, "ev\x1b[2Jil", 7u, "ldap"};
    CHECK(describe(hostile) == "taken by 'ev\\x1b[2Jil' (id 7) in ldap");
    const NameAnswer anonymous{NameState::Taken, "", std::nullopt, "ldap"};
    CHECK(describe(anonymous) == "taken by '' in ldap");
}

TEST_CASE("nis compat: +name, -name, +@netgroup and + are read from passwd text",
          "[name_service]") {
    const auto compat = parse_nis_compat(
        "root:x:0:0:root:/root:/bin/bash\n"
        "+alice::::::\n"
        "-bob:x:::::\n"
        "+@staff-ng::::::\n"
        "-@guests\n"
        "carol:x:1001:1001::/home/carol:/bin/bash\n");
    CHECK(compat.names == std::set<std::string>{"alice", "bob"});
    CHECK(compat.netgroups == std::set<std::string>{"staff-ng", "guests"});
    CHECK_FALSE(compat.wildcard);
    CHECK(compat.includes_nis);
    CHECK(compat.name("alice").state == NameState::Taken);
    CHECK(compat.name("bob").state == NameState::Taken);
    CHECK_THAT(describe(compat.name("alice")), Contains("a NIS compat entry"));
    // carol is a local entry: the account files answer for it, not the compat entries.
    CHECK(compat.name("carol").state == NameState::Unknown);
    CHECK_THAT(describe(compat.name("carol")), Contains("netgroup"));
    CHECK(compat.id(20000).state == NameState::Unknown);
}

TEST_CASE("nis compat: a bare + brings in every name and every id", "[name_service]") {
    for (const std::string text :
         {"+", "+\n", "+::::::\n", "+::0:0:::\n", "a:x:1:1::/:/bin/sh\n+"}) {
        INFO(text);
        const auto compat = parse_nis_compat(text);
        CHECK(compat.wildcard);
        CHECK(compat.includes_nis);
        CHECK(compat.names.empty());
        CHECK(compat.name("zed").state == NameState::Unknown);
        CHECK(compat.id(20000).state == NameState::Unknown);
    }
}

TEST_CASE("nis compat: text without compat entries reserves nothing", "[name_service]") {
    for (const std::string& text : {std::string(), std::string("root:x:0:\nsudo:x:27:azureuser\n"),
                                    std::string("# +commented:x:1:1\n +indented::::::\n\n"),
                                    std::string("-\n-::::\n"), std::string("-alice\n")}) {
        INFO(text);
        const auto compat = parse_nis_compat(text);
        CHECK_FALSE(compat.wildcard);
        CHECK_FALSE(compat.includes_nis);
        CHECK(compat.id(20000).state == NameState::Free);
    }
    // "-alice" reserves alice (the directory holds her) but brings no NIS entry in.
    CHECK(parse_nis_compat("-alice\n").name("alice").state == NameState::Taken);
    CHECK(parse_nis_compat("root:x:0:\n").name("alice").state == NameState::Free);
}

// Given hostile text (NULs, CRs, escapes, empty netgroups, no final newline, a huge name), we
// expect no crash, nothing reserved from malformed entries, and names kept byte for byte.
TEST_CASE("nis compat: hostile text", "[name_service]") {
    const std::string text = std::string("+al\0ice:x\n", 10) + "+bob\r\n" + "+@\n" + "-@\n" +
                             "+ev\x1b[2Jil::::\n" + "+\xff\xfe\n" + "::::\n" + "+" +
                             std::string(100000, 'x') + "\n" + "\n\n\r\n" + "-carol";
    const auto compat = parse_nis_compat(text);
    CHECK(compat.names == std::set<std::string>{std::string("al\0ice", 6), "bob", "ev\x1b[2Jil",
                                                "\xff\xfe", std::string(100000, 'x'), "carol"});
    CHECK(compat.netgroups.empty());
    CHECK_FALSE(compat.wildcard);
    CHECK(compat.includes_nis);
    CHECK(compat.name("bob").state == NameState::Taken);
    CHECK(compat.name("al").state == NameState::Free);
    CHECK(describe(compat.name("ev\x1b[2Jil")).find('\x1b') == std::string::npos);
}

TEST_CASE("nis compat: group text uses the same entries", "[name_service]") {
    const auto compat = parse_nis_compat("root:x:0:\n+research:::\n-interns\n+:::\n");
    CHECK(compat.names == std::set<std::string>{"research", "interns"});
    CHECK(compat.wildcard);
    CHECK(compat.name("research").state == NameState::Taken);
    CHECK(compat.name("other").state == NameState::Unknown);
}

TEST_CASE("name service: the fake records every question and answers from its entries",
          "[name_service]") {
    test::FakeNameService service;
    service.add_user("alice", 1500);
    service.add_group("lab", 1600);
    CHECK(service.user_name("alice").state == NameState::Taken);
    CHECK(service.user_id(1500).holder == "alice");
    CHECK(service.group_name("alice").state == NameState::Free);
    CHECK(service.group_id(1600).holder == "lab");
    service.cannot_answer("user zed");
    CHECK(service.user_name("zed").state == NameState::Unknown);
    CHECK(service.asked == std::vector<std::string>{"user alice", "uid 1500", "group alice",
                                                    "gid 1600", "user zed"});
}

}  // namespace dsvm
