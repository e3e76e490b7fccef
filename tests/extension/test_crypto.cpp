// The protected settings' thumbprint (extension/crypto.h), on both platforms.
#include <catch2/catch.hpp>

#include "extension/crypto.h"

using namespace dsvm;
using namespace dsvm::extension;

TEST_CASE("extension crypto: a 40-digit thumbprint is SHA-1, a 64-digit one SHA-256, in uppercase",
          "[extension]") {
    const auto sha1 = parse_thumbprint("9c231d95ff510d83493608a93cbfb366e1ac9124");
    REQUIRE(sha1.ok());
    CHECK(sha1->digest == ThumbprintDigest::Sha1);
    CHECK(sha1->hex == "9C231D95FF510D83493608A93CBFB366E1AC9124");
    const auto sha256 =
        parse_thumbprint("F5B5E070F883BD3CA6A5F5E747EE887CCECF94321AECB0FE3233A2E7919844EA");
    REQUIRE(sha256.ok());
    CHECK(sha256->digest == ThumbprintDigest::Sha256);
    CHECK(sha256->hex == "F5B5E070F883BD3CA6A5F5E747EE887CCECF94321AECB0FE3233A2E7919844EA");
}

TEST_CASE("extension crypto: a thumbprint of another length or with other characters is refused",
          "[extension]") {
    for (const char* text : {"", "9C231D95FF510D83493608A93CBFB366E1AC912",
                             "9C231D95FF510D83493608A93CBFB366E1AC91245",
                             "9C231D95FF510D83493608A93CBFB366E1AC912G", "../../etc/shadow"}) {
        const auto parsed = parse_thumbprint(text);
        REQUIRE_FALSE(parsed.ok());
        CHECK(parsed.error().kind == ErrorKind::Invalid);
        CHECK_THAT(parsed.error().message, Catch::Contains("must be 40 or 64 hexadecimal digits"));
    }
}
