// The real half of the files in a profile (windows/profile_files_win32.cpp) in a temporary folder
// under wine: opening relative to handles, the atomic keys file, what stands where the link goes.
// wine keeps no access lists and makes no symbolic links (docs/windows.md), so the keys file's
// access list and the link itself are checked on a DSVM.
#include <windows.h>

#include <sddl.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "common/fs.h"
#include "common/windows_api_win32.h"
#include "support/temporary_directory_win32.h"
#include "windows/profile_files_win32.h"

using namespace dsvm;
using namespace dsvm::windows_platform;
using dsvm::test::TemporaryDirectory;

namespace {

// The SID of the account the tests run as, standing in for the profile's user.
std::string own_sid() {
    HANDLE token = nullptr;
    REQUIRE(::OpenProcessToken(::GetCurrentProcess(), TOKEN_QUERY, &token));
    alignas(TOKEN_USER) BYTE buffer[sizeof(TOKEN_USER) + SECURITY_MAX_SID_SIZE];
    DWORD size = 0;
    const bool got = ::GetTokenInformation(token, TokenUser, buffer, sizeof buffer, &size);
    ::CloseHandle(token);
    REQUIRE(got);
    LPWSTR text = nullptr;
    REQUIRE(::ConvertSidToStringSidW(reinterpret_cast<TOKEN_USER*>(buffer)->User.Sid, &text));
    std::string sid = narrow(text);
    ::LocalFree(text);
    return sid;
}

std::vector<std::string> names_in(const std::string& path) {
    auto opened = open_directory(path);
    REQUIRE(opened);
    auto names = win32::list_names(opened->get(), path);
    REQUIRE(names);
    std::sort(names->begin(), names->end());
    return *names;
}

}  // namespace

TEST_CASE("profile files: the keys file is made in .ssh, replaced whole, and read back",
          "[windows-accounts]") {
    TemporaryDirectory profile;
    const std::string sid = own_sid();

    KeysFile none;
    REQUIRE(read_profile_keys(profile.path(), sid, none) == 0);
    CHECK_FALSE(none.found);
    REQUIRE(write_profile_keys(profile.path(), sid, "ssh-ed25519 AAAA first\n") == 0);
    REQUIRE(write_profile_keys(profile.path(), sid, "ssh-ed25519 AAAA second\n") == 0);

    KeysFile read;
    REQUIRE(read_profile_keys(profile.path(), sid, read) == 0);
    CHECK(read.found);
    CHECK(read.text == "ssh-ed25519 AAAA second\n");
    // No temporary is left beside it.
    CHECK(names_in(profile / ".ssh") == std::vector<std::string>{"authorized_keys"});
}

TEST_CASE("profile files: a missing profile is ERROR_FILE_NOT_FOUND, and nothing is made",
          "[windows-accounts]") {
    TemporaryDirectory top;
    const std::string missing = top / "nobody";
    KeysFile keys;
    LinkState link;
    bool changed = false;

    CHECK(read_profile_keys(missing, own_sid(), keys) == ERROR_FILE_NOT_FOUND);
    CHECK(write_profile_keys(missing, own_sid(), "x\n") == ERROR_FILE_NOT_FOUND);
    CHECK(read_profile_link(missing, "notebooks\\remote", link) == ERROR_FILE_NOT_FOUND);
    CHECK(make_profile_link(missing, "notebooks\\remote", "\\??\\UNC\\h\\s", changed) ==
          ERROR_FILE_NOT_FOUND);
    CHECK(names_in(top.path()).empty());
}

TEST_CASE("profile files: what stands where the notebook link goes", "[windows-accounts]") {
    TemporaryDirectory profile;
    LinkState state;

    REQUIRE(read_profile_link(profile.path(), "notebooks\\remote", state) == 0);
    CHECK(state.kind == LinkKind::Missing);
    REQUIRE(make_directories(profile / "notebooks/remote", 0755));
    REQUIRE(read_profile_link(profile.path(), "notebooks\\remote", state) == 0);
    CHECK(state.kind == LinkKind::EmptyDirectory);
    REQUIRE(write_file_atomic(profile / "notebooks/remote/work.ipynb", "{}", 0644));
    REQUIRE(read_profile_link(profile.path(), "notebooks\\remote", state) == 0);
    CHECK(state.kind == LinkKind::Other);

    // A folder with content is never replaced by the link.
    bool changed = true;
    CHECK(make_profile_link(profile.path(), "notebooks\\remote", "\\??\\UNC\\h\\s\\alice",
                            changed) == ERROR_ALREADY_EXISTS);
    CHECK_FALSE(changed);
    CHECK(names_in(profile / "notebooks/remote") == std::vector<std::string>{"work.ipynb"});
}

TEST_CASE("profile files: the link is set on the entry it creates, or no entry is left",
          "[windows-accounts]") {
    TemporaryDirectory profile;
    const std::string target = "\\??\\UNC\\acct.file.core.windows.net\\pool\\alice";
    bool changed = false;

    const auto made = make_profile_link(profile.path(), "notebooks\\remote", target, changed);

    LinkState state;
    REQUIRE(read_profile_link(profile.path(), "notebooks\\remote", state) == 0);
    if (made == 0) {
        CHECK(changed);
        CHECK(state.kind == LinkKind::Link);
        CHECK(state.target == target);
    } else {
        // wine refuses the reparse data: the entry made for it went with its handle.
        INFO(windows_error_text(made));
        CHECK(state.kind == LinkKind::Missing);
        CHECK(names_in(profile / "notebooks").empty());
    }
}
