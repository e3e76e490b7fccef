// The account port on Linux (engine/account_backend.h): the account files under the root
// (users/accounts.h, changed in one locked batch), the sudoers drop-in of dsvm-sudo
// (users/sudo.h), and the home's files (users/ssh_keys.h, users/notebooks.h). Each method is one
// call into users/, or a few in the order the users phase made them before it had a port.
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/process.h"
#include "common/root.h"
#include "engine/account_backend.h"

namespace dsvm::linux_platform {

class LinuxAccounts final : public engine::AccountBackend {
  public:
    // `runner` validates the sudoers drop-in with visudo.
    LinuxAccounts(Root root, ProcessRunner& runner);

    engine::AccountLimits limits() const override;
    Result<void> check_new_name(std::string_view name, const std::set<std::string>& managed,
                                const engine::NameLookup& names) override;
    Result<std::string> hash_password(std::string_view clear) override;
    Result<std::map<std::string, engine::LocalAccount>> find(
        const std::set<std::string>& names) override;
    std::string stamp() override;

    Result<engine::AccountsPlanned> plan(const std::vector<users::RegistryUser>& valid,
                                         const engine::AccountsKnown& known,
                                         const engine::NameLookup& names) override;
    std::string describe(const users::AccountChange& change) const override;
    Result<std::vector<ActionOutcome>> commit(const std::vector<users::AccountChange>& changes,
                                              Clock& clock) override;

    bool sudo_rule_present() override;
    std::vector<ActionOutcome> sync_sudo_rule(users::SudoAuthentication authentication) override;

    std::string home_of(std::string_view user) const override;
    Result<bool> apply(const engine::HomeStep& step) override;
    Result<bool> differs(const engine::HomeStep& step) override;

  private:
    Root m_root;
    ProcessRunner& m_runner;
};

}  // namespace dsvm::linux_platform
