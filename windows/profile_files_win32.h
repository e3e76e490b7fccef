// The files WindowsAccounts keeps in a user's profile, on this machine (windows/account_api.h):
// the halves of SystemAccountApi's read_link, make_link, read_keys and write_keys that work on
// files. Each returns 0 or the Win32 error.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "windows/account_api.h"

namespace dsvm::windows_platform {

// AccountApi::read_link and make_link.
std::uint32_t read_profile_link(const std::string& profile, const std::string& link,
                                LinkState& out);
std::uint32_t make_profile_link(const std::string& profile, const std::string& link,
                                const std::string& target, bool& changed);

// AccountApi::read_keys and write_keys for the account whose SID is `sid` (a string,
// "S-1-5-21-..."): the access list that counts as private, and the one a new file gets, name it.
std::uint32_t read_profile_keys(const std::string& profile, const std::string& sid, KeysFile& out);
std::uint32_t write_profile_keys(const std::string& profile, const std::string& sid,
                                 std::string_view text);

}  // namespace dsvm::windows_platform
