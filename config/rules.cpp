#include "config/rules.h"

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include "common/text.h"
#include "mount/options.h"

namespace dsvm::config::rules {

using namespace dsvm::mount;
using namespace dsvm::users;

namespace {

using ascii::is_alnum;
using ascii::is_alpha;
using ascii::is_control;
using ascii::is_digit;
using ascii::is_hex;

// Far beyond any real share, mount or notebook path; bounds the work done on hostile input.
constexpr std::size_t k_max_path = 1024;
constexpr std::size_t k_max_options = 1024;

// Mounting on or inside these breaks the OS or hides its files.
constexpr std::string_view k_system_dirs[] = {"/bin",   "/boot",  "/dev",    "/etc",  "/lib",
                                              "/lib32", "/lib64", "/libx32", "/proc", "/run",
                                              "/sbin",  "/sys",   "/usr",    "/var"};
// These hold other things: a share may live under them, but must not cover them.
// Mount points may not be inside these (users' and root's own files, world-writable places).
constexpr std::string_view k_private_dirs[] = {"/home", "/root", "/tmp"};
constexpr std::string_view k_top_dirs[] = {"/home", "/root", "/tmp",   "/mnt",
                                           "/opt",  "/srv",  "/media", "/datamnt"};

constexpr std::string_view k_secret_words[] = {"key",   "password",   "passwd", "secret",
                                               "token", "credential", "sas",    "signature"};

constexpr std::string_view k_source_shapes =
    "use //host/share for SMB, host:/export for NFS, or an absolute directory for bind";

Error fail(std::string_view path, std::string_view message) {
    return invalid(std::string(path) + ": " + std::string(message));
}

bool is_path_char(char c) {
    return is_alnum(c) || c == '.' || c == '_' || c == '-' || c == '+' || c == '~';
}
// Windows servers hide shares whose names end in '$'.
bool is_smb_char(char c) {
    return is_path_char(c) || c == '$';
}
bool is_option_char(char c) {
    return is_alnum(c) || c == '_' || c == '.' || c == '=' || c == ':' || c == '/' || c == '+' ||
           c == '-';
}

bool contains(const auto& list, std::string_view value) {
    return std::find(std::begin(list), std::end(list), value) != std::end(list);
}

// Control characters, whitespace and ',' would end a field in fstab or split mount options.
Result<void> check_plain(std::string_view path, std::string_view value) {
    for (const char c : value) {
        if (is_control(c)) {
            return fail(path, shown(value) + " contains a control character");
        }
        if (c == ' ') {
            return fail(path, shown(value) + " contains whitespace");
        }
        if (c == ',') {
            return fail(path, shown(value) + " contains ',', which would split the mount options");
        }
    }
    return {};
}

Result<void> check_length(std::string_view path, std::string_view value, std::size_t limit) {
    if (value.size() > limit) {
        return fail(path, "is " + std::to_string(value.size()) + " characters long; at most " +
                              std::to_string(limit) + " are allowed");
    }
    return {};
}

// The parts of a relative path: none empty, none "." or "..", each of the allowed characters.
Result<std::vector<std::string_view>> path_components(std::string_view path, std::string_view whole,
                                                      std::string_view relative,
                                                      bool (*allowed)(char)) {
    auto parts = split(relative, '/');
    for (const auto part : parts) {
        if (part.empty() || part == "." || part == "..") {
            return fail(path, shown(whole) +
                                  " is not normalised: no '.', '..', '//' or trailing '/' allowed");
        }
        const auto bad = std::find_if_not(part.begin(), part.end(), allowed);
        if (bad != part.end()) {
            return fail(path, shown(whole) + " contains '" + printable(std::string_view(&*bad, 1)) +
                                  "'; path components hold letters, digits and . _ - + ~");
        }
    }
    return parts;
}

bool is_ipv4(std::string_view text) {
    const auto parts = split(text, '.');
    if (parts.size() != 4) {
        return false;
    }
    return std::all_of(parts.begin(), parts.end(), [](std::string_view part) {
        if (part.empty() || part.size() > 3 || (part.size() > 1 && part.front() == '0') ||
            !std::all_of(part.begin(), part.end(), is_digit)) {
            return false;
        }
        return std::stoi(std::string(part)) <= 255;
    });
}

// Counts the 16-bit groups in one side of a "::", or returns -1 if a group is malformed.
int ipv6_groups(std::string_view text, bool allow_ipv4_tail) {
    if (text.empty()) {
        return 0;
    }
    const auto parts = split(text, ':');
    int groups = 0;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        const auto part = parts[i];
        if (allow_ipv4_tail && i + 1 == parts.size() && part.find('.') != std::string_view::npos) {
            if (!is_ipv4(part)) {
                return -1;
            }
            groups += 2;
        } else if (part.empty() || part.size() > 4 ||
                   !std::all_of(part.begin(), part.end(), is_hex)) {
            return -1;
        } else {
            ++groups;
        }
    }
    return groups;
}

bool is_ipv6(std::string_view text) {
    const std::size_t gap = text.find("::");
    if (gap == std::string_view::npos) {
        return ipv6_groups(text, true) == 8;
    }
    if (text.find("::", gap + 1) != std::string_view::npos) {
        return false;
    }
    const int head = ipv6_groups(text.substr(0, gap), false);
    const int tail = ipv6_groups(text.substr(gap + 2), true);
    return head >= 0 && tail >= 0 && head + tail <= 7;
}

bool is_dns_name(std::string_view text) {
    if (text.size() > 253) {
        return false;
    }
    const auto labels = split(text, '.');
    return std::all_of(labels.begin(), labels.end(), [](std::string_view label) {
        return !label.empty() && label.size() <= 63 && label.front() != '-' &&
               label.back() != '-' && std::all_of(label.begin(), label.end(), [](char c) {
                   return is_alnum(c) || c == '-';
               });
    });
}

Result<void> check_host(std::string_view path, std::string_view source, std::string_view host) {
    bool good = false;
    if (!host.empty() && host.front() == '[') {
        good = host.size() > 2 && host.back() == ']' && is_ipv6(host.substr(1, host.size() - 2));
    } else if (!host.empty() && std::all_of(host.begin(), host.end(),
                                            [](char c) { return is_digit(c) || c == '.'; })) {
        good = is_ipv4(host);
    } else {
        good = is_dns_name(host);
    }
    if (!good) {
        return fail(path, "host " + shown(host) + " in " + shown(source) +
                              " is not a DNS name or an IPv4 or [IPv6] address");
    }
    return {};
}

Result<SourceShape> parse_smb(std::string_view path, std::string_view source) {
    const auto rest = source.substr(2);
    const std::size_t slash = rest.find('/');
    if (auto host = check_host(path, source, rest.substr(0, slash)); !host) {
        return host.error();
    }
    if (slash == std::string_view::npos) {
        return fail(path, shown(source) + " names no share; expected //host/share");
    }
    auto parts = path_components(path, source, rest.substr(slash + 1), is_smb_char);
    if (!parts) {
        return parts.error();
    }
    return SourceShape{ShareType::Smb, std::string(parts->front())};
}

Result<SourceShape> parse_nfs(std::string_view path, std::string_view source) {
    std::size_t host_end = source.find(':');
    if (source.front() == '[') {
        const std::size_t close = source.find(']');
        host_end = close == std::string_view::npos ? close : close + 1;
    }
    const auto host = source.substr(0, host_end);
    const auto rest =
        host_end == std::string_view::npos ? std::string_view() : source.substr(host_end);
    if (rest.size() < 2 || rest[0] != ':' || rest[1] != '/') {
        return fail(path, shown(source) +
                              " is not an NFS export: expected host:/export, with an IPv6 address "
                              "in brackets ([fd00::1]:/export)");
    }
    if (auto checked = check_host(path, source, host); !checked) {
        return checked.error();
    }
    if (rest == ":/") {
        return SourceShape{ShareType::Nfs, ""};
    }
    auto parts = path_components(path, source, rest.substr(2), is_path_char);
    if (!parts) {
        return parts.error();
    }
    return SourceShape{ShareType::Nfs, std::string(parts->back())};
}

// Shared by mount points and bind sources; `example` completes the advice.
Result<void> check_local_dir(std::string_view path, std::string_view dir,
                             std::string_view example) {
    const std::string advice = "; use a dedicated path such as " + std::string(example);
    if (dir.empty()) {
        return fail(path, "is empty" + advice);
    }
    if (auto length = check_length(path, dir, k_max_path); !length) {
        return length;
    }
    if (auto plain = check_plain(path, dir); !plain) {
        return plain;
    }
    if (dir.front() != '/') {
        return fail(path, shown(dir) + " is not an absolute path" + advice);
    }
    if (dir == "/") {
        return fail(path, "'/' is the root directory" + advice);
    }
    if (auto parts = path_components(path, dir, dir.substr(1), is_path_char); !parts) {
        return parts.error();
    }
    for (const std::string_view system : k_system_dirs) {
        if (dir == system) {
            return fail(path, shown(dir) + " is a system directory" + advice);
        }
        if (dir.starts_with(system) && dir[system.size()] == '/') {
            return fail(path, shown(dir) + " is inside the system directory " +
                                  std::string(system) + advice);
        }
    }
    if (contains(k_top_dirs, dir)) {
        return fail(path, shown(dir) + " would cover everything in " + std::string(dir) + advice);
    }
    return {};
}

}  // namespace

std::string joined(std::span<const std::string_view> items) {
    std::string out;
    for (const std::string_view item : items) {
        out += (out.empty() ? "" : ", ") + std::string(item);
    }
    return out;
}

bool looks_like_secret_name(std::string_view name) {
    if (name == "sshKeys") {
        return false;
    }
    const std::string folded = ascii_lower(name);
    return std::any_of(
        std::begin(k_secret_words), std::end(k_secret_words),
        [&](std::string_view word) { return folded.find(word) != std::string::npos; });
}

Result<SourceShape> parse_source(std::string_view path, std::string_view source) {
    if (source.empty()) {
        return fail(path, "is empty; " + std::string(k_source_shapes));
    }
    // The value is not shown: what precedes the '@' is a user name and often a password.
    if (source.find('@') != std::string_view::npos) {
        return fail(path,
                    "contains '@' (value not shown): a source carries no user name or "
                    "password; " +
                        std::string(k_keys_belong));
    }
    if (looks_like_secret_value(source)) {
        return fail(path, "looks like it carries a SAS token or key (value not shown); " +
                              std::string(k_keys_belong));
    }
    if (auto length = check_length(path, source, k_max_path); !length) {
        return length.error();
    }
    if (auto plain = check_plain(path, source); !plain) {
        return plain.error();
    }
    if (source.find('\\') != std::string_view::npos) {
        return fail(path, shown(source) + " uses backslashes; write SMB shares as //host/share");
    }
    if (source.find("://") != std::string_view::npos) {
        return fail(path, shown(source) + " is a URL; " + std::string(k_source_shapes));
    }
    if (source.starts_with("//")) {
        return parse_smb(path, source);
    }
    if (source.starts_with("/")) {
        if (auto dir = check_local_dir(path, source, "/srv/<share>"); !dir) {
            return dir.error();
        }
        return SourceShape{ShareType::Bind, std::string(source.substr(source.rfind('/') + 1))};
    }
    if (source.find(':') != std::string_view::npos) {
        return parse_nfs(path, source);
    }
    return fail(path, shown(source) + " is not a share source; " + std::string(k_source_shapes));
}

Result<void> check_mount_point(std::string_view path, std::string_view mount_point) {
    if (auto dir = check_local_dir(path, mount_point, "/datamnt/<share>"); !dir) {
        return dir;
    }
    // Users' homes and root's: a share mounted over ~/.ssh (its files the share writer's, owned
    // by root) would hand out logins. World-writable /tmp: a user could plant a link on the way.
    for (const std::string_view private_dir : k_private_dirs) {
        if (mount_point.starts_with(private_dir) && mount_point[private_dir.size()] == '/') {
            return fail(path, shown(mount_point) + " is inside " + std::string(private_dir) +
                                  ", where users' or root's own files live; use a dedicated path "
                                  "such as /datamnt/<share>");
        }
    }
    return {};
}

Result<void> check_metadata_mount_point(std::string_view path, std::string_view mount_point) {
    // Anyone allowed to tag the scale set could otherwise choose where a share they control is
    // mounted; from metadata, only the agent's own /datamnt.
    static constexpr std::string_view k_datamnt = "/datamnt/";
    if (!mount_point.starts_with(k_datamnt) || mount_point.size() == k_datamnt.size()) {
        return fail(path, shown(mount_point) +
                              " is not under /datamnt: instance metadata (tags) may only place a "
                              "share there; set any other mount point in userData or "
                              "/etc/dsvm-agent/pool.json");
    }
    return check_mount_point(path, mount_point);
}

Result<void> check_options(std::string_view path, std::string_view options) {
    if (auto length = check_length(path, options, k_max_options); !length) {
        return length;
    }
    if (options.empty()) {
        return {};
    }
    for (const char c : options) {
        if (c != ',' && !is_option_char(c)) {
            return fail(path, shown(options) + " contains '" + printable(std::string_view(&c, 1)) +
                                  "'; options are comma-separated key or key=value items of "
                                  "letters, digits and _ . = : / + -");
        }
    }
    for (const auto item : split(options, ',')) {
        if (item.empty()) {
            return fail(path,
                        shown(options) + " has an empty item (a leading, trailing or double ',')");
        }
        const auto key = item.substr(0, item.find('='));
        if (key.empty()) {
            return fail(path, "an item of " + shown(options) + " has no key before '='");
        }
        if (is_credential_key(key)) {
            return fail(path, "option " + shown(key) +
                                  " would carry a credential (value not shown); the agent passes "
                                  "storage keys through a credentials file: " +
                                  std::string(k_keys_belong));
        }
    }
    return {};
}

Result<void> check_notebooks(std::string_view path, std::string_view pattern) {
    static constexpr std::string_view k_placeholder = "{user}";
    const std::string example = " (such as notebooks/{user})";
    if (pattern.empty()) {
        return fail(path,
                    "is empty; expected a path relative to the share root with {user}" + example);
    }
    if (auto length = check_length(path, pattern, k_max_path); !length) {
        return length;
    }
    if (auto plain = check_plain(path, pattern); !plain) {
        return plain;
    }
    if (pattern.front() == '/') {
        return fail(path, shown(pattern) + " must be relative to the share root" + example);
    }
    std::size_t count = 0;
    for (std::size_t at = pattern.find(k_placeholder); at != std::string_view::npos;
         at = pattern.find(k_placeholder, at + 1)) {
        ++count;
    }
    if (count != 1) {
        return fail(path, shown(pattern) + " must contain {user} exactly once" + example);
    }
    // With {user} filled in, the rest is an ordinary relative path.
    std::string filled(pattern);
    filled.replace(filled.find(k_placeholder), k_placeholder.size(), "u");
    if (filled.find_first_of("{}") != std::string::npos) {
        return fail(path, shown(pattern) + " has a brace outside {user}, the only placeholder");
    }
    if (auto parts = path_components(path, pattern, filled, is_path_char); !parts) {
        return parts.error();
    }
    return {};
}

Result<void> check_uid_range(std::string_view path, std::int64_t min, std::int64_t max) {
    const std::string range = "[" + std::to_string(min) + ", " + std::to_string(max) + "]";
    if (min < 1000) {
        return fail(path, range + " starts below 1000, where system accounts live");
    }
    if (max > 2147483646) {
        return fail(path, range + " ends above 2147483646, the largest UID tools handle safely");
    }
    if (min > max) {
        return fail(path, range + " is empty: the minimum is greater than the maximum");
    }
    if (min <= 65535 && max >= 60001) {
        return fail(path, range +
                              " overlaps 60001-65535, which systemd keeps for homed, dynamic users "
                              "and nobody; use a range below 60001 or above 65535");
    }
    return {};
}

Result<void> check_interval(std::string_view path, std::int64_t seconds) {
    if (seconds < 10 || seconds > 86400) {
        return fail(path, std::to_string(seconds) +
                              " is out of range: an integer number of seconds from 10 to 86400");
    }
    return {};
}

namespace {

// keyVault's values sit where a careless paste puts a key, and the secret-name scan does not look
// below keyVault: its messages never show the value, only its length.
std::string unshown(std::string_view value) {
    return "the value (" + std::to_string(value.size()) + " characters, not shown)";
}

}  // namespace

Result<void> check_vault_name(std::string_view path, std::string_view name) {
    const std::string rule =
        "a Key Vault name is 3 to 24 letters, digits and '-', starts with a letter, ends with a "
        "letter or digit and has no \"--\"";
    if (name.size() < 3 || name.size() > 24 || !is_alpha(name.front()) || !is_alnum(name.back()) ||
        name.find("--") != std::string_view::npos ||
        !std::all_of(name.begin(), name.end(), [](char c) { return is_alnum(c) || c == '-'; })) {
        return fail(path, unshown(name) + " is not a vault name: " + rule);
    }
    return {};
}

Result<void> check_secret_name(std::string_view path, std::string_view name) {
    if (name.empty() || name.size() > 127 ||
        !std::all_of(name.begin(), name.end(), [](char c) { return is_alnum(c) || c == '-'; })) {
        return fail(path, unshown(name) +
                              " is not a secret name: 1 to 127 letters, digits and '-' (the name "
                              "of the secret in the vault, never the secret itself)");
    }
    // `openssl rand -hex 32` passes the character rule; names people choose have hyphens or
    // are short.
    if (name.size() >= 32 && name.find('-') == std::string_view::npos) {
        return fail(path, unshown(name) +
                              " looks like a key rather than the name of a secret: give the "
                              "name the key is stored under in the vault, such as storage-key "
                              "(a name of 32 characters or more needs a '-')");
    }
    return {};
}

Result<void> check_client_id(std::string_view path, std::string_view id) {
    bool ok = id.size() == 36;
    for (std::size_t i = 0; ok && i < id.size(); ++i) {
        ok = (i == 8 || i == 13 || i == 18 || i == 23) ? id[i] == '-' : is_hex(id[i]);
    }
    if (!ok) {
        return fail(path, unshown(id) +
                              " is not a client id: a managed identity's client id is a GUID "
                              "such as 00000000-0000-0000-0000-000000000000 (az identity show "
                              "--query clientId)");
    }
    return {};
}

Result<void> check_refresh_interval(std::string_view path, std::int64_t seconds) {
    if (seconds < 60 || seconds > 86400) {
        return fail(path, std::to_string(seconds) +
                              " is out of range: an integer number of seconds from 60 to 86400");
    }
    return {};
}

}  // namespace dsvm::config::rules
