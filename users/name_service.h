// Names and IDs taken outside the account files the agent edits (docs/users.md, "Names taken
// elsewhere"): accounts the system's name service shows (NSS: files, NIS compat, LDAP, SSSD,
// Azure AD, ...) and the NIS compat entries ("+name", "-name", "+@netgroup", "+") in passwd and
// group. A pool user whose name, UID or GID is taken there, or of which no answer can be had, is
// not created: the account would share its identity with someone the agent does not know.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "common/root.h"

namespace dsvm::users {

enum class NameState { Free, Taken, Unknown };

// One answer: free; taken by an entry; or unknown (the source failed or cannot know).
struct NameAnswer {
    NameState state = NameState::Free;
    std::string holder;               // Taken: the entry's name, as the source gave it
    std::optional<std::uint32_t> id;  // Taken: its UID or GID, when the source says
    // Taken: where it was seen; Unknown: why there is no answer. Safe to print: every value
    // in it is already escaped.
    std::string detail;

    bool operator==(const NameAnswer&) const = default;
};

// "free", "taken by 'alice' (id 1234) in the system's name service", "cannot tell: ...", with
// the holder escaped (printable), as it may reach status.
std::string describe(const NameAnswer& answer);

// The seam the users plan asks before it creates an account. Each call answers for one name or
// ID; none changes anything.
class NameService {
  public:
    virtual ~NameService() = default;

    virtual NameAnswer user_name(std::string_view name) = 0;
    virtual NameAnswer group_name(std::string_view name) = 0;
    virtual NameAnswer user_id(std::uint32_t uid) = 0;
    virtual NameAnswer group_id(std::uint32_t gid) = 0;
};

// The real system's name service through getpwnam_r, getgrnam_r, getpwuid_r and getgrgid_r:
// every source nsswitch.conf names, the local files included (so ask only about what the local
// files do not hold). The buffer starts at `initial_buffer` bytes (0: sysconf's suggestion, or
// 1024) and doubles on ERANGE up to 64 MiB. "Not found" (a null result with 0, ENOENT, ESRCH,
// EBADF or EPERM, as getpwnam_r(3) documents) is Free; any other error, an entry over 64 MiB and a
// name with a NUL byte are Unknown, naming the call and the error. Use it only when the agent's
// root is "/": the name service describes this host, not a root below it.
class SystemNameService final : public NameService {
  public:
    explicit SystemNameService(std::size_t initial_buffer = 0);

    NameAnswer user_name(std::string_view name) override;
    NameAnswer group_name(std::string_view name) override;
    NameAnswer user_id(std::uint32_t uid) override;
    NameAnswer group_id(std::uint32_t gid) override;

  private:
    std::size_t m_initial_buffer;
};

// For a root other than "/": knows nothing beyond the account files under the root, which the
// caller reads itself, so every answer is Free.
class NoNameService final : public NameService {
  public:
    NameAnswer user_name(std::string_view) override { return {}; }
    NameAnswer group_name(std::string_view) override { return {}; }
    NameAnswer user_id(std::uint32_t) override { return {}; }
    NameAnswer group_id(std::uint32_t) override { return {}; }
};

// SystemNameService for the root "/", NoNameService for any other root.
std::unique_ptr<NameService> name_service_for(const Root& root);

// What a pool user's account would clash with: which of its four identities ("user name
// 'alice'", "group name 'alice'", "uid 20000", "gid 20000") the service does not call free,
// and its answer.
struct NameClash {
    std::string asked;
    NameAnswer answer;
};

// Asks for the user name, the group name (the user's own group has its name), the UID and the
// GID, in that order, and returns the first answer that is not Free; nullopt when all are free.
std::optional<NameClash> find_clash(NameService& service, std::string_view name, std::uint32_t uid,
                                    std::uint32_t gid);

// What the NIS compat entries of one passwd or group text reserve (passwd(5), nsswitch.conf
// "compat"). Lines that do not start with '+' or '-' are not looked at.
struct NisCompat {
    std::set<std::string> names;      // "+name" and "-name": accounts the NIS directory holds
    std::set<std::string> netgroups;  // "+@netgroup" and "-@netgroup": members not in the text
    bool wildcard = false;            // a bare "+" (or "+:..."): every NIS entry is included
    bool includes_nis = false;        // any '+' entry: NIS entries of IDs the text never says

    // Taken for a listed name; Unknown when a wildcard or a netgroup may hold it (the system's
    // name service resolves those on the root "/"; under any other root they stay Unknown);
    // Free otherwise.
    NameAnswer name(std::string_view name) const;
    // Unknown when any '+' entry brings in NIS accounts, whose IDs the text does not give;
    // Free otherwise.
    NameAnswer id(std::uint32_t id) const;
};

// Pure: the compat entries of a passwd or group text. Never fails: a malformed line ("+@" with
// no netgroup, a bare "-") reserves nothing, and a trailing '\r' is not part of a name.
NisCompat parse_nis_compat(std::string_view text);

}  // namespace dsvm::users
