#include "cli/user_commands.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>

#include "cli/secret_input.h"
#include "common/fd.h"
#include "common/fs.h"
#include "common/safe_open.h"
#include "common/secret.h"
#include "common/text.h"
#include "engine/pass_report.h"
#include "users/name_service.h"
#include "users/notebook_folder.h"
#include "users/registry_format.h"
#include "users/rules.h"

namespace dsvm::cli {

using namespace dsvm::users;
using namespace dsvm::config;
using namespace dsvm::engine;

namespace {

// Removing a folder of notebooks may take a while; a dead server still must not hang `deluser`.
constexpr auto k_remove_limit = std::chrono::minutes(10);

int report(const Error& error) {
    spdlog::error("{}", printable_line(error.message));
    return exit_status_for(error);
}

RegistryUser* find_user(Registry& registry, const std::string& name) {
    const auto found = std::find_if(registry.users.begin(), registry.users.end(),
                                    [&](const auto& user) { return user.name == name; });
    return found == registry.users.end() ? nullptr : &*found;
}

bool in_config(const PoolConfig& config, const std::string& name) {
    return std::any_of(config.users.begin(), config.users.end(),
                       [&](const auto& user) { return user.name == name; });
}

// A new name must follow the rules, and be no local account or group the agent did not create,
// nor taken in the system's name service (LDAP, SSSD, NIS ...): the account backend judges.
Result<void> check_new_name(Engine& engine, const std::string& name) {
    if (auto checked = check_user_name(name); !checked) {
        return checked;
    }
    auto state = engine.read_state();
    if (!state) {
        return state.error();
    }
    return engine.accounts().check_new_name(name, state->users,
                                            NameLookup{engine.names(), engine.names_gate()});
}

Result<std::vector<std::string>> read_keys(const std::string& source) {
    std::string text;
    if (source == "-") {
        text.reserve(k_secret_capacity);
        if (auto got = read_secret(text, "SSH public key: ", 64 * 1024, "SSH key"); !got) {
            return got.error();
        }
    } else {
        auto file = read_file(source);
        if (!file) {
            return invalid("--ssh-key: " + file.error().message);
        }
        text = std::move(file).value();
    }
    std::vector<std::string> keys;
    size_t position = 0;
    while (position < text.size()) {
        const size_t end = std::min(text.find('\n', position), text.size());
        std::string line = text.substr(position, end - position);
        position = end + 1;
        if (!line.empty() && line.back() == '\r') {
            line.pop_back();
        }
        if (line.empty() || line.front() == '#') {
            continue;
        }
        if (auto checked = check_ssh_key("--ssh-key", line); !checked) {
            return checked.error();
        }
        keys.push_back(std::move(line));
    }
    if (keys.empty()) {
        return invalid("--ssh-key " + source + ": no public key found");
    }
    if (keys.size() > k_max_user_keys) {
        return invalid("--ssh-key " + source + ": " + std::to_string(keys.size()) +
                       " keys; at most " + std::to_string(k_max_user_keys) + " are allowed");
    }
    return keys;
}

Result<std::vector<std::string>> parse_groups(const std::string& text) {
    std::vector<std::string> groups;
    size_t position = 0;
    while (position <= text.size() && !text.empty()) {
        const size_t end = std::min(text.find(',', position), text.size());
        const std::string group = text.substr(position, end - position);
        position = end + 1;
        if (auto checked = check_group_grant("--groups", group); !checked) {
            return checked.error();
        }
        groups.push_back(group);
    }
    if (groups.size() > k_max_user_groups) {
        return invalid("--groups: " + std::to_string(groups.size()) + " groups; at most " +
                       std::to_string(k_max_user_groups) + " are allowed");
    }
    return groups;
}

int run_request(Engine& engine, const RegistryChange& change) {
    PassOptions options;
    options.request = &change;
    // A request is about accounts: the vault's keys are read only when one is missing.
    options.key_read = KeyRead::IfMissing;
    const PassOutcome outcome = engine.reconcile(options);
    if (outcome.request_error) {
        return report(*outcome.request_error);
    }
    return report_pass(outcome, false);
}

// The registry as it stands on the share, verified with this instance's keys.
Result<LoadedRegistry> load_registry(Engine& engine, const Root& root, const ShareConfig& share) {
    auto keys = read_registry_keys(root);
    if (!keys) {
        return keys.error();
    }
    const RegistryStore store = registry_store_for(
        share, engine.share(), std::make_shared<const RegistryKeys>(std::move(*keys)));
    return engine.share_gate().run<LoadedRegistry>(
        k_share_read_limit, [store]() -> Result<LoadedRegistry> { return store.load(); });
}

// Deletes the user's notebook folder on the share, without following a symlink.
Result<void> remove_notebooks(Engine& engine, const PoolConfig& config, const std::string& name) {
    const std::string share = engine.share().share_dir(*config.share);
    const std::string folder = notebook_folder(config.notebooks, name);
    return engine.share_gate().run<void>(k_remove_limit, [share, folder]() -> Result<void> {
        const size_t slash = folder.find_last_of('/');
        const std::string parent_path = slash == std::string::npos ? "" : folder.substr(0, slash);
        auto parent = open_directory_below(share, parent_path);
        if (!parent) {
            return parent.error();
        }
        return remove_tree_at(parent->get(), folder.substr(slash + 1), share + "/" + folder);
    });
}

}  // namespace

int add_user(Engine& engine, const AddUserRequest& request) {
    // Refused before anything is read or prompted for.
    if (request.password_stdin && !engine.accounts().limits().pool_passwords) {
        return report(invalid(
            "--password-stdin: a pool password is a crypt hash, which cannot set a password on "
            "this instance's accounts; give the user SSH keys (docs/windows.md, \"The exe\")"));
    }
    if (auto checked = check_new_name(engine, request.name); !checked) {
        return report(checked.error());
    }
    auto groups = parse_groups(request.groups);
    if (!groups) {
        return report(groups.error());
    }
    if (request.ssh_key_file == "-" && request.password_stdin) {
        return report(
            invalid("--ssh-key - and --password-stdin both want standard input; give "
                    "the key as a file"));
    }
    std::vector<std::string> keys;
    if (!request.ssh_key_file.empty()) {
        auto read = read_keys(request.ssh_key_file);
        if (!read) {
            return report(read.error());
        }
        keys = std::move(read).value();
    }
    std::string hash;
    if (request.password_stdin) {
        std::string clear;
        clear.reserve(k_secret_capacity);
        auto got = read_secret(clear, "Password for " + request.name + ": ", 511, "password");
        auto hashed =
            got ? engine.accounts().hash_password(clear) : Result<std::string>(got.error());
        wipe_string(clear);
        if (!hashed) {
            return report(hashed.error());
        }
        hash = std::move(hashed).value();
    }
    // Captures by value: the change may run on a worker that outlives this call (a dead share).
    const RegistryChange change = [name = request.name, sudo = request.sudo, groups = *groups, keys,
                                   hash](Registry& registry, const PoolConfig& config,
                                         const std::set<std::uint32_t>& taken) {
        auto found = find_or_add_user(registry, name, config.uid_min, config.uid_max, taken);
        if (!found) {
            return Result<void>(invalid(found.error().message));
        }
        RegistryUser* user = *found;
        user->deleted = false;
        user->sudo = user->sudo || sudo;
        if (!groups.empty()) {
            user->groups = groups;
        }
        if (!keys.empty()) {
            user->ssh_keys = keys;
        }
        if (!hash.empty()) {
            user->password_hash = hash;
        }
        sort_users(registry.users);
        return Result<void>();
    };
    return run_request(engine, change);
}

int delete_user(Engine& engine, const Root& root, const std::string& name,
                bool remove_notebooks_too) {
    if (auto checked = check_user_name(name); !checked) {
        return report(checked.error());
    }
    const RegistryChange change = [name](Registry& registry, const PoolConfig& config,
                                         const std::set<std::uint32_t>&) {
        RegistryUser* user = find_user(registry, name);
        if (user == nullptr) {
            return Result<void>(invalid("'" + name + "' is not a pool user"));
        }
        if (in_config(config, name)) {
            return Result<void>(
                invalid("'" + name + "' is listed in the pool config; remove it there first"));
        }
        user->deleted = true;
        user->sudo = false;
        user->groups.clear();
        user->ssh_keys.clear();
        user->password_hash.clear();
        return Result<void>();
    };
    const int status = run_request(engine, change);
    if (status == 2 || !remove_notebooks_too) {
        return status;
    }
    // The notebooks go only once the registry on the share says the user is deleted: a pass
    // that failed before the change committed must not cost anyone their work.
    auto loaded = engine.load();
    if (!loaded || !loaded->config.share) {
        return report(failure("cannot remove the notebooks: no share configured"));
    }
    auto registry = load_registry(engine, root, *loaded->config.share);
    if (!registry) {
        return report(with_context("the notebooks were not removed", registry.error()));
    }
    Registry current = registry->registry();
    const RegistryUser* user = find_user(current, name);
    if (!registry->exists || !registry->verified() || user == nullptr || !user->deleted) {
        return report(failure(
            "the notebooks of '" + name +
            "' were not removed: the pool registry does not show the user as "
            "deleted (" +
            (registry->problem.empty() ? "the deletion did not commit" : registry->problem) + ")"));
    }
    if (auto removed = remove_notebooks(engine, loaded->config, name); !removed) {
        return report(removed.error());
    }
    fmt::print("removed {}/{}\n", engine.share().share_dir(*loaded->config.share),
               notebook_folder(loaded->config.notebooks, name));
    return status;
}

int list_users(Engine& engine, const Root& root, bool as_json) {
    auto loaded = engine.load();
    if (!loaded) {
        return report(loaded.error());
    }
    if (!loaded->config.share) {
        return report(failure("no share is configured, so there is no pool registry"));
    }
    auto registry = load_registry(engine, root, *loaded->config.share);
    auto state = engine.read_state();
    if (!registry || !state) {
        return report(!registry ? registry.error() : state.error());
    }
    std::set<std::string> names;
    for (const auto& user : registry->registry().users) {
        names.insert(user.name);
    }
    auto accounts = engine.accounts().find(names);
    if (!accounts) {
        return report(accounts.error());
    }
    nlohmann::json out = nlohmann::json::array();
    for (const auto& user : registry->registry().users) {
        const auto local = accounts->find(user.name);
        std::string here = "missing";
        if (local != accounts->end()) {
            const bool ours = state->users.count(user.name) != 0;
            here = !ours ? "conflict: local account not created by dsvm-agent"
                   : local->second.pool_uid != user.uid ? "conflict: different uid"
                   : local->second.locked               ? "locked"
                                                        : "present";
        }
        out.push_back({{"name", user.name},
                       {"uid", user.uid},
                       {"sudo", user.sudo},
                       {"groups", user.groups},
                       {"sshKeys", user.ssh_keys.size()},
                       {"password", !user.password_hash.empty()},
                       {"deleted", user.deleted},
                       {"thisInstance", here}});
    }
    if (as_json) {
        // ASCII only: every control character and every non-ASCII one (C1 controls, bidi
        // overrides) is a \u escape, so names reach a terminal harmless.
        fmt::print("{}\n", out.dump(2, ' ', true, nlohmann::json::error_handler_t::replace));
        return registry->verified() ? 0 : 1;
    }
    if (!registry->verified()) {
        fmt::print("NOT VERIFIED: {}\n", printable_line(registry->problem));
        fmt::print("content digest: {} (what `registry sign --expect` takes, once reviewed)\n",
                   registry->file.digest);
    } else if (registry->exists) {
        fmt::print("registry: generation {}, signed with key {}, content digest {}\n",
                   registry->registry().generation, registry->file.key_id, registry->file.digest);
    }
    fmt::print("{:<20} {:>7}  {:<4}  {:<8}  {}\n", "NAME", "UID", "SUDO", "STATE", "THIS INSTANCE");
    for (const auto& user : out) {
        // Names from an unverified registry may hold anything; none reaches the terminal raw.
        fmt::print("{:<20} {:>7}  {:<4}  {:<8}  {}\n", printable(user["name"].get<std::string>()),
                   user["uid"].get<std::uint32_t>(), user["sudo"].get<bool>() ? "yes" : "no",
                   user["deleted"].get<bool>() ? "deleted" : "active",
                   user["thisInstance"].get<std::string>());
    }
    return registry->verified() ? 0 : 1;
}

}  // namespace dsvm::cli
