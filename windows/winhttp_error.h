// WinHTTP's error codes in words, for the messages of the WinHTTP client.
#pragma once

#include <string>

namespace dsvm::windows_platform {

// `code` (a GetLastError() value after a WinHTTP call) as a short phrase and its number:
// "timed out (WinHTTP error 12002)". The common transport failures come from a table, so the
// words are the same on every Windows and under wine; other codes from winhttp.dll's (or the
// system's) message table; a code neither knows as "WinHTTP error N" (one of WinHTTP's own codes)
// or "Windows error N".
std::string describe_winhttp_error(unsigned long code);

}  // namespace dsvm::windows_platform
