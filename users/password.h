// Password hashes for pool users (JupyterHub logs in through PAM). The clear password exists only
// in memory, is wiped after hashing, and never reaches disk or logs.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace dsvm::users {

// yescrypt ("$y$...") with a fresh salt from libcrypt (crypt_gensalt_rn + crypt_rn). Invalid for
// an empty password, one of 512 bytes or more (libxcrypt's limit) or one with a NUL or line
// break.
Result<std::string> hash_password(std::string_view clear);

// A crypt(3) hash the agent will put into shadow: "$y$", "$6$" or "$2b$" forms of printable
// ASCII without ':' or whitespace.
bool is_password_hash(std::string_view text);

}  // namespace dsvm::users
