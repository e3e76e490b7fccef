// What the *_win32.cpp files of common/ share: an owner for a HANDLE, the text of a Win32 error,
// UTF-8 to UTF-16 and back. Only Windows' halves include it; the seams' headers stay free of
// windows.h.
#pragma once

#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <string>
#include <string_view>
#include <utility>

#include "common/result.h"

namespace dsvm {

// Owns a kernel HANDLE and closes it once; both null and INVALID_HANDLE_VALUE mean none (Win32
// returns either, depending on the call).
class Handle {
  public:
    Handle() = default;
    explicit Handle(HANDLE handle) : m_handle(handle) {}
    Handle(const Handle&) = delete;
    Handle& operator=(const Handle&) = delete;
    Handle(Handle&& other) noexcept : m_handle(std::exchange(other.m_handle, nullptr)) {}
    Handle& operator=(Handle&& other) noexcept {
        if (this != &other) {
            reset(std::exchange(other.m_handle, nullptr));
        }
        return *this;
    }
    ~Handle() { reset(); }

    HANDLE get() const { return m_handle; }
    bool valid() const { return m_handle != nullptr && m_handle != INVALID_HANDLE_VALUE; }
    explicit operator bool() const { return valid(); }
    void reset(HANDLE handle = nullptr) {
        if (valid()) {
            ::CloseHandle(m_handle);
        }
        m_handle = handle;
    }

  private:
    HANDLE m_handle = nullptr;
};

// The system's text for a Win32 error code, then the code: "Access denied. (error 5)".
std::string windows_error_text(DWORD code);

// UTF-8 as UTF-16, for the W calls; an Invalid error naming `shown` when `text` is not UTF-8.
Result<std::wstring> to_utf16(std::string_view text, std::string_view shown);

// The same for text already checked (paths the agent made, names the rules passed): an invalid
// byte becomes U+FFFD, which then names no file the agent made.
std::wstring widen(std::string_view utf8);
// UTF-16 from Windows (file names, account names, SIDs) as UTF-8.
std::string narrow(std::wstring_view utf16);

}  // namespace dsvm
