// Text at the edge of the Win32 API: its wide (UTF-16) strings to and from our UTF-8, and a
// Win32 error code as a message that names it.
#pragma once

#include <string>
#include <string_view>

namespace dsvm::windows_platform {

// UTF-8 as UTF-16 for a W function; invalid UTF-8 becomes U+FFFD.
std::wstring widen(std::string_view text);
// UTF-16 from a W function as UTF-8; an unpaired surrogate becomes U+FFFD.
std::string narrow(std::wstring_view text);

// The system's message for a Win32 error code and the code itself: "Access is denied. (error 5)";
// "error N" alone when the system has no message for it.
std::string win32_error_text(unsigned long code);

}  // namespace dsvm::windows_platform
