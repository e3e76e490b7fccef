// Gathers the pool config from its sources (docs/design.md, "The pool configuration"): IMDS tags,
// IMDS userData and the local pool.json, with the last-known-good metadata layers as the fallback
// when IMDS is unreachable.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "config/imds.h"
#include "config/pool_config.h"
#include "config/source_report.h"

namespace dsvm::config {

struct ConfigPaths {
    std::string config_file;  // real path of pool.json (joined to the root)
    std::string config_name;  // the same path as an admin knows it (inside the root)
    std::string cache_file;   // real path of the last-known-good metadata cache
};

struct LoadedConfig {
    PoolConfig config;
    std::vector<SourceReport> sources;
    std::vector<std::string> warnings;
    std::string instance;  // VM name from metadata (live or cached)
    // The metadata layers to remember as last-known-good once the config proved valid; null
    // when they came from the cache or metadata is disabled.
    nlohmann::json cache_update;
};

// imds may be null (metadata disabled). An unreachable IMDS is not an error: the cached layers
// are used with a warning, or none when there is no cache. A source whose content breaks the
// schema is Invalid; a cache or config file that cannot be read is a Runtime failure.
Result<LoadedConfig> load_config(ImdsClient* imds, const ConfigPaths& paths);

}  // namespace dsvm::config
