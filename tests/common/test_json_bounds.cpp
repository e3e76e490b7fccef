#include <string>

#include <catch2/catch.hpp>

#include "common/json_bounds.h"

using namespace dsvm;

TEST_CASE("json bounds: nesting is measured without recursion, strings skipped", "[json]") {
    CHECK(json_nesting("") == 0);
    CHECK(json_nesting("42") == 0);
    CHECK(json_nesting("[]") == 1);
    CHECK(json_nesting(R"({"a": [1, {"b": []}]})") == 4);
    CHECK(json_nesting(R"(["[[[[", "\"[[["])") == 1);
    CHECK(json_nesting(R"(["\\", [[]]])") == 3);
    // Unbalanced text is measured all the same; the parser refuses it afterwards.
    CHECK(json_nesting("]]]][") == 1);
    const std::string deep = std::string(1000000, '[') + std::string(1000000, ']');
    CHECK(json_nesting(deep) == 1000000);
}

TEST_CASE("json bounds: parse refuses what is too big, too deep or not JSON", "[json]") {
    const auto fine = parse_bounded_json(R"({"a": [1]})", 100, 2, "the file");
    REQUIRE(fine.ok());
    CHECK((*fine)["a"][0] == 1);

    const auto big = parse_bounded_json(std::string(101, ' '), 100, 2, "the file");
    REQUIRE_FALSE(big.ok());
    CHECK(big.error().message == "the file is 101 bytes long; at most 100 are read");

    const auto deep = parse_bounded_json("[[[]]]", 100, 2, "the file");
    REQUIRE_FALSE(deep.ok());
    CHECK(deep.error().message == "the file is nested 3 levels deep; at most 2 are allowed");

    const auto broken = parse_bounded_json("{\"a\":", 100, 2, "the file");
    REQUIRE_FALSE(broken.ok());
    CHECK(broken.error().message == "the file is not valid JSON");
}
