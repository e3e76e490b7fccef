#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

#include "mount/fstab.h"

using namespace dsvm;
using namespace dsvm::mount;

namespace {

const std::string k_marker(k_fstab_marker);

FstabEntry entry(std::string source, std::string target, std::string fs_type, std::string options) {
    FstabEntry out;
    out.source = std::move(source);
    out.target = std::move(target);
    out.fs_type = std::move(fs_type);
    out.options = std::move(options);
    return out;
}

FstabEntry smb(std::string target, std::string options = "vers=3.1.1,_netdev,nofail") {
    return entry("//acct.file.core.windows.net/share", std::move(target), "cifs",
                 std::move(options));
}

// Our two lines for an entry, as update_fstab writes them.
std::string block(const FstabEntry& e) {
    return k_marker + "\n" + render_fstab_line(e) + "\n";
}

// A Debian 12 installer's fstab after some admin edits: tabs, odd spacing, blank lines, a line
// that mentions the agent without being ours, and no final newline.
const std::string k_debian =
    "# /etc/fstab: static file system information.\n"
    "#\n"
    "# Use 'blkid' to print the universally unique identifier for a\n"
    "# device; this may be used with UUID= as a more robust way to name devices\n"
    "# that works even if disks are added and removed. See fstab(5).\n"
    "#\n"
    "# <file system> <mount point>   <type>  <options>       <dump>  <pass>\n"
    "# / was on /dev/sda1 during installation\n"
    "UUID=6c2e1a34-9b7f-4c1e-8f6a-2d3b4c5d6e7f /               ext4    errors=remount-ro 0       "
    "1\n"
    "# swap was on /dev/sda5 during installation\n"
    "UUID=0a1b2c3d-4e5f-6789-abcd-ef0123456789\tnone\tswap\tsw\t0\t0\n"
    "\n"
    "   \t  \n"
    "  # dsvm-agent: hand-written, leave alone\n"
    "/dev/sr0        /media/cdrom0   udf,iso9660 user,noauto     0       0\n"
    "//old.file.core.windows.net/x /mnt/old cifs credentials=/root/x,nofail 0 0 # dsvm-agent";

}  // namespace

TEST_CASE("fstab: a line escapes whitespace and backslashes in fields", "[fstab]") {
    CHECK(render_fstab_line(smb("/datamnt/my share")) ==
          "//acct.file.core.windows.net/share /datamnt/my\\040share cifs "
          "vers=3.1.1,_netdev,nofail 0 0");
    CHECK(render_fstab_line(entry("/srv/a\tb\nc\\d", "/datamnt/x", "none", "bind,nofail")) ==
          "/srv/a\\011b\\012c\\134d /datamnt/x none bind,nofail 0 0");
    // A '#' first on the line would turn our entry into a comment.
    CHECK(render_fstab_line(entry("#src", "/m", "none", "bind")) == "\\043src /m none bind 0 0");
    // An empty field would vanish between two spaces and shift the others.
    CHECK(render_fstab_line(entry("/srv/x", "/m", "", "")) == "/srv/x /m none defaults 0 0");
}

TEST_CASE("fstab: entries written are read back, escapes included", "[fstab]") {
    const std::vector<FstabEntry> wanted = {
        smb("/datamnt/my share"),
        entry("/srv/with\ttab\\and space", "/datamnt/bind", "none", "bind,ro,nofail"),
        entry("acct.file.core.windows.net:/acct/share", "/datamnt/nfs", "nfs",
              "vers=4.1,sec=sys,_netdev,nofail")};
    const auto text = update_fstab("", wanted);
    CHECK(managed_fstab_entries(text) == wanted);
}

TEST_CASE("fstab: update on an empty file writes marker and line per entry", "[fstab]") {
    const auto first = smb("/datamnt/a");
    const auto second = smb("/datamnt/b");
    CHECK(update_fstab("", {first, second}) == block(first) + block(second));
    CHECK(update_fstab("", {}).empty());
}

TEST_CASE("fstab: the admin's lines stay byte for byte and ours are appended", "[fstab]") {
    const auto share = smb("/datamnt/share");
    const auto updated = update_fstab(k_debian, {share});
    // Given no final newline, we expect exactly one to be added before our block.
    CHECK(updated == k_debian + "\n" + block(share));
    CHECK(managed_fstab_entries(k_debian).empty());
    CHECK(managed_fstab_entries(updated) == std::vector<FstabEntry>{share});
    // Nothing to manage: not even the missing final newline is touched.
    CHECK(update_fstab(k_debian, {}) == k_debian);
}

TEST_CASE("fstab: updating twice changes nothing the second time", "[fstab]") {
    const std::vector<FstabEntry> wanted = {smb("/datamnt/a"), smb("/datamnt/b", "vers=3.0")};
    const auto once = update_fstab(k_debian, wanted);
    CHECK(update_fstab(once, wanted) == once);
    const auto from_empty = update_fstab("", wanted);
    CHECK(update_fstab(from_empty, wanted) == from_empty);
}

TEST_CASE("fstab: changed options rewrite the entry where it stands", "[fstab]") {
    const auto a = smb("/datamnt/a");
    const auto b = smb("/datamnt/b");
    const auto text = "# top\n" + update_fstab("", {a, b}) + "/dev/sdb1 /data ext4 defaults 0 2\n";
    const auto a_changed = smb("/datamnt/a", "vers=3.0,actimeo=60,_netdev,nofail");
    CHECK(update_fstab(text, {a_changed, b}) ==
          "# top\n" + block(a_changed) + block(b) + "/dev/sdb1 /data ext4 defaults 0 2\n");
    // Existing entries keep their places; a new one goes to the end whatever its position.
    const auto c = smb("/datamnt/c");
    CHECK(update_fstab(text, {c, b, a}) ==
          "# top\n" + block(a) + block(b) + "/dev/sdb1 /data ext4 defaults 0 2\n" + block(c));
}

TEST_CASE("fstab: a target no longer wanted loses its marker and line", "[fstab]") {
    const auto a = smb("/datamnt/a");
    const auto b = smb("/datamnt/b");
    const auto text = "# top\n" + update_fstab("", {a, b}) + "# bottom\n";
    CHECK(update_fstab(text, {b}) == "# top\n" + block(b) + "# bottom\n");
    CHECK(update_fstab(text, {}) == "# top\n# bottom\n");
}

TEST_CASE("fstab: an admin's own line for our mount point is not ours", "[fstab]") {
    const std::string admin =
        "//acct.file.core.windows.net/share /datamnt/share cifs credentials=/root/c 0 0\n";
    const auto share = smb("/datamnt/share");
    const auto updated = update_fstab(admin, {share});
    CHECK(updated == admin + block(share));
    CHECK(managed_fstab_entries(updated) == std::vector<FstabEntry>{share});
    CHECK(update_fstab(updated, {}) == admin);
}

TEST_CASE("fstab: a target given twice is written once", "[fstab]") {
    const auto first = smb("/datamnt/a", "vers=3.0");
    const auto again = smb("/datamnt/a", "vers=3.1.1");
    const auto text = update_fstab("", {first, again});
    CHECK(text == block(first));
    CHECK(update_fstab(text, {first, again}) == text);
}

TEST_CASE("fstab: a marker without an entry after it is stale and dropped", "[fstab]") {
    const auto share = smb("/m");
    // Each text, and what is left of it once the stale marker is gone.
    const std::string stale_cases[][2] = {
        {"A\n" + k_marker + "\n", "A\n"},
        {"A\n" + k_marker, "A\n"},
        {k_marker + "\n# comment\nB\n", "# comment\nB\n"},
        {k_marker + "\n\nB\n", "\nB\n"},
    };
    for (const auto& [text, kept] : stale_cases) {
        INFO(text);
        CHECK(managed_fstab_entries(text).empty());
        CHECK(update_fstab(text, {}) == kept);
        CHECK(update_fstab(text, {share}) == kept + block(share));
    }
    // Of two markers in a row, only the second has an entry after it.
    const auto doubled = k_marker + "\n" + block(share);
    CHECK(managed_fstab_entries(doubled) == std::vector<FstabEntry>{share});
    CHECK(update_fstab(doubled, {share}) == block(share));
}

TEST_CASE("fstab: hostile text is kept or ignored, never misread", "[fstab]") {
    const std::string long_line = "/dev/sdc /" + std::string(100000, 'x') + " ext4 defaults 0 0\n";
    const char nul_text[] = "# a\0comment\n/dev/sdd\0 /d ext4 rw 0 0\n";
    const std::string with_nul(nul_text, sizeof nul_text - 1);
    const std::string whitespace = " \t \n\t\n";
    const std::string few_fields = k_marker + "\n/srv/x /m none\n";
    const std::string many_fields = k_marker + "\n/srv/x /m none bind 0 0 extra\n";
    const auto share = smb("/datamnt/share");

    for (const auto& admin : {long_line, with_nul, whitespace}) {
        CHECK(managed_fstab_entries(admin).empty());
        CHECK(update_fstab(admin, {share}) == admin + block(share));
    }
    // The malformed line after a marker is left to the admin; only the marker goes.
    CHECK(managed_fstab_entries(few_fields).empty());
    CHECK(update_fstab(few_fields, {share}) == "/srv/x /m none\n" + block(share));
    CHECK(managed_fstab_entries(many_fields).empty());
    CHECK(update_fstab(many_fields, {}) == "/srv/x /m none bind 0 0 extra\n");
    // A marker followed by only whitespace is stale too.
    CHECK(update_fstab(k_marker + "\n" + whitespace, {}) == whitespace);
}

TEST_CASE("fstab: a marker an editor indented is still ours", "[fstab]") {
    const auto text = "  " + k_marker +
                      " \t\n//acct.file.core.windows.net/share   /datamnt/a\tcifs"
                      "  vers=3.0  0 0\n";
    const auto entries = managed_fstab_entries(text);
    REQUIRE(entries.size() == 1);
    CHECK(entries[0] == smb("/datamnt/a", "vers=3.0"));
    CHECK(update_fstab(text, {smb("/datamnt/a")}) == block(smb("/datamnt/a")));
}
