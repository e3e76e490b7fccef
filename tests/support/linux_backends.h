// The Linux share and account backends of one root, as the composition root makes them
// (linux/main.cpp), for tests that build an Engine or a users phase themselves.
#pragma once

#include "common/process.h"
#include "common/root.h"
#include "engine/metadata_guard.h"
#include "linux/linux_accounts.h"
#include "linux/linux_share.h"
#include "mount/mounter.h"

namespace dsvm::test {

struct LinuxBackends {
    linux_platform::LinuxShare share;
    linux_platform::LinuxAccounts accounts;
    engine::NftMetadataGuard guard;

    LinuxBackends(const Root& root, mount::Mounter& mounter, ProcessRunner& runner)
        : share(root, mounter, runner), accounts(root, runner), guard(runner) {}
};

}  // namespace dsvm::test
