#include "engine/users_intent.h"

#include <limits>

#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "common/json_bounds.h"

namespace dsvm::engine {

using namespace dsvm::users;

namespace {

// 10,000 creations in one pass fit comfortably.
constexpr std::size_t k_max_intent_bytes = 4 * 1024 * 1024;

Error not_a_record(const std::string& path, const std::string& why) {
    return failure(path + " is not an intent record (" + why +
                   "); remove it if no dsvm-agent pass is running");
}

}  // namespace

Result<std::vector<PendingAccount>> read_intent(const std::string& path) {
    auto text = read_file_if_exists(path);
    if (!text) {
        return text.error();
    }
    std::vector<PendingAccount> pending;
    if (!text->found) {
        return pending;
    }
    auto document = parse_bounded_json(text->text, k_max_intent_bytes, 4, path);
    if (!document) {
        return document.error();
    }
    const auto creating = document->find("creating");
    if (!document->is_object() || creating == document->end() || !creating->is_array()) {
        return not_a_record(path, "no \"creating\" list");
    }
    constexpr auto k_id_max = std::numeric_limits<std::uint32_t>::max();
    for (const auto& item : *creating) {
        const auto name = item.find("name");
        const auto uid = item.find("uid");
        const auto gid = item.find("gid");
        if (!item.is_object() || name == item.end() || !name->is_string() || uid == item.end() ||
            !uid->is_number_unsigned() || uid->get<std::uint64_t>() > k_id_max ||
            gid == item.end() || !gid->is_number_unsigned() ||
            gid->get<std::uint64_t>() > k_id_max) {
            return not_a_record(path, "an entry without a name, uid and gid");
        }
        pending.push_back(
            {name->get<std::string>(), uid->get<std::uint32_t>(), gid->get<std::uint32_t>()});
    }
    return pending;
}

Result<void> write_intent(const std::string& path, const std::vector<PendingAccount>& pending) {
    nlohmann::json creating = nlohmann::json::array();
    for (const auto& account : pending) {
        creating.push_back({{"name", account.name}, {"uid", account.uid}, {"gid", account.gid}});
    }
    const nlohmann::json document = {{"creating", creating}};
    return write_file_atomic(path, document.dump() + "\n", 0600);
}

Result<void> remove_intent(const std::string& path) {
    return remove_file_if_exists(path);
}

}  // namespace dsvm::engine
