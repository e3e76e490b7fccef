// Integration tests run the real dsvm-agent binary, which really mounts and may load a firewall
// table (the metadata guard). Before anything else the test process moves into a private mount
// namespace and a private network namespace of its own, so no mount and no firewall rule it or
// the agent makes is ever seen on the host, and no packet can leave for a real address; every
// child inherits both. The new namespace has only a loopback interface, brought up here.
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "support/catch_session.h"

namespace {

bool loopback_up() {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return false;
    }
    ifreq request{};
    std::strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
    bool ok = ::ioctl(fd, SIOCGIFFLAGS, &request) == 0;
    request.ifr_flags = static_cast<short>(request.ifr_flags | IFF_UP | IFF_RUNNING);
    ok = ok && ::ioctl(fd, SIOCSIFFLAGS, &request) == 0;
    ::close(fd);
    return ok;
}

}  // namespace

int main(int argc, char** argv) {
    if (::unshare(CLONE_NEWNS | CLONE_NEWNET) != 0 ||
        ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
        std::fprintf(stderr,
                     "integration tests need root to make private mount and network namespaces: "
                     "%s\n",
                     std::strerror(errno));
        return 1;
    }
    if (!loopback_up()) {
        std::fprintf(stderr, "cannot bring up loopback in the test's network namespace: %s\n",
                     std::strerror(errno));
        return 1;
    }
    return dsvm::test::run_catch_session(argc, argv);
}
