#include "mount/options.h"

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "common/text.h"

namespace dsvm::mount {

namespace {

// mount.cifs reads these as credentials. They are refused on every share type, and matched
// without regard to case: the kernel would reject "PASSWORD=...", but only after the value had
// been written to a world-readable fstab.
constexpr std::string_view k_credential_keys[] = {
    "username", "user", "password", "password2", "pass", "credentials", "cred", "domain"};

constexpr std::string_view k_bind_flags[] = {"ro",          "rw",        "nosuid",   "nodev",
                                             "noexec",      "exec",      "relatime", "noatime",
                                             "strictatime", "nodiratime"};

// Every share is mounted nosuid,nodev: whoever can write the share (root on any NFS client the
// export trusts, anyone with the storage key) could otherwise leave a set-user-ID root program or
// a device node there for every local user of every instance (docs/security.md).
constexpr std::string_view k_hardening[] = {"nosuid", "nodev"};

constexpr std::string_view k_nfs_versions[] = {"4", "4.0", "4.1", "4.2"};
// "3" lets the kernel pick the highest 3.x dialect; 3.02 and 3.11 are the kernel's aliases.
constexpr std::string_view k_smb_versions[] = {"3", "3.0", "3.02", "3.0.2", "3.1.1", "3.11"};

constexpr std::string_view k_option_chars_rule =
    "options are comma-separated key or key=value items of letters, digits and _ . = : / + -";

constexpr std::string_view k_boot_options[] = {"_netdev", "nofail", "x-systemd.mount-timeout=30s"};

struct Item {
    std::string_view text;
    std::string_view key;
    std::string_view value;
    bool has_value = false;
};

Item parse_item(std::string_view text) {
    Item item;
    item.text = text;
    const auto equals = text.find('=');
    item.key = text.substr(0, equals);
    if (equals != std::string_view::npos) {
        item.value = text.substr(equals + 1);
        item.has_value = true;
    }
    return item;
}

// Every item, empty ones included, so the check can point at a stray comma.
std::vector<std::string_view> split_items(std::string_view options) {
    std::vector<std::string_view> items;
    if (options.empty()) {
        return items;
    }
    std::size_t start = 0;
    while (true) {
        const auto comma = options.find(',', start);
        if (comma == std::string_view::npos) {
            items.push_back(options.substr(start));
            return items;
        }
        items.push_back(options.substr(start, comma - start));
        start = comma + 1;
    }
}

bool contains(const auto& list, std::string_view value) {
    return std::find(std::begin(list), std::end(list), value) != std::end(list);
}

char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool is_option_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '=' || c == ':' || c == '/' || c == '+' || c == '-';
}

Error refuse(std::string_view message) {
    return invalid("share.options: " + std::string(message));
}

// nfsvers and vers are one setting to the kernel; treating them as one key keeps a share's
// nfsvers=4.2 from sitting next to the default vers=4.1.
std::string_view canonical_key(ShareType type, std::string_view key) {
    if (type == ShareType::Nfs && key == "nfsvers") {
        return "vers";
    }
    return key;
}

std::optional<std::string> smb_owned_reason(std::string_view key) {
    if (key == "uid" || key == "gid" || key == "forceuid" || key == "forcegid" ||
        key == "dir_mode" || key == "file_mode") {
        return "is set by the agent (from smbAccess); remove it";
    }
    if (key == "noperm") {
        return "would turn off the permission checks smbAccess relies on; remove it";
    }
    if (key == "multiuser") {
        return "would give each user their own SMB session, which the agent does not set up; "
               "remove it";
    }
    if (key == "guest") {
        return "would mount without the storage key; remove it";
    }
    if (key == "sec") {
        return "is chosen by the agent (the storage key from the credentials file); remove it";
    }
    if (key == "nobrl") {
        return "would turn off the byte-range locks the pool registry is written under; remove "
               "it";
    }
    return std::nullopt;
}

Result<void> check_smb_item(const Item& item) {
    if (const auto reason = smb_owned_reason(item.key)) {
        return refuse(quoted(item.key) + " " + *reason);
    }
    if (item.key == "vers") {
        if (contains(k_smb_versions, item.value)) {
            return {};
        }
        const bool below = item.value.empty() || item.value == "default" ||
                           item.value.front() == '1' || item.value.front() == '2';
        if (below) {
            return refuse(quoted(item.text) +
                          " is below SMB 3.0, which Azure Files requires for encryption; use "
                          "vers=3.1.1 or 3.0");
        }
        return refuse(quoted(item.text) +
                      " is not an SMB 3 dialect the kernel knows; use vers=3.1.1 or 3.0");
    }
    return {};
}

Result<void> check_nfs_item(const Item& item) {
    if (item.key == "vers" || item.key == "nfsvers") {
        if (contains(k_nfs_versions, item.value)) {
            return {};
        }
        return refuse(quoted(item.text) + " must be one of 4, 4.0, 4.1, 4.2 for an NFS 4 share");
    }
    // The pool registry is written under fcntl locks, which must reach the server.
    if (item.key == "nolock" || item.key == "local_lock") {
        return refuse(quoted(item.key) +
                      " would keep file locks on this instance, and the pool registry is written "
                      "under locks all instances must see; remove it");
    }
    // mount.nfs reads v2 and v3 as vers=2 and vers=3.
    if (item.key == "v2" || item.key == "v3") {
        return refuse(quoted(item.key) + " selects NFS " + std::string(item.key.substr(1)) +
                      "; an NFS 4 share takes vers=4, 4.0, 4.1 or 4.2");
    }
    return {};
}

Result<void> check_bind_item(const Item& item) {
    if (item.key == "bind") {
        return refuse("'bind' is set by the agent for a bind share; remove it");
    }
    if (!contains(k_bind_flags, item.key)) {
        return refuse(quoted(item.key) +
                      " is not allowed on a bind share; use only ro, rw, nosuid, nodev, noexec, "
                      "exec, relatime, noatime, strictatime, nodiratime");
    }
    if (item.has_value) {
        return refuse(quoted(item.key) + " takes no value on a bind share; write it alone");
    }
    return {};
}

// One item on its own; `index` (from 1) names an item whose key cannot be shown.
Result<void> check_item(ShareType type, std::string_view text, std::size_t index) {
    if (text.empty()) {
        return refuse("item " + std::to_string(index) +
                      " is empty (a leading, trailing or double ','); " +
                      std::string(k_option_chars_rule));
    }
    const Item item = parse_item(text);
    if (item.key.empty()) {
        // The value is not shown: with its key missing, nothing says it is not a secret.
        return refuse("item " + std::to_string(index) + " has no key before '='; " +
                      std::string(k_option_chars_rule));
    }
    if (is_credential_key(item.key)) {
        return refuse(quoted(item.key) +
                      " would carry a credential (value not shown); the agent passes the storage "
                      "key through a credentials file; remove it");
    }
    if (item.key == "suid" || item.key == "dev") {
        return refuse(quoted(item.key) + " would let " +
                      (item.key == "suid" ? "a set-user-ID program" : "a device node") +
                      " on the share work here, so anyone who can write the share could become "
                      "root on every instance; the agent mounts every share nosuid,nodev; remove "
                      "it");
    }
    const auto bad = std::find_if_not(text.begin(), text.end(), is_option_char);
    if (bad != text.end()) {
        return refuse("item " + std::to_string(index) + " (key " + quoted(item.key) +
                      ") contains " + quoted(std::string_view(&*bad, 1)) + "; " +
                      std::string(k_option_chars_rule));
    }
    switch (type) {
        case ShareType::Smb:
            return check_smb_item(item);
        case ShareType::Nfs:
            return check_nfs_item(item);
        case ShareType::Bind:
            return check_bind_item(item);
    }
    return {};
}

// Items keyed for merging: a later item with the same key replaces the earlier one in its place,
// which is also what the kernel does with a repeated option (the last one wins).
class OptionList {
  public:
    explicit OptionList(ShareType type) : m_type(type) {}

    void set(std::string_view text) {
        const auto key = canonical_key(m_type, parse_item(text).key);
        for (auto& existing : m_items) {
            if (canonical_key(m_type, parse_item(existing).key) == key) {
                existing = std::string(text);
                return;
            }
        }
        m_items.emplace_back(text);
    }

    void add_if_absent(std::string_view text) {
        const auto key = canonical_key(m_type, parse_item(text).key);
        for (const auto& existing : m_items) {
            if (canonical_key(m_type, parse_item(existing).key) == key) {
                return;
            }
        }
        m_items.emplace_back(text);
    }

    std::string joined() const {
        std::string out;
        for (const auto& item : m_items) {
            if (!out.empty()) {
                out += ',';
            }
            out += item;
        }
        return out;
    }

  private:
    ShareType m_type;
    std::vector<std::string> m_items;
};

bool is_ip_v4_literal(std::string_view host) {
    return !host.empty() && std::all_of(host.begin(), host.end(),
                                        [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

}  // namespace

Result<void> check_share_options(ShareType type, std::string_view options) {
    const auto items = split_items(options);
    // Each key as written; the kernel would quietly take the last of two, hiding a mistake.
    std::vector<std::string_view> seen;
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (auto checked = check_item(type, items[i], i + 1); !checked) {
            return checked;
        }
        const auto key = parse_item(items[i]).key;
        for (const auto earlier : seen) {
            if (earlier == key) {
                return refuse(quoted(key) + " is given twice; keep one");
            }
            if (canonical_key(type, earlier) == canonical_key(type, key)) {
                return refuse(quoted(earlier) + " and " + quoted(key) +
                              " both set the NFS version; keep one");
            }
        }
        seen.push_back(key);
    }
    return {};
}

std::string_view fs_type_for(ShareType type) {
    switch (type) {
        case ShareType::Smb:
            return "cifs";
        case ShareType::Nfs:
            return "nfs";
        case ShareType::Bind:
            return "";
    }
    return "";
}

std::string mount_options(ShareType type, SmbAccess access, std::string_view user_options,
                          std::string_view credentials_file) {
    OptionList list(type);
    switch (type) {
        case ShareType::Smb: {
            const bool per_user = access == SmbAccess::PerUser;
            list.set("vers=3.1.1");
            list.set("credentials=" + std::string(credentials_file));
            list.set("serverino");
            list.set("nosharesock");
            list.set("actimeo=30");
            list.set("mfsymlinks");
            list.set("uid=0");
            list.set("gid=0");
            list.set(per_user ? "dir_mode=0700" : "dir_mode=0777");
            list.set(per_user ? "file_mode=0600" : "file_mode=0777");
            break;
        }
        case ShareType::Nfs:
            for (const auto item :
                 {"vers=4.1", "sec=sys", "hard", "timeo=600", "retrans=2", "nconnect=4"}) {
                list.set(item);
            }
            break;
        case ShareType::Bind:
            list.set("bind");
            break;
    }
    for (const auto flag : k_hardening) {
        list.set(flag);
    }
    // The engine checks the options first; an item the check refuses is still never passed on,
    // so an unchecked uid= or password= cannot replace what the agent owns or reach fstab.
    const auto items = split_items(user_options);
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (check_item(type, items[i], i + 1).ok()) {
            list.set(items[i]);
        }
    }
    return list.joined();
}

std::string notebook_mount_options(std::string_view user_options, std::string_view credentials_file,
                                   unsigned uid, unsigned gid) {
    OptionList list(ShareType::Smb);
    list.set("vers=3.1.1");
    list.set("credentials=" + std::string(credentials_file));
    list.set("serverino");
    list.set("actimeo=30");
    list.set("mfsymlinks");
    list.set("uid=" + std::to_string(uid));
    list.set("forceuid");
    list.set("gid=" + std::to_string(gid));
    list.set("forcegid");
    list.set("dir_mode=0700");
    list.set("file_mode=0600");
    for (const auto flag : k_hardening) {
        list.set(flag);
    }
    const auto items = split_items(user_options);
    for (std::size_t i = 0; i < items.size(); ++i) {
        // nosharesock is the whole share's business; the per-user mounts share one connection.
        if (check_item(ShareType::Smb, items[i], i + 1).ok() &&
            parse_item(items[i]).key != "nosharesock") {
            list.set(items[i]);
        }
    }
    return list.joined();
}

// Every type gets all three: a bind source may itself live on a network filesystem, so the bind
// mount must wait for the network too, and a bounded timeout never hurts a local mount.
std::string boot_options(ShareType type, std::string_view mount_options) {
    OptionList list(type);
    for (const auto item : split_items(mount_options)) {
        if (!item.empty()) {
            list.set(item);
        }
    }
    for (const auto item : k_boot_options) {
        list.add_if_absent(item);
    }
    return list.joined();
}

bool is_credential_key(std::string_view key) {
    const std::string folded = ascii_lower(key);
    return contains(k_credential_keys, folded);
}

std::string credentials_name(std::string_view smb_source) {
    auto rest = smb_source;
    while (!rest.empty() && rest.front() == '/') {
        rest.remove_prefix(1);
    }
    const auto host = rest.substr(0, rest.find('/'));
    std::string name;
    if (!host.empty() && host.front() == '[') {
        // A file name cannot hold ':' under the credentials name rule; '-' keeps it readable.
        for (const char c : host) {
            if (c == '[' || c == ']') {
                continue;
            }
            name.push_back(c == ':' ? '-' : lower(c));
        }
        return name;
    }
    const auto label = is_ip_v4_literal(host) ? host : host.substr(0, host.find('.'));
    for (const char c : label) {
        name.push_back(lower(c));
    }
    return name;
}

}  // namespace dsvm::mount
