// What the extension's enable wrote, kept in <state dir>/extension.json so that uninstall removes
// exactly that and nothing an admin made by hand. Holds names, paths and a digest of pool.json,
// never a key or anything derived from one (not even a registry key's id).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/digest.h"
#include "common/result.h"

namespace dsvm::extension {

inline constexpr std::string_view k_record_file = "extension.json";

struct ExtensionRecord {
    std::string config_file;    // the pool.json enable wrote, inside the root; empty if none
    std::string config_sha256;  // its content's SHA-256 (hex) when enable last wrote it
    std::vector<std::string> credentials;  // credentials names whose files enable wrote; sorted
    // The registry key files enable manages (k_registry_key_path, k_previous_registry_key_path,
    // the only values allowed); sorted.
    std::vector<std::string> registry_keys;

    bool operator==(const ExtensionRecord&) const = default;
};

// The record as JSON text ({"version": 1, "poolConfig": {"path", "sha256"}, "credentials": [...],
// "registryKeys": [...]}).
std::string render_record(const ExtensionRecord& record);

// Parses render_record's text; a record without registryKeys (written before enable stored
// registry keys) lists none. A record that is not JSON, has another version, a credentials name
// the credentials rule refuses or a registry key file other than the two is a Runtime error (the
// file is the agent's own; it was damaged), naming `shown`.
Result<ExtensionRecord> parse_record(std::string_view text, std::string_view shown);

}  // namespace dsvm::extension
