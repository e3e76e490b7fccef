// A validator for the part of JSON Schema draft 2020-12 that docs/pool-config.schema.json uses,
// so that the schema can be held against the agent's parser in a unit test without a validator
// package. A schema with a keyword it does not implement throws when loaded, rather than have the
// keyword skipped: a schema that grew one must fail the test until the validator learns it, not
// pass half-checked.
#pragma once

#include <map>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace dsvm::test {

class JsonSchema {
  public:
    // Whole: the merged config, as the agent builds it.
    // Layer: one source before the merge. `required`, `dependentRequired`, `minProperties` and
    // `if`/`then`/`else` are rules between fields that the agent applies after the merge (a
    // share's source may come from tags and its mount point from pool.json), so they are skipped,
    // except inside arrays, which a source always gives whole.
    enum class Mode { Whole, Layer };

    // Throws std::logic_error when `root` uses a keyword the validator does not implement.
    explicit JsonSchema(nlohmann::json root);
    // Its caches point into its own root.
    JsonSchema(const JsonSchema&) = delete;
    JsonSchema& operator=(const JsonSchema&) = delete;

    // Why `instance` breaks the root schema, one line per failed keyword; empty when it is valid.
    std::vector<std::string> errors(const nlohmann::json& instance, Mode mode = Mode::Whole) const;

    // The same against one sub-schema of the root (its $refs resolve in the root).
    std::vector<std::string> errors_against(const nlohmann::json& schema,
                                            const nlohmann::json& instance,
                                            Mode mode = Mode::Whole) const;

    // The schema a "#/..." reference points to.
    const nlohmann::json& resolve(std::string_view reference) const;

    const nlohmann::json& root() const { return m_root; }

    // Every keyword name the validator implements, annotations included.
    static const std::vector<std::string_view>& keywords();

  private:
    // `quiet`: only whether it fails matters (inside anyOf, not, if), so no message is built.
    void check(const nlohmann::json& schema, const nlohmann::json& instance,
               const std::string& path, Mode mode, bool in_array, bool quiet,
               std::vector<std::string>& out) const;
    bool valid(const nlohmann::json& schema, const nlohmann::json& instance,
               const std::string& path, Mode mode, bool in_array) const;
    bool matches(const std::string& pattern, const std::string& text) const;

    nlohmann::json m_root;
    // The tests try the same values many times over, and std::regex is slow: compiled patterns,
    // and each pattern's verdict on each text, are kept (keyed by the pattern's string in the
    // schema, which lives as long as this object).
    mutable std::map<const std::string*, std::regex> m_regexes;
    mutable std::map<std::pair<const std::string*, std::string>, bool> m_matches;
};

}  // namespace dsvm::test
