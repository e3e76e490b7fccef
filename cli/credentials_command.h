// `dsvm-agent credentials set|list`: the admin's way to give the agent a storage key without it
// ever touching argv, the environment, logs or metadata.
#pragma once

#include <string>

#include "common/root.h"

namespace dsvm::cli {

// Reads the key from standard input (on a terminal: a prompt, echo off; otherwise the whole of
// stdin, one trailing newline dropped), validates name, username and key, and writes the
// credentials file. Prints where it was written, never the key. Returns the exit status: 0, 1
// for a runtime failure, 2 for invalid input (nothing written). key_stdin must be true: the key
// is never taken from the command line.
int credentials_set(const Root& root, const std::string& name, const std::string& username,
                    bool key_stdin);

// Prints each credentials file: name, path, mode, owner and whether the agent will use it (and
// why not). Never the key. as_json prints a JSON array instead of a table.
int credentials_list(const Root& root, bool as_json);

}  // namespace dsvm::cli
