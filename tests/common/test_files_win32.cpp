// The Windows halves of common/fs.h, safe_open.h, file_lock.h and secret.h, run under wine in a
// fresh directory under %TEMP%. What wine cannot make (symbolic links: CreateSymbolicLinkW is a
// stub in wine 8.0) is not tested here (docs/windows.md, "What wine can show").
#include <windows.h>

#include <sddl.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "common/file_handles_win32.h"
#include "common/file_lock.h"
#include "common/fs.h"
#include "common/ids.h"
#include "common/safe_open.h"
#include "common/secret.h"
#include "support/fake_clock.h"
#include "support/temporary_directory_win32.h"

namespace dsvm {

TEST_CASE("windows files: a replace writes the content and leaves no temporary", "[win32]") {
    test::TemporaryDirectory dir;
    REQUIRE(replace_file_at(dir.fd(), "pool.json", "first", {}, dir.path()));
    REQUIRE(replace_file_at(dir.fd(), "pool.json", "second, longer", {}, dir.path()));
    auto text = read_file(dir / "pool.json");
    REQUIRE(text);
    CHECK(*text == "second, longer");
    WIN32_FIND_DATAW entry{};
    HANDLE listing = ::FindFirstFileW(widen(dir / "*").c_str(), &entry);
    REQUIRE(listing != INVALID_HANDLE_VALUE);
    int files = 0;
    do {
        const std::wstring_view name = entry.cFileName;
        files += name != L"." && name != L"..";
    } while (::FindNextFileW(listing, &entry));
    ::FindClose(listing);
    CHECK(files == 1);
}

TEST_CASE("windows files: a refused check before the rename keeps the old file", "[win32]") {
    test::TemporaryDirectory dir;
    REQUIRE(write_file_atomic(dir / "state.json", "old", 0644));
    ReplaceOptions options;
    options.check_before_rename = [] { return Result<void>(failure("the lock was lost")); };
    auto replaced = replace_file_at(dir.fd(), "state.json", "new", options, dir.path());
    REQUIRE_FALSE(replaced);
    CHECK(replaced.error().message == "the lock was lost");
    CHECK(*read_file(dir / "state.json") == "old");
    REQUIRE(remove_file_if_exists(dir / "state.json"));
    // The temporary was delete-on-close: nothing is left once the replace gave up.
    CHECK(directory_is_empty(dir.path()));
}

TEST_CASE("windows files: numeric owners are refused, not ignored", "[win32]") {
    test::TemporaryDirectory dir;
    ReplaceOptions options;
    options.uid = 1000;
    auto replaced = replace_file_at(dir.fd(), "keys", "x", options, dir.path());
    REQUIRE_FALSE(replaced);
    CHECK(replaced.error().kind == ErrorKind::Invalid);
    CHECK_FALSE(path_exists(dir / "keys"));
}

TEST_CASE("windows files: missing files, directories and status", "[win32]") {
    test::TemporaryDirectory dir;
    auto missing = read_file_at(dir.fd(), "absent", "absent", 0);
    REQUIRE(missing);
    CHECK_FALSE(missing->found);
    REQUIRE(make_directories(dir / "a/b/c", 0755));
    CHECK(is_directory(dir / "a/b/c"));
    CHECK(file_status(dir / "a", Links::DoNotFollow).type == FileType::Directory);
    CHECK(file_status(dir / "nothing", Links::Follow).type == FileType::Missing);
    auto directory_read = read_file_at(dir.fd(), "a", "a", 0);
    CHECK_FALSE(directory_read);
    REQUIRE(write_file_atomic(dir / "a/file", "x", 0644));
    auto blocked = make_directories(dir / "a/file/below", 0755);
    REQUIRE_FALSE(blocked);
    CHECK(blocked.error().message.find("not a directory") != std::string::npos);
    const auto one = file_status(dir / "a/file", Links::Follow);
    CHECK(one.type == FileType::Regular);
    CHECK(same_file(one, file_status(dir / "a/file", Links::DoNotFollow)));
    CHECK_FALSE(same_file(one, file_status(dir / "a", Links::Follow)));
    REQUIRE(remove_file_if_exists(dir / "a/file"));
    REQUIRE(remove_file_if_exists(dir / "a/file"));
    CHECK_FALSE(path_exists(dir / "a/file"));
}

TEST_CASE("windows files: the untrusted reader bounds size and refuses directories", "[win32]") {
    test::TemporaryDirectory dir;
    REQUIRE(write_file_atomic(dir / "registry.json", std::string(100, 'x'), 0644));
    UntrustedFile rules;
    rules.max_bytes = 100;
    auto read = read_untrusted_file_at(dir.fd(), "registry.json", "registry.json", rules);
    REQUIRE(read);
    CHECK(read->found);
    CHECK(read->text.size() == 100);
    rules.max_bytes = 99;
    auto big = read_untrusted_file_at(dir.fd(), "registry.json", "registry.json", rules);
    REQUIRE_FALSE(big);
    CHECK(big.error().message.find("at most 99") != std::string::npos);
    REQUIRE(make_directories(dir / "folder", 0755));
    auto folder = read_untrusted_file_at(dir.fd(), "folder", "folder", rules);
    REQUIRE_FALSE(folder);
    CHECK(folder.error().message.find("not a regular file") != std::string::npos);
    auto absent = read_untrusted_file_at(dir.fd(), "absent", "absent", rules);
    REQUIRE(absent);
    CHECK_FALSE(absent->found);
    auto climbing = read_untrusted_file_at(dir.fd(), "../registry.json", "x", rules);
    CHECK_FALSE(climbing);
}

TEST_CASE("windows files: walking below a top refuses '..' and makes what is missing", "[win32]") {
    test::TemporaryDirectory dir;
    auto climbing = open_directory_below(dir.path(), "../b");
    REQUIRE_FALSE(climbing);
    CHECK(climbing.error().kind == ErrorKind::Invalid);
    auto missing = open_directory_below(dir.path(), "a/b");
    REQUIRE_FALSE(missing);
    CHECK(missing.error().message.find("cannot open " + dir.path() + "/a") != std::string::npos);
    REQUIRE(make_directories_below(dir.path(), "a/b", 0755));
    CHECK(is_directory(dir / "a/b"));
    REQUIRE(write_file_atomic(dir / "a/file", "x", 0644));
    auto through_file = open_directory_below(dir.path(), "a/file");
    REQUIRE_FALSE(through_file);
    CHECK(through_file.error().message.find("not a directory") != std::string::npos);
}

TEST_CASE("windows files: renames never replace, trees are removed whole", "[win32]") {
    test::TemporaryDirectory dir;
    REQUIRE(write_file_atomic(dir / "one", "1", 0644));
    REQUIRE(write_file_atomic(dir / "two", "2", 0644));
    CHECK(rename_no_replace(dir.fd(), "one", "two") == -1);
    CHECK(errno == EEXIST);
    CHECK(*read_file(dir / "two") == "2");
    CHECK(rename_no_replace(dir.fd(), "one", "three") == 0);
    CHECK(*read_file(dir / "three") == "1");
    REQUIRE(make_directories(dir / "tree/a/b", 0755));
    REQUIRE(write_file_atomic(dir / "tree/a/b/file", "x", 0644));
    REQUIRE(write_file_atomic(dir / "tree/top", "x", 0644));
    REQUIRE(remove_tree_at(dir.fd(), "tree", "tree"));
    CHECK_FALSE(path_exists(dir / "tree"));
    CHECK(remove_tree_at(dir.fd(), "tree", "tree"));
    bool created = false;
    REQUIRE(open_or_create_directory_at(dir.fd(), "home", 0700, static_cast<uid_t>(-1),
                                        static_cast<gid_t>(-1), created));
    CHECK(created);
    REQUIRE(open_or_create_directory_at(dir.fd(), "home", 0700, static_cast<uid_t>(-1),
                                        static_cast<gid_t>(-1), created));
    CHECK_FALSE(created);
}

TEST_CASE("windows files: a held lock is waited for on the clock, then given up", "[win32]") {
    test::TemporaryDirectory dir;
    auto held = lock_file_at(dir.fd(), "registry.lock", "registry.lock", std::chrono::seconds(1));
    REQUIRE(held);
    test::FakeClock clock;
    auto second = lock_file_at(dir.fd(), "registry.lock", "registry.lock", std::chrono::seconds(30),
                               {}, clock);
    REQUIRE_FALSE(second);
    CHECK(second.error().message.find("held it for 30 s") != std::string::npos);
    CHECK(clock.now() - std::chrono::steady_clock::time_point{} >= std::chrono::seconds(30));
    held->reset();
    CHECK(lock_file_at(dir.fd(), "registry.lock", "registry.lock", std::chrono::seconds(1), {},
                       clock));
}

TEST_CASE("windows files: a private file is SYSTEM's and the administrators' only", "[win32]") {
    test::TemporaryDirectory dir;
    REQUIRE(write_file_atomic(dir / "open.key", "secret", 0644));
    auto open_key = read_secret_file_at(dir.fd(), "open.key", "open.key", 64);
    REQUIRE_FALSE(open_key);
    CHECK(open_key.error().message.find("refusing open.key") != std::string::npos);
    CHECK(open_key.error().message.find("secret") == std::string::npos);
    REQUIRE(write_file_atomic(dir / "private.key", "secret", 0600));
    auto opened = read_secret_file_at(dir.fd(), "private.key", "private.key", 64);
    INFO((opened ? std::string() : opened.error().message));
    REQUIRE(opened);
    CHECK(opened->found);
    CHECK(opened->bytes.view() == "secret");
}

}  // namespace dsvm

namespace dsvm {

TEST_CASE("windows files: identity, removal at a directory, and directories by path", "[win32]") {
    test::TemporaryDirectory dir;
    CHECK(file_identity_at(dir.fd(), "registry.json").empty());
    REQUIRE(write_file_atomic(dir / "registry.json", "one", 0644));
    const std::string first = file_identity_at(dir.fd(), "registry.json");
    CHECK_FALSE(first.empty());
    CHECK(file_identity_at(dir.fd(), "registry.json") == first);
    REQUIRE(write_file_atomic(dir / "registry.json", "two, longer", 0644));
    CHECK(file_identity_at(dir.fd(), "registry.json") != first);
    REQUIRE(remove_file_at(dir.fd(), "registry.json", "registry.json"));
    CHECK_FALSE(path_exists(dir / "registry.json"));
    CHECK(remove_file_at(dir.fd(), "registry.json", "registry.json"));

    const auto made = make_directory(dir / ".dsvm-agent", 0700);
    CHECK(made.made);
    CHECK(made.failure == DirectoryFailure::None);
    CHECK_FALSE(make_directory(dir / ".dsvm-agent", 0700).made);
    CHECK(make_directory(dir / "no/such", 0700).failure == DirectoryFailure::Missing);
    auto opened = open_directory_nofollow(dir / ".dsvm-agent");
    REQUIRE(opened.fd);
    CHECK(check_private_owner(opened.fd.get(), effective_uid(), ".dsvm-agent"));
    CHECK(open_directory_nofollow(dir / "absent").failure == DirectoryFailure::Missing);
    REQUIRE(write_file_atomic(dir / "file", "x", 0644));
    CHECK(open_directory_nofollow(dir / "file").failure == DirectoryFailure::NotDirectory);
    CHECK_FALSE(file_ownership(opened.fd.get(), ".dsvm-agent"));
    CHECK_FALSE(set_file_mode(opened.fd.get(), 0700, ".dsvm-agent"));

    // Listed from the directory's handle; an open file told by its name.
    REQUIRE(write_file_atomic(dir / ".dsvm-agent/registry.json", "{}", 0600));
    auto lock =
        lock_file_at(opened.fd.get(), "registry.lock", "registry.lock", std::chrono::seconds(1));
    REQUIRE(lock.ok());
    auto names = directory_names_at(opened.fd.get(), ".dsvm-agent");
    REQUIRE(names.ok());
    std::sort(names->begin(), names->end());
    CHECK(*names == std::vector<std::string>{"registry.json", "registry.lock"});
    CHECK(same_file_at(lock->get(), opened.fd.get(), "registry.lock"));
    CHECK_FALSE(same_file_at(lock->get(), opened.fd.get(), "registry.json"));
    CHECK_FALSE(same_file_at(lock->get(), opened.fd.get(), "missing"));
}

}  // namespace dsvm

namespace dsvm {

TEST_CASE("windows files: private means no one but SYSTEM, Administrators and the agent",
          "[win32]") {
    // Given access lists written out in full, we expect every grant to another account refused,
    // and denies and entries only for children ignored. The descriptors are checked in memory:
    // wine keeps no access list on a file, it shows one made from the file's POSIX mode.
    struct Case {
        const wchar_t* sddl;
        bool is_private;
    };
    const Case cases[] = {
        {L"O:SYD:P(A;;FA;;;SY)(A;;FA;;;BA)", true},
        {L"O:BAD:P(A;;FA;;;SY)(D;;FA;;;WD)", true},
        {L"O:SYD:P(A;;FA;;;SY)(A;OICIIO;FA;;;WD)", true},
        {L"O:SYD:P(A;;FA;;;SY)(A;;FR;;;WD)", false},
        {L"O:SYD:P(A;;FA;;;SY)(A;;FR;;;BU)", false},
        {L"O:BUD:P(A;;FA;;;SY)", false},
    };
    for (const auto& one : cases) {
        PSECURITY_DESCRIPTOR descriptor = nullptr;
        REQUIRE(::ConvertStringSecurityDescriptorToSecurityDescriptorW(one.sddl, SDDL_REVISION_1,
                                                                       &descriptor, nullptr));
        auto checked = win32::check_administrators_only(descriptor, "the file");
        ::LocalFree(descriptor);
        INFO(narrow(one.sddl) << ": " << (checked ? "private" : checked.error().message));
        CHECK(checked.ok() == one.is_private);
    }
    // A null access list lets everyone in. Built by hand: wine's SDDL parser makes an empty
    // list of "NO_ACCESS_CONTROL", which lets no one in.
    SECURITY_DESCRIPTOR open_to_all{};
    BYTE system[SECURITY_MAX_SID_SIZE];
    DWORD size = sizeof system;
    REQUIRE(::InitializeSecurityDescriptor(&open_to_all, SECURITY_DESCRIPTOR_REVISION));
    REQUIRE(::CreateWellKnownSid(WinLocalSystemSid, nullptr, system, &size));
    REQUIRE(::SetSecurityDescriptorOwner(&open_to_all, system, FALSE));
    REQUIRE(::SetSecurityDescriptorDacl(&open_to_all, TRUE, nullptr, FALSE));
    auto null_list = win32::check_administrators_only(&open_to_all, "the file");
    REQUIRE_FALSE(null_list);
    CHECK(null_list.error().message.find("no access list") != std::string::npos);
}

TEST_CASE("windows files: a file others may read is not private", "[win32]") {
    test::TemporaryDirectory dir;
    test::write_with_security(dir / "open", "secret", L"D:P(A;;FA;;;SY)(A;;FR;;;WD)");
    auto opened = open_regular_nofollow(dir / "open");
    REQUIRE(opened.fd);
    auto checked = win32::check_administrators_only(opened.fd.get(), "open");
    REQUIRE_FALSE(checked);
    CHECK(checked.error().message.find("S-1-1-0") != std::string::npos);
    CHECK(checked.error().message.find("secret") == std::string::npos);
}

TEST_CASE("windows files: names that are streams, too long, or not one component are refused",
          "[win32]") {
    test::TemporaryDirectory dir;
    REQUIRE(write_file_atomic(dir / "registry.json", "x", 0644));
    for (const std::string& name : {std::string("registry.json:hidden"), std::string(256, 'a'),
                                    std::string("a\\b"), std::string("..")}) {
        Fd fd;
        CHECK(win32::open_at(dir.fd(), name, {.access = GENERIC_READ}, fd) == ERROR_INVALID_NAME);
        CHECK_FALSE(fd);
    }
    Fd fd;
    CHECK(win32::open_at(dir.fd(), std::string(255, 'a'), {.access = GENERIC_READ}, fd) ==
          ERROR_FILE_NOT_FOUND);
}

TEST_CASE("windows files: a directory read as a file is not a regular file", "[win32]") {
    test::TemporaryDirectory dir;
    REQUIRE(make_directories(dir / "credentials", 0700));
    auto directory_read = read_file_if_exists(dir / "credentials");
    REQUIRE_FALSE(directory_read);
    INFO(directory_read.error().message);
    CHECK(directory_read.error().message.find("not a regular file") != std::string::npos);
    auto opened = open_regular_nofollow(dir / "credentials");
    CHECK(opened.failure == FileFailure::NotRegular);
}

}  // namespace dsvm

namespace dsvm {

TEST_CASE("windows files: a tree with read-only and unreadable files is removed whole", "[win32]") {
    test::TemporaryDirectory dir;
    REQUIRE(make_directories(dir / "home/alice/.ssh", 0700));
    test::write_with_security(dir / "home/alice/.ssh/readonly", "x", L"D:P(A;;FR;;;WD)");
    REQUIRE(::SetFileAttributesW(widen(dir / "home/alice/.ssh/readonly").c_str(),
                                 FILE_ATTRIBUTE_READONLY));
    test::write_with_security(dir / "home/alice/unreadable", "x", L"D:P(A;;FA;;;SY)");
    for (int index = 0; index < 300; ++index) {
        REQUIRE(write_file_atomic(
            dir / ("home/many-" + std::string(150, 'n') + "-" + std::to_string(index)), "x", 0644));
    }
    auto removed = remove_tree_at(dir.fd(), "home", "home");
    INFO((removed ? std::string() : removed.error().message));
    REQUIRE(removed);
    CHECK_FALSE(path_exists(dir / "home"));
}

}  // namespace dsvm

namespace dsvm {

TEST_CASE(
    "windows files: a crashed writer's temporary is removed by the next write, a live one's "
    "kept",
    "[win32]") {
    test::TemporaryDirectory dir;
    const std::string live = "pool.json.tmp." + std::to_string(::GetCurrentProcessId()) + ".12345";
    REQUIRE(write_file_atomic(dir / "pool.json.tmp.999999.1", "old secret", 0600));
    REQUIRE(write_file_atomic(dir / "pool.json.tmp.42", "older secret", 0600));
    REQUIRE(write_file_atomic(dir / live, "being written", 0600));
    REQUIRE(write_file_atomic(dir / "other.json.tmp.999999.1", "not ours", 0600));
    REQUIRE(replace_file_at(dir.fd(), "pool.json", "new", {}, dir.path()));
    CHECK_FALSE(path_exists(dir / "pool.json.tmp.999999.1"));
    CHECK_FALSE(path_exists(dir / "pool.json.tmp.42"));
    CHECK(path_exists(dir / live));
    CHECK(path_exists(dir / "other.json.tmp.999999.1"));
    CHECK(*read_file(dir / "pool.json") == "new");
}

}  // namespace dsvm

TEST_CASE("files on Windows: an absolute path names a drive and a separator, or is UNC",
          "[files][windows]") {
    CHECK(dsvm::is_absolute_path("C:\\Packages\\Plugins\\Microsoft.DSVM.DsvmAgent\\1.0.0"));
    CHECK(dsvm::is_absolute_path("C:/ProgramData/dsvm-agent"));
    CHECK(dsvm::is_absolute_path("\\\\server\\share\\x"));
    CHECK_FALSE(dsvm::is_absolute_path("/var/lib/waagent"));
    CHECK_FALSE(dsvm::is_absolute_path("C:Packages"));
    CHECK_FALSE(dsvm::is_absolute_path("Packages\\Plugins"));
    CHECK_FALSE(dsvm::is_absolute_path(""));
}
