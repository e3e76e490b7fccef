#include "extension/record.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "common/text.h"
#include "mount/credentials.h"
#include "users/registry_key.h"

namespace dsvm::extension {

using namespace dsvm::mount;
using namespace dsvm::users;

using nlohmann::json;

std::string render_record(const ExtensionRecord& record) {
    json pool = nullptr;
    if (!record.config_file.empty()) {
        pool = {{"path", record.config_file}, {"sha256", record.config_sha256}};
    }
    return json{{"version", 1},
                {"poolConfig", pool},
                {"credentials", record.credentials},
                {"registryKeys", record.registry_keys}}
               .dump(2) +
           "\n";
}

Result<ExtensionRecord> parse_record(std::string_view text, std::string_view shown) {
    const json document = json::parse(text, nullptr, false);
    const auto damaged = [&](std::string_view why) {
        return failure("the extension record " + std::string(shown) + " is damaged (" +
                       std::string(why) + "); remove it, and remove by hand what enable wrote");
    };
    if (document.is_discarded() || !document.is_object()) {
        return damaged("not a JSON object");
    }
    if (const auto version = document.find("version");
        version == document.end() || !version->is_number_integer() || *version != 1) {
        return damaged("unknown version");
    }
    ExtensionRecord record;
    if (const auto pool = document.find("poolConfig"); pool != document.end() && !pool->is_null()) {
        if (!pool->is_object() || !pool->contains("path") || !(*pool)["path"].is_string() ||
            !pool->contains("sha256") || !(*pool)["sha256"].is_string()) {
            return damaged("poolConfig needs a path and a sha256");
        }
        record.config_file = (*pool)["path"].get<std::string>();
        record.config_sha256 = (*pool)["sha256"].get<std::string>();
        if (record.config_file.empty() || record.config_file.front() != '/') {
            return damaged("poolConfig.path is not absolute");
        }
    }
    if (const auto names = document.find("credentials"); names != document.end()) {
        if (!names->is_array()) {
            return damaged("credentials is not a list");
        }
        for (const auto& name : *names) {
            if (!name.is_string() || !check_credentials_name(name.get<std::string>())) {
                return damaged("a credentials name breaks the credentials name rule");
            }
            record.credentials.push_back(name.get<std::string>());
        }
    }
    // Only the two registry key files: uninstall removes what the record lists, so a damaged
    // record must not name any other file.
    if (const auto files = document.find("registryKeys"); files != document.end()) {
        if (!files->is_array()) {
            return damaged("registryKeys is not a list");
        }
        for (const auto& file : *files) {
            if (!file.is_string() || (file.get<std::string>() != k_registry_key_path &&
                                      file.get<std::string>() != k_previous_registry_key_path)) {
                return damaged("registryKeys names a file that is not a registry key file");
            }
            record.registry_keys.push_back(file.get<std::string>());
        }
    }
    for (auto* names : {&record.credentials, &record.registry_keys}) {
        std::sort(names->begin(), names->end());
        names->erase(std::unique(names->begin(), names->end()), names->end());
    }
    return record;
}

}  // namespace dsvm::extension
