// Integration tests run the real dsvm-agent binary, which really mounts. Before anything else
// the test process moves into a private mount namespace of its own, so no mount it or the agent
// makes is ever seen on the host; every child inherits the namespace.
#define CATCH_CONFIG_RUNNER
#include <sched.h>
#include <sys/mount.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
    if (::unshare(CLONE_NEWNS) != 0 ||
        ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
        std::fprintf(stderr, "integration tests need root to make a private mount namespace: %s\n",
                     std::strerror(errno));
        return 1;
    }
    return Catch::Session().run(argc, argv);
}
