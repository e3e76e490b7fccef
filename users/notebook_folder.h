// Where a pool user's notebook folder is on the share: the pool's folder pattern with the user's
// name in it. Pure, for both platforms.
#pragma once

#include <string>
#include <string_view>

namespace dsvm::users {

// "notebooks/{user}" with the user's name in place of {user}.
std::string notebook_folder(std::string_view pattern, std::string_view user);

}  // namespace dsvm::users
