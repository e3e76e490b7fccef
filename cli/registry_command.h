// `dsvm-agent registry set-key|drop-previous-key|sign`: the pool's registry key and the admin's
// explicit acceptance of a registry (docs/users.md, "The registry key").
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "engine/engine.h"

namespace dsvm::cli {

// Reads a key from standard input (a prompt without echo on a terminal) and stores it as this
// instance's current registry key. keep_previous: the key it replaces (if different) stays as the
// previous key, so registries it signed still verify during a rotation; otherwise any previous
// key is removed. Prints the key IDs, never a key. Exit 2 for a bad key (nothing written).
int registry_set_key(const Root& root, bool keep_previous);

// Removes the previous key once every instance has the current one and the registry is signed
// with it.
int registry_drop_previous_key(const Root& root);

// How `registry sign` may take the registry on the share.
struct SignRequest {
    std::optional<std::uint64_t> generation;  // sign at this generation at least
    bool accept_unsigned = false;             // a version 1 registry (an upgrade from 0.1)
    bool accept_unverified = false;           // a bad signature, or a key this instance lacks
    std::string expect;  // the content digest reviewed; needed for anything not trusted as is
};

// The admin's acceptance of the registry on the share: signs it with the current key at a
// generation above what this instance saw (or the requested one, if higher). A verified registry
// no older than what this instance saw is signed again as it is (a rotation, a generation bump).
// Anything else — unsigned, unverified, older — is signed only with its accept flag and
// `expect` equal to its content digest, checked under the registry lock: exactly the content the
// admin reviewed, never something swapped in since. Without them it prints what it would sign
// (users, those with sudo, the digest) and exits 2, changing nothing. An absent registry becomes
// an empty one. Nothing is written unless the engine's share backend shows the share mounted:
// never into the empty directory an unmounted share leaves.
int registry_sign(engine::Engine& engine, const Root& root, const SignRequest& request);

}  // namespace dsvm::cli
