// A stand-in for dsvm-agent.exe in the MSI smoke test (tests/windows/msi_smoke_test.sh) until
// the agent's exe links: what the MSI relies on, and nothing else. `run` runs as the service
// under the real service control manager (windows/scm_host.h) until it is stopped; `version`
// prints "dsvm-agent <version>" as the agent does; `--help` prints the usage.
#include <chrono>
#include <cstdio>
#include <string>

#include "windows/scm_host.h"

namespace {

using dsvm::service::Control;

constexpr const char* k_usage = "usage: dsvm-agent ([--imds-timeout N] run | version | --help)\n";

int serve(dsvm::windows_platform::ScmHost& host) {
    if (!host.listen()) {
        return 4;
    }
    host.ready("the MSI smoke test's stand-in");
    for (;;) {
        if (host.wait(std::chrono::seconds(1)) == Control::Stop) {
            host.stopping();
            return 0;
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    // The service's command line as the MSI gives it: "--imds-timeout 15 run".
    const std::string command = argc >= 2 ? argv[argc - 1] : "";
    if (command == "version") {
        std::printf("dsvm-agent %s\n", DSVM_AGENT_VERSION);
        return 0;
    }
    if (command == "--help") {
        std::printf("%s", k_usage);
        return 0;
    }
    if (command != "run") {
        std::fprintf(stderr, "%s", k_usage);
        return 2;
    }
    const auto ran = dsvm::windows_platform::run_as_service("dsvm-agent", serve);
    if (!ran) {
        std::fprintf(stderr, "dsvm-agent: %s\n", ran.error().message.c_str());
        return 2;
    }
    return *ran;
}
