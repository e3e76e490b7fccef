#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "common/process.h"
#include "support/recording_runner.h"
#include "support/sandbox.h"
#include "users/sudo.h"

using namespace dsvm;
using namespace dsvm::users;

namespace {

const std::string k_expected_text =
    "# Managed by dsvm-agent: members of dsvm-sudo may run any command as any user, after "
    "typing their own password.\n"
    "# Edits are overwritten on the next pass.\n"
    "%dsvm-sudo ALL=(ALL:ALL) ALL\n";
const std::string k_expected_without_password =
    "# Managed by dsvm-agent: members of dsvm-sudo may run any command as any user, without a "
    "password (sudoAuthentication: none).\n"
    "# Edits are overwritten on the next pass.\n"
    "%dsvm-sudo ALL=(ALL:ALL) NOPASSWD: ALL\n";

// Records every command; looks at the file visudo is given while it exists.
class FakeRunner final : public test::RecordingRunner {
  public:
    using RecordingRunner::RecordingRunner;

    bool validated_existed = false;
    mode_t validated_mode = 0;
    uid_t validated_uid = 9999;

  protected:
    void on_run(const std::vector<std::string>& argv) override {
        if (argv.size() == 4) {
            struct stat info {};
            validated_existed = ::lstat(argv[3].c_str(), &info) == 0;
            validated_mode = info.st_mode & 07777;
            validated_uid = info.st_uid;
        }
    }
};

using dsvm::test::stat_of;

}  // namespace

TEST_CASE("sudo: the drop-in grants the group everything and says who owns it", "[sudo]") {
    CHECK(render_sudoers() == k_expected_text);
}

TEST_CASE("sudo: with sudoAuthentication none the drop-in asks for no password", "[sudo]") {
    CHECK(render_sudoers(SudoAuthentication::None) == k_expected_without_password);
}

TEST_CASE("sudo: the password-less drop-in passes real visudo and replaces the other one",
          "[sudo]") {
    test::Sandbox sandbox;
    SystemProcessRunner runner;
    REQUIRE(install_sudoers(Root(sandbox.path()), runner).ok());
    auto changed = install_sudoers(Root(sandbox.path()), runner, SudoAuthentication::None);
    INFO((changed ? std::string() : changed.error().message));
    REQUIRE(changed.ok());
    CHECK(*changed);
    CHECK(sandbox.read("etc/sudoers.d/dsvm-agent") == k_expected_without_password);
    auto back = install_sudoers(Root(sandbox.path()), runner, SudoAuthentication::Password);
    REQUIRE(back.ok());
    CHECK(*back);
    CHECK(sandbox.read("etc/sudoers.d/dsvm-agent") == k_expected_text);
}

TEST_CASE("sudo: install writes 0440 root:root and real visudo accepts it", "[sudo]") {
    test::Sandbox sandbox;
    SystemProcessRunner runner;
    auto installed = install_sudoers(Root(sandbox.path()), runner);
    INFO((installed ? std::string() : installed.error().message));
    REQUIRE(installed.ok());
    CHECK(*installed);
    CHECK(sandbox.read("etc/sudoers.d/dsvm-agent") == k_expected_text);
    const auto info = stat_of(sandbox.path("etc/sudoers.d/dsvm-agent"));
    CHECK((info.st_mode & 07777) == 0440);
    CHECK(info.st_uid == 0);
    CHECK(info.st_gid == 0);
    CHECK((stat_of(sandbox.path("etc/sudoers.d")).st_mode & 07777) == 0750);
    CHECK_FALSE(sandbox.exists("etc/sudoers.d/.dsvm-agent.tmp"));
}

TEST_CASE("sudo: a second install changes nothing", "[sudo]") {
    test::Sandbox sandbox;
    SystemProcessRunner runner;
    REQUIRE(install_sudoers(Root(sandbox.path()), runner).ok());
    const std::string before = test::tree_digest(sandbox.path());
    FakeRunner recording;
    auto again = install_sudoers(Root(sandbox.path()), recording);
    REQUIRE(again.ok());
    CHECK_FALSE(*again);
    CHECK(recording.commands_ran.empty());
    CHECK(test::tree_digest(sandbox.path()) == before);
}

TEST_CASE("sudo: a drop-in with other content or mode is replaced", "[sudo]") {
    test::Sandbox sandbox;
    SECTION("other content") {
        sandbox.write("etc/sudoers.d/dsvm-agent", "%dsvm-sudo ALL=(ALL) NOPASSWD: ALL\n", 0440);
    }
    SECTION("same content, loose mode") {
        sandbox.write("etc/sudoers.d/dsvm-agent", k_expected_text, 0644);
    }
    FakeRunner runner;
    auto installed = install_sudoers(Root(sandbox.path()), runner);
    REQUIRE(installed.ok());
    CHECK(*installed);
    CHECK(sandbox.read("etc/sudoers.d/dsvm-agent") == k_expected_text);
    CHECK((stat_of(sandbox.path("etc/sudoers.d/dsvm-agent")).st_mode & 07777) == 0440);
}

TEST_CASE("sudo: visudo runs by argv on a dotted temporary file that is already 0440", "[sudo]") {
    test::Sandbox sandbox;
    FakeRunner runner;
    REQUIRE(install_sudoers(Root(sandbox.path()), runner).ok());
    const std::string temporary = sandbox.path("etc/sudoers.d/.dsvm-agent.tmp");
    REQUIRE(runner.commands_ran.size() == 1);
    CHECK(runner.commands_ran[0] ==
          std::vector<std::string>{"/usr/sbin/visudo", "-c", "-f", temporary});
    CHECK(runner.validated_existed);
    CHECK(runner.validated_mode == 0440);
    CHECK(runner.validated_uid == 0);
    CHECK_FALSE(sandbox.exists("etc/sudoers.d/.dsvm-agent.tmp"));
}

TEST_CASE("sudo: a failed validation keeps the old file and removes the temporary", "[sudo]") {
    test::Sandbox sandbox;
    const std::string old_text = "%admins ALL=(ALL) ALL\n";
    sandbox.write("etc/sudoers.d/dsvm-agent", old_text, 0440);
    FakeRunner runner(CommandResult{1, "", ">>> .dsvm-agent.tmp: syntax error near line 3 <<<\n"});
    auto installed = install_sudoers(Root(sandbox.path()), runner);
    REQUIRE_FALSE(installed.ok());
    CHECK(installed.error().kind == ErrorKind::Runtime);
    CHECK_THAT(installed.error().message, Catch::Contains("syntax error near line 3"));
    CHECK_THAT(installed.error().message, Catch::Contains("visudo"));
    CHECK(sandbox.read("etc/sudoers.d/dsvm-agent") == old_text);
    CHECK_FALSE(sandbox.exists("etc/sudoers.d/.dsvm-agent.tmp"));
}

TEST_CASE("sudo: a visudo that cannot start is an error and leaves no temporary", "[sudo]") {
    test::Sandbox sandbox;
    FakeRunner runner;
    runner.fail_to_start();
    auto installed = install_sudoers(Root(sandbox.path()), runner);
    REQUIRE_FALSE(installed.ok());
    CHECK_THAT(installed.error().message, Catch::Contains("cannot run /usr/sbin/visudo"));
    CHECK_FALSE(sandbox.exists("etc/sudoers.d/dsvm-agent"));
    CHECK_FALSE(sandbox.exists("etc/sudoers.d/.dsvm-agent.tmp"));
}

TEST_CASE("sudo: a stale temporary, even a symlink, is replaced and never followed", "[sudo]") {
    // given a symlink where the temporary goes, we expect its target to stay untouched.
    test::Sandbox sandbox;
    sandbox.write("etc/passwd", "root:x:0:0:root:/root:/bin/bash\n", 0644);
    sandbox.mkdir("etc/sudoers.d", 0750);
    REQUIRE(::symlink(sandbox.path("etc/passwd").c_str(),
                      sandbox.path("etc/sudoers.d/.dsvm-agent.tmp").c_str()) == 0);
    const auto passwd_before = stat_of(sandbox.path("etc/passwd"));
    FakeRunner runner;
    auto installed = install_sudoers(Root(sandbox.path()), runner);
    REQUIRE(installed.ok());
    CHECK(sandbox.read("etc/passwd") == "root:x:0:0:root:/root:/bin/bash\n");
    CHECK((stat_of(sandbox.path("etc/passwd")).st_mode & 07777) == (passwd_before.st_mode & 07777));
    CHECK(sandbox.read("etc/sudoers.d/dsvm-agent") == k_expected_text);
}
