#include "engine/status.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/enum_words.h"
#include "common/text.h"

namespace dsvm::engine {

using namespace dsvm::mount;
using namespace dsvm::users;
using namespace dsvm::config;

namespace {

constexpr EnumWords<PassResult, 5> k_pass_results = {
    {PassResult::Changed, "changed"},
    {PassResult::NoChanges, "no changes"},
    {PassResult::DryRun, "dry run"},
    {PassResult::Failed, "failed"},
    {PassResult::InvalidConfig, "invalid config"},
};

}  // namespace

std::string_view to_string(PassResult result) {
    return word_of(k_pass_results, result);
}

PassResult pass_result_from(std::string_view word) {
    return value_of(k_pass_results, word).value_or(PassResult::None);
}

using nlohmann::json;

namespace {

json share_to_json(const ShareReport& share) {
    json out = {{"source", share.source},
                {"type", share.type},
                {"mountPoint", share.mount_point},
                {"mounted", share.mounted},
                {"insecure", share.insecure}};
    if (!share.access.empty()) {
        out["smbAccess"] = share.access;
    }
    return out;
}

std::string text_or_empty(const json& object, const char* key) {
    const auto found = object.find(key);
    return found != object.end() && found->is_string() ? found->get<std::string>() : "";
}

bool bool_or_false(const json& object, const char* key) {
    const auto found = object.find(key);
    return found != object.end() && found->is_boolean() && found->get<bool>();
}

std::vector<std::string> strings_of(const json& object, const char* key) {
    std::vector<std::string> out;
    const auto found = object.find(key);
    if (found != object.end() && found->is_array()) {
        for (const auto& item : *found) {
            if (item.is_string()) {
                out.push_back(item.get<std::string>());
            }
        }
    }
    return out;
}

const json* array_of(const json& object, const char* key) {
    const auto found = object.find(key);
    return found != object.end() && found->is_array() ? &*found : nullptr;
}

}  // namespace

json to_json(const RunStatus& status) {
    json sources = json::array();
    for (const auto& source : status.sources) {
        sources.push_back(
            {{"name", source.name}, {"state", to_string(source.state)}, {"detail", source.detail}});
    }
    json actions = json::array();
    for (const auto& outcome : status.actions) {
        json item = {{"action", outcome.action}, {"ok", outcome.ok}};
        if (!outcome.ok) {
            item["error"] = outcome.error;
        }
        actions.push_back(item);
    }
    return {{"version", 1},
            {"time", status.time},
            {"result", to_string(status.result)},
            {"message", status.message},
            {"instance", status.instance},
            {"sources", sources},
            {"warnings", status.warnings},
            {"share", status.share ? share_to_json(*status.share) : json(nullptr)},
            {"actions", actions},
            {"problems", status.problems},
            {"poolUsers", status.pool_users >= 0 ? json(status.pool_users) : json(nullptr)}};
}

Result<RunStatus> run_status_from_json(std::string_view text) {
    const json parsed = json::parse(text, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object()) {
        return failure("the status file is not a JSON object");
    }
    RunStatus status;
    status.time = text_or_empty(parsed, "time");
    status.result = pass_result_from(text_or_empty(parsed, "result"));
    status.message = text_or_empty(parsed, "message");
    status.instance = text_or_empty(parsed, "instance");
    status.warnings = strings_of(parsed, "warnings");
    status.problems = strings_of(parsed, "problems");
    if (const auto users = parsed.find("poolUsers");
        users != parsed.end() && users->is_number_integer()) {
        status.pool_users = users->get<int>();
    }
    if (const json* sources = array_of(parsed, "sources")) {
        for (const auto& item : *sources) {
            // A state this version has no word for is left out rather than guessed.
            const auto state =
                item.is_object() ? source_state_from(text_or_empty(item, "state")) : std::nullopt;
            if (state) {
                status.sources.push_back(
                    {text_or_empty(item, "name"), *state, text_or_empty(item, "detail")});
            }
        }
    }
    if (const json* actions = array_of(parsed, "actions")) {
        for (const auto& item : *actions) {
            if (item.is_object()) {
                status.actions.push_back({text_or_empty(item, "action"), bool_or_false(item, "ok"),
                                          text_or_empty(item, "error")});
            }
        }
    }
    if (const auto share = parsed.find("share"); share != parsed.end() && share->is_object()) {
        status.share =
            ShareReport{text_or_empty(*share, "source"),     text_or_empty(*share, "type"),
                        text_or_empty(*share, "mountPoint"), text_or_empty(*share, "smbAccess"),
                        bool_or_false(*share, "mounted"),    bool_or_false(*share, "insecure")};
    }
    return status;
}

json to_json(const AgentState& state) {
    json mounts = json::array();
    for (const auto& mount : state.mounts) {
        mounts.push_back({{"target", mount.target},
                          {"mountId", mount.mount_id},
                          {"source", mount.request.source},
                          {"fsType", mount.request.fs_type},
                          {"options", mount.request.options},
                          {"credentialsStamp", mount.credentials_stamp}});
    }
    nlohmann::json groups = nlohmann::json::object();
    for (const auto& [user, names] : state.groups) {
        groups[user] = names;
    }
    json mounting = json::array();
    for (const auto& request : state.mounting) {
        mounting.push_back({{"source", request.source},
                            {"target", request.target},
                            {"fsType", request.fs_type},
                            {"options", request.options}});
    }
    return {{"version", 1},
            {"mounts", mounts},
            {"mounting", mounting},
            {"users", state.users},
            {"locked", state.locked},
            {"groups", groups},
            {"usersFingerprint", state.users_fingerprint},
            {"usersVerified", state.users_verified},
            {"poolUsers", state.pool_users},
            {"registrySeen",
             {{"share", state.registry_seen.share},
              {"poolId", state.registry_seen.pool_id},
              {"generation", state.registry_seen.generation},
              {"mac", state.registry_seen.mac}}}};
}

Result<AgentState> agent_state_from_json(std::string_view text) {
    const json parsed = json::parse(text, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object()) {
        return failure("the agent state file is not a JSON object");
    }
    AgentState state;
    if (const json* mounts = array_of(parsed, "mounts")) {
        for (const auto& item : *mounts) {
            const auto id = item.is_object() ? item.find("mountId") : item.end();
            if (!item.is_object() || id == item.end() || !id->is_number_integer() ||
                text_or_empty(item, "target").empty()) {
                return failure("the agent state file has a malformed mounts entry");
            }
            ManagedMount mount;
            mount.target = text_or_empty(item, "target");
            mount.mount_id = id->get<int>();
            mount.request =
                MountRequest{text_or_empty(item, "source"), mount.target,
                             text_or_empty(item, "fsType"), text_or_empty(item, "options")};
            mount.credentials_stamp = text_or_empty(item, "credentialsStamp");
            state.mounts.push_back(std::move(mount));
        }
    }
    if (const json* mounting = array_of(parsed, "mounting")) {
        for (const auto& item : *mounting) {
            if (item.is_object() && !text_or_empty(item, "target").empty()) {
                state.mounting.push_back(
                    {text_or_empty(item, "source"), text_or_empty(item, "target"),
                     text_or_empty(item, "fsType"), text_or_empty(item, "options")});
            }
        }
    }
    for (const auto& name : strings_of(parsed, "users")) {
        state.users.insert(name);
    }
    state.users_fingerprint = text_or_empty(parsed, "usersFingerprint");
    if (const auto verified = parsed.find("usersVerified");
        verified != parsed.end() && verified->is_number_integer()) {
        state.users_verified = verified->get<std::int64_t>();
    }
    if (const auto count = parsed.find("poolUsers");
        count != parsed.end() && count->is_number_integer()) {
        state.pool_users = count->get<int>();
    }
    for (const auto& name : strings_of(parsed, "locked")) {
        state.locked.insert(name);
    }
    if (const auto seen = parsed.find("registrySeen"); seen != parsed.end() && seen->is_object()) {
        state.registry_seen.share = text_or_empty(*seen, "share");
        state.registry_seen.pool_id = text_or_empty(*seen, "poolId");
        state.registry_seen.mac = text_or_empty(*seen, "mac");
        if (const auto generation = seen->find("generation");
            generation != seen->end() && generation->is_number_unsigned()) {
            state.registry_seen.generation = generation->get<std::uint64_t>();
        }
    }
    if (const auto groups = parsed.find("groups"); groups != parsed.end() && groups->is_object()) {
        for (const auto& [user, names] : groups->items()) {
            state.groups[user] = strings_of(*groups, user.c_str());
        }
    }
    return state;
}

std::string render_status(const RunStatus& status, std::optional<bool> live_mounted) {
    std::string out;
    // Every value passes printable_line on its way out: a status file is only as trustworthy as
    // the values that reached it, and a terminal obeys escape sequences.
    const auto row = [&out](std::string_view label, std::string_view value) {
        out += fmt::format("{:<12} {}\n", label, printable_line(value));
    };
    row("Last run:", status.time.empty() ? "never" : status.time);
    row("Result:", status.message.empty()
                       ? std::string(to_string(status.result))
                       : fmt::format("{} ({})", to_string(status.result), status.message));
    if (!status.instance.empty()) {
        row("Instance:", status.instance);
    }
    if (status.sources.empty()) {
        row("Config:", "-");
    }
    for (std::size_t i = 0; i < status.sources.size(); ++i) {
        const auto& source = status.sources[i];
        row(i == 0 ? "Config:" : "",
            fmt::format("{}: {}{}", source.name, to_string(source.state),
                        source.detail.empty() ? "" : " (" + source.detail + ")"));
    }
    if (status.share) {
        const auto& share = *status.share;
        const bool mounted = live_mounted.value_or(share.mounted);
        row("Share:", fmt::format("{} ({})", share.source, share.type));
        row("Mount point:",
            fmt::format("{} ({})", share.mount_point, mounted ? "mounted" : "not mounted"));
        if (!share.access.empty()) {
            row("SMB access:", share.insecure ? share.access +
                                                    " (INSECURE: every user can read "
                                                    "every other user's notebooks)"
                                              : share.access);
        }
    } else {
        row("Share:", "none configured");
    }
    if (status.pool_users >= 0) {
        row("Pool users:", std::to_string(status.pool_users));
    }
    for (const auto& outcome : status.actions) {
        row(outcome.ok ? "Done:" : "FAILED:",
            outcome.ok ? outcome.action : outcome.action + ": " + outcome.error);
    }
    for (const auto& problem : status.problems) {
        row("Problem:", problem);
    }
    for (const auto& warning : status.warnings) {
        row("Warning:", warning);
    }
    return out;
}

void bound_for_output(RunStatus& status) {
    const auto bound_list = [](std::vector<std::string>& list, const char* what) {
        if (list.size() > k_max_status_items) {
            const std::size_t more = list.size() - k_max_status_items;
            list.resize(k_max_status_items);
            list.push_back(fmt::format("... and {} more {}", more, what));
        }
        for (auto& item : list) {
            item = printable_line(item);
        }
    };
    status.message = printable_line(status.message);
    status.instance = printable_line(status.instance, 128);
    bound_list(status.problems, "problems");
    bound_list(status.warnings, "warnings");
    for (auto& source : status.sources) {
        source.detail = printable_line(source.detail);
    }
    if (status.actions.size() > k_max_status_actions) {
        // Failures first: they are what a reader of a long list is looking for.
        std::stable_partition(status.actions.begin(), status.actions.end(),
                              [](const ActionOutcome& outcome) { return !outcome.ok; });
        const std::size_t more = status.actions.size() - k_max_status_actions;
        status.actions.resize(k_max_status_actions);
        status.actions.push_back(ActionOutcome::done(fmt::format("... and {} more actions", more)));
    }
    for (auto& outcome : status.actions) {
        outcome.action = printable_line(outcome.action);
        outcome.error = printable_line(outcome.error);
    }
}

}  // namespace dsvm::engine
