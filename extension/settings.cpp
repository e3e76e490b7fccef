#include "extension/settings.h"

#include <algorithm>
#include <array>

#include "common/fs.h"
#include "common/text.h"
#include "extension/crypto.h"

namespace dsvm::extension {

using nlohmann::json;

namespace {

constexpr std::string_view k_environment = "HandlerEnvironment.json";
constexpr std::string_view k_settings_suffix = ".settings";

// Digits only, at most 18 of them (well inside uint64); nullopt otherwise.
std::optional<std::uint64_t> decimal(std::string_view text) {
    if (text.empty() || text.size() > 18 ||
        !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return std::nullopt;
    }
    std::uint64_t value = 0;
    for (const char c : text) {
        value = value * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return value;
}

Result<std::string> folder(const json& environment, std::string_view key, bool required) {
    const std::string path =
        std::string(k_environment) + ": handlerEnvironment." + std::string(key);
    const auto found = environment.find(key);
    if (found == environment.end() || found->is_null()) {
        if (required) {
            return invalid(path + " is missing; the guest agent writes it for every handler");
        }
        return std::string();
    }
    if (!found->is_string()) {
        return invalid(path + ": expected a string (a folder path)");
    }
    const std::string& value = found->get_ref<const std::string&>();
    if (!is_absolute_path(value)) {
        return invalid(path + " '" + printable(value) + "' must be an absolute path");
    }
    return value;
}

int base64_value(char c) {
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+') {
        return 62;
    }
    if (c == '/') {
        return 63;
    }
    return -1;
}

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

}  // namespace

Result<HandlerEnvironment> parse_handler_environment(std::string_view text) {
    const json document = json::parse(text, nullptr, false);
    const std::string name(k_environment);
    if (document.is_discarded()) {
        return invalid(name + " is not valid JSON");
    }
    if (!document.is_array() || document.empty() || !document[0].is_object()) {
        return invalid(name +
                       " must be a JSON array holding one object "
                       "([{\"name\": ..., \"handlerEnvironment\": {...}}])");
    }
    const json& entry = document[0];
    HandlerEnvironment out;
    if (const auto found = entry.find("name"); found != entry.end() && found->is_string()) {
        out.name = found->get<std::string>();
    }
    const auto environment = entry.find("handlerEnvironment");
    if (environment == entry.end() || !environment->is_object()) {
        return invalid(name + ": handlerEnvironment is missing or not an object");
    }
    auto config = folder(*environment, "configFolder", true);
    if (!config) {
        return config.error();
    }
    auto status = folder(*environment, "statusFolder", true);
    if (!status) {
        return status.error();
    }
    auto log = folder(*environment, "logFolder", false);
    if (!log) {
        return log.error();
    }
    auto heartbeat = folder(*environment, "heartbeatFile", false);
    if (!heartbeat) {
        return heartbeat.error();
    }
    out.config_folder = std::move(config).value();
    out.status_folder = std::move(status).value();
    out.log_folder = std::move(log).value();
    out.heartbeat_file = std::move(heartbeat).value();
    return out;
}

Result<std::optional<SettingsChoice>> choose_settings(
    const std::optional<std::string>& sequence_env, const std::vector<std::string>& folder_names) {
    if (sequence_env) {
        const auto value = decimal(*sequence_env);
        if (!value) {
            return invalid("ConfigSequenceNumber '" + printable(*sequence_env) +
                           "' must be a decimal number (the guest agent sets it to the settings' "
                           "sequence number)");
        }
        return std::optional<SettingsChoice>(
            SettingsChoice{*value, std::to_string(*value) + std::string(k_settings_suffix)});
    }
    std::optional<SettingsChoice> best;
    for (const auto& name : folder_names) {
        if (name.size() <= k_settings_suffix.size() ||
            name.compare(name.size() - k_settings_suffix.size(), k_settings_suffix.size(),
                         k_settings_suffix) != 0) {
            continue;
        }
        const auto value =
            decimal(std::string_view(name).substr(0, name.size() - k_settings_suffix.size()));
        if (value && (!best || *value > best->sequence)) {
            best = SettingsChoice{*value, name};
        }
    }
    return best;
}

Result<HandlerSettings> parse_settings(std::string_view text) {
    const json document = json::parse(text, nullptr, false);
    if (document.is_discarded()) {
        return invalid("the settings file is not valid JSON");
    }
    const auto runtime = document.is_object() ? document.find("runtimeSettings") : document.end();
    if (runtime == document.end() || !runtime->is_array() || runtime->empty() ||
        !(*runtime)[0].is_object()) {
        return invalid(
            "the settings file has no runtimeSettings[0] (expected {\"runtimeSettings\": "
            "[{\"handlerSettings\": {...}}]})");
    }
    const json& entry = (*runtime)[0];
    const auto handler = entry.find("handlerSettings");
    if (handler == entry.end() || !handler->is_object()) {
        return invalid("runtimeSettings[0].handlerSettings is missing or not an object");
    }
    HandlerSettings out;
    if (const auto found = handler->find("publicSettings");
        found != handler->end() && !found->is_null()) {
        if (!found->is_object()) {
            return invalid(
                "publicSettings: expected an object (a pool config such as {\"share\": "
                "{\"source\": \"//acct.file.core.windows.net/share\"}})");
        }
        out.public_settings = *found;
    }
    if (const auto found = handler->find("protectedSettings");
        found != handler->end() && !found->is_null()) {
        if (!found->is_string()) {
            return invalid("protectedSettings: expected a string (base64 of CMS EnvelopedData)");
        }
        out.protected_settings = found->get<std::string>();
    }
    if (out.protected_settings.empty()) {
        return out;
    }
    const auto thumbprint = handler->find("protectedSettingsCertThumbprint");
    if (thumbprint == handler->end() || !thumbprint->is_string()) {
        return invalid(
            "protectedSettingsCertThumbprint is missing: it names the certificate the protected "
            "settings are encrypted for");
    }
    out.thumbprint = thumbprint->get<std::string>();
    if (auto parsed = parse_thumbprint(out.thumbprint); !parsed) {
        return parsed.error();
    }
    return out;
}

Result<std::string> base64_decode(std::string_view text) {
    std::string out;
    out.reserve(text.size() / 4 * 3);
    std::array<int, 4> quad{};
    std::size_t filled = 0;
    std::size_t padding = 0;
    std::size_t symbols = 0;
    for (const char c : text) {
        if (is_space(c)) {
            continue;
        }
        ++symbols;
        if (c == '=') {
            ++padding;
            if (padding > 2 || filled < 2) {
                return invalid("protectedSettings is not base64: misplaced '=' padding");
            }
            quad[filled++] = 0;
        } else {
            const int value = base64_value(c);
            if (value < 0) {
                return invalid("protectedSettings is not base64: unexpected character '" +
                               printable(std::string_view(&c, 1)) + "'");
            }
            if (padding > 0) {
                return invalid("protectedSettings is not base64: data after '=' padding");
            }
            quad[filled++] = value;
        }
        if (filled == 4) {
            const auto bits = (static_cast<std::uint32_t>(quad[0]) << 18) |
                              (static_cast<std::uint32_t>(quad[1]) << 12) |
                              (static_cast<std::uint32_t>(quad[2]) << 6) |
                              static_cast<std::uint32_t>(quad[3]);
            out.push_back(static_cast<char>((bits >> 16) & 0xFF));
            if (padding < 2) {
                out.push_back(static_cast<char>((bits >> 8) & 0xFF));
            }
            if (padding < 1) {
                out.push_back(static_cast<char>(bits & 0xFF));
            }
            filled = 0;
        }
    }
    if (filled != 0) {
        return invalid("protectedSettings is not base64: " + std::to_string(symbols) +
                       " characters is not a multiple of 4");
    }
    if (out.empty()) {
        return invalid("protectedSettings is empty after base64 decoding");
    }
    return out;
}

}  // namespace dsvm::extension
