#include <catch2/catch.hpp>
#include <string>

#include "common/text.h"

using namespace dsvm;

TEST_CASE("text: hex digits in either case, two per byte", "[text]") {
    const unsigned char bytes[] = {0x00, 0x0A, 0xB1, 0xFF};
    CHECK(hex_digits(bytes, sizeof bytes) == "000ab1ff");
    CHECK(hex_digits(bytes, sizeof bytes, HexCase::Upper) == "000AB1FF");
    CHECK(hex_digits(bytes, 0).empty());
}

TEST_CASE("text: untrusted values are printed escaped and cut", "[text]") {
    CHECK(printable("alice") == "alice");
    CHECK(printable(std::string("a\nb\x01\\", 5)) == "a\\x0ab\\x01\\x5c");
    CHECK(printable(std::string(70, 'x')) == std::string(64, 'x') + "...");
}

TEST_CASE("text: a whole line is escaped for a terminal and bounded", "[text]") {
    // An escape sequence that would clear the screen or retitle the terminal comes out inert.
    CHECK(printable_line("registry entry 'x\x1b]0;pwned\x07' rejected") ==
          "registry entry 'x\\x1b]0;pwned\\x07' rejected");
    CHECK(printable_line("a\\x0ab") == "a\\x0ab");  // what was escaped before stays readable
    CHECK(printable_line(std::string(2000, 'y')).size() == 1024 + 3);
    CHECK(printable_line("caf\xc3\xa9", 10) == "caf\\xc3\\xa9");
}
