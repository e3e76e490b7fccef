#include "users/names.h"

#include <algorithm>
#include <iterator>
#include <string>

namespace dsvm {

namespace {

// Names the base system, Debian's base-passwd and the DSVM image use for themselves. Existing
// local accounts are checked against the account database separately.
constexpr std::string_view k_reserved_names[] = {
    "root",       "daemon",    "bin",   "sys",    "sync",  "games",           "man",
    "lp",         "mail",      "news",  "uucp",   "proxy", "www-data",        "backup",
    "list",       "irc",       "gnats", "nobody", "_apt",  "systemd-network", "systemd-resolve",
    "messagebus", "sshd",      "sudo",  "wheel",  "adm",   "staff",           "users",
    "nogroup",    "dsvm-agent"};

bool is_first_char(char c) {
    return (c >= 'a' && c <= 'z') || c == '_';
}
bool is_later_char(char c) {
    return is_first_char(c) || (c >= '0' && c <= '9') || c == '-';
}

}  // namespace

Result<void> check_user_name(std::string_view name) {
    static constexpr std::string_view k_rule = "user names must match ^[a-z_][a-z0-9_-]{0,31}$";
    const std::string shown = "'" + printable(name) + "'";
    if (name.empty()) {
        return invalid("empty user name: " + std::string(k_rule));
    }
    if (name.size() > 32) {
        return invalid("user name " + shown + " is " + std::to_string(name.size()) +
                       " characters long: " + std::string(k_rule) + " (at most 32 characters)");
    }
    if (!is_first_char(name.front()) || !std::all_of(name.begin() + 1, name.end(), is_later_char)) {
        return invalid("user name " + shown + " is not allowed: " + std::string(k_rule));
    }
    if (std::find(std::begin(k_reserved_names), std::end(k_reserved_names), name) !=
        std::end(k_reserved_names)) {
        return invalid("user name " + shown + " is reserved for the system");
    }
    return {};
}

}  // namespace dsvm
