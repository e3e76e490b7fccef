#include "agent/user_commands.h"

#include <fcntl.h>
#include <string.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <algorithm>

#include "agent/config_rules.h"
#include "agent/pass_report.h"
#include "agent/secret_input.h"
#include "common/fd.h"
#include "common/fs.h"
#include "common/safe_open.h"
#include "users/accounts.h"
#include "users/names.h"
#include "users/notebooks.h"
#include "users/password.h"

namespace dsvm {

namespace {

int report(const Error& error) {
    spdlog::error("{}", error.message);
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

// A name must follow the rule and must not be a local account the agent did not create.
Result<void> check_new_name(Engine& engine, const Root& root, const std::string& name) {
    if (auto checked = check_user_name(name); !checked) {
        return checked;
    }
    auto files = read_account_files(root);
    auto state = engine.read_state();
    if (!files || !state) {
        return files ? state.error() : files.error();
    }
    const AccountView accounts = AccountView::parse(*files);
    if (accounts.user(name) != nullptr && state->users.count(name) == 0) {
        return invalid("user name '" + name +
                       "' belongs to an existing local account that dsvm-agent did not create");
    }
    return {};
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
        if (auto checked = config_rules::check_ssh_key("--ssh-key", line); !checked) {
            return checked.error();
        }
        keys.push_back(std::move(line));
    }
    if (keys.empty()) {
        return invalid("--ssh-key " + source + ": no public key found");
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
        if (auto checked = config_rules::check_group_name("--groups", group); !checked) {
            return checked.error();
        }
        groups.push_back(group);
    }
    return groups;
}

int run_request(Engine& engine, const RegistryChange& change) {
    PassOptions options;
    options.request = &change;
    const PassOutcome outcome = engine.reconcile(options);
    if (outcome.request_error) {
        return report(*outcome.request_error);
    }
    return report_pass(outcome, false);
}

}  // namespace

int add_user(Engine& engine, const Root& root, const AddUserRequest& request) {
    if (auto checked = check_new_name(engine, root, request.name); !checked) {
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
        auto hashed = got ? hash_password(clear) : Result<std::string>(got.error());
        wipe(clear);
        if (!hashed) {
            return report(hashed.error());
        }
        hash = std::move(hashed).value();
    }
    const RegistryChange change = [&](Registry& registry, const PoolConfig& config) {
        auto found = find_or_add_user(registry, request.name, config.uid_min, config.uid_max);
        if (!found) {
            return Result<void>(invalid(found.error().message));
        }
        RegistryUser* user = *found;
        user->deleted = false;
        user->sudo = user->sudo || request.sudo;
        if (!groups->empty()) {
            user->groups = *groups;
        }
        if (!keys.empty()) {
            user->ssh_keys = keys;
        }
        if (!hash.empty()) {
            user->password_hash = hash;
        }
        std::sort(registry.users.begin(), registry.users.end(),
                  [](const auto& a, const auto& b) { return a.name < b.name; });
        return Result<void>();
    };
    return run_request(engine, change);
}

int delete_user(Engine& engine, const Root& root, const std::string& name, bool remove_notebooks) {
    if (auto checked = check_user_name(name); !checked) {
        return report(checked.error());
    }
    const RegistryChange change = [&](Registry& registry, const PoolConfig& config) {
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
        user->ssh_keys.clear();
        user->password_hash.clear();
        return Result<void>();
    };
    const int status = run_request(engine, change);
    if (status == 2 || !remove_notebooks) {
        return status;
    }
    auto loaded = engine.load();
    if (!loaded || !loaded->config.share) {
        return report(failure("cannot remove the notebooks: no share configured"));
    }
    const std::string share = root.path(loaded->config.share->mount_point);
    const std::string folder = notebook_folder(loaded->config.notebooks, name);
    const size_t slash = folder.find_last_of('/');
    const std::string parent_path = slash == std::string::npos ? "" : folder.substr(0, slash);
    auto parent = open_directory_below(share, parent_path);
    if (!parent) {
        return report(parent.error());
    }
    if (auto removed =
            remove_tree_at(parent->get(), folder.substr(slash + 1), share + "/" + folder);
        !removed) {
        return report(removed.error());
    }
    fmt::print("removed {}/{}\n", share, folder);
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
    RegistryStore store(root.path(loaded->config.share->mount_point));
    auto registry = store.read();
    auto files = read_account_files(root);
    auto state = engine.read_state();
    if (!registry || !files || !state) {
        return report(!registry ? registry.error() : !files ? files.error() : state.error());
    }
    const AccountView accounts = AccountView::parse(*files);
    nlohmann::json out = nlohmann::json::array();
    for (const auto& user : registry->users) {
        const UserRecord* local = accounts.user(user.name);
        std::string here = "missing";
        if (local != nullptr) {
            const bool ours = state->users.count(user.name) != 0;
            here = !ours                    ? "conflict: local account not created by dsvm-agent"
                   : local->uid != user.uid ? "conflict: different uid"
                   : state->locked.count(user.name) != 0 ? "locked"
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
        fmt::print("{}\n", out.dump(2));
        return 0;
    }
    fmt::print("{:<20} {:>7}  {:<4}  {:<8}  {}\n", "NAME", "UID", "SUDO", "STATE", "THIS INSTANCE");
    for (const auto& user : out) {
        fmt::print("{:<20} {:>7}  {:<4}  {:<8}  {}\n", user["name"].get<std::string>(),
                   user["uid"].get<std::uint32_t>(), user["sudo"].get<bool>() ? "yes" : "no",
                   user["deleted"].get<bool>() ? "deleted" : "active",
                   user["thisInstance"].get<std::string>());
    }
    return 0;
}

}  // namespace dsvm
