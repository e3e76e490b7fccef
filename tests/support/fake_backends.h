// In-memory share and account backends (engine/share_backend.h, engine/account_backend.h) for
// tests of the engine itself, on both platforms: they record every call, in order, and keep
// what they were asked to make, so a test can check the engine's order (the intent record
// before the batch) and that a dry run changes nothing.
#pragma once

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/fs.h"
#include "common/overloaded.h"
#include "engine/account_backend.h"
#include "engine/share_backend.h"

namespace dsvm::test {

// A call that changes something, as "mount //h/s", "commit create user alice (uid 20000)", ...
using CallLog = std::vector<std::string>;

class FakeShareFolders final : public engine::ShareFolders {
  public:
    explicit FakeShareFolders(std::shared_ptr<CallLog> calls) : m_calls(std::move(calls)) {}
    Result<bool> ensure(const std::string& share_dir, const engine::NotebookFolder& folder,
                        bool) const override {
        m_calls->push_back("ensure folder " + folder.path);
        const std::string path = share_dir + "/" + folder.path;
        if (is_directory(path)) {
            return false;
        }
        if (auto made = make_directories(path, 0700); !made) {
            return made.error();
        }
        return true;
    }
    Result<bool> differs(const std::string& share_dir, const engine::NotebookFolder& folder,
                         bool) const override {
        return !is_directory(share_dir + "/" + folder.path);
    }

  private:
    std::shared_ptr<CallLog> m_calls;
};

// The share is the directory `share_dir` of the test; "mounting" it records the request and
// lists it in the mount table under that directory's name.
class FakeShare final : public engine::ShareBackend, public mount::Mounter {
  public:
    explicit FakeShare(std::string share_dir) : m_share_dir(std::move(share_dir)) {}

    Result<void> check(const config::ShareConfig& share) const override {
        if (share.type == mount::ShareType::Nfs && refuse_nfs) {
            return invalid("share.type \"nfs\" is not served here");
        }
        return {};
    }
    engine::DesiredState desired(const config::PoolConfig& config) const override {
        engine::DesiredState desired;
        desired.local_mount_point = false;
        if (config.share) {
            desired.share =
                mount::MountRequest{config.share->source, m_share_dir, "fake", "credentials=x"};
        }
        return desired;
    }
    mount::Mounter& mounter() override { return *this; }
    Result<void> write_boot_entries(const engine::UpdateFstab&, Clock&) override {
        calls->push_back("write boot entries");
        return {};
    }
    std::string share_dir(const config::ShareConfig&) const override { return m_share_dir; }
    std::string notebook_target(const config::ShareConfig&,
                                const engine::NotebookFolder& folder) const override {
        return m_share_dir + "/" + folder.path;
    }
    std::shared_ptr<const engine::ShareFolders> folders() const override {
        return std::make_shared<const FakeShareFolders>(calls);
    }
    std::optional<engine::WriteNotebookMap> user_mount_map(
        const config::ShareConfig&, const std::vector<engine::NotebookFolder>&) const override {
        return std::nullopt;
    }
    std::vector<ActionOutcome> install_user_mounts(const engine::WriteNotebookMap&) override {
        calls->push_back("install user mounts");
        return {};
    }
    Result<bool> user_mounts_differ(const engine::WriteNotebookMap&) override { return false; }
    Result<std::vector<ActionOutcome>> remove_user_mounts() override {
        return std::vector<ActionOutcome>{};
    }

    Result<void> mount(const mount::MountRequest& request) override {
        calls->push_back("mount " + request.source);
        mount::MountEntry entry;
        entry.mount_point = request.target;
        entry.source = request.source;
        entry.fs_type = request.fs_type;
        m_table.push_back(entry);
        return {};
    }
    Result<void> unmount(const std::string& target) override {
        calls->push_back("unmount " + target);
        std::erase_if(m_table, [&](const auto& entry) { return entry.mount_point == target; });
        return {};
    }
    Result<std::vector<mount::MountEntry>> mounts() override { return m_table; }

    std::shared_ptr<CallLog> calls = std::make_shared<CallLog>();
    bool refuse_nfs = false;

  private:
    std::string m_share_dir;
    std::vector<mount::MountEntry> m_table;
};

// Accounts in memory: a plan creates every valid, not deleted registry user that is missing,
// and commit() makes them. `intent_file` is where the engine must have written its intent
// record before any batch that creates an account; commit() notes whether it was there.
class FakeAccounts final : public engine::AccountBackend {
  public:
    explicit FakeAccounts(std::string intent_file) : m_intent_file(std::move(intent_file)) {}

    engine::AccountLimits limits() const override { return {20, false}; }
    Result<void> check_new_name(std::string_view name, const std::set<std::string>& managed,
                                const engine::NameLookup&) override {
        if (accounts.count(std::string(name)) != 0 && managed.count(std::string(name)) == 0) {
            return invalid("user name '" + std::string(name) + "' is taken");
        }
        return {};
    }
    Result<std::string> hash_password(std::string_view) override {
        return invalid("no passwords here");
    }
    Result<std::map<std::string, engine::LocalAccount>> find(
        const std::set<std::string>& names) override {
        std::map<std::string, engine::LocalAccount> found;
        for (const auto& name : names) {
            if (const auto account = accounts.find(name); account != accounts.end()) {
                found[name] = account->second;
            }
        }
        return found;
    }
    std::string stamp() override { return std::to_string(accounts.size()); }

    Result<engine::AccountsPlanned> plan(const std::vector<users::RegistryUser>& valid,
                                         const engine::AccountsKnown& known,
                                         const engine::NameLookup&) override {
        engine::AccountsPlanned planned;
        for (const users::RegistryUser& user : valid) {
            if (user.deleted) {
                continue;
            }
            if (accounts.count(user.name) == 0) {
                planned.plan.changes.emplace_back(users::CreateAccount{
                    user.name, user.uid, user.gid, home_of(user.name), "", ""});
                planned.plan.created.insert(user.name);
                planned.plan.creating.push_back({user.name, user.uid, user.gid});
            } else if (known.managed.count(user.name) == 0) {
                planned.plan.conflicts.push_back(user.name + " is not the agent's");
                continue;
            }
            planned.plan.active.push_back(user);
        }
        return planned;
    }
    std::string describe(const users::AccountChange& change) const override {
        return users::describe(change);
    }
    Result<std::vector<ActionOutcome>> commit(const std::vector<users::AccountChange>& changes,
                                              Clock&) override {
        intent_seen_at_commit = path_exists(m_intent_file);
        std::vector<ActionOutcome> outcomes;
        for (const auto& change : changes) {
            calls->push_back("commit " + users::describe(change));
            if (const auto* create = std::get_if<users::CreateAccount>(&change)) {
                accounts[create->name] = {create->uid, true, false};
            }
            outcomes.push_back(ActionOutcome::done(users::describe(change)));
        }
        return outcomes;
    }
    bool sudo_rule_present() override { return false; }
    std::vector<ActionOutcome> sync_sudo_rule(users::SudoAuthentication) override {
        calls->push_back("sync sudo rule");
        return {};
    }
    std::string home_of(std::string_view user) const override {
        return "C:/Users/" + std::string(user);
    }
    Result<bool> apply(const engine::HomeStep& step) override {
        calls->push_back("apply " +
                         engine::describe(std::visit(
                             [](const auto& s) { return engine::UserFilesAction(s); }, step)));
        return !done_steps.insert(key_of(step)).second ? false : true;
    }
    Result<bool> differs(const engine::HomeStep& step) override {
        return done_steps.count(key_of(step)) == 0;
    }

    std::map<std::string, engine::LocalAccount> accounts;
    std::shared_ptr<CallLog> calls = std::make_shared<CallLog>();
    std::optional<bool> intent_seen_at_commit;

  private:
    static std::string key_of(const engine::HomeStep& step) {
        return engine::describe(
            std::visit([](const auto& s) { return engine::UserFilesAction(s); }, step));
    }

    std::set<std::string> done_steps;
    std::string m_intent_file;
};

}  // namespace dsvm::test
