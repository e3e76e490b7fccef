// The extension's status file (docs/extension.md, "Status"): <statusFolder>/<seq>.status, which the
// guest agent reports to Azure (the portal's and `az vm extension show`'s "status").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace dsvm::extension {

enum class HandlerStatus { Transitioning, Success, Warning, Error };

// "transitioning", "success", "warning", "error".
std::string_view to_string(HandlerStatus status);

// One step of an operation, reported as a substatus ("pool config", "credentials", "service").
struct SubStatus {
    std::string name;
    HandlerStatus status = HandlerStatus::Success;
    std::string message;
};

struct ExtensionStatus {
    std::string name;       // the handler's name from HandlerEnvironment.json
    std::string operation;  // "Install", "Enable", "Disable", "Uninstall", "Update"
    HandlerStatus status = HandlerStatus::Transitioning;
    int code = 0;  // 0 for success; the exit status otherwise
    std::string message;
    std::vector<SubStatus> substatus;
};

// The status document: [{"version": 1.0, "timestampUTC", "status": {"name", "operation",
// "status", "code", "formattedMessage": {"lang": "en-US", "message"}, "substatus": [...]}}].
// Messages are cut to 4 KiB and substatus to 16 entries, so it stays far below the 128 KiB the
// guest agent accepts.
nlohmann::json status_document(const ExtensionStatus& status, std::string_view timestamp_utc);

// Writes the document as <status_folder>/<sequence>.status, atomically (mode 0644), creating the
// folder (0755) when it is missing. Runtime error naming the file otherwise.
Result<void> write_status(const std::string& status_folder, std::uint64_t sequence,
                          const ExtensionStatus& status, std::string_view timestamp_utc);

// Removes <status_folder>/<sequence>.status if there is one. Runtime error naming the file when
// it exists and cannot be removed.
Result<void> remove_status(const std::string& status_folder, std::uint64_t sequence);

}  // namespace dsvm::extension
