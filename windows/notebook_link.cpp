#include "windows/notebook_link.h"

#include <cstring>

#include "common/text.h"
#include "common/windows_api_win32.h"

namespace dsvm::windows_platform {

namespace {

// ReparseTag, ReparseDataLength, Reserved; then SubstituteNameOffset, SubstituteNameLength,
// PrintNameOffset, PrintNameLength, Flags; then the names.
constexpr std::size_t k_header = 8;
constexpr std::size_t k_symlink_header = 12;

void append16(std::vector<unsigned char>& out, std::size_t value) {
    out.push_back(static_cast<unsigned char>(value & 0xFF));
    out.push_back(static_cast<unsigned char>((value >> 8) & 0xFF));
}

void append32(std::vector<unsigned char>& out, std::uint32_t value) {
    append16(out, value & 0xFFFF);
    append16(out, value >> 16);
}

void append_utf16(std::vector<unsigned char>& out, const std::wstring& text) {
    for (const wchar_t c : text) {
        append16(out, static_cast<std::size_t>(c));
    }
}

std::size_t get16(const unsigned char* data, std::size_t at) {
    return static_cast<std::size_t>(data[at]) | (static_cast<std::size_t>(data[at + 1]) << 8);
}

std::string without_trailing_separators(std::string path) {
    while (path.size() > 3 && path.back() == '\\') {
        path.pop_back();
    }
    return path;
}

}  // namespace

Result<std::string> nt_link_target(std::string_view target) {
    std::string path(target);
    for (char& c : path) {
        c = c == '/' ? '\\' : c;
    }
    const auto refused = [&] {
        return invalid("notebook link target '" + printable_line(target, 260) + "'" +
                       " is not a folder on a share (\\\\host\\share\\...) or a drive");
    };
    std::string prefix;
    std::string_view rest;
    std::size_t least_components = 0;
    if (path.starts_with("\\\\")) {
        prefix = "\\??\\UNC\\";
        rest = std::string_view(path).substr(2);
        least_components = 2;  // host and share
    } else if (path.size() >= 3 && ascii::is_alpha(path[0]) && path[1] == ':' && path[2] == '\\') {
        prefix = "\\??\\" + path.substr(0, 2) + "\\";
        rest = std::string_view(path).substr(3);
    } else {
        return refused();
    }
    // Kept in a variable: split() gives views into it.
    const std::string components_text = without_trailing_separators(std::string(rest));
    std::size_t components = 0;
    for (const auto part : split(components_text, '\\')) {
        if (part.empty() && rest.empty()) {
            break;
        }
        if (part.empty() || part == "." || part == ".." ||
            part.find_first_of(":*?\"<>|") != std::string_view::npos) {
            return refused();
        }
        for (const char c : part) {
            if (ascii::is_control(c)) {
                return refused();
            }
        }
        ++components;
    }
    if (components < least_components) {
        return refused();
    }
    return prefix + components_text;
}

std::string print_name(std::string_view nt_target) {
    if (nt_target.starts_with("\\??\\UNC\\")) {
        return "\\\\" + std::string(nt_target.substr(8));
    }
    if (nt_target.starts_with("\\??\\")) {
        return std::string(nt_target.substr(4));
    }
    return std::string(nt_target);
}

std::vector<unsigned char> symlink_reparse_data(std::string_view nt_target,
                                                std::string_view print_name) {
    const std::wstring substitute = widen(nt_target);
    const std::wstring shown = widen(print_name);
    const std::size_t substitute_bytes = substitute.size() * sizeof(wchar_t);
    const std::size_t shown_bytes = shown.size() * sizeof(wchar_t);
    std::vector<unsigned char> out;
    out.reserve(k_header + k_symlink_header + substitute_bytes + shown_bytes);
    append32(out, k_symlink_tag);
    append16(out, k_symlink_header + substitute_bytes + shown_bytes);
    append16(out, 0);  // Reserved
    append16(out, 0);  // SubstituteNameOffset
    append16(out, substitute_bytes);
    append16(out, substitute_bytes);  // PrintNameOffset
    append16(out, shown_bytes);
    append32(out, 0);  // Flags: an absolute target
    append_utf16(out, substitute);
    append_utf16(out, shown);
    return out;
}

std::optional<std::string> symlink_target(const unsigned char* data, std::size_t size) {
    if (size < k_header + k_symlink_header) {
        return std::nullopt;
    }
    const std::uint32_t tag = static_cast<std::uint32_t>(get16(data, 0)) |
                              (static_cast<std::uint32_t>(get16(data, 2)) << 16);
    const std::size_t length = get16(data, 4);
    if (tag != k_symlink_tag || k_header + length > size || length < k_symlink_header) {
        return std::nullopt;
    }
    const std::size_t offset = get16(data, 8);
    const std::size_t bytes = get16(data, 10);
    const std::size_t names = length - k_symlink_header;
    if (offset + bytes > names || bytes % sizeof(wchar_t) != 0) {
        return std::nullopt;
    }
    std::wstring substitute(bytes / sizeof(wchar_t), L'\0');
    std::memcpy(substitute.data(), data + k_header + k_symlink_header + offset, bytes);
    return narrow(substitute);
}

}  // namespace dsvm::windows_platform
