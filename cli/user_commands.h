// `dsvm-agent adduser`, `deluser` and `users`: change the pool registry on the share, then run a
// pass so this instance has the change now; other instances apply it on their next pass.
#pragma once

#include <string>
#include <vector>

#include "engine/engine.h"

namespace dsvm::cli {

struct AddUserRequest {
    std::string name;
    bool sudo = false;
    std::string ssh_key_file;  // a path, "-" for standard input, or empty
    bool password_stdin = false;
    std::string groups;  // comma-separated, or empty
};

// Validates everything first (exit 2, nothing changed, on a bad name, a reserved or existing
// local system name, a bad group name or key); the password is read (a prompt without echo on a
// terminal) and hashed at once, and only the hash goes further.
int add_user(engine::Engine& engine, const AddUserRequest& request);

// Marks the user deleted in the registry (its UID is never reused): the account is locked on
// every instance, sudo and keys are dropped. --remove-notebooks also deletes its notebook folder.
int delete_user(engine::Engine& engine, const Root& root, const std::string& name,
                bool remove_notebooks);

// The pool users from the registry and their state on this instance.
int list_users(engine::Engine& engine, const Root& root, bool as_json);

}  // namespace dsvm::cli
