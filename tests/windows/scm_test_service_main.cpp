// The service the SCM tests install (tests/windows/test_scm_service.cpp): the real ScmHost under
// the real service control manager, with a body that writes what it is told, one line each, to
// a results file: "listen", "ready", then every control wait() returns ("Reconcile", "Stop").
// After a stop it says it is stopping and ends with the exit status it was given.
//
// Usage: scm_test_service.exe SERVICE_NAME RESULTS_FILE EXIT_STATUS
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "windows/scm_host.h"

namespace {

using dsvm::service::Control;

// A test that never sends its stop must not leave a service running for ever.
constexpr auto k_give_up = std::chrono::seconds(60);

const char* name_of(Control control) {
    switch (control) {
        case Control::None:
            return "None";
        case Control::Reconcile:
            return "Reconcile";
        case Control::Stop:
            return "Stop";
        case Control::Failed:
            return "Failed";
    }
    return "?";
}

int record_controls(dsvm::windows_platform::ScmHost& host, const std::filesystem::path& results,
                    int exit_status) {
    std::ofstream out(results, std::ios::app);
    const auto write = [&out](const std::string& line) { out << line << std::endl; };
    if (!host.listen()) {
        write("listen failed");
        return 4;
    }
    write("listen");
    host.ready("recording controls");
    write("ready");
    const auto deadline = std::chrono::steady_clock::now() + k_give_up;
    while (std::chrono::steady_clock::now() < deadline) {
        const Control control = host.wait(std::chrono::seconds(1));
        if (control == Control::None) {
            continue;
        }
        write(name_of(control));
        if (control == Control::Stop) {
            host.stopping();
            return exit_status;
        }
    }
    write("gave up");
    return 3;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: scm_test_service SERVICE_NAME RESULTS_FILE EXIT_STATUS\n");
        return 2;
    }
    const std::filesystem::path results = argv[2];
    const int exit_status = std::stoi(argv[3]);
    const auto ran =
        dsvm::windows_platform::run_as_service(argv[1], [&](dsvm::windows_platform::ScmHost& host) {
            return record_controls(host, results, exit_status);
        });
    if (!ran) {
        std::fprintf(stderr, "scm_test_service: %s\n", ran.error().message.c_str());
        return 2;
    }
    return *ran;
}
