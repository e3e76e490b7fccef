#include "cli/registry_command.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "cli/secret_input.h"
#include "common/fd.h"
#include "common/secret.h"
#include "common/text.h"
#include "mount/mountinfo.h"
#include "users/registry_format.h"
#include "users/registry_key.h"

namespace dsvm::cli {

using namespace dsvm::mount;
using namespace dsvm::users;
using namespace dsvm::config;
using namespace dsvm::engine;

namespace {

int report(const Error& error) {
    spdlog::error("{}", printable_line(error.message));
    return exit_status_for(error);
}

std::string list_or_none(const std::vector<std::string>& names);

// "N active users (sudo: a, b), M deleted".
std::string summary_of(const Registry& registry) {
    std::vector<std::string> sudo;
    std::size_t active = 0;
    std::size_t deleted = 0;
    for (const auto& user : registry.users) {
        if (user.deleted) {
            ++deleted;
        } else {
            ++active;
            if (user.sudo) {
                sudo.push_back(user.name);
            }
        }
    }
    return fmt::format("{} active users (sudo: {}), {} deleted", active, list_or_none(sudo),
                       deleted);
}

std::string list_or_none(const std::vector<std::string>& names) {
    std::string out;
    for (std::size_t i = 0; i < names.size() && i < 20; ++i) {
        out += (i == 0 ? "" : ", ") + printable(names[i]);
    }
    if (names.size() > 20) {
        out += fmt::format(" and {} more", names.size() - 20);
    }
    return out.empty() ? "none" : out;
}

}  // namespace

int registry_set_key(const Root& root, bool keep_previous) {
    std::string key;
    // Reserved up front so the key is never copied into a buffer we cannot wipe.
    key.reserve(k_secret_capacity);
    ScopeGuard wipe([&] { wipe_bytes(key.data(), key.size()); });
    if (auto got = read_secret(key, "Registry key: ", 4096, "registry key"); !got) {
        return report(got.error());
    }
    if (auto checked = check_registry_key(key); !checked) {
        return report(checked.error());
    }
    auto existing = read_registry_keys(root);
    if (!existing) {
        return report(existing.error());
    }
    const std::string id = registry_key_id(key);
    std::string_view previous;
    if (keep_previous) {
        previous =
            existing->current_id != id ? existing->current.view() : existing->previous.view();
    }
    if (auto written = write_registry_keys(root, key, previous); !written) {
        return report(written.error());
    }
    fmt::print("stored registry key {} in {} (mode 0600)", id, k_registry_key_path);
    if (!previous.empty()) {
        fmt::print("; previous key {} kept for registries it signed", registry_key_id(previous));
    } else if (!existing->previous.empty() ||
               (!existing->current.empty() && existing->current_id != id)) {
        fmt::print("; the key it replaced is no longer accepted");
    }
    fmt::print("\n");
    return 0;
}

int registry_drop_previous_key(const Root& root) {
    auto keys = read_registry_keys(root);
    if (!keys) {
        return report(keys.error());
    }
    if (keys->current.empty()) {
        return report(
            failure("this instance has no registry key; set one with `dsvm-agent "
                    "registry set-key --key-stdin`"));
    }
    if (keys->previous.empty()) {
        fmt::print("no previous registry key to drop\n");
        return 0;
    }
    if (auto written = write_registry_keys(root, keys->current.view(), {}); !written) {
        return report(written.error());
    }
    fmt::print("dropped previous registry key {}; only {} is accepted now\n", keys->previous_id,
               keys->current_id);
    return 0;
}

int registry_sign(Engine& engine, const Root& root, const SignRequest& request) {
    // Far below 2^64: a generation must always have room to grow.
    constexpr std::uint64_t k_max_generation = std::uint64_t{1} << 53;
    if (request.generation && *request.generation > k_max_generation) {
        return report(invalid("--generation " + std::to_string(*request.generation) +
                              " is too large: at most " + std::to_string(k_max_generation)));
    }
    auto loaded = engine.load();
    if (!loaded) {
        return report(loaded.error());
    }
    if (!loaded->config.share) {
        return report(failure("no share is configured, so there is no pool registry to sign"));
    }
    const ShareConfig& share = *loaded->config.share;
    // Never write into the empty directory an unmounted share leaves behind.
    auto mounts = engine.share().mounter().mounts();
    if (!mounts) {
        return report(mounts.error());
    }
    const engine::DesiredState desired = engine.share().desired(loaded->config);
    if (!desired.share || find_mount(*mounts, desired.share->target) == nullptr) {
        return report(failure("the share is not mounted at " + share.mount_point +
                              "; run `dsvm-agent mount` first"));
    }
    auto state = engine.read_state();
    if (!state) {
        return report(state.error());
    }
    auto keys = read_registry_keys(root);
    if (!keys) {
        return report(keys.error());
    }
    const RegistryStore store = registry_store_for(
        share, engine.share(), std::make_shared<const RegistryKeys>(std::move(*keys)));
    RegistryUpdate options;
    options.accept_unsigned = request.accept_unsigned;
    options.accept_unverified = request.accept_unverified;
    options.force_write = true;
    options.review_older = true;
    options.seen = state->registry_seen;
    options.share_source = share.source;
    options.expect_digest = request.expect;
    const std::uint64_t seen =
        state->registry_seen.share == share.source ? state->registry_seen.generation : 0;
    options.min_generation = std::max(seen + 1, request.generation.value_or(0));
    RegistryStore writer = store;
    auto signed_registry = engine.share_gate().run<LoadedRegistry>(
        k_share_write_limit, [writer, options]() mutable -> Result<LoadedRegistry> {
            return writer.update([](Registry&) { return Result<void>(); }, options);
        });
    if (!signed_registry) {
        // Show what is there, so the admin reviews the very content the digest names.
        auto current = engine.share_gate().run<LoadedRegistry>(
            k_share_read_limit, [store]() -> Result<LoadedRegistry> { return store.load(); });
        if (current && current->exists) {
            fmt::print("the registry on the share: {}\n", summary_of(current->registry()));
            fmt::print("content digest: {}\n", current->file.digest);
        }
        return report(signed_registry.error());
    }
    fmt::print("signed the pool registry with key {}: generation {}, {}\n",
               signed_registry->file.key_id, signed_registry->registry().generation,
               summary_of(signed_registry->registry()));
    return 0;
}

}  // namespace dsvm::cli
