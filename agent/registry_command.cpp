#include "agent/registry_command.h"

#include <string.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "agent/secret_input.h"
#include "common/fd.h"
#include "common/text.h"
#include "mount/mountinfo.h"
#include "users/registry_format.h"
#include "users/registry_key.h"

namespace dsvm {

namespace {

int report(const Error& error) {
    spdlog::error("{}", error.message);
    return exit_status_for(error);
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
    ScopeGuard wipe([&] { ::explicit_bzero(key.data(), key.size()); });
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

int registry_sign(Engine& engine, const Root& root, std::optional<std::uint64_t> generation,
                  bool accept_unverified) {
    auto loaded = engine.load();
    if (!loaded) {
        return report(loaded.error());
    }
    if (!loaded->config.share) {
        return report(failure("no share is configured, so there is no pool registry to sign"));
    }
    const ShareConfig& share = *loaded->config.share;
    // Never write into the empty directory an unmounted share leaves behind.
    auto mounts = LibmountMounter().mounts();
    if (!mounts) {
        return report(mounts.error());
    }
    if (find_mount(*mounts, root.path(share.mount_point)) == nullptr) {
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
    const RegistryStore store =
        registry_store_for(share, root, std::make_shared<const RegistryKeys>(std::move(*keys)));
    RegistryUpdate options;
    options.accept_unsigned = true;
    options.accept_unverified = accept_unverified;
    options.force_write = true;
    const std::uint64_t seen =
        state->registry_seen.share == share.source ? state->registry_seen.generation : 0;
    options.min_generation = std::max(seen + 1, generation.value_or(0));
    RegistryStore writer = store;
    auto signed_registry = engine.share_gate().run<LoadedRegistry>(
        k_share_write_limit, [writer, options]() mutable -> Result<LoadedRegistry> {
            return writer.update([](Registry&) { return Result<void>(); }, options);
        });
    if (!signed_registry) {
        const std::string hint = accept_unverified
                                     ? ""
                                     : " (after reviewing it with `dsvm-agent users`, add "
                                       "--accept-unverified to sign it as it is)";
        return report(failure(signed_registry.error().message + hint));
    }
    std::vector<std::string> sudo;
    std::vector<std::string> deleted;
    std::size_t active = 0;
    for (const auto& user : signed_registry->registry().users) {
        if (user.deleted) {
            deleted.push_back(user.name);
        } else {
            ++active;
            if (user.sudo) {
                sudo.push_back(user.name);
            }
        }
    }
    fmt::print(
        "signed the pool registry with key {}: generation {}, {} active users (sudo: {}), "
        "{} deleted\n",
        signed_registry->file.key_id, signed_registry->registry().generation, active,
        list_or_none(sudo), deleted.size());
    return 0;
}

}  // namespace dsvm
