#include <catch2/catch.hpp>

#include "common/root.h"
#include "users/rules.h"

using namespace dsvm;
using namespace dsvm::users;

TEST_CASE("root: paths are joined under the root", "[root]") {
    CHECK(Root("/").path("/etc/x") == "/etc/x");
    CHECK(Root("").path("/etc/x") == "/etc/x");
    CHECK(Root("/sb").path("/etc/x") == "/sb/etc/x");
    CHECK(Root("/sb/").path("/etc/x") == "/sb/etc/x");
    CHECK(Root("/sb").path("etc/x") == "/sb/etc/x");
    CHECK(Root("/sb").path("/") == "/sb");
    CHECK(Root("/sb").path("//etc") == "/sb/etc");
    CHECK(Root("/").is_host());
    CHECK_FALSE(Root("/sb").is_host());
}

TEST_CASE("names: the user-name rule", "[names]") {
    for (const char* good : {"alice", "a", "bob-2", "a_b", "abcdefghijklmnopqrstuvwxyz012345"}) {
        INFO(good);
        CHECK(check_user_name(good).ok());
    }
    for (const char* bad :
         {"", "-rf", "Alice", "a b", "a;id", "../x", "bob:x:0:0", "1abc",
          "abcdefghijklmnopqrstuvwxyz0123456", "root", "nobody", "daemon", "_svc"}) {
        INFO(bad);
        const auto checked = check_user_name(bad);
        REQUIRE_FALSE(checked.ok());
        CHECK(checked.error().kind == ErrorKind::Invalid);
    }
    const auto unicode = check_user_name("j\xc3\xb6rg");
    REQUIRE_FALSE(unicode.ok());
    CHECK_THAT(unicode.error().message, Catch::Contains("j\\xc3\\xb6rg"));
}
