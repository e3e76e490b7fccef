#include "users/account_changes.h"

#include "common/overloaded.h"
#include "common/text.h"

namespace dsvm::users {

std::string describe(const AccountChange& change) {
    return std::visit(
        Overloaded{
            [](const CreateAccount& c) {
                return "create user " + printable(c.name) + " (uid " + std::to_string(c.uid) + ")";
            },
            [](const SetPasswordHash& c) { return "set the password of " + printable(c.name); },
            [](const LockAccount& c) { return "lock user " + printable(c.name); },
            [](const UnlockAccount& c) { return "unlock user " + printable(c.name); },
            [](const SetSupplementaryGroups& c) {
                std::string groups;
                for (const auto& group : c.wanted) {
                    groups += (groups.empty() ? "" : ", ") + printable(group);
                }
                return "set the groups of " + printable(c.user) + " to " +
                       (groups.empty() ? std::string("none") : groups);
            },
            [](const CreateSystemGroup& c) { return "create group " + printable(c.name); },
            [](const RemovePartialAccount& c) {
                return "remove what an interrupted pass left of user " + printable(c.name);
            },
        },
        change);
}

}  // namespace dsvm::users
