// `dsvm-agent registry set-key|drop-previous-key|sign`: the pool's registry key and the admin's
// explicit acceptance of a registry (docs/users.md, "The registry key").
#pragma once

#include <cstdint>
#include <optional>

#include "agent/engine.h"

namespace dsvm {

// Reads a key from standard input (a prompt without echo on a terminal) and stores it as this
// instance's current registry key. keep_previous: the key it replaces (if different) stays as the
// previous key, so registries it signed still verify during a rotation; otherwise any previous
// key is removed. Prints the key IDs, never a key. Exit 2 for a bad key (nothing written).
int registry_set_key(const Root& root, bool keep_previous);

// Removes the previous key once every instance has the current one and the registry is signed
// with it.
int registry_drop_previous_key(const Root& root);

// The admin's acceptance of the registry on the share as it is — after an upgrade from the
// unsigned format, after a restore from backup, or to sign it with a new key: signs it with the
// current key at a generation above what this instance saw (or `generation`, if higher). A
// registry whose signature fails or whose key is unknown is refused unless accept_unverified. An
// absent registry becomes an empty one. Prints what was signed: users, those with sudo, deleted.
int registry_sign(Engine& engine, const Root& root, std::optional<std::uint64_t> generation,
                  bool accept_unverified);

}  // namespace dsvm
