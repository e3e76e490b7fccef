// The random passwords of the agent's Windows accounts: long, complex, drawn from the source
// given, never the account's name.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <random>
#include <set>
#include <string>

#include "common/text.h"
#include "windows/random_password.h"

using namespace dsvm;
using namespace dsvm::windows_platform;

namespace {

RandomSource seeded(std::uint32_t seed) {
    auto engine = std::make_shared<std::mt19937>(seed);
    return [engine](unsigned char* bytes, std::size_t size) -> std::uint32_t {
        for (std::size_t i = 0; i < size; ++i) {
            bytes[i] = static_cast<unsigned char>((*engine)() & 0xFF);
        }
        return 0;
    };
}

}  // namespace

TEST_CASE("random password: 24 characters with upper and lower case, digits and symbols",
          "[windows-accounts]") {
    std::set<std::string> seen;
    for (std::uint32_t seed = 0; seed < 200; ++seed) {
        auto password = random_password("alice", seeded(seed));
        REQUIRE(password.ok());
        const std::string_view value = password->view();
        REQUIRE(value.size() == 24);
        CHECK(std::any_of(value.begin(), value.end(), ascii::is_upper));
        CHECK(std::any_of(value.begin(), value.end(), ascii::is_lower));
        CHECK(std::any_of(value.begin(), value.end(), ascii::is_digit));
        CHECK(std::any_of(value.begin(), value.end(), [](char c) { return !ascii::is_alnum(c); }));
        CHECK(std::all_of(value.begin(), value.end(), [](char c) { return c > ' ' && c < 0x7f; }));
        seen.insert(std::string(value));
    }
    CHECK(seen.size() == 200);
}

TEST_CASE("random password: never holds the account's name, in any case", "[windows-accounts]") {
    // A source that spells "Bob" over and over: every draw holds the name.
    const RandomSource bob = [](unsigned char* bytes, std::size_t size) -> std::uint32_t {
        const unsigned char spelled[] = {1, 40, 27};  // 'B', 'o', 'b' in the alphabet
        for (std::size_t i = 0; i < size; ++i) {
            bytes[i] = spelled[i % 3];
        }
        return 0;
    };

    const auto password = random_password("bob", bob);

    REQUIRE_FALSE(password);
    CHECK(password.error().message ==
          "cannot make a random password that meets the Windows complexity rules");
    CHECK(random_password("bo", bob).ok() == false);  // no digit or symbol either way
}

TEST_CASE("random password: a failing source is an error, not a weak password",
          "[windows-accounts]") {
    int calls = 0;
    const RandomSource failing = [&calls](unsigned char*, std::size_t) -> std::uint32_t {
        ++calls;
        return 87;
    };

    const auto password = random_password("alice", failing);

    REQUIRE_FALSE(password);
    CHECK(password.error().message.find("random number generator failed") != std::string::npos);
    CHECK(calls == 1);
}
