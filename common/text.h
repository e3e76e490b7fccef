// Showing untrusted text in messages.
#pragma once

#include <string>
#include <string_view>

namespace dsvm {

// The value as it is safe to print in an error: printable ASCII as is, anything else as \xNN,
// cut to 64 characters.
std::string printable(std::string_view value);

}  // namespace dsvm
