// Mounts held per instance with per-user SMB notebook mounts (smbAccess "per-user"): the agent's
// autofs map for N users, served by a real automount daemon, with A of them active, against the
// eager alternative (every user's folder mounted up front) in the same run. The SMB helper is a
// stand-in that mounts a tmpfs (this machine's kernel has no cifs), so times measure the
// automount and mount(8) path, not SMB; the counts are what matter. Needs root (a private mount
// namespace).
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <thread>

#include "bench/bench_util.h"
#include "mount/automount.h"
#include "mount/mountinfo.h"

namespace {

using namespace dsvm::bench;

const std::string k_source = "//acct.file.core.windows.net/dsvmshare";

// Mounts whose mount point lies under `dir`.
int mounts_under(const std::string& dir) {
    auto text = dsvm::read_file("/proc/self/mountinfo");
    auto entries = dsvm::mount::parse_mountinfo(text ? *text : "");
    int count = 0;
    for (const auto& entry : entries ? *entries : std::vector<dsvm::mount::MountEntry>{}) {
        count += entry.mount_point.rfind(dir + "/", 0) == 0 ? 1 : 0;
    }
    return count;
}

}  // namespace

int main(int argc, char** argv) {
    const int users = argc > 1 ? std::atoi(argv[1]) : 2000;
    const int active = argc > 2 ? std::atoi(argv[2]) : 50;
    must(users > 0 && active > 0 && active <= users,
         "usage: dsvm-bench-notebook-mounts [USERS [ACTIVE]] (ACTIVE <= USERS)");
    const std::string top = enter_private_tmpfs();

    // The stand-in SMB helper, where libmount looks for mount.cifs.
    write(top + "/mount.cifs", "#!/bin/sh\nexec /bin/mount -t tmpfs -o size=64k \"$1\" \"$2\"\n",
          0755);
    must(::mount((top + "/mount.cifs").c_str(), "/usr/sbin/mount.cifs", nullptr, MS_BIND,
                 nullptr) == 0,
         "cannot bind the stand-in over /usr/sbin/mount.cifs (is cifs-utils installed?)");

    std::vector<dsvm::mount::NotebookMount> pool;
    for (int i = 0; i < users; ++i) {
        const std::string name = "user" + std::to_string(i);
        const auto id = static_cast<unsigned>(20000 + i);
        pool.push_back({name, id, id, "notebooks/" + name});
    }
    const std::string credentials = "/etc/dsvm-agent/credentials/acct.cred";

    // On demand: the agent's map, a real automount, A users touching their folder.
    auto start = Clock::now();
    const std::string map = dsvm::mount::render_notebook_map(k_source, pool, "", credentials);
    write(top + "/notebooks.autofs", map, 0600);
    const double map_seconds = seconds_since(start);
    const std::string on_demand = top + "/on-demand";
    write(top + "/master", on_demand + " " + top + "/notebooks.autofs --timeout=5\n");
    const pid_t daemon = ::fork();
    if (daemon == 0) {
        ::setsid();
        ::execl("/usr/sbin/automount", "automount", "-f", "-t", "5", (top + "/master").c_str(),
                static_cast<char*>(nullptr));
        ::_exit(127);
    }
    for (int i = 0; i < 500; ++i) {
        struct stat info {};
        if (::stat(on_demand.c_str(), &info) == 0 && mounts_under(top) > 0) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const int autofs_mounts = mounts_under(top);  // the autofs trigger itself
    start = Clock::now();
    for (int i = 0; i < active; ++i) {
        // From a child process: autofs never triggers for the daemon's process group.
        must(run({"/usr/bin/stat", "-c", "%u",
                  on_demand + "/user" + std::to_string(i * users / active)}) == 0,
             "an on-demand mount failed");
    }
    const double on_demand_seconds = seconds_since(start);
    const int held_active = mounts_under(on_demand);
    // Idle mounts expire (timeout 5 s; autofs checks every timeout/4).
    int held_idle = held_active;
    for (int i = 0; i < 300 && held_idle > 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        held_idle = mounts_under(on_demand);
    }
    ::kill(daemon, SIGTERM);
    int status = 0;
    ::waitpid(daemon, &status, 0);

    // Eager: every user's folder mounted ahead of time, as one fstab line per user would.
    const std::string eager = top + "/eager";
    start = Clock::now();
    for (const auto& user : pool) {
        const std::string target = eager + "/" + user.user;
        fs::create_directories(target);
        must(run({"/bin/mount", "-t", "cifs", "-o",
                  "vers=3.1.1,credentials=" + credentials + ",uid=" + std::to_string(user.uid),
                  k_source + "/" + user.folder, target}) == 0,
             "an eager mount failed");
    }
    const double eager_seconds = seconds_since(start);
    const int held_eager = mounts_under(eager);

    std::printf("users: %d, active: %d\n", users, active);
    std::printf("map for %d users: %zu bytes, written in %.2f ms\n", users, map.size(),
                map_seconds * 1000);
    std::printf(
        "on demand: %d autofs mount, %d user mounts held with %d active (%.1f ms per "
        "first access), %d held after the idle timeout\n",
        autofs_mounts, held_active, active, on_demand_seconds * 1000 / active, held_idle);
    std::printf("eager: %d user mounts held, %.2f s to mount them all\n", held_eager,
                eager_seconds);
    std::printf("ratio mounts held eager / on demand (active): %.1fx\n",
                static_cast<double>(held_eager) / std::max(held_active, 1));
    ::umount2(eager.c_str(), MNT_DETACH);
    ::umount2(top.c_str(), MNT_DETACH);
    ::umount2("/usr/sbin/mount.cifs", MNT_DETACH);
    ::rmdir(top.c_str());
    return held_active == active && held_idle == 0 && held_eager == users ? 0 : 1;
}
