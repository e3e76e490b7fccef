#include "engine/metadata_guard.h"

#include <spdlog/spdlog.h>

#include "common/fs.h"

namespace dsvm::engine {

namespace {

constexpr std::string_view k_rule = "ip daddr 169.254.169.254 meta skuid != 0";

std::string guard_file(const Root& root, const std::string& state_dir) {
    return root.path(state_dir + "/metadata-guard.nft");
}

// Whether the live table holds the rule; nullopt when nft cannot be run at all.
Result<bool> live_guard(ProcessRunner& runner) {
    auto listed =
        runner.run({std::string(k_nft), "list", "table", "ip", std::string(k_guard_table)});
    if (!listed) {
        return listed.error();
    }
    return listed->exit_code == 0 && listed->out.find(k_rule) != std::string::npos &&
           listed->out.find("drop") != std::string::npos;
}

std::string failed_text(const CommandResult& result) {
    const std::string& text = result.err.empty() ? result.out : result.err;
    return "exit status " + std::to_string(result.exit_code) +
           (text.empty() ? "" : ": " + text.substr(0, text.find('\n')));
}

}  // namespace

std::string render_metadata_guard() {
    // "table" then "delete table" in the same transaction: the load works whether or not the
    // table exists, and replaces it atomically.
    return "# dsvm-agent: only root may reach the instance metadata service, which hands out\n"
           "# the VM's managed identity tokens (the pool reads its keys from Key Vault).\n"
           "# Loaded by dsvm-agent and, at boot, by dsvm-agent-metadata-guard.service.\n"
           "table ip " +
           std::string(k_guard_table) +
           "\n"
           "delete table ip " +
           std::string(k_guard_table) +
           "\n"
           "table ip " +
           std::string(k_guard_table) +
           " {\n"
           "    chain output {\n"
           "        type filter hook output priority filter; policy accept;\n"
           "        " +
           std::string(k_rule) + " counter drop\n" +
           "    }\n"
           "}\n";
}

GuardOutcome reconcile_metadata_guard(bool wanted, const Root& root, const std::string& state_dir,
                                      ProcessRunner& runner) {
    GuardOutcome outcome;
    const std::string file = guard_file(root, state_dir);
    const std::string shown = state_dir + "/metadata-guard.nft";
    if (!wanted) {
        if (!path_exists(file)) {
            return outcome;
        }
        auto deleted =
            runner.run({std::string(k_nft), "delete", "table", "ip", std::string(k_guard_table)});
        // Exit status 1 with the table already gone is what we want anyway.
        if (!deleted) {
            outcome.problem = "cannot remove the metadata guard: " + deleted.error().message;
            return outcome;
        }
        if (auto removed = remove_file_if_exists(file, shown); !removed) {
            outcome.problem = removed.error().message;
            return outcome;
        }
        outcome.action = "removed the metadata guard (keyVault is no longer set)";
        return outcome;
    }

    const std::string script = render_metadata_guard();
    auto current = read_file_if_exists(file);
    bool wrote = false;
    if (!current || !current->found || current->text != script) {
        if (auto made = make_directories(root.path(state_dir), 0700); !made) {
            outcome.problem = "cannot write " + shown + ": " + made.error().message;
            return outcome;
        }
        if (auto written = write_file_atomic(file, script, 0600); !written) {
            outcome.problem = "cannot write " + shown + ": " + written.error().message;
            return outcome;
        }
        wrote = true;
    }
    auto live = live_guard(runner);
    if (!live) {
        outcome.problem =
            "pool users can ask the metadata service for this VM's managed identity token, "
            "and with it read the keys in Key Vault: the metadata guard cannot be loaded (" +
            live.error().message + "); install nftables";
        return outcome;
    }
    if (*live) {
        if (wrote) {
            outcome.action = "wrote " + shown;
        }
        return outcome;
    }
    auto loaded = runner.run({std::string(k_nft), "-f", file});
    if (!loaded || loaded->exit_code != 0) {
        outcome.problem =
            "pool users can ask the metadata service for this VM's managed identity token, "
            "and with it read the keys in Key Vault: nft -f " +
            shown + " failed (" + (loaded ? failed_text(*loaded) : loaded.error().message) + ")";
        return outcome;
    }
    spdlog::info("metadata guard loaded: only root may reach the instance metadata service");
    outcome.action = "only root may reach the metadata service (nftables table " +
                     std::string(k_guard_table) + ")";
    return outcome;
}

}  // namespace dsvm::engine
