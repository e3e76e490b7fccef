#include <crypt.h>

#include <catch2/catch.hpp>
#include <memory>

#include "common/secret.h"
#include "users/password.h"

using namespace dsvm;
using namespace dsvm::users;

namespace {

// What crypt(3) makes of `clear` with the settings (and salt) of `hash`.
std::string rehash(const std::string& clear, const std::string& hash) {
    auto data = std::make_unique<crypt_data>();
    const char* out = crypt_rn(clear.c_str(), hash.c_str(), data.get(), sizeof *data);
    return out == nullptr ? std::string() : std::string(out);
}

}  // namespace

TEST_CASE("password: hashes are yescrypt and verify with crypt", "[password]") {
    const std::string clear = "correct horse battery staple";
    auto hash = hash_password(clear);
    INFO((hash ? std::string() : hash.error().message));
    REQUIRE(hash.ok());
    CHECK(hash->rfind("$y$", 0) == 0);
    CHECK(is_password_hash(*hash));
    CHECK(hash->find(clear) == std::string::npos);
    CHECK(rehash(clear, *hash) == *hash);
    CHECK(rehash("correct horse battery stapler", *hash) != *hash);
}

TEST_CASE("password: two hashes of one password differ by their salt", "[password]") {
    auto first = hash_password("same password");
    auto second = hash_password("same password");
    REQUIRE(first.ok());
    REQUIRE(second.ok());
    CHECK(*first != *second);
    CHECK(rehash("same password", *second) == *second);
}

TEST_CASE("password: long and unusual passwords within the rules hash", "[password]") {
    // libxcrypt's limit (CRYPT_MAX_PASSPHRASE_SIZE, with the NUL) is the longest accepted.
    auto longest = hash_password(std::string(511, 'p'));
    INFO((longest ? std::string() : longest.error().message));
    REQUIRE(longest.ok());
    CHECK(rehash(std::string(511, 'p'), *longest) == *longest);
    auto unicode = hash_password("p\xc3\xa4ss w:rd\t$");
    REQUIRE(unicode.ok());
    CHECK(rehash("p\xc3\xa4ss w:rd\t$", *unicode) == *unicode);
}

TEST_CASE("password: invalid passwords are refused without echoing them", "[password]") {
    const std::string secret = "Hunter2Secret";
    for (const std::string& clear :
         {std::string(), std::string(499, 'H') + secret, std::string(1025, 'H') + secret,
          secret + "\n", secret + "\rmore", std::string("Hunter2Secret\0tail", 18)}) {
        auto hash = hash_password(clear);
        REQUIRE_FALSE(hash.ok());
        CHECK(hash.error().kind == ErrorKind::Invalid);
        CHECK_FALSE(hash.error().message.empty());
        CHECK_THAT(hash.error().message, !Catch::Contains(secret));
        CHECK_THAT(hash.error().message, !Catch::Contains("HHHH"));
    }
}

TEST_CASE("password: is_password_hash accepts the three forms", "[password]") {
    CHECK(
        is_password_hash("$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd."
                         "Fa3lB/"));
    CHECK(is_password_hash("$6$rounds=5000$saltsalt$abcdefghijklmnopqrstuvwxyz0123456789./AB"));
    CHECK(is_password_hash("$2b$12$abcdefghijklmnopqrstuuO8ZJ2Xz1rF5cZ8H4sS0nPqW2Jb1vYmK"));
    CHECK(is_password_hash("$y$" + std::string(17, 'a')));   // 20 characters
    CHECK(is_password_hash("$6$" + std::string(509, 'a')));  // 512 characters
}

TEST_CASE("password: is_password_hash refuses anything else", "[password]") {
    for (const std::string& text :
         {std::string(), std::string("plaintext-password-here"), std::string("!"), std::string("*"),
          std::string("!$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o"),
          std::string("$1$saltsalt$abcdefghijklmnopqrstuv"),  // md5-crypt: too weak
          std::string("$5$saltsalt$abcdefghijklmnopqrstuv"),
          std::string("$y$" + std::string(16, 'a')),   // 19 characters
          std::string("$6$" + std::string(510, 'a')),  // 513 characters
          std::string("$y$j9T$salt:extra:field:0:99999"), std::string("$y$j9T$salt with space"),
          std::string("$y$j9T$salt\nroot::0:0::/:/bin/sh"), std::string("$y$j9T$salttab\tabcdef"),
          std::string("$y$j9T$salt\x7f"
                      "abcdefghijk"),
          std::string("$y$j9T$salt\xc3\xa4"
                      "abcdefghi"),
          std::string("$y$j9T$salt\0abcdefghijkl", 24)}) {
        INFO(text);
        CHECK_FALSE(is_password_hash(text));
    }
}

TEST_CASE("password: wipe zeroes the bytes and empties the string", "[password]") {
    std::string secret = "a secret long enough to live on the heap, not inline";
    const char* bytes = secret.data();
    const std::size_t size = secret.size();
    wipe_string(secret);
    CHECK(secret.empty());
    // The buffer is the same one (clearing does not reallocate), so its old bytes are visible.
    REQUIRE(secret.data() == bytes);
    for (std::size_t i = 0; i < size; ++i) {
        CHECK(bytes[i] == '\0');
    }
    std::string short_secret = "pw";
    wipe_string(short_secret);
    CHECK(short_secret.empty());
}
