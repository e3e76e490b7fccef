#include "windows/winhttp_error.h"

#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <winhttp.h>

#include <memory>
#include <string_view>

namespace dsvm::windows_platform {

namespace {

struct KnownError {
    DWORD code;
    std::string_view words;
};

// The failures an operator meets, said the same way on every Windows build and language, and
// under wine.
constexpr KnownError k_known_errors[] = {
    {ERROR_WINHTTP_TIMEOUT, "timed out"},
    {ERROR_WINHTTP_CANNOT_CONNECT, "cannot connect (refused or unreachable)"},
    {ERROR_WINHTTP_CONNECTION_ERROR, "connection reset or closed"},
    {ERROR_WINHTTP_NAME_NOT_RESOLVED, "host name not resolved"},
    {ERROR_WINHTTP_INVALID_SERVER_RESPONSE, "no valid HTTP response"},
    {ERROR_WINHTTP_INVALID_URL, "not a valid URL"},
    {ERROR_WINHTTP_UNRECOGNIZED_SCHEME, "not an http or https URL"},
    {ERROR_WINHTTP_OPERATION_CANCELLED, "cancelled"},
    {ERROR_WINHTTP_SECURE_FAILURE, "TLS failed: the server's certificate was refused"},
    {ERROR_WINHTTP_SECURE_INVALID_CA, "TLS failed: the certificate's CA is not trusted"},
    {ERROR_WINHTTP_SECURE_CERT_CN_INVALID, "TLS failed: the certificate does not name the host"},
    {ERROR_WINHTTP_SECURE_CERT_DATE_INVALID, "TLS failed: the certificate has expired"},
    {ERROR_WINHTTP_SECURE_CERT_REVOKED, "TLS failed: the certificate is revoked"},
    {ERROR_WINHTTP_SECURE_CHANNEL_ERROR, "TLS failed: handshake error"},
    {ERROR_NOT_ENOUGH_MEMORY, "out of memory"},
    // wine's WinHTTP passes some socket errors through where Windows' says ERROR_WINHTTP_*
    // (docs/windows.md): a receive that times out is WSAETIMEDOUT there.
    {WSAETIMEDOUT, "timed out"},
    {WSAECONNREFUSED, "cannot connect (refused)"},
    {WSAECONNRESET, "connection reset"},
};

// WinHTTP's own codes run from WINHTTP_ERROR_BASE to WINHTTP_ERROR_LAST; others are the system's
// or Winsock's.
std::string number_of(DWORD code) {
    const bool winhttp = code >= WINHTTP_ERROR_BASE && code <= WINHTTP_ERROR_LAST;
    return std::string(winhttp ? "WinHTTP error " : "Windows error ") + std::to_string(code);
}

struct LocalFreeDeleter {
    void operator()(wchar_t* text) const { ::LocalFree(text); }
};

// The message table's text for `code`, trimmed of the line break and full stop it ends with;
// empty when neither winhttp.dll nor the system has one.
std::string message_table_text(DWORD code) {
    wchar_t* raw = nullptr;
    const DWORD length = ::FormatMessageW(
        FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_HMODULE | FORMAT_MESSAGE_FROM_SYSTEM |
            FORMAT_MESSAGE_IGNORE_INSERTS,
        ::GetModuleHandleW(L"winhttp.dll"), code, 0, reinterpret_cast<wchar_t*>(&raw), 0, nullptr);
    const std::unique_ptr<wchar_t, LocalFreeDeleter> owned(raw);
    if (length == 0 || raw == nullptr) {
        return {};
    }
    const int bytes = ::WideCharToMultiByte(CP_UTF8, 0, raw, static_cast<int>(length), nullptr, 0,
                                            nullptr, nullptr);
    if (bytes <= 0) {
        return {};
    }
    std::string text(static_cast<std::size_t>(bytes), '\0');
    ::WideCharToMultiByte(CP_UTF8, 0, raw, static_cast<int>(length), text.data(), bytes, nullptr,
                          nullptr);
    while (!text.empty() && (text.back() == '\r' || text.back() == '\n' || text.back() == ' ' ||
                             text.back() == '.')) {
        text.pop_back();
    }
    return text;
}

}  // namespace

std::string describe_winhttp_error(unsigned long code) {
    for (const KnownError& known : k_known_errors) {
        if (known.code == code) {
            return std::string(known.words) + " (" + number_of(code) + ")";
        }
    }
    const std::string text = message_table_text(code);
    return text.empty() ? number_of(code) : text + " (" + number_of(code) + ")";
}

}  // namespace dsvm::windows_platform
