// The account port on Windows (docs/windows-backends.md, §6): the local SAM through AccountApi,
// planned by plan_windows_users in the shared AccountChange vocabulary; sudo is membership of
// Administrators; a user's home is the profile CreateProfile makes; the SSH keys and the notebook
// link are in it.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "engine/account_backend.h"
#include "windows/account_api.h"
#include "windows/random_password.h"

namespace dsvm::windows_platform {

class WindowsAccounts final : public engine::AccountBackend {
  public:
    // Random passwords come from `api.random`.
    explicit WindowsAccounts(AccountApi& api);

    // {20, false}: a registry password is a crypt hash, which cannot set a Windows password.
    engine::AccountLimits limits() const override;
    // Over 20 characters, a system account's name, or a local account or group by that name in
    // any case that is not the agent's: Invalid, naming why. The name service is not asked: a
    // local account name on Windows is looked up in the SAM first.
    Result<void> check_new_name(std::string_view name, const std::set<std::string>& managed,
                                const engine::NameLookup& names) override;
    // Always Invalid: there is no Windows form of a pool password.
    Result<std::string> hash_password(std::string_view clear) override;
    // Found in any case; marked only with the exact name and the agent's comment; locked when
    // disabled.
    Result<std::map<std::string, engine::LocalAccount>> find(
        const std::set<std::string>& names) override;
    // A digest of every local user (name, flags, comment, profile) and of every local group's
    // members; a random one when the SAM cannot be read, so a pass never counts as unchanged.
    std::string stamp() override;

    Result<engine::AccountsPlanned> plan(const std::vector<users::RegistryUser>& valid,
                                         const engine::AccountsKnown& known,
                                         const engine::NameLookup& names) override;
    // Windows words: "create user alice (pool uid 20000)", "disable user alice with a new
    // random password", "add alice to Administrators (dsvm-sudo), Remote Desktop Users"
    // (against the memberships the last plan() saw). Never a password or a hash.
    std::string describe(const users::AccountChange& change) const override;
    // One outcome per change, in order, each change one or a few SAM calls; a failed call fails
    // only its change. An error (nothing changed) when the SAM cannot be read first. CreateAccount,
    // LockAccount and UnlockAccount give the account a new random password (Lock after disabling
    // it, Unlock before enabling it), so an old password never comes back; SetPasswordHash,
    // CreateSystemGroup and RemovePartialAccount are refused without a call.
    Result<std::vector<ActionOutcome>> commit(const std::vector<users::AccountChange>& changes,
                                              Clock& clock) override;

    // There is no sudoers on Windows: membership of Administrators is the grant, so there is no
    // rule to hold (false).
    bool sudo_rule_present() override;
    // Password: nothing to do (an elevation asks as UAC is set up). None: one failed outcome,
    // changing nothing, saying that Windows cannot give password-less elevation from the pool
    // config (docs/windows.md, "Accounts").
    std::vector<ActionOutcome> sync_sudo_rule(users::SudoAuthentication authentication) override;

    // The user's profile folder as CreateProfile or the SAM gave it; until the account has one,
    // C:\Users\<name>, which only names it in messages: the steps never use a home they are
    // given, only the profile's own path.
    std::string home_of(std::string_view user) const override;
    // CreateHome: CreateProfile. WriteKeys: the managed block of <profile>\.ssh\authorized_keys,
    // private to the user, SYSTEM and Administrators; for a member of Administrators the keys are
    // written and an error says that OpenSSH reads ProgramData\ssh\administrators_authorized_keys
    // for them, which the agent does not write. LinkNotebooks: <profile>\notebooks\remote, a
    // directory symbolic link to the target in NT form.
    Result<bool> apply(const engine::HomeStep& step) override;
    Result<bool> differs(const engine::HomeStep& step) override;

  private:
    Result<SamView> read_sam();
    Result<void> read_groups(SamView& sam, const std::set<std::string>& groups);
    void remember_profiles(const SamView& sam);
    Result<std::optional<std::string>> profile_of(const std::string& user);
    Result<bool> is_administrator(const std::string& user);
    ActionOutcome commit_one(const users::AccountChange& change, const SamView& sam);
    Result<void> give_new_password(const std::string& user);

    Result<bool> keys(const engine::WriteKeys& step, bool write);
    Result<bool> link(const engine::LinkNotebooks& step, bool make);

    AccountApi& m_api;
    RandomSource m_random;
    // What the last plan() saw, for describe().
    SamView m_view;
    // Profile folders by account name; complete once m_profiles_read.
    std::map<std::string, std::string> m_profiles;
    bool m_profiles_read = false;
    // The members of Administrators, read once after each change to the SAM.
    std::optional<std::vector<std::string>> m_administrators;
};

}  // namespace dsvm::windows_platform
