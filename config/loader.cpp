#include "config/loader.h"

#include <spdlog/spdlog.h>

#include "common/fs.h"

namespace dsvm::config {

using namespace dsvm::users;

using nlohmann::json;

namespace {

constexpr const char* k_tags = "IMDS tags";
constexpr const char* k_user_data = "IMDS userData";

struct MetadataLayers {
    std::vector<ConfigLayer> layers;
    json cache = nullptr;
};

std::string tag_names(const json& layer) {
    std::string names;
    if (layer.contains("share")) {
        names += "dsvm-share";
    }
    if (layer.contains("users")) {
        names += names.empty() ? "dsvm-users" : ", dsvm-users";
    }
    return names;
}

// Turns fresh metadata into layers; records in `sources` what each part contributed.
Result<MetadataLayers> layers_from_metadata(const InstanceMetadata& metadata,
                                            std::vector<SourceReport>& sources) {
    MetadataLayers out;
    auto tags = layer_from_tags(metadata.tags);
    if (!tags) {
        return tags.error();
    }
    json cached_tags = nullptr;
    if (tags->data.empty()) {
        sources.push_back({k_tags, SourceState::Absent, "no dsvm-* tags"});
    } else {
        sources.push_back({k_tags, SourceState::Used, tag_names(tags->data)});
        cached_tags = tags->data;
        out.layers.push_back(std::move(tags).value());
    }
    auto user_data = layer_from_user_data(metadata.user_data);
    if (!user_data) {
        return user_data.error();
    }
    json cached_user_data = nullptr;
    if (*user_data) {
        sources.push_back({k_user_data, SourceState::Used, "dsvmPool"});
        cached_user_data = (*user_data)->data;
        out.layers.push_back(std::move(**user_data));
    } else if (metadata.user_data.empty()) {
        sources.push_back({k_user_data, SourceState::Absent, ""});
    } else {
        sources.push_back({k_user_data, SourceState::Ignored, "not a JSON object with dsvmPool"});
    }
    // Only the agent's own, validated layers are cached: userData may hold a cloud-init document
    // with secrets of its own, which must not be copied to disk.
    out.cache = {{"version", 1},
                 {"instance", metadata.name},
                 {"tags", cached_tags},
                 {"userData", cached_user_data}};
    return out;
}

Result<MetadataLayers> layers_from_cache(const json& cache, std::vector<SourceReport>& sources,
                                         const std::string& why) {
    MetadataLayers out;
    const std::pair<const char*, const char*> parts[] = {{"tags", k_tags},
                                                         {"userData", k_user_data}};
    for (const auto& [key, origin] : parts) {
        const auto found = cache.find(key);
        if (found == cache.end() || found->is_null()) {
            sources.push_back({origin, SourceState::Unreachable, why + "; none cached"});
            continue;
        }
        ConfigLayer layer{std::string(origin) + " (cached)", *found};
        if (auto checked = check_layer(layer, LayerSource::Metadata); !checked) {
            return checked.error();
        }
        sources.push_back({origin, SourceState::Cached, why + "; using the last-known-good copy"});
        out.layers.push_back(std::move(layer));
    }
    return out;
}

}  // namespace

Result<LoadedConfig> load_config(ImdsClient* imds, const ConfigPaths& paths) {
    LoadedConfig loaded;
    std::vector<ConfigLayer> layers;
    if (imds == nullptr) {
        loaded.sources.push_back({"IMDS", SourceState::Disabled, "--imds off"});
    } else if (auto metadata = imds->fetch()) {
        auto fresh = layers_from_metadata(*metadata, loaded.sources);
        if (!fresh) {
            return fresh.error();
        }
        loaded.instance = metadata->name;
        loaded.cache_update = std::move(fresh->cache);
        layers = std::move(fresh->layers);
    } else {
        auto cached_text = read_file_if_exists(paths.cache_file);
        if (!cached_text) {
            return cached_text.error();
        }
        const std::string why = "instance metadata unreachable";
        if (!cached_text->found) {
            loaded.warnings.push_back(why + " (" + metadata.error().message +
                                      ") and nothing cached: metadata settings are not applied");
            loaded.sources.push_back({"IMDS", SourceState::Unreachable, metadata.error().message});
        } else {
            const json cache = json::parse(cached_text->text, nullptr, false);
            if (cache.is_discarded() || !cache.is_object()) {
                return failure("the metadata cache " + paths.cache_file +
                               " is corrupt; remove it to start afresh");
            }
            auto cached = layers_from_cache(cache, loaded.sources, why);
            if (!cached) {
                return cached.error();
            }
            loaded.warnings.push_back(why + " (" + metadata.error().message +
                                      "); using the last-known-good metadata config");
            if (const auto name = cache.find("instance");
                name != cache.end() && name->is_string()) {
                loaded.instance = name->get<std::string>();
            }
            layers = std::move(cached->layers);
        }
        // Status carries the warning on every pass; the log only when the outage begins.
        const auto level = imds->failed_fetches() <= 1 ? spdlog::level::warn : spdlog::level::debug;
        for (const auto& warning : loaded.warnings) {
            spdlog::log(level, "{}", warning);
        }
    }

    auto file_text = read_file_if_exists(paths.config_file);
    if (!file_text) {
        return file_text.error();
    }
    if (file_text->found) {
        auto layer = layer_from_file(file_text->text, paths.config_name);
        if (!layer) {
            return layer.error();
        }
        layers.push_back(std::move(layer).value());
        loaded.sources.push_back({paths.config_name, SourceState::Used, ""});
    } else {
        loaded.sources.push_back({paths.config_name, SourceState::Absent, ""});
    }

    auto config = build_pool_config(merge_layers(layers));
    if (!config) {
        return with_context("pool config (all sources merged)", config.error());
    }
    loaded.config = std::move(config).value();
    return loaded;
}

}  // namespace dsvm::config
