#include "users/registry.h"

#include <algorithm>
#include <map>
#include <random>

#include "common/text.h"
#include "users/rules.h"

namespace dsvm::users {

namespace {

bool has_bad_hash_char(std::string_view hash) {
    return std::any_of(hash.begin(), hash.end(),
                       [](char c) { return c == ':' || ascii::is_control(c); });
}

// Why an entry is not applied, apart from what it shares with other entries.
std::vector<std::string> entry_problems(const RegistryUser& user, std::uint32_t uid_min,
                                        std::uint32_t uid_max) {
    std::vector<std::string> reasons;
    if (auto name = check_user_name(user.name); !name) {
        reasons.push_back(name.error().message);
    }
    if (user.uid < uid_min || user.uid > uid_max) {
        reasons.push_back("uid " + std::to_string(user.uid) + " is outside the pool's range " +
                          std::to_string(uid_min) + "-" + std::to_string(uid_max));
    }
    if (user.gid != user.uid) {
        reasons.push_back("gid " + std::to_string(user.gid) + " differs from uid " +
                          std::to_string(user.uid));
    }
    if (user.groups.size() > k_max_user_groups) {
        reasons.push_back(std::to_string(user.groups.size()) + " groups; at most " +
                          std::to_string(k_max_user_groups) + " are allowed");
    }
    for (std::size_t i = 0; i < user.groups.size() && i < k_max_user_groups; ++i) {
        if (auto group = check_group_grant("groups[" + std::to_string(i) + "]", user.groups[i]);
            !group) {
            reasons.push_back(group.error().message);
        }
    }
    for (std::size_t i = 0; i < user.ssh_keys.size() && i < k_max_user_keys; ++i) {
        if (auto key = check_ssh_key("sshKeys[" + std::to_string(i) + "]", user.ssh_keys[i]);
            !key) {
            reasons.push_back(key.error().message);
        }
    }
    if (user.ssh_keys.size() > k_max_user_keys) {
        reasons.push_back(std::to_string(user.ssh_keys.size()) + " SSH keys; at most " +
                          std::to_string(k_max_user_keys) + " are allowed");
    }
    // Hashes go into shadow's colon-separated lines.
    if (user.password_hash.size() > k_max_password_hash || has_bad_hash_char(user.password_hash)) {
        reasons.push_back("passwordHash is longer than " + std::to_string(k_max_password_hash) +
                          " characters or holds ':' or a control character");
    }
    return reasons;
}

}  // namespace

void sort_users(std::vector<RegistryUser>& users) {
    std::stable_sort(users.begin(), users.end(),
                     [](const auto& a, const auto& b) { return a.name < b.name; });
}

CheckedRegistry check_registry(const Registry& registry, std::uint32_t uid_min,
                               std::uint32_t uid_max) {
    std::map<std::string, int> name_count;
    std::map<std::uint32_t, int> uid_count;
    for (const auto& user : registry.users) {
        ++name_count[user.name];
        ++uid_count[user.uid];
    }
    CheckedRegistry checked;
    for (const auto& user : registry.users) {
        std::vector<std::string> reasons = entry_problems(user, uid_min, uid_max);
        if (name_count[user.name] > 1) {
            reasons.push_back("the name is used by " + std::to_string(name_count[user.name]) +
                              " entries");
        }
        if (uid_count[user.uid] > 1) {
            reasons.push_back("uid " + std::to_string(user.uid) + " is used by " +
                              std::to_string(uid_count[user.uid]) + " entries");
        }
        if (reasons.empty()) {
            checked.valid.push_back(user);
            continue;
        }
        std::string message = "registry entry '" + printable(user.name) + "' rejected: ";
        for (std::size_t index = 0; index < reasons.size(); ++index) {
            message += (index == 0 ? "" : "; ") + reasons[index];
        }
        checked.rejected.push_back(std::move(message));
    }
    return checked;
}

Result<std::uint32_t> next_free_uid(const Registry& registry, std::uint32_t uid_min,
                                    std::uint32_t uid_max, const std::set<std::uint32_t>& taken) {
    if (uid_min > uid_max) {
        return invalid("the uid range " + std::to_string(uid_min) + "-" + std::to_string(uid_max) +
                       " is empty");
    }
    // 64 bits so that a range ending at 2^32-1 cannot wrap around.
    std::uint64_t candidate = std::max<std::uint64_t>(uid_min, registry.next_uid);
    for (const auto& user : registry.users) {
        candidate = std::max<std::uint64_t>(candidate, std::uint64_t{user.uid} + 1);
    }
    for (auto at = taken.lower_bound(static_cast<std::uint32_t>(
             std::min<std::uint64_t>(candidate, std::uint64_t{UINT32_MAX})));
         at != taken.end() && *at == candidate; ++at) {
        ++candidate;
    }
    if (candidate > uid_max) {
        return failure("the pool's uid range " + std::to_string(uid_min) + "-" +
                       std::to_string(uid_max) + " is used up (UIDs up to " +
                       std::to_string(candidate - 1) +
                       " were handed out, and a UID is never given twice); widen uidRange");
    }
    return static_cast<std::uint32_t>(candidate);
}

Result<RegistryUser*> find_or_add_user(Registry& registry, const std::string& name,
                                       std::uint32_t uid_min, std::uint32_t uid_max,
                                       const std::set<std::uint32_t>& taken) {
    for (auto& user : registry.users) {
        if (user.name == name) {
            return &user;
        }
    }
    auto uid = next_free_uid(registry, uid_min, uid_max, taken);
    if (!uid) {
        return uid.error();
    }
    RegistryUser added;
    added.name = name;
    added.uid = *uid;
    added.gid = *uid;
    registry.next_uid = *uid + 1;
    registry.users.push_back(std::move(added));
    return &registry.users.back();
}

Result<void> check_not_older(const SeenRegistry& seen, std::string_view share,
                             const RegistryIdentity& now) {
    const bool same_share = seen.share == share;
    const bool same_pool = now.exists && !seen.pool_id.empty() && now.pool_id == seen.pool_id;
    if (seen.generation == 0 || (!same_share && !same_pool)) {
        return {};
    }
    const std::string last = "generation " + std::to_string(seen.generation);
    const std::string fix =
        "; nothing is applied. If the pool's registry was restored on purpose, review it with "
        "`dsvm-agent users` and accept it with `dsvm-agent registry sign --generation " +
        std::to_string(seen.generation + 1) + " --expect <its content digest>`";
    if (!now.exists) {
        return failure("the pool registry has disappeared from the share (this instance last saw " +
                       last + ")" + fix);
    }
    if (now.generation < seen.generation) {
        return failure("the pool registry went back to generation " +
                       std::to_string(now.generation) + " (this instance last saw " + last +
                       "): an older copy was put back, by someone who can write the share or by "
                       "a restore" +
                       fix);
    }
    if (now.generation == seen.generation && now.mac != seen.mac) {
        return failure("the pool registry's " + last +
                       " differs from the one this instance saw: another copy with the same "
                       "generation was put in its place" +
                       fix);
    }
    return {};
}

std::string new_pool_id() {
    std::random_device entropy;
    std::string id;
    for (int i = 0; i < 4; ++i) {
        const std::uint32_t word = entropy();
        const unsigned char bytes[4] = {
            static_cast<unsigned char>(word >> 24), static_cast<unsigned char>(word >> 16),
            static_cast<unsigned char>(word >> 8), static_cast<unsigned char>(word)};
        id += hex_digits(bytes, 4);
    }
    return id;
}

}  // namespace dsvm::users
