// One agent instance in-process for unit tests: a sandbox root with the pool config in
// etc/dsvm-agent/pool.json, and an Engine on fakes (an in-memory mount table, a fake clock, a
// recording process runner, no metadata service, optionally a fake vault).
#pragma once

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "config/key_vault.h"
#include "engine/engine.h"
#include "support/fake_clock.h"
#include "support/fake_mounter.h"
#include "support/linux_backends.h"
#include "support/recording_runner.h"
#include "support/sandbox.h"
#include "users/name_service.h"

namespace dsvm::test {

// nft's answer once the metadata guard is loaded (pools with keyVault check it every pass).
inline const CommandResult k_guard_loaded{
    0, "table ip dsvm_agent_metadata { ip daddr 169.254.169.254 meta skuid != 0 drop }", ""};

// One instance: a sandbox root and an engine on fakes. Members are declared in the order the
// engine needs them.
struct EngineInstance {
    Sandbox sandbox;
    FakeMounter mounter;
    FakeClock clock;
    RecordingRunner runner;
    LinuxBackends backends;
    engine::Engine engine;

    explicit EngineInstance(CommandResult answer = {0, "", ""},
                            config::SecretVault* vault = nullptr)
        : runner(std::move(answer)),
          backends(Root(sandbox.path()), mounter, runner),
          engine(Root(sandbox.path()), engine::AgentPaths{},
                 {.share = backends.share,
                  .accounts = backends.accounts,
                  .runner = runner,
                  .clock = clock,
                  .names = std::make_shared<users::NoNameService>(),
                  .vault = vault,
                  .guard = &backends.guard}) {}

    void config(const std::string& json) { sandbox.write("etc/dsvm-agent/pool.json", json); }
    // The real path of a path inside the root.
    std::string real(std::string_view inside) const { return sandbox.path() + std::string(inside); }

    engine::PassOutcome pass(engine::PassOptions options = {}) { return engine.reconcile(options); }

    engine::AgentState state() const {
        auto state = engine.read_state();
        REQUIRE(state.ok());
        return *state;
    }
    engine::RunStatus last_status() const {
        auto status = engine.last_status();
        REQUIRE(status.ok());
        return *status;
    }
};

// The status in a few lines, for INFO: what a failed check needs to be understood.
inline std::string shown(const engine::RunStatus& status) {
    std::string text = std::string(to_string(status.result)) + ": " + status.message + "\n";
    for (const auto& action : status.actions) {
        text += "  action " + action.action + (action.ok ? "" : " FAILED " + action.error) + "\n";
    }
    for (const auto& problem : status.problems) {
        text += "  problem " + problem + "\n";
    }
    return text;
}

}  // namespace dsvm::test
