// The words for what AccountApi's calls return: NetAPI codes (NERR_*) have no text in the system's
// message table, so they are named here; every other code gets the system's text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace dsvm::windows_platform {

// A Windows path for a message: backslashes kept, anything else outside printable ASCII escaped,
// at most 260 characters (MAX_PATH).
std::string shown_path(std::string_view path);

// "the user name is already in use (error 2224)", "Access is denied. (error 5)".
std::string account_error_text(std::uint32_t code);

// The local group does not exist (NERR_GroupNotFound, ERROR_NO_SUCH_ALIAS).
bool is_group_not_found(std::uint32_t code);
// Adding a member that is in the group already (ERROR_MEMBER_IN_ALIAS).
bool is_already_member(std::uint32_t code);
// Removing a member that is not in the group (ERROR_MEMBER_NOT_IN_ALIAS, ERROR_NO_SUCH_MEMBER).
bool is_not_member(std::uint32_t code);

}  // namespace dsvm::windows_platform
