// AccountApi on this machine: NetAPI for the SAM, userenv for profiles, the ProfileList key for
// their folders; the files in a profile are windows/profile_files_win32.cpp's. wine implements
// little of it (docs/windows.md), so it is checked on a Windows Server DSVM; its callers are
// tested on a recording fake.
#include "windows/account_api.h"

#include "common/windows_api_win32.h"

#include <bcrypt.h>
#include <lm.h>
#include <sddl.h>
#include <userenv.h>
#include <winternl.h>

#include <memory>
#include <vector>

#include "common/text.h"
#include "windows/profile_files_win32.h"

namespace dsvm::windows_platform {

namespace {

constexpr wchar_t k_profile_list[] =
    L"SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\ProfileList\\";

struct NetBufferDeleter {
    void operator()(void* buffer) const { ::NetApiBufferFree(buffer); }
};
template <class T>
using NetBuffer = std::unique_ptr<T, NetBufferDeleter>;

struct LocalFreeDeleter {
    void operator()(void* memory) const { ::LocalFree(memory); }
};

// Pages through a NetAPI enumeration: `call(buffer, read, total)` is one call (its resume handle
// in the closure), `each` gets every entry. 0, or the first error.
template <class Info, class Call, class Each>
DWORD enumerate_all(Call call, Each each) {
    NET_API_STATUS status = NERR_Success;
    do {
        LPBYTE buffer = nullptr;
        DWORD read = 0;
        DWORD total = 0;
        status = call(&buffer, &read, &total);
        const NetBuffer<Info> owned(reinterpret_cast<Info*>(buffer));
        if (status != NERR_Success && status != ERROR_MORE_DATA) {
            return status;
        }
        for (DWORD i = 0; i < read; ++i) {
            each(owned.get()[i]);
        }
    } while (status == ERROR_MORE_DATA);
    return 0;
}

// A password as UTF-16 for NetAPI, wiped when it goes. The buffer is sized once, so no copy is
// left behind by a reallocation.
class WidePassword {
  public:
    explicit WidePassword(const SecretBytes& password) {
        const std::string_view text = password.view();
        const int size = static_cast<int>(text.size());
        const int wide =
            size == 0 ? 0 : ::MultiByteToWideChar(CP_UTF8, 0, text.data(), size, nullptr, 0);
        m_buffer.assign(static_cast<std::size_t>(wide > 0 ? wide : 0) + 1, L'\0');
        if (wide > 0) {
            ::MultiByteToWideChar(CP_UTF8, 0, text.data(), size, m_buffer.data(), wide);
        }
    }
    WidePassword(const WidePassword&) = delete;
    WidePassword& operator=(const WidePassword&) = delete;
    ~WidePassword() { wipe_bytes(m_buffer.data(), m_buffer.size() * sizeof(wchar_t)); }
    wchar_t* get() { return m_buffer.data(); }

  private:
    std::vector<wchar_t> m_buffer;
};

std::wstring computer_name() {
    wchar_t buffer[MAX_COMPUTERNAME_LENGTH + 1] = {};
    DWORD size = MAX_COMPUTERNAME_LENGTH + 1;
    return ::GetComputerNameW(buffer, &size) ? std::wstring(buffer, size) : std::wstring();
}

// "HOST\alice": a local account, never a domain's of the same name.
std::wstring local_account(const std::string& name) {
    return computer_name() + L"\\" + widen(name);
}

// A SID as its bytes, found by name (qualified as the caller wants).
DWORD lookup_sid(const std::wstring& name, std::vector<BYTE>& sid, SID_NAME_USE& use) {
    DWORD sid_size = 0;
    DWORD domain_size = 0;
    ::LookupAccountNameW(nullptr, name.c_str(), nullptr, &sid_size, nullptr, &domain_size, &use);
    if (sid_size == 0) {
        return ::GetLastError();
    }
    sid.assign(sid_size, 0);
    std::wstring domain(domain_size, L'\0');
    if (!::LookupAccountNameW(nullptr, name.c_str(), sid.data(), &sid_size, domain.data(),
                              &domain_size, &use)) {
        return ::GetLastError();
    }
    return 0;
}

std::string sid_string(PSID sid) {
    LPWSTR text = nullptr;
    if (!::ConvertSidToStringSidW(sid, &text)) {
        return {};
    }
    const std::unique_ptr<void, LocalFreeDeleter> owned(text);
    return narrow(text);
}

DWORD account_sid(const std::string& name, std::string& out) {
    std::vector<BYTE> sid;
    SID_NAME_USE use = SidTypeUnknown;
    if (const DWORD error = lookup_sid(local_account(name), sid, use); error != 0) {
        return error;
    }
    if (use != SidTypeUser) {
        return ERROR_NONE_MAPPED;
    }
    out = sid_string(sid.data());
    return 0;
}

// The profile folder ProfileList records for `sid`, expanded; empty when there is none.
std::string profile_folder(const std::string& sid) {
    const std::wstring key = k_profile_list + widen(sid);
    DWORD size = 0;
    const DWORD flags = RRF_RT_REG_SZ | RRF_RT_REG_EXPAND_SZ | RRF_NOEXPAND;
    if (::RegGetValueW(HKEY_LOCAL_MACHINE, key.c_str(), L"ProfileImagePath", flags, nullptr,
                       nullptr, &size) != ERROR_SUCCESS ||
        size == 0) {
        return {};
    }
    std::wstring raw(size / sizeof(wchar_t) + 1, L'\0');
    if (::RegGetValueW(HKEY_LOCAL_MACHINE, key.c_str(), L"ProfileImagePath", flags, nullptr,
                       raw.data(), &size) != ERROR_SUCCESS) {
        return {};
    }
    raw.resize(wcsnlen(raw.c_str(), raw.size()));
    const DWORD expanded_size = ::ExpandEnvironmentStringsW(raw.c_str(), nullptr, 0);
    if (expanded_size == 0) {
        return narrow(raw);
    }
    std::wstring expanded(expanded_size, L'\0');
    ::ExpandEnvironmentStringsW(raw.c_str(), expanded.data(), expanded_size);
    expanded.resize(wcsnlen(expanded.c_str(), expanded.size()));
    return narrow(expanded);
}

// The local group `group` names (a SID string or a name): its name as this system spells it,
// and its SID. NERR_GroupNotFound when there is none.
DWORD resolve_group(const std::string& group, std::wstring& name, std::string& sid_text) {
    if (group.starts_with("S-1-")) {
        PSID sid = nullptr;
        if (!::ConvertStringSidToSidW(widen(group).c_str(), &sid)) {
            return NERR_GroupNotFound;
        }
        const std::unique_ptr<void, LocalFreeDeleter> owned(sid);
        DWORD name_size = 0;
        DWORD domain_size = 0;
        SID_NAME_USE use = SidTypeUnknown;
        ::LookupAccountSidW(nullptr, sid, nullptr, &name_size, nullptr, &domain_size, &use);
        if (name_size == 0) {
            const DWORD error = ::GetLastError();
            return error == ERROR_NONE_MAPPED ? NERR_GroupNotFound : error;
        }
        name.assign(name_size, L'\0');
        std::wstring domain(domain_size, L'\0');
        if (!::LookupAccountSidW(nullptr, sid, name.data(), &name_size, domain.data(), &domain_size,
                                 &use)) {
            return ::GetLastError();
        }
        name.resize(name_size);
        sid_text = group;
        return use == SidTypeAlias || use == SidTypeWellKnownGroup ? 0 : NERR_GroupNotFound;
    }
    // A local group first, then a built-in one: never a domain group of the same name.
    for (const std::wstring& qualified : {local_account(group), L"BUILTIN\\" + widen(group)}) {
        std::vector<BYTE> sid;
        SID_NAME_USE use = SidTypeUnknown;
        if (lookup_sid(qualified, sid, use) == 0 && use == SidTypeAlias) {
            name = widen(group);
            sid_text = sid_string(sid.data());
            return 0;
        }
    }
    return NERR_GroupNotFound;
}

class SystemAccountApi final : public AccountApi {
  public:
    std::uint32_t users(SamView& out) override {
        out.users.clear();
        out.local_groups.clear();
        DWORD resume = 0;
        const DWORD users_read = enumerate_all<USER_INFO_1>(
            [&](LPBYTE* buffer, DWORD* read, DWORD* total) {
                return ::NetUserEnum(nullptr, 1, FILTER_NORMAL_ACCOUNT, buffer,
                                     MAX_PREFERRED_LENGTH, read, total, &resume);
            },
            [&](const USER_INFO_1& info) {
                SamUser user;
                user.name = narrow(info.usri1_name);
                user.flags = info.usri1_flags;
                user.comment = info.usri1_comment != nullptr ? narrow(info.usri1_comment) : "";
                if (std::string sid; account_sid(user.name, sid) == 0) {
                    user.profile = profile_folder(sid);
                }
                out.users.push_back(std::move(user));
            });
        if (users_read != 0) {
            return users_read;
        }
        DWORD_PTR group_resume = 0;
        return enumerate_all<LOCALGROUP_INFO_0>(
            [&](LPBYTE* buffer, DWORD* read, DWORD* total) {
                return ::NetLocalGroupEnum(nullptr, 0, buffer, MAX_PREFERRED_LENGTH, read, total,
                                           &group_resume);
            },
            [&](const LOCALGROUP_INFO_0& info) {
                out.local_groups.push_back(narrow(info.lgrpi0_name));
            });
    }

    std::uint32_t members(const std::string& group, SamGroup& out) override {
        std::wstring name;
        std::string sid;
        if (const DWORD error = resolve_group(group, name, sid); error != 0) {
            return error;
        }
        out = {true, narrow(name), sid, {}};
        const std::wstring prefix = ascii_lower_wide(computer_name() + L"\\");
        DWORD_PTR resume = 0;
        const DWORD error = enumerate_all<LOCALGROUP_MEMBERS_INFO_2>(
            [&](LPBYTE* buffer, DWORD* read, DWORD* total) {
                return ::NetLocalGroupGetMembers(nullptr, name.c_str(), 2, buffer,
                                                 MAX_PREFERRED_LENGTH, read, total, &resume);
            },
            [&](const LOCALGROUP_MEMBERS_INFO_2& member) {
                // Local accounts only ("HOST\alice"), never a domain's of the same name.
                const std::wstring qualified = member.lgrmi2_domainandname;
                if (member.lgrmi2_sidusage == SidTypeUser &&
                    ascii_lower_wide(qualified).starts_with(prefix)) {
                    out.members.push_back(narrow(qualified.substr(prefix.size())));
                }
            });
        return error == ERROR_NO_SUCH_ALIAS ? NERR_GroupNotFound : error;
    }

    std::uint32_t well_known_group(const std::string& sid, std::string& name) override {
        std::wstring wide;
        std::string ignored;
        if (const DWORD error = resolve_group(sid, wide, ignored); error != 0) {
            return error;
        }
        name = narrow(wide);
        return 0;
    }

    std::uint32_t add_user(const std::string& name, const std::string& comment,
                           const SecretBytes& password) override {
        WidePassword wide_password(password);
        std::wstring wide_name = widen(name);
        std::wstring wide_comment = widen(comment);
        USER_INFO_1 info{};
        info.usri1_name = wide_name.data();
        info.usri1_password = wide_password.get();
        info.usri1_priv = USER_PRIV_USER;
        info.usri1_comment = wide_comment.data();
        info.usri1_flags = k_new_account_flags;
        DWORD wrong = 0;
        return ::NetUserAdd(nullptr, 1, reinterpret_cast<LPBYTE>(&info), &wrong);
    }

    std::uint32_t set_flags(const std::string& name, std::uint32_t flags) override {
        USER_INFO_1008 info{};
        info.usri1008_flags = flags;
        DWORD wrong = 0;
        return ::NetUserSetInfo(nullptr, widen(name).c_str(), 1008, reinterpret_cast<LPBYTE>(&info),
                                &wrong);
    }

    std::uint32_t set_password(const std::string& name, const SecretBytes& password) override {
        WidePassword wide_password(password);
        USER_INFO_1003 info{};
        info.usri1003_password = wide_password.get();
        DWORD wrong = 0;
        return ::NetUserSetInfo(nullptr, widen(name).c_str(), 1003, reinterpret_cast<LPBYTE>(&info),
                                &wrong);
    }

    std::uint32_t add_member(const std::string& group, const std::string& user) override {
        return change_member(group, user, true);
    }
    std::uint32_t remove_member(const std::string& group, const std::string& user) override {
        return change_member(group, user, false);
    }

    std::uint32_t create_profile(const std::string& name, std::string& path,
                                 bool& created) override {
        std::string sid;
        if (const DWORD error = account_sid(name, sid); error != 0) {
            return error;
        }
        wchar_t buffer[MAX_PATH] = {};
        const HRESULT result =
            ::CreateProfile(widen(sid).c_str(), widen(name).c_str(), buffer, MAX_PATH);
        if (SUCCEEDED(result)) {
            path = narrow(buffer);
            created = true;
            return 0;
        }
        if (result != HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS)) {
            return HRESULT_FACILITY(result) == FACILITY_WIN32
                       ? static_cast<std::uint32_t>(HRESULT_CODE(result))
                       : static_cast<std::uint32_t>(result);
        }
        path = profile_folder(sid);
        created = false;
        return path.empty() ? ERROR_FILE_NOT_FOUND : 0;
    }

    std::uint32_t read_link(const std::string& profile, const std::string& link,
                            LinkState& out) override {
        return read_profile_link(profile, link, out);
    }

    std::uint32_t make_link(const std::string& profile, const std::string& link,
                            const std::string& target, bool& changed) override {
        return make_profile_link(profile, link, target, changed);
    }

    std::uint32_t read_keys(const std::string& profile, const std::string& user,
                            KeysFile& out) override {
        out = {};
        std::string sid;
        if (const DWORD error = account_sid(user, sid); error != 0) {
            return error;
        }
        return read_profile_keys(profile, sid, out);
    }

    std::uint32_t write_keys(const std::string& profile, const std::string& user,
                             std::string_view text) override {
        std::string sid;
        if (const DWORD error = account_sid(user, sid); error != 0) {
            return error;
        }
        return write_profile_keys(profile, sid, text);
    }

    std::uint32_t random(unsigned char* bytes, std::size_t size) override {
        const NTSTATUS status = ::BCryptGenRandom(nullptr, bytes, static_cast<ULONG>(size),
                                                  BCRYPT_USE_SYSTEM_PREFERRED_RNG);
        return NT_SUCCESS(status) ? 0 : ::RtlNtStatusToDosError(status);
    }

  private:
    static std::wstring ascii_lower_wide(std::wstring text) {
        for (wchar_t& c : text) {
            c = c >= L'A' && c <= L'Z' ? static_cast<wchar_t>(c - L'A' + L'a') : c;
        }
        return text;
    }

    static std::uint32_t change_member(const std::string& group, const std::string& user,
                                       bool add) {
        std::wstring name;
        std::string sid;
        if (const DWORD error = resolve_group(group, name, sid); error != 0) {
            return error;
        }
        std::wstring member = local_account(user);
        LOCALGROUP_MEMBERS_INFO_3 info{};
        info.lgrmi3_domainandname = member.data();
        const NET_API_STATUS status =
            add ? ::NetLocalGroupAddMembers(nullptr, name.c_str(), 3,
                                            reinterpret_cast<LPBYTE>(&info), 1)
                : ::NetLocalGroupDelMembers(nullptr, name.c_str(), 3,
                                            reinterpret_cast<LPBYTE>(&info), 1);
        return status == ERROR_NO_SUCH_ALIAS ? NERR_GroupNotFound : status;
    }
};

}  // namespace

std::unique_ptr<AccountApi> make_system_account_api() {
    return std::make_unique<SystemAccountApi>();
}

}  // namespace dsvm::windows_platform
