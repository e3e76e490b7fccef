// An AccountApi for unit tests: an in-memory SAM (users, local groups by SID, profiles, the keys
// file and the notebook link in each profile) that records every call in the order made. A
// password is recorded only as "password=set" (long and complex enough), "password=weak", or
// "password=HASH" (a crypt hash or one of the values it was told must never be a password); its
// value is never kept. Any call can be made to fail with a Win32 code: it is recorded and changes
// nothing. wine stubs NetUserAdd, NetLocalGroupAddMembers and CreateSymbolicLinkW, and
// NetUserSetInfo aborts (docs/windows.md), so the Windows account backend is tested on this.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/text.h"
#include "windows/account_api.h"

namespace dsvm::test {

class FakeAccountApi final : public windows_platform::AccountApi {
  public:
    // NetAPI and Win32 codes the fake answers with.
    static constexpr std::uint32_t k_group_not_found = 2220;   // NERR_GroupNotFound
    static constexpr std::uint32_t k_user_not_found = 2221;    // NERR_UserNotFound
    static constexpr std::uint32_t k_user_exists = 2224;       // NERR_UserExists
    static constexpr std::uint32_t k_group_exists = 2223;      // NERR_GroupExists
    static constexpr std::uint32_t k_not_member = 1377;        // ERROR_MEMBER_NOT_IN_ALIAS
    static constexpr std::uint32_t k_already_member = 1378;    // ERROR_MEMBER_IN_ALIAS
    static constexpr std::uint32_t k_no_such_member = 1387;    // ERROR_NO_SUCH_MEMBER
    static constexpr std::uint32_t k_file_not_found = 2;       // ERROR_FILE_NOT_FOUND
    static constexpr std::uint32_t k_already_exists = 183;     // ERROR_ALREADY_EXISTS
    static constexpr std::uint32_t k_cant_access_file = 1920;  // ERROR_CANT_ACCESS_FILE
    static constexpr std::uint32_t k_none_mapped = 1332;       // ERROR_NONE_MAPPED

    struct User {
        std::string name;
        std::uint32_t flags = 0;
        std::string comment;
        std::string profile;
    };
    struct Group {
        std::string name;
        std::string sid;
        std::vector<std::string> members;
    };

    // A fresh Windows Server: Administrator (in Administrators), a disabled Guest, and the two
    // well-known groups the agent uses, named as on an English system.
    FakeAccountApi() {
        add_local_user("Administrator", 0x10201);
        add_local_user("Guest", 0x10203);
        add_local_group("Administrators", std::string(windows_platform::k_administrators_sid));
        add_local_group("Remote Desktop Users",
                        std::string(windows_platform::k_remote_desktop_users_sid));
        add_local_group("Users", "S-1-5-32-545");
        m_groups[std::string(windows_platform::k_administrators_sid)].members.push_back(
            "Administrator");
    }

    // Setting the SAM up; nothing is recorded.
    void add_local_user(std::string name, std::uint32_t flags, std::string comment = {},
                        std::string profile = {}) {
        m_users.push_back({std::move(name), flags, std::move(comment), std::move(profile)});
    }
    void add_local_group(std::string name, std::string sid) {
        Group group{std::move(name), sid, {}};
        m_groups[sid] = std::move(group);
    }
    void add_local_member(const std::string& group, const std::string& user) {
        if (Group* found = find_group(group)) {
            found->members.push_back(user);
        }
    }
    void set_link(const std::string& profile, windows_platform::LinkState state) {
        m_links[profile] = std::move(state);
    }
    // A junction stands where `notebooks` or `.ssh` should be in `profile`.
    void junction_in(const std::string& profile) { m_junctions.insert(profile); }
    void set_keys(const std::string& profile, windows_platform::KeysFile keys) {
        m_keys[profile] = std::move(keys);
    }
    // A value that must never reach a password (a registry hash).
    void never_a_password(std::string value) { m_forbidden.insert(std::move(value)); }
    // From now on every call whose record starts with `call` ("add_user bob", "set_flags")
    // fails with `code` and changes nothing.
    void fail(std::string call, std::uint32_t code) { m_failures[std::move(call)] = code; }

    std::vector<std::string> calls;

    // The calls that change something: none may come from a dry run.
    std::vector<std::string> changing_calls() const {
        static const std::vector<std::string_view> changing = {
            "add_user",      "set_flags",      "set_password", "add_member",
            "remove_member", "create_profile", "make_link",    "write_keys"};
        std::vector<std::string> out;
        for (const auto& call : calls) {
            for (const auto name : changing) {
                if (call.starts_with(std::string(name) + " ")) {
                    out.push_back(call);
                }
            }
        }
        return out;
    }
    const User* user(std::string_view name) const {
        for (const auto& user : m_users) {
            if (ascii_lower(user.name) == ascii_lower(name)) {
                return &user;
            }
        }
        return nullptr;
    }
    const Group* group(const std::string& reference) const {
        return const_cast<FakeAccountApi*>(this)->find_group(reference);
    }
    bool is_member(const std::string& group_reference, std::string_view user_name) const {
        const Group* found = group(group_reference);
        return found != nullptr &&
               std::any_of(found->members.begin(), found->members.end(), [&](const auto& member) {
                   return ascii_lower(member) == ascii_lower(user_name);
               });
    }
    const windows_platform::KeysFile* keys(const std::string& profile) const {
        const auto found = m_keys.find(profile);
        return found == m_keys.end() ? nullptr : &found->second;
    }
    const windows_platform::LinkState* link(const std::string& profile) const {
        const auto found = m_links.find(profile);
        return found == m_links.end() ? nullptr : &found->second;
    }

    std::uint32_t users(windows_platform::SamView& out) override {
        if (auto failed = record("users")) {
            return failed;
        }
        out.users.clear();
        for (const auto& user : m_users) {
            out.users.push_back({user.name, user.flags, user.comment, user.profile});
        }
        out.local_groups.clear();
        for (const auto& [sid, group] : m_groups) {
            out.local_groups.push_back(group.name);
        }
        return 0;
    }
    std::uint32_t members(const std::string& group, windows_platform::SamGroup& out) override {
        if (auto failed = record("members " + group)) {
            return failed;
        }
        const Group* found = find_group(group);
        if (found == nullptr) {
            return k_group_not_found;
        }
        out = {true, found->name, found->sid, found->members};
        return 0;
    }
    std::uint32_t well_known_group(const std::string& sid, std::string& name) override {
        if (auto failed = record("well_known_group " + sid)) {
            return failed;
        }
        const auto found = m_groups.find(sid);
        if (found == m_groups.end()) {
            return k_none_mapped;
        }
        name = found->second.name;
        return 0;
    }
    std::uint32_t add_user(const std::string& name, const std::string& comment,
                           const SecretBytes& password) override {
        if (auto failed = record("add_user " + name + " comment=" + dsvm::quoted(comment) +
                                 " password=" + judge(password))) {
            return failed;
        }
        if (user(name) != nullptr) {
            return k_user_exists;
        }
        if (find_group(name) != nullptr) {
            return k_group_exists;
        }
        add_local_user(name, windows_platform::k_new_account_flags, comment);
        return 0;
    }
    std::uint32_t set_flags(const std::string& name, std::uint32_t flags) override {
        if (auto failed = record("set_flags " + name + " " + hex(flags))) {
            return failed;
        }
        User* found = find_user(name);
        if (found == nullptr) {
            return k_user_not_found;
        }
        found->flags = flags;
        return 0;
    }
    std::uint32_t set_password(const std::string& name, const SecretBytes& password) override {
        if (auto failed = record("set_password " + name + " password=" + judge(password))) {
            return failed;
        }
        return find_user(name) == nullptr ? k_user_not_found : 0;
    }
    std::uint32_t add_member(const std::string& group, const std::string& user_name) override {
        if (auto failed = record("add_member " + group + " " + user_name)) {
            return failed;
        }
        Group* found = find_group(group);
        if (found == nullptr) {
            return k_group_not_found;
        }
        if (user(user_name) == nullptr) {
            return k_no_such_member;
        }
        if (is_member(group, user_name)) {
            return k_already_member;
        }
        found->members.push_back(user_name);
        return 0;
    }
    std::uint32_t remove_member(const std::string& group, const std::string& user_name) override {
        if (auto failed = record("remove_member " + group + " " + user_name)) {
            return failed;
        }
        Group* found = find_group(group);
        if (found == nullptr) {
            return k_group_not_found;
        }
        auto& members = found->members;
        const auto kept = std::remove_if(members.begin(), members.end(), [&](const auto& member) {
            return ascii_lower(member) == ascii_lower(user_name);
        });
        if (kept == members.end()) {
            return k_not_member;
        }
        members.erase(kept, members.end());
        return 0;
    }
    std::uint32_t create_profile(const std::string& name, std::string& path,
                                 bool& created) override {
        if (auto failed = record("create_profile " + name)) {
            return failed;
        }
        User* found = find_user(name);
        if (found == nullptr) {
            return k_none_mapped;
        }
        created = found->profile.empty();
        if (created) {
            found->profile = "C:\\Users\\" + found->name;
        }
        path = found->profile;
        return 0;
    }
    std::uint32_t read_link(const std::string& profile, const std::string& link,
                            windows_platform::LinkState& out) override {
        if (auto failed = record("read_link " + profile + " " + link)) {
            return failed;
        }
        if (!is_profile(profile)) {
            return k_file_not_found;
        }
        if (m_junctions.count(profile) != 0) {
            return k_cant_access_file;
        }
        const auto found = m_links.find(profile);
        out = found == m_links.end() ? windows_platform::LinkState{} : found->second;
        return 0;
    }
    std::uint32_t make_link(const std::string& profile, const std::string& link,
                            const std::string& target, bool& changed) override {
        if (auto failed = record("make_link " + profile + " " + link + " " + target)) {
            return failed;
        }
        if (!is_profile(profile)) {
            return k_file_not_found;
        }
        if (m_junctions.count(profile) != 0) {
            return k_cant_access_file;
        }
        windows_platform::LinkState& state = m_links[profile];
        if (state.kind == windows_platform::LinkKind::Other) {
            return k_already_exists;
        }
        changed = state.kind != windows_platform::LinkKind::Link || state.target != target;
        state = {windows_platform::LinkKind::Link, target};
        return 0;
    }
    std::uint32_t read_keys(const std::string& profile, const std::string& user_name,
                            windows_platform::KeysFile& out) override {
        if (auto failed = record("read_keys " + profile + " " + user_name)) {
            return failed;
        }
        if (m_junctions.count(profile) != 0) {
            return k_cant_access_file;
        }
        const auto found = m_keys.find(profile);
        out = found == m_keys.end() ? windows_platform::KeysFile{} : found->second;
        return 0;
    }
    std::uint32_t write_keys(const std::string& profile, const std::string& user_name,
                             std::string_view text) override {
        if (auto failed = record("write_keys " + profile + " " + user_name)) {
            return failed;
        }
        if (m_junctions.count(profile) != 0) {
            return k_cant_access_file;
        }
        m_keys[profile] = {true, std::string(text), true};
        return 0;
    }
    std::uint32_t random(unsigned char* bytes, std::size_t size) override {
        if (auto failed = record("random " + std::to_string(size))) {
            return failed;
        }
        for (std::size_t i = 0; i < size; ++i) {
            bytes[i] = static_cast<unsigned char>(m_random() & 0xFF);
        }
        return 0;
    }

  private:
    std::uint32_t record(std::string call) {
        calls.push_back(call);
        for (const auto& [prefix, code] : m_failures) {
            if (call.starts_with(prefix)) {
                return code;
            }
        }
        return 0;
    }
    std::string judge(const SecretBytes& password) const {
        const std::string_view value = password.view();
        if (value.starts_with("$") || m_forbidden.count(std::string(value)) != 0) {
            return "HASH";
        }
        const bool upper = std::any_of(value.begin(), value.end(), ascii::is_upper);
        const bool lower = std::any_of(value.begin(), value.end(), ascii::is_lower);
        const bool digit = std::any_of(value.begin(), value.end(), ascii::is_digit);
        const bool symbol =
            std::any_of(value.begin(), value.end(), [](char c) { return !ascii::is_alnum(c); });
        return value.size() >= 20 && upper && lower && digit && symbol ? "set" : "weak";
    }
    static std::string hex(std::uint32_t value) {
        static constexpr char digits[] = "0123456789abcdef";
        std::string out;
        do {
            out.insert(out.begin(), digits[value % 16]);
            value /= 16;
        } while (value != 0);
        return "0x" + out;
    }
    User* find_user(std::string_view name) { return const_cast<User*>(user(name)); }
    Group* find_group(const std::string& reference) {
        if (reference.starts_with("S-1-")) {
            const auto found = m_groups.find(reference);
            return found == m_groups.end() ? nullptr : &found->second;
        }
        for (auto& [sid, group] : m_groups) {
            if (ascii_lower(group.name) == ascii_lower(reference)) {
                return &group;
            }
        }
        return nullptr;
    }
    bool is_profile(const std::string& profile) const {
        return std::any_of(m_users.begin(), m_users.end(),
                           [&](const User& user) { return user.profile == profile; });
    }

    std::vector<User> m_users;
    std::map<std::string, Group> m_groups;  // by SID
    std::map<std::string, windows_platform::LinkState> m_links;
    std::map<std::string, windows_platform::KeysFile> m_keys;
    std::set<std::string> m_junctions;
    std::set<std::string> m_forbidden;
    std::map<std::string, std::uint32_t> m_failures;
    std::mt19937 m_random{20240};
};

}  // namespace dsvm::test
