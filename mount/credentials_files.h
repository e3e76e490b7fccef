// The platform's half of mount/credentials.cpp: how a credentials file and its directory are
// looked at and made. credentials_posix.cpp checks owners and modes (root, 0700 and 0600);
// credentials_win32.cpp checks access lists (SYSTEM and Administrators only).
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"
#include "common/root.h"
#include "mount/credentials.h"

namespace dsvm::mount {

// "`dsvm-agent credentials set NAME --key-stdin`", for messages that say how to fix a file.
std::string credentials_set_command(std::string_view name);

// `error` with the root's real path replaced by "/": errors from common/fs name real paths, the
// admin thinks in paths inside the root.
Error in_root_terms(const Root& root, Error error);

// Why the credentials directory makes every file in it unsafe; empty when it is safe or absent
// (an absent directory leaves the files missing, which is reported on its own).
Result<std::string> credentials_directory_problem(const Root& root);

// NAME's file looked at without reading the key; `found` is false when there is none.
struct InspectedCredentials {
    bool found = false;
    CredentialsFile file;
};
Result<InspectedCredentials> inspect_credentials_file(const Root& root, std::string_view name,
                                                      const std::string& directory_problem);

// Makes the directory when missing and checks it (narrowing its access where it is too open).
Result<void> prepare_credentials_directory(const Root& root);

}  // namespace dsvm::mount
