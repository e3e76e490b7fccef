// main() on Linux, the composition root: the process is hardened first (no core dumps, no
// password variables for mount.cifs), then the Linux backends are made (libcurl, libmount,
// posix_spawn, the system's name service, the account files, systemd) and the command line runs on
// them (cli/).
#include <sys/prctl.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <initializer_list>
#include <memory>

#include "cli/cli.h"
#include "common/clock.h"
#include "common/process.h"
#include "config/http.h"
#include "engine/metadata_guard.h"
#include "extension/crypto.h"
#include "extension/handler.h"
#include "extension/systemd_service.h"
#include "linux/linux_accounts.h"
#include "linux/linux_share.h"
#include "linux/systemd_host.h"
#include "mount/mounter.h"
#include "users/name_service.h"

namespace {

// Some commands hold a secret in memory: the storage key (credentials set, extension enable),
// the VM's private key (extension enable), a clear password (adduser --password-stdin), the
// registry's key (every pass, once the registry is signed). A core dump would copy it to disk,
// so none is ever written: the process is not dumpable (which also keeps other processes of its
// uid out of its memory and /proc files), and the core limit is 0, soft and hard, so the helpers
// it runs (mount.cifs, useradd, ...) inherit it and cannot raise it (docs/operation.md, "Secrets
// in memory").
bool forbid_core_dumps() {
    if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
        std::fprintf(stderr, "dsvm-agent: cannot make the process non-dumpable: %s\n",
                     std::strerror(errno));
        return false;
    }
    const rlimit none{0, 0};
    if (::setrlimit(RLIMIT_CORE, &none) != 0) {
        std::fprintf(stderr, "dsvm-agent: cannot set the core size limit to 0: %s\n",
                     std::strerror(errno));
        return false;
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    // First, before any secret can be read.
    if (!forbid_core_dumps()) {
        return 1;
    }
    // mount.cifs takes a password from these if they are set, and libmount runs it with our
    // environment: keys must come only from the credentials file.
    for (const char* name : {"PASSWD", "PASSWD_FD", "PASSWD_FILE"}) {
        ::unsetenv(name);
    }
    try {
        dsvm::SystemClock clock;
        dsvm::config::CurlHttpClient http;
        dsvm::mount::LibmountMounter mounter;
        dsvm::SystemProcessRunner runner;
        dsvm::linux_platform::SystemdHost service_host;
        dsvm::engine::NftMetadataGuard guard(runner);
        dsvm::cli::Platform platform{
            .clock = clock,
            .http = http,
            .runner = runner,
            .service_host = service_host,
            .name_service =
                [](const dsvm::Root& root) -> std::shared_ptr<dsvm::users::NameService> {
                return dsvm::users::name_service_for(root);
            },
            .share = [&](const dsvm::Root& root) -> std::unique_ptr<dsvm::engine::ShareBackend> {
                return std::make_unique<dsvm::linux_platform::LinuxShare>(root, mounter, runner);
            },
            .accounts =
                [&](const dsvm::Root& root) -> std::unique_ptr<dsvm::engine::AccountBackend> {
                return std::make_unique<dsvm::linux_platform::LinuxAccounts>(root, runner);
            },
            .guard = &guard,
            .extension =
                [&](const dsvm::Root& root, const dsvm::extension::ExtensionRequest& request) {
                    // Any --root but "/" is not the running system: its units are changed
                    // offline and systemd is never asked.
                    dsvm::extension::SystemdService service({root, !root.is_host()}, runner);
                    return dsvm::extension::run_extension(
                        root, request,
                        {.service = service,
                         .clock = clock,
                         .decrypt = dsvm::extension::decrypt_protected_settings,
                         // LinuxShare serves every share the pool config allows.
                         .check_share = nullptr});
                },
            .log_target = dsvm::linux_platform::detect_log_target(),
            .log_file = {}};
        return dsvm::cli::run_cli(argc, argv, platform);
    } catch (const std::exception& error) {
        std::fprintf(stderr, "dsvm-agent: fatal: %s\n", error.what());
        return 1;
    }
}
