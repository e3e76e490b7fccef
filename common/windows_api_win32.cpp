#include "common/windows_api_win32.h"

#include <climits>

#include "common/text.h"

namespace dsvm {

std::string windows_error_text(DWORD code) {
    char* text = nullptr;
    // English where the system has it: messages go to logs read by the people who run pools.
    const DWORD length = ::FormatMessageA(
        FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
        nullptr, code, MAKELANGID(LANG_ENGLISH, SUBLANG_ENGLISH_US), reinterpret_cast<LPSTR>(&text),
        0, nullptr);
    std::string message;
    if (length != 0 && text != nullptr) {
        message = std::string(trim(std::string_view(text, length), " \r\n")) + " ";
    }
    if (text != nullptr) {
        ::LocalFree(text);
    }
    return message + "(error " + std::to_string(code) + ")";
}

Result<std::wstring> to_utf16(std::string_view text, std::string_view shown) {
    if (text.empty()) {
        return std::wstring();
    }
    if (text.size() > INT_MAX) {
        return invalid(std::string(shown) + " is too long");
    }
    const int size = static_cast<int>(text.size());
    const int wide_size =
        ::MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, text.data(), size, nullptr, 0);
    if (wide_size <= 0) {
        return invalid(std::string(shown) + " " + quoted(text) + " is not UTF-8");
    }
    std::wstring wide(static_cast<std::size_t>(wide_size), L'\0');
    ::MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, text.data(), size, wide.data(), wide_size);
    return wide;
}

std::wstring widen(std::string_view utf8) {
    if (utf8.empty() || utf8.size() > INT_MAX) {
        return {};
    }
    const int size = static_cast<int>(utf8.size());
    const int wide_size = ::MultiByteToWideChar(CP_UTF8, 0, utf8.data(), size, nullptr, 0);
    std::wstring wide(static_cast<std::size_t>(wide_size > 0 ? wide_size : 0), L'\0');
    ::MultiByteToWideChar(CP_UTF8, 0, utf8.data(), size, wide.data(), wide_size);
    return wide;
}

std::string narrow(std::wstring_view utf16) {
    if (utf16.empty() || utf16.size() > INT_MAX) {
        return {};
    }
    const int size = static_cast<int>(utf16.size());
    const int narrow_size =
        ::WideCharToMultiByte(CP_UTF8, 0, utf16.data(), size, nullptr, 0, nullptr, nullptr);
    std::string out(static_cast<std::size_t>(narrow_size > 0 ? narrow_size : 0), '\0');
    ::WideCharToMultiByte(CP_UTF8, 0, utf16.data(), size, out.data(), narrow_size, nullptr,
                          nullptr);
    return out;
}

}  // namespace dsvm
