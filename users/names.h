// Pool user names: the one rule every entry point (config, adduser, registry) applies.
#pragma once

#include <string_view>

#include "common/result.h"
#include "common/text.h"

namespace dsvm {

// A pool user name matches ^[a-z_][a-z0-9_-]{0,31}$ and is not a reserved system name (root,
// daemon, bin, sys, nobody, ...). Fails (Invalid) naming the value and the rule; a value with
// control or non-printable characters is shown escaped.
Result<void> check_user_name(std::string_view name);

}  // namespace dsvm
