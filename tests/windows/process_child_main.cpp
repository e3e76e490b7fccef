// The child the Windows tests of common/process_win32.cpp and common/terminal_win32.cpp run
// (under wine): one mode per behaviour they check, chosen by the first argument.
#include <windows.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/terminal.h"

namespace {

void write_to(DWORD which, const std::string& text) {
    const HANDLE handle = ::GetStdHandle(which);
    std::size_t done = 0;
    while (done < text.size()) {
        DWORD written = 0;
        if (!::WriteFile(handle, text.data() + done, static_cast<DWORD>(text.size() - done),
                         &written, nullptr)) {
            return;
        }
        done += written;
    }
}

std::string read_rest() {
    std::string all;
    char buffer[4096];
    DWORD got = 0;
    while (::ReadFile(::GetStdHandle(STD_INPUT_HANDLE), buffer, sizeof buffer, &got, nullptr) &&
           got > 0) {
        all.append(buffer, got);
    }
    return all;
}

std::string utf8(const wchar_t* text) {
    const int size = ::WideCharToMultiByte(CP_UTF8, 0, text, -1, nullptr, 0, nullptr, nullptr);
    std::string out(static_cast<std::size_t>(size > 0 ? size : 1), '\0');
    ::WideCharToMultiByte(CP_UTF8, 0, text, -1, out.data(), size, nullptr, nullptr);
    out.resize(std::strlen(out.c_str()));
    return out;
}

// Starts this program again with `mode`, inheriting our handles: a grandchild in our job.
void start_self(const char* mode) {
    wchar_t self[MAX_PATH + 1] = {};
    ::GetModuleFileNameW(nullptr, self, MAX_PATH);
    std::wstring line = L"\"" + std::wstring(self) + L"\" ";
    for (const char* c = mode; *c != '\0'; ++c) {
        line.push_back(static_cast<wchar_t>(*c));
    }
    STARTUPINFOW startup{};
    startup.cb = sizeof startup;
    PROCESS_INFORMATION started{};
    if (::CreateProcessW(self, line.data(), nullptr, nullptr, TRUE, 0, nullptr, nullptr, &startup,
                         &started)) {
        ::CloseHandle(started.hThread);
        ::CloseHandle(started.hProcess);
    }
}

}  // namespace

int main(int argc, char** argv) {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "echo") {
        write_to(STD_OUTPUT_HANDLE, read_rest());
        write_to(STD_ERROR_HANDLE, "to stderr\n");
        return 0;
    }
    if (mode == "count") {
        write_to(STD_OUTPUT_HANDLE, std::to_string(read_rest().size()));
        return 0;
    }
    if (mode == "exit" && argc > 2) {
        return std::atoi(argv[2]);
    }
    if (mode == "args") {
        for (int i = 0; i < argc; ++i) {
            write_to(STD_OUTPUT_HANDLE, std::string("[") + argv[i] + "]\n");
        }
        return 0;
    }
    if (mode == "spew" && argc > 2) {
        const std::string block(64 * 1024, 'x');
        for (long left = std::atol(argv[2]); left > 0; left -= static_cast<long>(block.size())) {
            const auto size = static_cast<std::size_t>(left) < block.size()
                                  ? static_cast<std::size_t>(left)
                                  : block.size();
            write_to(STD_OUTPUT_HANDLE, block.substr(0, size));
            write_to(STD_ERROR_HANDLE, block.substr(0, size));
        }
        return 0;
    }
    if (mode == "env") {
        wchar_t* block = ::GetEnvironmentStringsW();
        for (const wchar_t* entry = block; *entry != L'\0'; entry += std::wcslen(entry) + 1) {
            write_to(STD_OUTPUT_HANDLE, utf8(entry) + "\n");
        }
        ::FreeEnvironmentStringsW(block);
        return 0;
    }
    if (mode == "sleep") {
        ::Sleep(INFINITE);
    }
    if (mode == "sleep-in-grandchild") {
        start_self("sleep");
        ::Sleep(INFINITE);
    }
    if (mode == "exit-leaving-grandchild") {
        start_self("sleep");
        write_to(STD_OUTPUT_HANDLE, "done\n");
        return 0;
    }
    if (mode == "is-terminal") {
        write_to(STD_OUTPUT_HANDLE, dsvm::standard_input_is_terminal() ? "yes" : "no");
        return 0;
    }
    // read-stdin end|newline LIMIT: what read_standard_input gave, then what it left unread.
    if (mode == "read-stdin" && argc > 3) {
        std::string got;
        const auto until = std::strcmp(argv[2], "newline") == 0 ? dsvm::ReadUntil::Newline
                                                                : dsvm::ReadUntil::EndOfInput;
        const auto read = dsvm::read_standard_input(got, until, std::strtoul(argv[3], nullptr, 10));
        if (!read) {
            write_to(STD_ERROR_HANDLE, read.error().message);
            return 1;
        }
        write_to(STD_OUTPUT_HANDLE, got + "|" + read_rest());
        return 0;
    }
    write_to(STD_ERROR_HANDLE, "unknown mode " + mode + "\n");
    return 100;
}
