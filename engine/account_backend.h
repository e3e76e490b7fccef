// The account port: the local account database, the sudo grant and the files in a user's home,
// in the engine's own types. On Linux it is the account files under a root, the sudoers drop-in
// and the home's files (linux/linux_accounts.h); on Windows, the local SAM, the Administrators
// group and the user's profile (windows/windows_accounts.h). The registry, the users plan's
// inputs, the intent record and the crash order stay in the engine (engine/users_phase.cpp).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/clock.h"
#include "common/deadline.h"
#include "common/outcome.h"
#include "common/result.h"
#include "engine/user_files.h"
#include "users/account_changes.h"
#include "users/name_service.h"
#include "users/registry.h"
#include "users/sudo.h"

namespace dsvm::engine {

// The steps of a user's home, in the order plan_user_files gives them.
using HomeStep = std::variant<CreateHome, WriteKeys, LinkNotebooks>;

// The system's name service (LDAP, SSSD, NIS), asked through its gate: a directory server may
// not answer. Shared: an abandoned lookup may outlive the pass.
struct NameLookup {
    std::shared_ptr<users::NameService> service;
    DeadlineGate& gate;
};
// How long the name service may take to answer for the new accounts of one pass.
inline constexpr auto k_name_service_limit = std::chrono::seconds(60);

// A local account as the agent reads it.
struct LocalAccount {
    std::uint32_t pool_uid = 0;  // the pool's UID: the account's UID, or its recorded one
    bool marked = false;         // marked as the agent's (GECOS, or the Windows comment)
    bool locked = false;         // locked as LockAccount leaves it
};

// What this OS's accounts allow.
struct AccountLimits {
    std::size_t max_name = 32;  // the longest account name
    // Whether a registry password (a crypt hash) can become this instance's password.
    bool pool_passwords = true;
};

// The agent's own record, from the state file and the intent record.
struct AccountsKnown {
    const std::set<std::string>& managed;  // accounts the agent made here
    // Supplementary groups the agent put each managed user into.
    const std::map<std::string, std::vector<std::string>>& groups;
    // Creations an interrupted pass recorded.
    const std::vector<users::PendingAccount>& pending;
    // Whether an account a killed pass made in full counts as managed for this plan (false in a
    // dry run, which records nothing).
    bool adopt = true;
};

struct AccountsPlanned {
    users::UsersPlan plan;
    // Accounts an interrupted pass made in full (complete, marked, with the recorded IDs), not
    // yet in `managed`: the engine takes them over.
    std::vector<std::string> adopted;
};

class AccountBackend {
  public:
    virtual ~AccountBackend() = default;

    virtual AccountLimits limits() const = 0;
    // Whether `name` (already through the user rules) may become a new pool user here: no local
    // account or group the agent did not make, nothing the name service holds. Invalid, naming
    // the reason, when not.
    virtual Result<void> check_new_name(std::string_view name, const std::set<std::string>& managed,
                                        const NameLookup& names) = 0;
    // The registry's form of a password given on the command line.
    virtual Result<std::string> hash_password(std::string_view clear) = 0;
    // The local accounts of those names that exist.
    virtual Result<std::map<std::string, LocalAccount>> find(
        const std::set<std::string>& names) = 0;
    // The identity of the account database as it is now: equal stamps mean no change between.
    virtual std::string stamp() = 0;

    // Reads the account database and plans the changes for the valid registry users. Reads only.
    virtual Result<AccountsPlanned> plan(const std::vector<users::RegistryUser>& valid,
                                         const AccountsKnown& known, const NameLookup& names) = 0;
    // One line for a dry run; never shows a password or a hash.
    virtual std::string describe(const users::AccountChange& change) const = 0;
    // Makes the changes: one outcome per change, in order. An error: nothing was changed.
    virtual Result<std::vector<ActionOutcome>> commit(
        const std::vector<users::AccountChange>& changes, Clock& clock) = 0;

    // The rule that gives the sudo group its rights (the sudoers drop-in).
    virtual bool sudo_rule_present() = 0;
    // Brings the rule in line with `authentication`; what changed or failed. A rule that cannot
    // be brought in line is removed, so a failure never grants more than the config.
    virtual std::vector<ActionOutcome> sync_sudo_rule(users::SudoAuthentication authentication) = 0;

    // The home of a pool user, as the steps name it. Pure.
    virtual std::string home_of(std::string_view user) const = 0;
    // Carries out a step; whether it changed anything.
    virtual Result<bool> apply(const HomeStep& step) = 0;
    // Whether apply() would change anything; reads only.
    virtual Result<bool> differs(const HomeStep& step) = 0;
};

}  // namespace dsvm::engine
