// A fresh directory under %TEMP% for the Windows tests, removed with everything in it afterwards
// (through remove_tree_at, so never through a link).
#pragma once

#include <windows.h>

#include <sddl.h>

#include <catch2/catch.hpp>

#include <string>

#include "common/file_handles_win32.h"
#include "common/fs.h"
#include "common/safe_open.h"

namespace dsvm::test {

class TemporaryDirectory {
  public:
    TemporaryDirectory() {
        wchar_t base[MAX_PATH + 1];
        const DWORD length = ::GetTempPathW(MAX_PATH + 1, base);
        REQUIRE(length > 0);
        m_path = narrow(std::wstring_view(base, length)) + "dsvm-test-" +
                 std::to_string(::GetCurrentProcessId()) + "-" +
                 std::to_string(::GetTickCount64()) + "-" + std::to_string(++s_count);
        REQUIRE(make_directories(m_path, 0755));
        auto opened = open_directory(m_path);
        REQUIRE(opened);
        m_fd = std::move(opened).value();
    }
    ~TemporaryDirectory() {
        m_fd.reset();
        auto parent = open_directory(parent_of());
        if (parent) {
            (void)remove_tree_at(parent->get(), name(), m_path);
        }
    }
    const std::string& path() const { return m_path; }
    int fd() const { return m_fd.get(); }
    std::string operator/(const std::string& name) const { return m_path + "/" + name; }

  private:
    std::string parent_of() const { return m_path.substr(0, m_path.find_last_of("\\/")); }
    std::string name() const { return m_path.substr(m_path.find_last_of("\\/") + 1); }

    static inline int s_count = 0;
    std::string m_path;
    Fd m_fd;
};

// Makes `path` a new file holding `content` whose security descriptor is `sddl` (e.g.
// "D:P(A;;FR;;;WD)": Everyone may read), to try the checks of access lists on.
inline void write_with_security(const std::string& path, std::string_view content,
                                const wchar_t* sddl) {
    PSECURITY_DESCRIPTOR descriptor = nullptr;
    REQUIRE(::ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl, SDDL_REVISION_1,
                                                                   &descriptor, nullptr));
    SECURITY_ATTRIBUTES attributes{sizeof attributes, descriptor, FALSE};
    HANDLE file = ::CreateFileW(widen(path).c_str(), GENERIC_WRITE, 0, &attributes, CREATE_NEW,
                                FILE_ATTRIBUTE_NORMAL, nullptr);
    const DWORD error = ::GetLastError();
    ::LocalFree(descriptor);
    INFO(path << ": " << windows_error_text(error));
    REQUIRE(file != INVALID_HANDLE_VALUE);
    DWORD written = 0;
    const bool wrote =
        ::WriteFile(file, content.data(), static_cast<DWORD>(content.size()), &written, nullptr);
    ::CloseHandle(file);
    REQUIRE(wrote);
}

}  // namespace dsvm::test
