// Text at the Win32 edge (common/windows_api_win32.h): UTF-8 and UTF-16, and error codes as
// messages.
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <catch2/catch.hpp>

#include <string>

#include "common/windows_api_win32.h"

namespace dsvm {

TEST_CASE("windows text: UTF-8 and UTF-16 round-trip, beyond the BMP too") {
    // widen() is the lenient one; to_utf16() refuses what is not UTF-8.
    CHECK_FALSE(to_utf16("\xff", "the name"));
    const std::string utf8 = "dsvm-agent \xc3\xa9t\xc3\xa9 \xf0\x9f\x93\x81";

    const std::wstring wide = widen(utf8);

    CHECK(wide == L"dsvm-agent \u00e9t\u00e9 \U0001F4C1");
    CHECK(narrow(wide) == utf8);
    CHECK(widen("").empty());
    CHECK(narrow(L"").empty());
}

TEST_CASE("windows text: an error code is the system's message and the code") {
    // The wording is the system's (wine's differs from Windows'), on one line.
    const std::string denied = windows_error_text(ERROR_ACCESS_DENIED);
    CHECK_THAT(denied, Catch::StartsWith("Access") && Catch::EndsWith("denied. (error 5)"));
    CHECK(denied.find_first_of("\r\n") == std::string::npos);
    // Given a code the system has no message for, the code alone.
    CHECK(windows_error_text(0x2fffffff) == "(error 805306367)");
}

}  // namespace dsvm
