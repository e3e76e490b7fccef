// merge_into_fstab in a sandbox: the agent's entries are merged into fstab as it is when written,
// so what another tool writes after the plan, or even while the agent writes, is kept.
#include <fcntl.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/file_lock.h"
#include "engine/apply.h"
#include "linux/linux_share.h"
#include "mount/fstab.h"
#include "mount/fstab_file.h"
#include "support/fake_clock.h"
#include "support/recording_runner.h"
#include "support/sandbox.h"

using namespace dsvm;
using namespace dsvm::mount;
using namespace dsvm::engine;
using namespace dsvm::test;

namespace {

const std::string k_admin = "UUID=1234 / ext4 defaults 0 1\n";
const std::string k_other_tool = "UUID=abcd /data ext4 defaults 0 2\n";

std::vector<FstabEntry> share_entries() {
    return {{"/srv/share", "/datamnt/share", "none", "bind,nofail"}};
}

void append(const std::string& path, const std::string& line) {
    std::ofstream(path, std::ios::app) << line;
}

// A mounter that is never asked: the plans here only touch fstab.
class NoMounter final : public Mounter {
  public:
    Result<void> mount(const MountRequest&) override { return failure("not expected"); }
    Result<void> unmount(const std::string&) override { return failure("not expected"); }
    Result<std::vector<MountEntry>> mounts() override { return std::vector<MountEntry>{}; }
};

}  // namespace

TEST_CASE("apply: fstab is merged as it is when written, not as it was planned", "[apply]") {
    // given a line another tool appends after the plan was made, we expect both it and the
    // agent's entry in fstab
    Sandbox sandbox;
    const std::string fstab = sandbox.write("etc/fstab", k_admin, 0644);
    Plan plan;
    plan.actions.emplace_back(UpdateFstab{fstab, share_entries()});
    append(fstab, k_other_tool);

    NoMounter mounter;
    RecordingRunner runner;
    linux_platform::LinuxShare share(Root(sandbox.path()), mounter, runner);
    const auto outcomes = apply_plan(plan, share, real_clock());
    REQUIRE(outcomes.size() == 1);
    INFO(outcomes[0].error);
    CHECK(outcomes[0].ok);
    CHECK(sandbox.read("etc/fstab") == update_fstab(k_admin + k_other_tool, share_entries()));
    CHECK(sandbox.read("etc/fstab.dsvm-agent.bak") == k_admin + k_other_tool);
}

TEST_CASE("apply: a line written between the read and the rename makes the merge start over",
          "[apply]") {
    Sandbox sandbox;
    const std::string fstab = sandbox.write("etc/fstab", k_admin, 0640);
    int checks = 0;
    const auto written = merge_into_fstab(fstab, share_entries(), real_clock(), [&] {
        if (++checks == 1) {
            append(fstab, k_other_tool);
        }
    });
    REQUIRE(written.ok());
    CHECK(*written == FstabWrite::Written);
    CHECK(checks == 2);
    CHECK(sandbox.read("etc/fstab") == update_fstab(k_admin + k_other_tool, share_entries()));
    CHECK(mode_of(fstab) == 0640);
    CHECK(sandbox.read("etc/fstab.dsvm-agent.bak") == k_admin + k_other_tool);
    // The abandoned attempt left no temporary behind.
    const auto leftovers = files_with_text(sandbox.path("etc"), "/datamnt/share");
    CHECK(leftovers == std::vector<std::string>{fstab});
}

TEST_CASE("apply: an fstab that keeps changing is an error and keeps every other line", "[apply]") {
    Sandbox sandbox;
    const std::string fstab = sandbox.write("etc/fstab", k_admin, 0644);
    int checks = 0;
    const auto written = merge_into_fstab(fstab, share_entries(), real_clock(), [&] {
        append(fstab, "# edit " + std::to_string(++checks) + "\n");
    });
    REQUIRE_FALSE(written.ok());
    CHECK_THAT(written.error().message, Catch::Contains(fstab) && Catch::Contains("kept changing"));
    CHECK(checks == k_fstab_attempts);
    const std::string text = sandbox.read("etc/fstab");
    CHECK_THAT(text, Catch::StartsWith(k_admin) && Catch::Contains("# edit 5\n") &&
                         !Catch::Contains("/datamnt/share"));
    CHECK(files_with_text(sandbox.path("etc"), "/datamnt/share").empty());
}

TEST_CASE("apply: an fstab that already holds the entries is not written, nor backed up",
          "[apply]") {
    Sandbox sandbox;
    const std::string fstab =
        sandbox.write("etc/fstab", update_fstab(k_admin, share_entries()), 0644);
    const struct stat before = stat_of(fstab);
    const auto written = merge_into_fstab(fstab, share_entries(), real_clock());
    REQUIRE(written.ok());
    CHECK(*written == FstabWrite::Unchanged);
    CHECK_FALSE(sandbox.exists("etc/fstab.dsvm-agent.bak"));
    const struct stat after = stat_of(fstab);
    CHECK(after.st_ino == before.st_ino);
    CHECK(after.st_mtim.tv_sec == before.st_mtim.tv_sec);
    CHECK(after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);
}

TEST_CASE("apply: a missing fstab is created 0644 with the entries and no backup", "[apply]") {
    Sandbox sandbox;
    const std::string fstab = sandbox.path("etc/fstab");
    const auto written = merge_into_fstab(fstab, share_entries(), real_clock());
    REQUIRE(written.ok());
    CHECK(*written == FstabWrite::Written);
    CHECK(sandbox.read("etc/fstab") == update_fstab("", share_entries()));
    CHECK(mode_of(fstab) == 0644);
    CHECK_FALSE(sandbox.exists("etc/fstab.dsvm-agent.bak"));
}

TEST_CASE("apply: no entries wanted removes the agent's lines and keeps the rest", "[apply]") {
    Sandbox sandbox;
    const std::string fstab =
        sandbox.write("etc/fstab", update_fstab(k_admin, share_entries()) + k_other_tool, 0644);
    const auto written = merge_into_fstab(fstab, {}, real_clock());
    REQUIRE(written.ok());
    CHECK(sandbox.read("etc/fstab") == k_admin + k_other_tool);
}

// Given another writer holding fstab's lock, we expect the merge to give up after 30 s on its
// clock, naming the lock, with fstab untouched: 30 s of fake time in well under a second.
TEST_CASE("apply: the fstab merge gives up after 30 s on the clock when the lock stays held",
          "[apply][clock]") {
    Sandbox sandbox;
    const std::string fstab = sandbox.write("etc/fstab", k_admin, 0644);
    Fd etc(::open(sandbox.path("etc").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    REQUIRE(etc);
    auto holder = lock_file_at(etc.get(), "fstab.dsvm-agent.lock", "held", std::chrono::seconds(1));
    REQUIRE(holder.ok());

    FakeClock clock;
    const auto started = clock.now();
    const auto real_start = std::chrono::steady_clock::now();
    const auto written = merge_into_fstab(fstab, share_entries(), clock);
    const auto real_time = std::chrono::steady_clock::now() - real_start;

    REQUIRE_FALSE(written.ok());
    CHECK(written.error().message == "cannot lock " + sandbox.path("etc/fstab.dsvm-agent.lock") +
                                         ": another process has held it for 30 s");
    const auto waited = clock.now() - started;
    CHECK(waited >= std::chrono::seconds(30));
    CHECK(waited <= std::chrono::seconds(31));
    CHECK(real_time < std::chrono::milliseconds(500));
    CHECK(sandbox.read("etc/fstab") == k_admin);
    CHECK_FALSE(sandbox.exists("etc/fstab.dsvm-agent.bak"));
}
