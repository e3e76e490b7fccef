#include "extension/status.h"

#include "common/fs.h"

namespace dsvm::extension {

using nlohmann::json;

namespace {

constexpr std::size_t k_max_message = 4096;
constexpr std::size_t k_max_substatus = 16;

std::string cut(std::string_view message) {
    if (message.size() <= k_max_message) {
        return std::string(message);
    }
    return std::string(message.substr(0, k_max_message - 3)) + "...";
}

json formatted(std::string_view message) {
    return {{"lang", "en-US"}, {"message", cut(message)}};
}

}  // namespace

std::string_view to_string(HandlerStatus status) {
    switch (status) {
        case HandlerStatus::Transitioning:
            return "transitioning";
        case HandlerStatus::Success:
            return "success";
        case HandlerStatus::Warning:
            return "warning";
        case HandlerStatus::Error:
            return "error";
    }
    return "error";
}

json status_document(const ExtensionStatus& status, std::string_view timestamp_utc) {
    json substatus = json::array();
    for (const auto& step : status.substatus) {
        if (substatus.size() == k_max_substatus) {
            break;
        }
        substatus.push_back({{"name", step.name},
                             {"status", to_string(step.status)},
                             {"code", step.status == HandlerStatus::Error ? 1 : 0},
                             {"formattedMessage", formatted(step.message)}});
    }
    json inner = {{"name", status.name},
                  {"operation", status.operation},
                  {"status", to_string(status.status)},
                  {"code", status.code},
                  {"formattedMessage", formatted(status.message)},
                  {"substatus", std::move(substatus)}};
    return json::array(
        {{{"version", 1.0}, {"timestampUTC", std::string(timestamp_utc)}, {"status", inner}}});
}

Result<void> write_status(const std::string& status_folder, std::uint64_t sequence,
                          const ExtensionStatus& status, std::string_view timestamp_utc) {
    if (auto made = make_directories(status_folder, 0755); !made) {
        return made;
    }
    const std::string path = status_folder + "/" + std::to_string(sequence) + ".status";
    return write_file_atomic(path, status_document(status, timestamp_utc).dump(2) + "\n", 0644);
}

Result<void> remove_status(const std::string& status_folder, std::uint64_t sequence) {
    return remove_file_if_exists(status_folder + "/" + std::to_string(sequence) + ".status");
}

}  // namespace dsvm::extension
