#include <catch2/catch.hpp>

#include <array>
#include <string>

#include "common/json_fields.h"

using Catch::Matchers::Contains;

namespace dsvm {

namespace {

struct Fields {
    SecretBytes secret{64};
    std::string text;
    std::array<JsonField, 2> list{JsonField{"value", &secret, nullptr},
                                  JsonField{"expires_in", nullptr, &text}};

    Result<void> read(std::string_view json) { return read_json_fields(json, list); }
};

}  // namespace

TEST_CASE("json fields: reads wanted members, skipping everything else", "[json]") {
    Fields fields;
    REQUIRE(fields
                .read(R"( {"id": "https://v/secrets/s", "attributes": {"enabled": true,
                   "nested": [1, -2.5e3, null, false, {"value": "inner"}]},
                   "value": "k\"e\\y\/\u00e9\ud83d\ude00\n", "expires_in": 86399 } )")
                .ok());
    CHECK(fields.list[0].found);
    CHECK(fields.secret.view() == "k\"e\\y/\xc3\xa9\xf0\x9f\x98\x80\n");
    CHECK(fields.list[1].found);
    CHECK(fields.text == "86399");
}

TEST_CASE("json fields: absent members are not found", "[json]") {
    Fields fields;
    REQUIRE(fields.read(R"({"other": "x"})").ok());
    CHECK_FALSE(fields.list[0].found);
    CHECK_FALSE(fields.list[1].found);
    CHECK(fields.secret.empty());
}

TEST_CASE("json fields: invalid documents are refused without their content", "[json]") {
    const char* bad[] = {
        "",
        "[]",
        R"({"value": "unterminated)",
        R"({"value": "a"} trailing)",
        R"({"value": "a",})",
        R"({"value": 'single'})",
        R"({"value": "\x"})",
        R"({"value": "\ud800"})",
        R"({"value": "\udc00"})",
        R"({"value": "tab	inside"})",
        R"({"other": 01})",
        R"({"other": 1.})",
        R"({"other": tru})",
        R"({"value": "a", "value": "b"})",
        R"({"value": 5})",
        R"({"value": {"nested": "x"}})",
    };
    for (const char* document : bad) {
        Fields fields;
        auto result = fields.read(document);
        INFO(document);
        REQUIRE_FALSE(result.ok());
        CHECK_THAT(result.error().message, Contains("JSON") || Contains("member"));
    }
}

TEST_CASE("json fields: a secret longer than its buffer is refused", "[json]") {
    Fields fields;
    const std::string document = R"({"value": ")" + std::string(65, 'k') + R"("})";
    auto result = fields.read(document);
    REQUIRE_FALSE(result.ok());
    CHECK_THAT(result.error().message, Contains("longer than 64 bytes"));
    CHECK_THAT(result.error().message, !Contains("kkkk"));
}

TEST_CASE("json fields: nesting is bounded", "[json]") {
    Fields fields;
    const std::string deep = R"({"x": )" + std::string(40, '[') + std::string(40, ']') + "}";
    auto result = fields.read(deep);
    REQUIRE_FALSE(result.ok());
    CHECK_THAT(result.error().message, Contains("nested deeper than 32"));
    const std::string fine = R"({"x": )" + std::string(20, '[') + std::string(20, ']') + "}";
    CHECK(fields.read(fine).ok());
}

}  // namespace dsvm
