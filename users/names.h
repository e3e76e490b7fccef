// Pool user names: check_user_name lives with the other user rules in users/rules.h; this header
// stays so that code including it keeps compiling.
#pragma once

#include "users/rules.h"
