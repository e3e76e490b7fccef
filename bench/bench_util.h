// Small helpers the benchmarks share: fail loudly, write a file, run a program, time.
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "common/fs.h"

extern char** environ;

namespace dsvm::bench {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

inline void must(bool ok, const std::string& what) {
    if (!ok) {
        std::fprintf(stderr, "bench: %s\n", what.c_str());
        std::exit(1);
    }
}

inline void write(const std::string& path, const std::string& text, mode_t mode = 0644) {
    fs::create_directories(fs::path(path).parent_path());
    must(dsvm::write_file_atomic(path, text, mode).ok(), "cannot write " + path);
}

inline int run(const std::vector<std::string>& argv, bool quiet = true) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (quiet) {
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    }
    std::vector<char*> args;
    for (const auto& arg : argv) {
        args.push_back(const_cast<char*>(arg.c_str()));
    }
    args.push_back(nullptr);
    pid_t pid = -1;
    must(::posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ) == 0,
         "cannot run " + argv[0]);
    posix_spawn_file_actions_destroy(&actions);
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

inline double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// Moves the benchmark into a private mount namespace (root only) and returns a fresh directory
// with a tmpfs on it: every run starts alike, and nothing reaches the host's mounts. On tmpfs,
// not ext4, whose inode allocator slows down sharply after many recent deletions (earlier runs),
// which would measure the disk's history rather than the code.
inline std::string enter_private_tmpfs() {
    must(::unshare(CLONE_NEWNS) == 0 &&
             ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0,
         "needs root for a private mount namespace");
    char pattern[] = "/tmp/dsvm-bench-XXXXXX";
    must(::mkdtemp(pattern) != nullptr, "mkdtemp failed");
    const std::string top = pattern;
    must(::mount("dsvm-bench", top.c_str(), "tmpfs", 0, "mode=0755") == 0, "cannot mount tmpfs");
    return top;
}

}  // namespace dsvm::bench
