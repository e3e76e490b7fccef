#include "users/name_service.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>
#include <vector>

#include "common/fs.h"
#include "common/text.h"

namespace dsvm::users {

namespace {

// Far beyond any real entry (a directory group of 100,000 members is a few MB), and a bound on
// what a broken or hostile directory can make the agent allocate.
constexpr std::size_t k_max_buffer = std::size_t{64} << 20;
// glibc's own default when sysconf has no suggestion.
constexpr std::size_t k_default_buffer = 1024;
// A signal arriving mid-lookup is retried a few times, not forever.
constexpr int k_max_interrupts = 3;

constexpr std::string_view k_system_source = "the system's name service";

std::size_t suggested_buffer(int name) {
    const long size = sysconf(name);
    return size > 0 ? static_cast<std::size_t>(size) : k_default_buffer;
}

NameAnswer unknown(std::string detail) {
    return NameAnswer{NameState::Unknown, "", std::nullopt, std::move(detail)};
}

// One reentrant lookup, with the buffer grown on ERANGE. `call` is getpwnam_r and its kin bound
// to their key; `name_of` and `id_of` read the entry found.
template <class Entry, class Call, class NameOf, class IdOf>
NameAnswer look_up(std::string_view function, std::size_t initial, Call call, NameOf name_of,
                   IdOf id_of) {
    std::vector<char> buffer(std::clamp<std::size_t>(initial, 1, k_max_buffer));
    int interrupts = 0;
    while (true) {
        Entry entry{};
        Entry* found = nullptr;
        const int error = call(&entry, buffer.data(), buffer.size(), &found);
        if (error == 0 && found != nullptr) {
            return NameAnswer{NameState::Taken, name_of(*found), id_of(*found),
                              std::string(k_system_source)};
        }
        // getpwnam_r(3): these, with a null result, all mean "not found".
        if (error == 0 || error == ENOENT || error == ESRCH || error == EBADF || error == EPERM) {
            return {};
        }
        if (error == ERANGE) {
            if (buffer.size() >= k_max_buffer) {
                return unknown(std::string(function) + ": the entry does not fit in " +
                               std::to_string(k_max_buffer >> 20) + " MiB");
            }
            buffer.resize(std::min(buffer.size() * 2, k_max_buffer));
            continue;
        }
        if (error == EINTR && ++interrupts < k_max_interrupts) {
            continue;
        }
        return unknown(std::string(function) + ": " + errno_text(error));
    }
}

// A NUL would end the C string early and ask about another name.
bool has_nul(std::string_view name) {
    return name.find('\0') != std::string_view::npos;
}

NameAnswer nul_in(std::string_view name) {
    return unknown("the name '" + printable(name) + "' contains a NUL byte");
}

std::string user_name_of(const passwd& entry) {
    return entry.pw_name != nullptr ? entry.pw_name : "";
}
std::string group_name_of(const group& entry) {
    return entry.gr_name != nullptr ? entry.gr_name : "";
}

}  // namespace

std::string describe(const NameAnswer& answer) {
    switch (answer.state) {
        case NameState::Free:
            return "free";
        case NameState::Taken: {
            std::string out = "taken by '" + printable(answer.holder) + "'";
            if (answer.id) {
                out += " (id " + std::to_string(*answer.id) + ")";
            }
            return out + " in " + answer.detail;
        }
        case NameState::Unknown:
            return "cannot tell: " + answer.detail;
    }
    return "cannot tell";
}

SystemNameService::SystemNameService(std::size_t initial_buffer)
    : m_initial_buffer(initial_buffer) {}

NameAnswer SystemNameService::user_name(std::string_view name) {
    if (has_nul(name)) {
        return nul_in(name);
    }
    const std::string key(name);
    return look_up<passwd>(
        "getpwnam_r",
        m_initial_buffer != 0 ? m_initial_buffer : suggested_buffer(_SC_GETPW_R_SIZE_MAX),
        [&](passwd* entry, char* buffer, std::size_t size, passwd** found) {
            return getpwnam_r(key.c_str(), entry, buffer, size, found);
        },
        user_name_of, [](const passwd& entry) { return entry.pw_uid; });
}

NameAnswer SystemNameService::group_name(std::string_view name) {
    if (has_nul(name)) {
        return nul_in(name);
    }
    const std::string key(name);
    return look_up<group>(
        "getgrnam_r",
        m_initial_buffer != 0 ? m_initial_buffer : suggested_buffer(_SC_GETGR_R_SIZE_MAX),
        [&](group* entry, char* buffer, std::size_t size, group** found) {
            return getgrnam_r(key.c_str(), entry, buffer, size, found);
        },
        group_name_of, [](const group& entry) { return entry.gr_gid; });
}

NameAnswer SystemNameService::user_id(std::uint32_t uid) {
    return look_up<passwd>(
        "getpwuid_r",
        m_initial_buffer != 0 ? m_initial_buffer : suggested_buffer(_SC_GETPW_R_SIZE_MAX),
        [&](passwd* entry, char* buffer, std::size_t size, passwd** found) {
            return getpwuid_r(uid, entry, buffer, size, found);
        },
        user_name_of, [](const passwd& entry) { return entry.pw_uid; });
}

NameAnswer SystemNameService::group_id(std::uint32_t gid) {
    return look_up<group>(
        "getgrgid_r",
        m_initial_buffer != 0 ? m_initial_buffer : suggested_buffer(_SC_GETGR_R_SIZE_MAX),
        [&](group* entry, char* buffer, std::size_t size, group** found) {
            return getgrgid_r(gid, entry, buffer, size, found);
        },
        group_name_of, [](const group& entry) { return entry.gr_gid; });
}

std::unique_ptr<NameService> name_service_for(const Root& root) {
    if (root.is_host()) {
        return std::make_unique<SystemNameService>();
    }
    return std::make_unique<NoNameService>();
}

std::optional<NameClash> find_clash(NameService& service, std::string_view name, std::uint32_t uid,
                                    std::uint32_t gid) {
    const std::string shown = "'" + printable(name) + "'";
    NameClash clash{"user name " + shown, service.user_name(name)};
    if (clash.answer.state != NameState::Free) {
        return clash;
    }
    clash = {"group name " + shown, service.group_name(name)};
    if (clash.answer.state != NameState::Free) {
        return clash;
    }
    clash = {"uid " + std::to_string(uid), service.user_id(uid)};
    if (clash.answer.state != NameState::Free) {
        return clash;
    }
    clash = {"gid " + std::to_string(gid), service.group_id(gid)};
    if (clash.answer.state != NameState::Free) {
        return clash;
    }
    return std::nullopt;
}

NameAnswer NisCompat::name(std::string_view name) const {
    if (names.contains(std::string(name))) {
        return NameAnswer{NameState::Taken, std::string(name), std::nullopt,
                          "a NIS compat entry ('+" + printable(name) + "' or '-" + printable(name) +
                              "') of the local account files"};
    }
    if (wildcard) {
        return unknown("a bare '+' entry of the local account files brings in every NIS entry");
    }
    if (!netgroups.empty()) {
        return unknown("a NIS netgroup entry of the local account files ('+@" +
                       printable(*netgroups.begin()) +
                       "' or '-@...') may hold it; only the name service knows its members");
    }
    return {};
}

NameAnswer NisCompat::id(std::uint32_t) const {
    if (includes_nis) {
        return unknown(
            "a '+' entry of the local account files brings in NIS entries, whose IDs "
            "only the name service knows");
    }
    return {};
}

NisCompat parse_nis_compat(std::string_view text) {
    NisCompat out;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string_view::npos) {
            end = text.size();
        }
        const auto line = text.substr(start, end - start);
        start = end + 1;
        if (line.empty() || (line[0] != '+' && line[0] != '-')) {
            continue;
        }
        const bool include = line[0] == '+';
        // Up to the first ':', or the whole line without one (npos - 1 still reads to the end).
        auto key = line.substr(1, line.find(':') - 1);
        if (!key.empty() && key.back() == '\r') {
            key.remove_suffix(1);
        }
        if (key.empty()) {
            // "+" includes every entry; a bare "-" excludes nothing nameable.
            out.wildcard = out.wildcard || include;
            out.includes_nis = out.includes_nis || include;
        } else if (key[0] != '@') {
            out.names.emplace(key);
            out.includes_nis = out.includes_nis || include;
        } else if (key.size() > 1) {
            out.netgroups.emplace(key.substr(1));
            out.includes_nis = out.includes_nis || include;
        }
    }
    return out;
}

}  // namespace dsvm::users
