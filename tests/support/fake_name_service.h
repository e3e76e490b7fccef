// A NameService for unit tests: answers from the users and groups it was given, or Unknown for
// what it was told it cannot answer, and records every question in the order asked.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "users/name_service.h"

namespace dsvm::test {

class FakeNameService final : public users::NameService {
  public:
    void add_user(std::string name, std::uint32_t uid) { m_users[std::move(name)] = uid; }
    void add_group(std::string name, std::uint32_t gid) { m_groups[std::move(name)] = gid; }
    // From now on the question ("user alice", "uid 20000", ...) is answered Unknown.
    void cannot_answer(std::string question) { m_unknown.insert(std::move(question)); }

    users::NameAnswer user_name(std::string_view name) override {
        return answer("user " + std::string(name), m_users, name);
    }
    users::NameAnswer group_name(std::string_view name) override {
        return answer("group " + std::string(name), m_groups, name);
    }
    users::NameAnswer user_id(std::uint32_t uid) override {
        return answer_id("uid " + std::to_string(uid), m_users, uid);
    }
    users::NameAnswer group_id(std::uint32_t gid) override {
        return answer_id("gid " + std::to_string(gid), m_groups, gid);
    }

    std::vector<std::string> asked;

  private:
    using Entries = std::map<std::string, std::uint32_t, std::less<>>;

    users::NameAnswer answer(std::string question, const Entries& entries, std::string_view name) {
        if (auto unknown = record(std::move(question))) {
            return *unknown;
        }
        const auto found = entries.find(name);
        if (found == entries.end()) {
            return {};
        }
        return {users::NameState::Taken, found->first, found->second, "the fake name service"};
    }
    users::NameAnswer answer_id(std::string question, const Entries& entries, std::uint32_t id) {
        if (auto unknown = record(std::move(question))) {
            return *unknown;
        }
        for (const auto& [name, entry_id] : entries) {
            if (entry_id == id) {
                return {users::NameState::Taken, name, id, "the fake name service"};
            }
        }
        return {};
    }
    std::optional<users::NameAnswer> record(std::string question) {
        asked.push_back(question);
        if (m_unknown.contains(question)) {
            return users::NameAnswer{users::NameState::Unknown, "", std::nullopt,
                                     "the fake cannot tell"};
        }
        return std::nullopt;
    }

    Entries m_users;
    Entries m_groups;
    std::set<std::string> m_unknown;
};

}  // namespace dsvm::test
