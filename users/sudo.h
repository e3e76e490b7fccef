// Pool users with sudo: membership of one agent-owned group, granted by one sudoers drop-in.
#pragma once

#include <string>
#include <string_view>

#include "common/process.h"
#include "common/result.h"
#include "common/root.h"

namespace dsvm::users {

inline constexpr std::string_view k_sudo_group = "dsvm-sudo";
inline constexpr std::string_view k_sudoers_path = "/etc/sudoers.d/dsvm-agent";

// How sudo authenticates members of dsvm-sudo (the pool config's sudoAuthentication):
// Password, the default, asks for the user's own password, so a user whose only credential is
// an SSH key has no sudo until they have a password; None asks for nothing, as Azure does for
// an image's own admin user.
enum class SudoAuthentication { Password, None };

// "password", "none": the words of the pool config.
constexpr std::string_view to_string(SudoAuthentication authentication) {
    return authentication == SudoAuthentication::None ? "none" : "password";
}

// The drop-in's text: a header comment and "%dsvm-sudo ALL=(ALL:ALL) ALL", or with
// None "%dsvm-sudo ALL=(ALL:ALL) NOPASSWD: ALL".
std::string render_sudoers(SudoAuthentication authentication = SudoAuthentication::Password);

// Installs the drop-in if its content differs: writes a temporary file in /etc/sudoers.d whose
// name contains a '.' (sudo skips such files), validates it with `visudo -cf FILE` through the
// runner (visudo is looked up as /usr/sbin/visudo), sets mode 0440, and renames it into place.
// A failed validation leaves the old file. Returns whether anything changed.
Result<bool> install_sudoers(const Root& root, ProcessRunner& runner,
                             SudoAuthentication authentication = SudoAuthentication::Password);

}  // namespace dsvm::users
