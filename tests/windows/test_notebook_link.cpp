// The notebook link's target in NT form and its reparse data, as bytes: wine cannot make
// symbolic links (docs/windows.md), so their layout is checked here, against winnt.h's tag and
// REPARSE_DATA_BUFFER's documented offsets.
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "windows/notebook_link.h"

using namespace dsvm::windows_platform;

namespace {

std::size_t read16(const std::vector<unsigned char>& data, std::size_t at) {
    return data[at] | (static_cast<std::size_t>(data[at + 1]) << 8);
}

std::wstring read_name(const std::vector<unsigned char>& data, std::size_t offset,
                       std::size_t bytes) {
    std::wstring name(bytes / sizeof(wchar_t), L'\0');
    std::memcpy(name.data(), data.data() + 20 + offset, bytes);
    return name;
}

}  // namespace

TEST_CASE("notebook link: a share's folder is stored in NT form, and nothing else is a target",
          "[windows-accounts]") {
    CHECK(*nt_link_target("//acct.file.core.windows.net/pool/notebooks/alice") ==
          "\\??\\UNC\\acct.file.core.windows.net\\pool\\notebooks\\alice");
    CHECK(*nt_link_target("\\\\acct.file.core.windows.net\\pool\\alice\\") ==
          "\\??\\UNC\\acct.file.core.windows.net\\pool\\alice");
    CHECK(*nt_link_target("\\\\host\\share") == "\\??\\UNC\\host\\share");
    CHECK(*nt_link_target("D:\\notebooks\\alice") == "\\??\\D:\\notebooks\\alice");

    for (const char* refused : {"/datamnt/pool/alice", "notebooks\\alice", "\\\\host", "\\\\host\\",
                                "//host//share", "//host/share/../windows", "//host/share/./x",
                                "//host/share/a:b", "C:relative", "", "//host/share/a\tb"}) {
        INFO(refused);
        const auto target = nt_link_target(refused);
        REQUIRE_FALSE(target);
        CHECK(target.error().kind == dsvm::ErrorKind::Invalid);
    }
    CHECK(print_name("\\??\\UNC\\host\\share\\alice") == "\\\\host\\share\\alice");
    CHECK(print_name("\\??\\D:\\alice") == "D:\\alice");
}

TEST_CASE("notebook link: the reparse data is an absolute symbolic link to the NT path",
          "[windows-accounts]") {
    const std::string target = "\\??\\UNC\\acct.file.core.windows.net\\pool\\alice";
    const std::string shown = "\\\\acct.file.core.windows.net\\pool\\alice";

    const std::vector<unsigned char> data = symlink_reparse_data(target, shown);

    const std::size_t target_bytes = target.size() * sizeof(wchar_t);
    const std::size_t shown_bytes = shown.size() * sizeof(wchar_t);
    REQUIRE(data.size() == 20 + target_bytes + shown_bytes);
    std::uint32_t tag = 0;
    std::memcpy(&tag, data.data(), sizeof tag);
    CHECK(tag == IO_REPARSE_TAG_SYMLINK);
    CHECK(read16(data, 4) == 12 + target_bytes + shown_bytes);  // ReparseDataLength
    CHECK(read16(data, 6) == 0);                                // Reserved
    CHECK(read16(data, 8) == 0);                                // SubstituteNameOffset
    CHECK(read16(data, 10) == target_bytes);                    // SubstituteNameLength
    CHECK(read16(data, 12) == target_bytes);                    // PrintNameOffset
    CHECK(read16(data, 14) == shown_bytes);                     // PrintNameLength
    std::uint32_t flags = 1;
    std::memcpy(&flags, data.data() + 16, sizeof flags);
    CHECK(flags == 0);  // not SYMLINK_FLAG_RELATIVE
    CHECK(read_name(data, 0, target_bytes) ==
          L"\\??\\UNC\\acct.file.core.windows.net\\pool\\alice");
    CHECK(read_name(data, target_bytes, shown_bytes) ==
          L"\\\\acct.file.core.windows.net\\pool\\alice");
    CHECK(symlink_target(data.data(), data.size()) == target);
}

TEST_CASE("notebook link: a junction, or data that does not hold together, is no symbolic link",
          "[windows-accounts]") {
    std::vector<unsigned char> data = symlink_reparse_data("\\??\\C:\\x", "C:\\x");

    std::vector<unsigned char> junction = data;
    const std::uint32_t mount_point = IO_REPARSE_TAG_MOUNT_POINT;
    std::memcpy(junction.data(), &mount_point, sizeof mount_point);
    CHECK_FALSE(symlink_target(junction.data(), junction.size()));
    CHECK_FALSE(symlink_target(data.data(), 19));
    CHECK_FALSE(symlink_target(data.data(), data.size() - 1));
    std::vector<unsigned char> overlong = data;
    overlong[10] = 0xFE;  // a substitute name longer than the data
    CHECK_FALSE(symlink_target(overlong.data(), overlong.size()));
}
