// Creating many pool users: the real dsvm-agent binary applying a registry of N users to a sandbox
// root, against a `useradd` loop on an identical root in the same run; then the cost of a pass
// with nothing to change. Prints seconds and ratios. Runs in a private mount namespace (the
// share is a bind mount), so it needs root.
#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "common/fs.h"
#include "common/process.h"
#include "engine/engine.h"
#include "linux/linux_accounts.h"
#include "linux/linux_share.h"
#include "mount/mounter.h"
#include "users/accounts.h"
#include "users/registry.h"
#include "users/registry_format.h"
#include "users/registry_key.h"

namespace {

using namespace dsvm::bench;

constexpr const char* k_base_passwd =
    "root:x:0:0:root:/root:/bin/bash\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
constexpr const char* k_base_group = "root:x:0:\ndaemon:x:1:\nshadow:x:42:\nnogroup:x:65534:\n";
constexpr const char* k_base_shadow =
    "root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n";
constexpr const char* k_base_gshadow = "root:*::\ndaemon:*::\nshadow:*::\nnogroup:*::\n";

// A root with Debian's base accounts and login.defs allowing the pool's UID range.
void make_root(const std::string& root) {
    write(root + "/etc/passwd", k_base_passwd);
    write(root + "/etc/group", k_base_group);
    write(root + "/etc/shadow", k_base_shadow, 0640);
    write(root + "/etc/gshadow", k_base_gshadow, 0640);
    write(root + "/etc/login.defs", "UID_MIN 1000\nUID_MAX 60000\nGID_MIN 1000\nGID_MAX 60000\n");
    write(root + "/etc/skel/.bashrc", "# skel\n");
}

}  // namespace

int main(int argc, char** argv) {
    const int users = argc > 1 ? std::atoi(argv[1]) : 10000;
    const int baseline_users = argc > 2 ? std::atoi(argv[2]) : users;
    must(users > 0 && baseline_users > 0, "usage: dsvm-bench-users [USERS [BASELINE_USERS]]");
    // Both roots alike, on one tmpfs.
    const std::string top = enter_private_tmpfs();
    const std::string agent_root = top + "/agent";
    const std::string loop_root = top + "/useradd";
    const std::string share = top + "/share";
    make_root(agent_root);
    make_root(loop_root);
    fs::create_directories(share);
    fs::create_directories(agent_root + "/srv/share");
    must(
        ::mount(share.c_str(), (agent_root + "/srv/share").c_str(), nullptr, MS_BIND, nullptr) == 0,
        "cannot bind the share");
    write(agent_root + "/etc/dsvm-agent/pool.json",
          R"({"share": {"source": "/srv/share", "mountPoint": "/datamnt/share"}})");

    dsvm::users::Registry registry;
    for (int i = 0; i < users; ++i) {
        dsvm::users::RegistryUser user;
        user.name = "user" + std::to_string(i);
        user.uid = user.gid = 20000 + static_cast<std::uint32_t>(i);
        registry.users.push_back(std::move(user));
    }
    std::sort(registry.users.begin(), registry.users.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
    registry.generation = 1;
    registry.next_uid = 20000 + static_cast<std::uint32_t>(users);
    // The pool's registry is signed; the instance holds the key it was signed with.
    const std::string key = "bench-pool-registry-key-0123456789abcdef+/AB";
    must(dsvm::users::write_registry_keys(dsvm::Root(agent_root), key, {}).ok(),
         "cannot store the registry key");
    write(share + "/.dsvm-agent/registry.json", dsvm::users::render_registry_file(registry, key),
          0600);

    const std::vector<std::string> reconcile{DSVM_AGENT_BINARY, "--root", agent_root,
                                             "--imds",          "off",    "reconcile"};
    std::vector<std::string> first_reconcile = reconcile;
    // DSVM_BENCH_WRAP="/usr/bin/perf record -g -o /tmp/perf.data --" profiles the first pass.
    if (const char* wrap = std::getenv("DSVM_BENCH_WRAP")) {
        std::vector<std::string> wrapped;
        std::string word;
        for (const char* c = wrap;; ++c) {
            if (*c == ' ' || *c == '\0') {
                if (!word.empty()) {
                    wrapped.push_back(word);
                }
                word.clear();
                if (*c == '\0') {
                    break;
                }
            } else {
                word.push_back(*c);
            }
        }
        first_reconcile.insert(first_reconcile.begin(), wrapped.begin(), wrapped.end());
    }
    auto start = Clock::now();
    const int first_status = run(first_reconcile);
    const double agent_seconds = seconds_since(start);
    must(first_status == 0, "the first reconcile failed");
    // The pass must really have made every user: accounts, a home and a link each.
    auto passwd = dsvm::read_file(agent_root + "/etc/passwd");
    must(passwd.ok() && std::count(passwd->begin(), passwd->end(), '\n') == users + 3,
         "the first reconcile did not create every account");
    const std::string last = "user" + std::to_string(users - 1);
    must(fs::is_symlink(agent_root + "/home/" + last + "/notebooks/remote") &&
             fs::is_directory(share + "/notebooks/" + last),
         "the first reconcile did not make every home and link");

    // `reconcile` from the command line checks every user again (homes, keys, links).
    start = Clock::now();
    const int second_status = run(reconcile);
    const double full_check_seconds = seconds_since(start);
    must(second_status == 0, "the second reconcile failed");

    // The daemon's pass every interval, in process: nothing changed, so the users fingerprint
    // holds and the per-user work is skipped.
    dsvm::SystemClock clock;
    dsvm::mount::LibmountMounter mounter;
    dsvm::SystemProcessRunner runner;
    dsvm::linux_platform::LinuxShare share_backend(dsvm::Root(agent_root), mounter, runner);
    dsvm::linux_platform::LinuxAccounts accounts(dsvm::Root(agent_root), runner);
    dsvm::engine::Engine engine(dsvm::Root(agent_root), dsvm::engine::AgentPaths{},
                                {.share = share_backend,
                                 .accounts = accounts,
                                 .runner = runner,
                                 .clock = clock,
                                 .names = dsvm::users::name_service_for(dsvm::Root(agent_root))});
    dsvm::engine::PassOptions quick;
    quick.full = false;
    constexpr int k_passes = 20;
    double fastest = 1e9;
    double total = 0;
    for (int i = 0; i < k_passes; ++i) {
        start = Clock::now();
        const auto outcome = engine.reconcile(quick);
        const double took = seconds_since(start);
        must(outcome.exit_status == 0 && outcome.status.actions.empty(),
             "a no-change pass changed something: " + outcome.status.message);
        fastest = std::min(fastest, took);
        total += took;
    }
    const double no_change_seconds = total / k_passes;
    // Baseline for the no-change pass: reading the four account files, which any pass that
    // looked at the users at all would have to do.
    start = Clock::now();
    for (int i = 0; i < k_passes; ++i) {
        must(dsvm::users::read_account_files(dsvm::Root(agent_root)).ok(),
             "cannot read account files");
    }
    const double read_accounts_seconds = seconds_since(start) / k_passes;

    start = Clock::now();
    for (int i = 0; i < baseline_users; ++i) {
        const std::string uid = std::to_string(20000 + i);
        must(run({"/usr/sbin/useradd", "--prefix", loop_root, "-m", "-U", "-u", uid, "-s",
                  "/bin/bash", "user" + std::to_string(i)}) == 0,
             "useradd failed");
    }
    const double loop_seconds = seconds_since(start);
    const double loop_per_user = loop_seconds / baseline_users;
    const double loop_estimate = loop_per_user * users;

    std::printf("users: %d\n", users);
    std::printf("dsvm-agent reconcile, %d new users (accounts, homes, links): %.3f s\n", users,
                agent_seconds);
    std::printf("useradd -m loop, %d users: %.3f s%s\n", baseline_users, loop_seconds,
                baseline_users == users ? "" : " (per-user time scaled to the full count below)");
    std::printf("ratio useradd loop / dsvm-agent: %.1fx%s\n", loop_estimate / agent_seconds,
                baseline_users == users ? "" : " (lower bound: useradd slows as files grow)");
    std::printf("reconcile again from the command line (every user checked): %.3f s\n",
                full_check_seconds);
    std::printf(
        "daemon pass with nothing to change, %d users: %.2f ms mean, %.2f ms best over %d "
        "passes\n",
        users, no_change_seconds * 1000, fastest * 1000, k_passes);
    std::printf("  baseline, reading passwd/group/shadow/gshadow once: %.2f ms (ratio %.2fx)\n",
                read_accounts_seconds * 1000, no_change_seconds / read_accounts_seconds);
    std::fflush(stdout);
    ::umount2((agent_root + "/datamnt/share").c_str(), MNT_DETACH);
    ::umount2((agent_root + "/srv/share").c_str(), MNT_DETACH);
    ::umount2(top.c_str(), MNT_DETACH);
    ::rmdir(top.c_str());
    return 0;
}
