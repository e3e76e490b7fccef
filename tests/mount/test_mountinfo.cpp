#include <catch2/catch.hpp>

#include "mount/mountinfo.h"

using namespace dsvm;
using namespace dsvm::mount;

TEST_CASE("mountinfo: a typical table parses, optional fields included", "[mountinfo]") {
    const auto entries = parse_mountinfo(
        "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard\n"
        "63 22 254:0 /srv/share /datamnt/share rw,relatime shared:1 master:2 - ext4 /dev/vda "
        "rw\n"
        "70 22 0:50 / /datamnt/smb rw,relatime - cifs //acct.file.core.windows.net/share "
        "rw,vers=3.1.1,cache=strict\n");
    REQUIRE(entries.ok());
    REQUIRE(entries->size() == 3);
    const MountEntry& bind = (*entries)[1];
    CHECK(bind.mount_id == 63);
    CHECK(bind.parent_id == 22);
    CHECK(bind.major == 254);
    CHECK(bind.minor == 0);
    CHECK(bind.root == "/srv/share");
    CHECK(bind.mount_point == "/datamnt/share");
    CHECK(bind.fs_type == "ext4");
    CHECK(bind.source == "/dev/vda");
    CHECK((*entries)[2].source == "//acct.file.core.windows.net/share");
    CHECK((*entries)[2].super_options == "rw,vers=3.1.1,cache=strict");
}

TEST_CASE("mountinfo: octal escapes are decoded", "[mountinfo]") {
    const auto entries = parse_mountinfo(
        "80 22 0:51 / /mnt/with\\040space\\011tab\\134back rw - tmpfs my\\040src rw\n");
    REQUIRE(entries.ok());
    REQUIRE(entries->size() == 1);
    CHECK((*entries)[0].mount_point == "/mnt/with space\ttab\\back");
    CHECK((*entries)[0].source == "my src");
}

TEST_CASE("mountinfo: find_mount returns the top of a stack", "[mountinfo]") {
    const auto entries = parse_mountinfo(
        "1 0 0:1 / /m rw - tmpfs a rw\n"
        "2 1 0:2 / /m rw - tmpfs b rw\n");
    REQUIRE(entries.ok());
    const MountEntry* top = find_mount(*entries, "/m");
    REQUIRE(top != nullptr);
    CHECK(top->source == "b");
    CHECK(find_mount(*entries, "/other") == nullptr);
    CHECK(find_mount(*entries, "/m/") == nullptr);
}

TEST_CASE("mountinfo: malformed lines are errors naming the line", "[mountinfo]") {
    const char* hostile[] = {
        "garbage\n",
        "1 0 0:1 / /m rw tmpfs a rw\n",    // no separator
        "x 0 0:1 / /m rw - tmpfs a rw\n",  // non-numeric ID
        "1 0 01 / /m rw - tmpfs a rw\n",   // device without colon
        "1 0 0:1 / /m rw -\n",             // nothing after the separator
    };
    for (const char* text : hostile) {
        const auto entries =
            parse_mountinfo(std::string("22 1 254:0 / / rw - ext4 /dev/vda rw\n") + text);
        INFO(text);
        REQUIRE_FALSE(entries.ok());
        CHECK_THAT(entries.error().message, Catch::Contains("line 2"));
    }
}

TEST_CASE("mountinfo: an empty table and a trailing backslash are fine", "[mountinfo]") {
    CHECK(parse_mountinfo("").ok());
    const auto entries = parse_mountinfo("1 0 0:1 / /m\\ rw - tmpfs a\\04 rw");
    REQUIRE(entries.ok());
    CHECK((*entries)[0].mount_point == "/m\\");
    CHECK((*entries)[0].source == "a\\04");
}
