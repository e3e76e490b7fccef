// The command line (docs/design.md, "The command line and exit status"). Parses arguments,
// builds the engine on the platform's backends, runs one command and returns its exit status:
// 0 success, 1 runtime failure, 2 bad usage or input.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/process.h"
#include "common/root.h"
#include "config/http.h"
#include "engine/account_backend.h"
#include "engine/metadata_guard.h"
#include "engine/share_backend.h"
#include "extension/handler.h"
#include "service/host.h"
#include "service/logging.h"
#include "users/name_service.h"

namespace dsvm::cli {

// What the commands run on: the platform's backends, made once by its composition root
// (linux/main.cpp) and lent to run_cli for the one command it runs.
struct Platform {
    Clock& clock;
    config::HttpClient& http;
    ProcessRunner& runner;
    service::ServiceHost& service_host;  // `run` only
    // The name service for the agent's root (--root): the system's for "/", none for a sandbox.
    // Must be set: without it the Engine refuses to start.
    std::function<std::shared_ptr<users::NameService>(const Root&)> name_service;
    // The share and account backends for the agent's root; never null.
    std::function<std::unique_ptr<engine::ShareBackend>(const Root&)> share;
    std::function<std::unique_ptr<engine::AccountBackend>(const Root&)> accounts;
    // What keeps pool users from the metadata service; null: none on this platform (a pool with
    // keyVault then stops before reading its keys).
    engine::MetadataGuard* guard = nullptr;
    // `extension install|enable|...` for the guest agent; null: refused (exit 2).
    std::function<int(const Root&, const extension::ExtensionRequest&)> extension;
    // --root when none is given: where the agent's tree is on this OS.
    std::string default_root = "/";
    service::LogTarget log_target = service::LogTarget::Plain;
    std::string log_file;  // with LogTarget::File
};

int run_cli(int argc, char** argv, Platform& platform);

}  // namespace dsvm::cli
