#include "users/rules.h"

#include <algorithm>
#include <cstddef>
#include <string>

#include "common/text.h"

namespace dsvm::users {

namespace {

using ascii::is_base64;
using ascii::is_control;
using ascii::is_digit;
using ascii::is_lower;
using ascii::is_upper;

constexpr std::string_view k_name_rule = "^[a-z_][a-z0-9_-]{0,31}$";
constexpr std::size_t k_max_name = 32;
// An RSA key of 16384 bits is under 3 KB of text; the rest is room for a comment.
constexpr std::size_t k_max_ssh_key = 16384;
// sshd reads these from authorized_keys; "ssh-dss" is left out as OpenSSH disabled it.
constexpr std::string_view k_ssh_key_types[] = {"ssh-ed25519",
                                                "ssh-rsa",
                                                "ecdsa-sha2-nistp256",
                                                "ecdsa-sha2-nistp384",
                                                "ecdsa-sha2-nistp521",
                                                "sk-ssh-ed25519@openssh.com",
                                                "sk-ecdsa-sha2-nistp256@openssh.com"};
constexpr std::string_view k_sudo_only =
    "is never granted through groups; sudo comes only from \"sudo\": true (docs/users.md)";

Error fail(std::string_view path, std::string_view message) {
    return invalid(std::string(path) + ": " + std::string(message));
}

bool is_first_name_char(char c) {
    return is_lower(c) || c == '_';
}
bool is_later_name_char(char c) {
    return is_first_name_char(c) || is_digit(c) || c == '-';
}

// The shape shared by user and group names (useradd's default NAME_REGEX, less '$').
bool has_name_shape(std::string_view name) {
    return !name.empty() && name.size() <= k_max_name && is_first_name_char(name.front()) &&
           std::all_of(name.begin() + 1, name.end(), is_later_name_char);
}

const ReservedPrefix* reserved_prefix_of(std::string_view name) {
    const auto prefixes = reserved_prefixes();
    const auto found = std::find_if(prefixes.begin(), prefixes.end(), [&](const auto& entry) {
        return name.starts_with(entry.prefix);
    });
    return found == prefixes.end() ? nullptr : &*found;
}

// What membership of a privileged group gives, or nullptr for an ordinary group.
const std::string_view* privilege_of(std::string_view name) {
    static constexpr std::string_view k_agent_group =
        "names starting with 'dsvm-' are the agent's, such as its sudo group dsvm-sudo";
    if (name.starts_with("dsvm-")) {
        return &k_agent_group;
    }
    const auto groups = privileged_groups();
    const auto found = std::find_if(groups.begin(), groups.end(),
                                    [&](const auto& entry) { return entry.name == name; });
    return found == groups.end() ? nullptr : &found->gives;
}

// Random base64 of that length always mixes cases and digits; paths and words rarely do.
bool mixes_classes(std::string_view text) {
    return std::any_of(text.begin(), text.end(), is_digit) &&
           std::any_of(text.begin(), text.end(), is_lower) &&
           std::any_of(text.begin(), text.end(), is_upper);
}

// A storage key is 64 random bytes in base64: 86 significant characters and "==". Its '/' and
// '+' join it to neighbouring path text, so the 86 characters before a "==" count as well as a
// run of 86-88 base64 characters on its own.
bool looks_like_account_key(std::string_view value) {
    constexpr std::size_t k_key_chars = 86;
    for (std::size_t pad = value.find("=="); pad != std::string_view::npos;
         pad = value.find("==", pad + 1)) {
        if (pad >= k_key_chars) {
            const auto body = value.substr(pad - k_key_chars, k_key_chars);
            if (std::all_of(body.begin(), body.end(), is_base64) && mixes_classes(body)) {
                return true;
            }
        }
    }
    std::size_t start = 0;
    while (start < value.size()) {
        std::size_t end = start;
        while (end < value.size() && is_base64(value[end])) {
            ++end;
        }
        const auto run = value.substr(start, end - start);
        if (run.size() >= k_key_chars && run.size() <= k_key_chars + 2 && mixes_classes(run)) {
            return true;
        }
        start = end + 1;
    }
    return false;
}

// base64 of the start of an SSH key blob, which names its type: uint32 length, then the type.
std::string ssh_blob_prefix(std::string_view type) {
    static constexpr char k_alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string bytes(3, '\0');
    bytes.push_back(static_cast<char>(type.size()));
    bytes += type;
    // Only whole 3-byte groups encode independently of the bytes that follow.
    std::string out;
    for (std::size_t i = 0; i + 3 <= bytes.size(); i += 3) {
        const unsigned chunk = static_cast<unsigned char>(bytes[i]) << 16 |
                               static_cast<unsigned char>(bytes[i + 1]) << 8 |
                               static_cast<unsigned char>(bytes[i + 2]);
        for (int shift = 18; shift >= 0; shift -= 6) {
            out.push_back(k_alphabet[(chunk >> shift) & 63]);
        }
    }
    return out;
}

bool is_base64_text(std::string_view text) {
    if (text.empty() || text.size() % 4 != 0) {
        return false;
    }
    const std::size_t data_end = text.find_last_not_of('=') + 1;
    return text.size() - data_end <= 2 &&
           std::all_of(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(data_end),
                       is_base64);
}

std::string ssh_key_types() {
    std::string out;
    for (const std::string_view type : k_ssh_key_types) {
        out += (out.empty() ? "" : ", ") + std::string(type);
    }
    return out;
}

}  // namespace

Result<void> check_user_name(std::string_view name) {
    const std::string rule = "user names must match " + std::string(k_name_rule);
    const std::string shown = "'" + printable(name) + "'";
    if (name.empty()) {
        return invalid("empty user name: " + rule);
    }
    if (name.size() > k_max_name) {
        return invalid("user name " + shown + " is " + std::to_string(name.size()) +
                       " characters long: " + rule + " (at most 32 characters)");
    }
    if (!has_name_shape(name)) {
        return invalid("user name " + shown + " is not allowed: " + rule);
    }
    if (const auto* prefix = reserved_prefix_of(name)) {
        return invalid("user name " + shown + " is reserved: names starting with '" +
                       std::string(prefix->prefix) + "' belong to " + std::string(prefix->owner));
    }
    // The user's own group takes the user's name, so the name must not be a privileged group.
    if (const auto* gives = privilege_of(name)) {
        return invalid("user name " + shown + " is reserved: it is a privileged group (" +
                       std::string(*gives) + "), and a pool user's own group has the user's name");
    }
    const auto names = reserved_user_names();
    if (const auto found = std::find_if(names.begin(), names.end(),
                                        [&](const auto& entry) { return entry.name == name; });
        found != names.end()) {
        return invalid("user name " + shown + " is reserved for " + std::string(found->owner) +
                       "; see the reserved names in docs/users.md");
    }
    return {};
}

Result<void> check_group_name(std::string_view path, std::string_view name) {
    if (!has_name_shape(name)) {
        return fail(path, "group name " + shown_value(name) +
                              " is not allowed: group names must match " +
                              std::string(k_name_rule));
    }
    return {};
}

bool is_privileged_group(std::string_view name) {
    return privilege_of(name) != nullptr;
}

Result<void> check_group_grant(std::string_view path, std::string_view name) {
    if (auto syntax = check_group_name(path, name); !syntax) {
        return syntax;
    }
    if (const auto* gives = privilege_of(name)) {
        return fail(path, "group " + shown_value(name) + " is privileged (" + std::string(*gives) +
                              ") and " + std::string(k_sudo_only));
    }
    return {};
}

Result<void> check_ssh_key(std::string_view path, std::string_view key) {
    if (key.size() > k_max_ssh_key) {
        return fail(path, "is " + std::to_string(key.size()) + " characters long; at most " +
                              std::to_string(k_max_ssh_key) + " are allowed");
    }
    if (key.find_first_of("\r\n") != std::string_view::npos) {
        return fail(path, "contains a line break; give one key per array item");
    }
    if (std::any_of(key.begin(), key.end(), is_control)) {
        return fail(path, shown_value(key) + " contains a control character");
    }
    const std::string_view usage = "; expected an OpenSSH public key 'type base64 [comment]'";
    const std::size_t type_end = key.find(' ');
    const auto type = key.substr(0, type_end);
    if (std::find(std::begin(k_ssh_key_types), std::end(k_ssh_key_types), type) ==
        std::end(k_ssh_key_types)) {
        return fail(path, "key type " + shown_value(type) +
                              " is not accepted (authorized_keys options are not either); use "
                              "one of " +
                              ssh_key_types());
    }
    const std::size_t data_start =
        type_end == std::string_view::npos ? key.size() : key.find_first_not_of(' ', type_end);
    const auto data = data_start == std::string_view::npos
                          ? std::string_view()
                          : key.substr(data_start, key.find(' ', data_start) - data_start);
    if (data.empty()) {
        return fail(path, "has no key data" + std::string(usage));
    }
    if (!is_base64_text(data)) {
        return fail(path, "key data is not base64" + std::string(usage));
    }
    const std::string prefix = ssh_blob_prefix(type);
    if (data.size() <= prefix.size() || !data.starts_with(prefix)) {
        return fail(path, "key data does not hold a " + std::string(type) +
                              " key (truncated, or of another type)");
    }
    return {};
}

bool looks_like_secret_value(std::string_view value) {
    std::string folded(value);
    std::transform(folded.begin(), folded.end(), folded.begin(),
                   [](char c) { return is_upper(c) ? static_cast<char>(c + 32) : c; });
    return folded.find("sig=") != std::string::npos || folded.find("sig%3d") != std::string::npos ||
           looks_like_account_key(value);
}

std::string shown_value(std::string_view value) {
    if (looks_like_secret_value(value)) {
        return "(a value not shown because it looks like a secret)";
    }
    return "'" + printable(value) + "'";
}

}  // namespace dsvm::users
