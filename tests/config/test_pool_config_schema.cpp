// docs/pool-config.schema.json against the agent's own parser (config/pool_config.cpp): the
// documented examples are valid for both, both know the same keys at every level, and fed the
// same values (the schema's samples, wrong types, bounds, edge cases) they give the same verdict.
// Where JSON Schema cannot say what the agent checks, the difference is listed below (gaps()) and
// the schema must say it in words; any other difference fails.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "config/json_schema.h"
#include "config/pool_config.h"
#include "config/rules.h"

using Catch::Matchers::Contains;
using nlohmann::json;

namespace dsvm {

using namespace dsvm::users;
using namespace dsvm::config;
namespace {

using test::JsonSchema;
using Mode = JsonSchema::Mode;

const std::string k_file = "/etc/dsvm-agent/pool.json";
// A key no level knows, far from every real key (no "did you mean").
const std::string k_unknown_key = "zzUnknownField";

std::filesystem::path repo_root() {
    return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();
}

std::string read_repo_file(const std::string& relative) {
    std::ifstream in(repo_root() / relative);
    INFO(relative);
    REQUIRE(in);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

const JsonSchema& schema() {
    static const JsonSchema loaded(json::parse(read_repo_file("docs/pool-config.schema.json")));
    return loaded;
}

template <class T>
std::string error_of(const Result<T>& result) {
    return result ? std::string() : result.error().message;
}

// The agent's verdict on `document` given as /etc/dsvm-agent/pool.json: the per-source check
// alone (Layer), or that and the merged config's build (Whole); "" when it accepts.
std::string agent_error(const json& document, Mode mode) {
    auto layer = layer_from_file(document.dump(), k_file);
    if (!layer || mode == Mode::Layer) {
        return error_of(layer);
    }
    return error_of(build_pool_config(merge_layers({layer.value()})));
}

// The agent's verdict on a userData document (its dsvmPool), where secrets are refused as well.
std::string agent_user_data_error(const json& user_data, Mode mode) {
    auto layer = layer_from_user_data(user_data.dump());
    if (!layer) {
        return layer.error().message;
    }
    if (!layer->has_value()) {
        return "no dsvmPool in userData";
    }
    if (mode == Mode::Layer) {
        return "";
    }
    return error_of(build_pool_config(merge_layers({**layer})));
}

std::string schema_error(const json& document, Mode mode) {
    std::string out;
    for (const auto& error : schema().errors(document, mode)) {
        out += (out.empty() ? "" : "; ") + error;
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// The schema's fields, found by walking it: "share.source", "users[].sshKeys[]", ...

struct Field {
    std::string path;
    std::vector<std::string> steps;  // "[]" steps into an array's items
    const json* schema = nullptr;    // the property's own schema; $refs resolve in the root
};

// A schema and the schemas its $refs lead to: together they make one field's rules.
std::vector<const json*> parts_of(const json& node) {
    std::vector<const json*> parts{&node};
    for (const json* at = &node; at->is_object() && at->contains("$ref");) {
        at = &schema().resolve(at->at("$ref").get<std::string>());
        parts.push_back(at);
    }
    return parts;
}

bool is_object_level(const json& node) {
    const auto parts = parts_of(node);
    return std::any_of(parts.begin(), parts.end(),
                       [](const json* part) { return part->contains("properties"); });
}

std::string path_of(const std::vector<std::string>& steps) {
    std::string out;
    for (const auto& step : steps) {
        out += step == "[]" || out.empty() ? step : "." + step;
    }
    return out;
}

void collect_fields(const json& node, const std::vector<std::string>& steps,
                    std::vector<Field>& out) {
    for (const json* part : parts_of(node)) {
        if (const auto properties = part->find("properties"); properties != part->end()) {
            for (const auto& [key, child] : properties->items()) {
                auto child_steps = steps;
                child_steps.push_back(key);
                out.push_back(Field{path_of(child_steps), child_steps, &child});
                collect_fields(child, child_steps, out);
            }
        }
        if (const auto items = part->find("items"); items != part->end() && items->is_object()) {
            auto item_steps = steps;
            item_steps.push_back("[]");
            out.push_back(Field{path_of(item_steps), item_steps, &*items});
            collect_fields(*items, item_steps, out);
        }
    }
}

const std::vector<Field>& fields() {
    static const std::vector<Field> all = [] {
        std::vector<Field> out;
        collect_fields(schema().root(), {}, out);
        return out;
    }();
    return all;
}

const Field& field(const std::string& path) {
    const auto& all = fields();
    const auto found =
        std::find_if(all.begin(), all.end(), [&](const Field& f) { return f.path == path; });
    INFO("no field " << path << " in the schema");
    REQUIRE(found != all.end());
    return *found;
}

// The object levels: the top level and each field that has properties of its own.
std::vector<std::vector<std::string>> object_levels() {
    std::vector<std::vector<std::string>> levels{{}};
    for (const auto& f : fields()) {
        if (is_object_level(*f.schema)) {
            levels.push_back(f.steps);
        }
    }
    return levels;
}

const json& level_schema(const std::vector<std::string>& steps) {
    return steps.empty() ? schema().root() : *field(path_of(steps)).schema;
}

std::set<std::string> property_names(const json& node) {
    std::set<std::string> names;
    for (const json* part : parts_of(node)) {
        if (const auto properties = part->find("properties"); properties != part->end()) {
            for (const auto& [key, child] : properties->items()) {
                names.insert(key);
            }
        }
    }
    return names;
}

// Valid values the schema itself gives for a field: its examples, enum and default (an array
// field's items take theirs from the arrays').
std::vector<json> samples_of(const Field& f) {
    std::vector<json> out;
    const auto add = [&](const json& value) {
        if (std::find(out.begin(), out.end(), value) == out.end()) {
            out.push_back(value);
        }
    };
    if (f.steps.back() == "[]") {
        auto parent_steps = f.steps;
        parent_steps.pop_back();
        if (parent_steps.empty()) {
            return out;
        }
        for (const auto& array : samples_of(field(path_of(parent_steps)))) {
            for (const auto& item : array) {
                add(item);
            }
        }
        return out;
    }
    for (const json* part : parts_of(*f.schema)) {
        for (const char* keyword : {"examples", "enum"}) {
            if (const auto values = part->find(keyword); values != part->end()) {
                for (const auto& value : *values) {
                    add(value);
                }
            }
        }
        if (const auto value = part->find("default"); value != part->end()) {
            add(*value);
        }
    }
    return out;
}

// Sets the value at `steps`, making the objects and arrays on the way; an array item it makes
// gets its required fields from their first samples (arrays come whole from each source).
void set_at(json& document, const std::vector<std::string>& steps, const json& value) {
    json* node = &document;
    for (std::size_t i = 0; i < steps.size(); ++i) {
        if (steps[i] == "[]") {
            if (!node->is_array()) {
                *node = json::array();
            }
            if (node->empty()) {
                json item = json::object();
                const std::vector<std::string> item_steps(steps.begin(), steps.begin() + i + 1);
                const json& item_schema = *field(path_of(item_steps)).schema;
                for (const json* part : parts_of(item_schema)) {
                    for (const auto& key : part->value("required", json::array())) {
                        auto key_steps = item_steps;
                        key_steps.push_back(key.get<std::string>());
                        const auto key_samples = samples_of(field(path_of(key_steps)));
                        REQUIRE_FALSE(key_samples.empty());
                        item[key.get<std::string>()] = key_samples.front();
                    }
                }
                node->push_back(std::move(item));
            }
            node = &(*node)[0];
        } else {
            if (!node->is_object()) {
                *node = json::object();
            }
            node = &(*node)[steps[i]];
        }
    }
    *node = value;
}

json with(json document, const std::vector<std::string>& steps, const json& value) {
    set_at(document, steps, value);
    return document;
}

// ---------------------------------------------------------------------------------------------
// Where the two may differ: rules JSON Schema cannot state. Each is stated in the schema's own
// words (`schema_says` must appear in it) and has a witness the schema accepts and the agent
// refuses, so that a gap the schema closes, or the agent drops, is noticed. A gap explains a
// difference only when repairing what it is about, and nothing else, makes the agent accept.

// `value` with every float that holds an integer (60.0, 6e1) written as an integer; false when
// there is none.
bool integral_floats_to_integers(json& value) {
    bool changed = false;
    if (value.is_number_float() && std::isfinite(value.get<double>()) &&
        std::floor(value.get<double>()) == value.get<double>() &&
        std::abs(value.get<double>()) < 1e15) {
        value = static_cast<std::int64_t>(value.get<double>());
        return true;
    }
    if (value.is_structured()) {
        for (auto& child : value) {
            changed = integral_floats_to_integers(child) || changed;
        }
    }
    return changed;
}

json* share_string(json& document, const char* key) {
    if (!document.is_object() || !document.contains("share") || !document["share"].is_object()) {
        return nullptr;
    }
    const auto found = document["share"].find(key);
    return found == document["share"].end() || !found->is_string() ? nullptr : &*found;
}

using Repair = std::function<bool(json&)>;

struct Gap {
    std::string_view rule;
    std::string_view schema_says;
    Repair repair;  // false: the gap is not in this document
    json witness;
};

const std::vector<Gap>& gaps() {
    static const std::vector<Gap> all = {
        {"uidRange's min is at most its max", "min <= max is checked by the agent",
         [](json& document) {
             if (!document.is_object() || !document.contains("uidRange")) {
                 return false;
             }
             json& range = document["uidRange"];
             if (!range.is_array() || range.size() != 2 || !range[0].is_number() ||
                 !range[1].is_number() || range[0].get<double>() <= range[1].get<double>()) {
                 return false;
             }
             // [x, x] of the end that the schema held clear of 60001-65535 (max <= 60000, or
             // else min >= 65536), so that only the order is repaired.
             const json end = range[1].get<double>() <= 60000 ? range[1] : range[0];
             range = {end, end};
             return true;
         },
         json{{"uidRange", {30000, 20000}}}},
        {"user names are unique", "Names must be unique",
         [](json& document) {
             if (!document.is_object() || !document.contains("users") ||
                 !document["users"].is_array()) {
                 return false;
             }
             std::set<json> names;
             json kept = json::array();
             for (const auto& user : document["users"]) {
                 if (!user.is_object() || !user.contains("name") ||
                     names.insert(user["name"]).second) {
                     kept.push_back(user);
                 }
             }
             const bool changed = kept.size() != document["users"].size();
             document["users"] = std::move(kept);
             return changed;
         },
         json{{"users", {{{"name", "alice"}}, {{"name", "alice"}}}}}},
        {"integers are written without a fraction or exponent",
         "refuses numbers written with a fraction or exponent",
         [](json& document) { return integral_floats_to_integers(document); },
         json{{"interval", 60.0}}},
        {"a bind share is not mounted onto its own source",
         "a bind share's mountPoint may not be its source",
         [](json& document) {
             const json* source = share_string(document, "source");
             json* mount_point = share_string(document, "mountPoint");
             if (!source || !mount_point || *source != *mount_point) {
                 return false;
             }
             *mount_point = "/datamnt/elsewhere";
             return true;
         },
         json{{"share", {{"source", "/srv/pool"}, {"mountPoint", "/srv/pool"}}}}},
        {"the default mount point is at most 1024 characters",
         "there is no default longer than 1024 characters",
         [](json& document) {
             const json* source = share_string(document, "source");
             if (!source || share_string(document, "mountPoint")) {
                 return false;
             }
             const auto shape =
                 config::rules::parse_source("share.source", source->get<std::string>());
             if (!shape || std::string("/datamnt/").size() + shape->share_name.size() <= 1024) {
                 return false;
             }
             document["share"]["mountPoint"] = "/datamnt/elsewhere";
             return true;
         },
         json{{"share", {{"source", "/srv/" + std::string(1019, 'p')}}}}},
        {"a share source is not shaped like a storage key or SAS token",
         "nor be shaped like a storage account key",
         [](json& document) {
             json* source = share_string(document, "source");
             if (!source || !config::rules::looks_like_secret_value(source->get<std::string>())) {
                 return false;
             }
             // Another source of the same shape, so that the type and a storage key still fit.
             const std::string text = source->get<std::string>();
             *source = text.starts_with("//")  ? "//host.example.com/share"
                       : text.starts_with("/") ? "/srv/share"
                                               : "host.example.com:/share";
             return true;
         },
         json{{"share",
               {{"source", "/srv/Ab1/" + std::string(38, 'x') + "/" + std::string(38, 'Y')}}}}},
    };
    return all;
}

// Whether the listed gaps explain why the agent refuses a document the schema accepts.
bool explained_by_gaps(const json& document) {
    json repaired = document;
    bool any = false;
    for (const auto& gap : gaps()) {
        any = gap.repair(repaired) || any;
    }
    return any && agent_error(repaired, Mode::Whole).empty();
}

// Compares the two verdicts on one document; true when both accept it. A difference fails the
// test unless the schema accepts, the agent refuses, and a listed gap explains it.
bool agree(const json& document, Mode mode, const std::string& what) {
    const std::string by_schema = schema_error(document, mode);
    const std::string by_agent = agent_error(document, mode);
    if (by_schema.empty() == by_agent.empty()) {
        return by_agent.empty();
    }
    if (by_schema.empty() && mode == Mode::Whole && explained_by_gaps(document)) {
        return false;
    }
    FAIL_CHECK("the schema and the agent disagree on "
               << what << " (" << (mode == Mode::Whole ? "whole config" : "one source")
               << ")\n  document: " << document.dump()
               << "\n  schema: " << (by_schema.empty() ? "accepts" : by_schema)
               << "\n  agent:  " << (by_agent.empty() ? "accepts" : by_agent));
    return false;
}

// ---------------------------------------------------------------------------------------------
// The documented examples.

struct Example {
    std::string kind;  // config, userData or layer
    std::string where;
    json value;
};

const std::regex k_marker(R"(^<!-- pool-config example: (config|userData|layer) -->$)");

// Every ```json block of docs/pool-config.md, each announced by a marker line
// `<!-- pool-config example: KIND -->` that says what it is: a whole pool config, a userData
// document holding one, or a layer (one source's part; a block of members such as
// `"keyVault": {...}` is read as an object).
std::vector<Example> fenced_examples() {
    const std::string text = read_repo_file("docs/pool-config.md");
    std::istringstream lines(text);
    std::vector<std::string> all;
    for (std::string line; std::getline(lines, line);) {
        all.push_back(line);
    }
    std::vector<Example> out;
    for (std::size_t i = 0; i < all.size(); ++i) {
        std::smatch marker;
        const bool is_marker = std::regex_match(all[i], marker, k_marker);
        if (all[i].starts_with("```json")) {
            std::size_t before = i;
            while (before > 0 && all[before - 1].empty()) {
                --before;
            }
            std::smatch announced;
            const bool marked =
                before > 0 && std::regex_match(all[before - 1], announced, k_marker);
            INFO("docs/pool-config.md line " << i + 1);
            CHECK(marked);
            std::string block;
            std::size_t end = i + 1;
            for (; end < all.size() && !all[end].starts_with("```"); ++end) {
                block += all[end] + "\n";
            }
            CHECK(end < all.size());
            const std::string kind = marked ? announced[1].str() : "config";
            const auto first = block.find_first_not_of(" \n");
            if (kind == "layer" && first != std::string::npos && block[first] != '{') {
                block = "{" + block + "}";
            }
            json value = json::parse(block, nullptr, false);
            INFO(block);
            CHECK_FALSE(value.is_discarded());
            CHECK(value.is_object());
            out.push_back(Example{kind, "docs/pool-config.md line " + std::to_string(i + 1),
                                  std::move(value)});
            i = end;
        } else if (is_marker) {
            // A marker must announce a block, or an example could lose its check unnoticed.
            std::size_t next = i + 1;
            while (next < all.size() && all[next].empty()) {
                ++next;
            }
            INFO("docs/pool-config.md line " << i + 1 << ": a marker with no ```json block");
            CHECK((next < all.size() && all[next].starts_with("```json")));
        }
    }
    return out;
}

// Inline `{"...": ...}` spans of docs/pool-config.md: one source's part each.
std::vector<Example> inline_examples() {
    const std::string text = read_repo_file("docs/pool-config.md");
    const std::regex span("`(\\{\"[^`]*)`");
    std::vector<Example> out;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), span);
         it != std::sregex_iterator(); ++it) {
        json value = json::parse((*it)[1].str(), nullptr, false);
        INFO((*it)[1].str());
        CHECK_FALSE(value.is_discarded());
        const bool user_data = value.is_object() && value.contains("dsvmPool");
        out.push_back(Example{user_data ? "userData layer" : "layer",
                              "docs/pool-config.md: `" + (*it)[1].str() + "`", std::move(value)});
    }
    return out;
}

// The whole configs the examples give: the contexts values are tried in.
const std::vector<Example>& whole_configs() {
    static const std::vector<Example> all = [] {
        std::vector<Example> out;
        for (auto& example : fenced_examples()) {
            if (example.kind == "config") {
                out.push_back(example);
            } else if (example.kind == "userData" && example.value.contains("dsvmPool")) {
                out.push_back(Example{"config", example.where, example.value["dsvmPool"]});
            }
        }
        return out;
    }();
    return all;
}

// The first whole config of each share type: a value's agreement may depend on the type (its
// options, a storage key), and more of the same type would only repeat the verdicts.
const std::vector<Example>& one_config_per_share_type() {
    static const std::vector<Example> all = [] {
        std::vector<Example> out;
        std::set<std::string> types;
        for (const auto& example : whole_configs()) {
            const auto built = build_pool_config(example.value);
            const std::string type = built && built->share
                                         ? std::string(to_string(built->share->type))
                                         : std::string("none");
            if (types.insert(type).second) {
                out.push_back(example);
            }
        }
        return out;
    }();
    return all;
}

void collect_paths(const json& value, const std::vector<std::string>& steps,
                   std::set<std::string>& out) {
    if (value.is_object()) {
        for (const auto& [key, child] : value.items()) {
            auto child_steps = steps;
            child_steps.push_back(key);
            out.insert(path_of(child_steps));
            collect_paths(child, child_steps, out);
        }
    } else if (value.is_array()) {
        auto item_steps = steps;
        item_steps.push_back("[]");
        for (const auto& child : value) {
            out.insert(path_of(item_steps));
            collect_paths(child, item_steps, out);
        }
    }
}

// The contexts a value is tried in: documented whole configs with the value in place, and the
// value alone. Every example (Breadth::All), one of each share type (Breadth::ShareTypes), or the
// first (Breadth::First) for a rule of the field's own, such as its length.
enum class Breadth { All, ShareTypes, First };

struct Trial {
    std::string where;
    json document;
};

std::vector<Trial> trials(const Field& f, const json& value, Breadth breadth = Breadth::All) {
    const auto& examples =
        breadth == Breadth::ShareTypes ? one_config_per_share_type() : whole_configs();
    std::vector<Trial> out;
    for (const auto& example : examples) {
        out.push_back(
            Trial{"in the example at " + example.where, with(example.value, f.steps, value)});
        if (breadth == Breadth::First) {
            break;
        }
    }
    out.push_back(Trial{"alone", with(json::object(), f.steps, value)});
    return out;
}

std::string probe_name(const Field& f, const json& value, const std::string& where) {
    std::string shown = value.dump();
    if (shown.size() > 100) {
        shown = shown.substr(0, 60) + "... (" + std::to_string(shown.size()) + " characters)";
    }
    return f.path + " = " + shown + " " + where;
}

// Agreement on one value of one field in each context; how many contexts accepted it.
int expect_agreement(const Field& f, const json& value, Breadth breadth) {
    int accepted = 0;
    for (const auto& trial : trials(f, value, breadth)) {
        accepted += agree(trial.document, Mode::Whole, probe_name(f, value, trial.where)) ? 1 : 0;
    }
    return accepted;
}

// Numbers and lengths that a schema (and what it refers to) names: minimum, maximum,
// minLength, maxLength, wherever they sit in it.
void bounds_in(const json& node, const char* keyword, std::set<std::int64_t>& out, int depth = 0) {
    if (depth > 12) {
        return;
    }
    if (node.is_object()) {
        if (const auto found = node.find(keyword); found != node.end() && found->is_number()) {
            out.insert(found->get<std::int64_t>());
        }
        if (const auto ref = node.find("$ref"); ref != node.end()) {
            bounds_in(schema().resolve(ref->get<std::string>()), keyword, out, depth + 1);
        }
        for (const auto& [key, child] : node.items()) {
            // Not into properties: they are other fields, with bounds of their own.
            if (key != "properties" && key != "$defs") {
                bounds_in(child, keyword, out, depth + 1);
            }
        }
    } else if (node.is_array()) {
        for (const auto& child : node) {
            bounds_in(child, keyword, out, depth + 1);
        }
    }
}

bool is_string_field(const Field& f) {
    const auto samples = samples_of(f);
    return !samples.empty() && samples.front().is_string();
}

// `sample` made `length` characters long: cut, or lengthened by repeating its last character
// (the end of a path, comment, name or option value, where one more of the same is as valid).
std::string of_length(const std::string& sample, std::size_t length) {
    if (length <= sample.size()) {
        return sample.substr(0, length);
    }
    return sample + std::string(length - sample.size(), sample.empty() ? 'a' : sample.back());
}

// Values at the edge of each string field's rules, for both to judge: the agent's own tests
// (tests/config/test_pool_config.cpp, tests/mount/test_options.cpp) and the rules' corners.
std::map<std::string, std::vector<std::string>> edge_values() {
    const std::string ed25519 =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOVBMq5Mpj6TIleWKV4Qi3ll8n4jG+wePC90IL4Y6klz";
    const std::string ed_data = ed25519.substr(12);
    const std::string label63(63, 'h');
    const std::string host253 =
        label63 + "." + label63 + "." + label63 + "." + std::string(61, 'h');
    return {
        {"share.source",
         {"//host",
          "//host/",
          "//host/share/",
          "//host//share",
          "//host/./x",
          "//host/../x",
          "//host/s/..",
          "//host/s$",
          "//host/s$/sub",
          "//host/s/sub$",
          "//host/a$b",
          "//h_x/s",
          "//-host/s",
          "//host-/s",
          "//a..b/s",
          "//a.b./s",
          "//.a/s",
          "//1.2.3.4/s",
          "//1.2.3/s",
          "//256.1.1.1/s",
          "//01.2.3.4/s",
          "//1.2.3.4.5/s",
          "//123/s",
          "//1a/s",
          "//[fd00::4]/share",
          "//[fd00::4/s",
          "//[]/s",
          "//[:::]/s",
          "//[1:2:3:4:5:6:7:8]/s",
          "//[1:2:3:4:5:6:7:8:9]/s",
          "//[1:2:3:4:5:6:7]/s",
          "//[1::2::3]/s",
          "//[::]/s",
          "//[::1]/s",
          "//[1::]/s",
          "//[::ffff:1.2.3.4]/s",
          "//[1:2:3:4:5:6:1.2.3.4]/s",
          "//[1:2:3:4:5:6:7:1.2.3.4]/s",
          "//[1:2:3:4:5::1.2.3.4]/s",
          "//[1:2:3:4:5:6::1.2.3.4]/s",
          "//[1.2.3.4::]/s",
          "//[::1.2.3]/s",
          "//[12345::]/s",
          "//[g::]/s",
          "//[fe80::1%eth0]/s",
          "//[1:2:3:4:5:6:7::]/s",
          "//[::2:3:4:5:6:7:8]/s",
          "//[1:2:3:4:5:6:7:8::]/s",
          "//" + label63 + "/s",
          "//" + label63 + "h/s",
          "//" + host253 + "/s",
          "//" + host253 + "h/s",
          "host:/",
          "host:",
          "host:/a",
          "host:/a/",
          "host:/a//b",
          "host:/./a",
          "host:a",
          "[fd00::5]:/export",
          "[fd00::5]:/",
          "[fd00::5]",
          "[fd00::5]/x",
          "[fd00:::5]:/x",
          "fd00::5:/export",
          "1.2.3.4:/x",
          "1.2.3:/x",
          "256.0.0.1:/x",
          "h:/a:b",
          "h:/a$",
          host253 + ":/x",
          host253 + "h:/x",
          "/srv/x",
          "/",
          "//",
          "/srv/./x",
          "/srv/x/",
          "/etc",
          "/etc/x",
          "/etcx",
          "/usr/local/pool",
          "/home",
          "/home/x",
          "/datamnt",
          "/datamnt/x",
          "/datamnt/x/y",
          "/tmp/x",
          "relative",
          "",
          "//host/s,x",
          "//host/s x",
          "//host/s\tx",
          "//user@host/s",
          "//host/s\\x",
          "\\\\host\\s",
          "smb://host/s",
          "nfs://host/x",
          "https://host/s",
          "host:/a b",
          "/srv/x~+-_.",
          "/srv/x:y",
          "/srv/x$",
          "//host/s~+-_.",
          "//HOST.Example.COM/S",
          "/srv/caf\u00e9"}},
        {"share.mountPoint",
         {"/datamnt/x",
          "/datamnt",
          "/datamnt/",
          "/",
          "/home/x",
          "/home",
          "/root/x",
          "/root",
          "/tmp/x",
          "/tmp",
          "/mnt/x",
          "/mnt",
          "/opt/x",
          "/srv/x",
          "/media/x",
          "/var/x",
          "/var",
          "/usr/local/x",
          "/bin2",
          "/binx/y",
          "/proc/x",
          "datamnt/x",
          "/datamnt/./x",
          "/datamnt/../x",
          "/datamnt//x",
          "/datamnt/x/",
          "/datamnt/x y",
          "/datamnt/x,y",
          "/datamnt/x$",
          "/datamnt/x:y",
          "",
          "/datamnt/.x",
          "/datamnt/..x",
          "/datamnt/...",
          "/home2/x",
          "/tmpx",
          "/roots/x"}},
        {"share.options",
         {"",
          "a",
          "a=",
          "=a",
          "a==b",
          "a=b=c",
          "a,,b",
          ",a",
          "a,",
          "a b",
          "a;b",
          "password=x",
          "PASSWORD=x",
          "pass",
          "Pass=1",
          "password2=x",
          "passwordx=1",
          "user=x",
          "username=x",
          "USER",
          "cred=x",
          "credentials=/x",
          "credential=x",
          "domain=x",
          "DOMAIN=x",
          "domainx=1",
          "x=password",
          "suid",
          "SUID",
          "dev",
          "dev=1",
          "devx",
          "uid=0",
          "gid=0",
          "Uid=0",
          "forceuid",
          "forcegid",
          "dir_mode=0777",
          "file_mode=0777",
          "noperm",
          "multiuser",
          "guest",
          "sec=krb5",
          "sec=sys",
          "nobrl",
          "vers=3.0",
          "vers=3.1.1",
          "vers=3",
          "vers=3.02",
          "vers=3.0.2",
          "vers=3.11",
          "vers=2.1",
          "vers=1.0",
          "vers=default",
          "vers=",
          "vers",
          "Vers=2.0",
          "vers=4",
          "vers=4.1",
          "vers=4.2",
          "vers=4.0",
          "vers=3.1",
          "vers=4.1.1",
          "nfsvers=4.1",
          "nfsvers=3",
          "vers=4.1,nfsvers=4.1",
          "nfsvers=4.1,vers=4.1",
          "nolock",
          "local_lock=all",
          "v2",
          "v3",
          "v4",
          "bind",
          "ro",
          "rw",
          "ro,noexec",
          "noatime,nodiratime",
          "ro=1",
          "ro,ro",
          "a,a",
          "a=1,a=2",
          "a,b,a",
          "actimeo=30,actimeo=60",
          "ab,a",
          "a,ab",
          "a=1,b=a",
          "nconnect=4",
          "actimeo=30",
          "cache=none",
          "nosharebrl",
          "exec",
          "strictatime",
          "relatime",
          "_netdev",
          "x-systemd.mount-timeout=30s",
          "a:b/c+d-e.f_g=h"}},
        {"notebooks",
         {"{user}",     "notebooks/{user}", "nb-{user}/work", "{user}/{user}", "/{user}",
          "{user}/",    "a//{user}",        "./{user}",       "../{user}",     "{user}/..",
          "{user}/.",   "..{user}",         ".{user}",        "{user}.",       "{user}..",
          "a/./{user}", "{ user}",          "{user",          "user}",         "{user}}",
          "{{user}",    "{USER}",           "a,{user}",       "a {user}",      "a\t{user}",
          "",           "notebooks",        "nb/{user}$",     "nb/{user}:x",   "~{user}",
          "+{user}-",   "{user}{user}",     "{user}x{user}",  "a/{user}/b/c"}},
        {"users[].name", {"alice",  "a",       "_alice", "Alice", "al ice",    "1alice",  "-alice",
                          "alice-", "alice_",  "dsvm-x", "dsvm",  "systemd-x", "systemd", "root",
                          "docker", "docker2", "nobody", "a$",    "alice.b",   "",        "users"}},
        {"users[].groups[]",
         {"video", "_video", "Video", "dsvm-x", "sudo", "docker", "systemd-journal", "systemd-x",
          "1g", "g-", "", "users", "g$"}},
        {"users[].sshKeys[]",
         {"ssh-ed25519",
          "ssh-ed25519 ",
          "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5",
          "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA",
          ed25519,
          ed25519 + " a b  c",
          "ssh-ed25519  " + ed_data,
          ed25519 + " ",
          " " + ed25519,
          "ssh-rsa " + ed_data,
          "ssh-dss " + ed_data,
          "command=\"x\" " + ed25519,
          ed25519 + "\n",
          ed25519 + " x\ty",
          ed25519 + " x\x7f",
          ed25519 + " caf\u00e9",
          "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AA==",
          "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAA=",
          "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5A===",
          "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAA",
          "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AA=A",
          "SSH-ED25519 " + ed_data,
          "ssh-ed25519\t" + ed_data,
          "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29t",
          "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAA",
          "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzAAAA",
          "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAyAAAA"}},
        {"keyVault.vault",
         {"abc", "ab", "a-b", "a--b", "1ab", "-ab", "ab-", "Abc", "a_b", "a.b", "ab1",
          std::string(24, 'k'), std::string(25, 'k'), "a-b-c"}},
        {"keyVault.clientId",
         {"00000000-0000-0000-0000-000000000000", "ABCDEF00-0000-0000-0000-00000000abcd",
          "00000000000000000000000000000000", "{00000000-0000-0000-0000-000000000000}",
          "00000000-0000-0000-0000-00000000000", "g0000000-0000-0000-0000-000000000000",
          "00000000-0000-0000-0000-0000000000000", "0000000-00000-0000-0000-000000000000"}},
        {"keyVault.secrets.storageAccountKey",
         {"storage-key", "", "a", "a_b", "a.b", "-", "--", std::string(31, 's'),
          std::string(32, 's'), std::string(31, 's') + "-", std::string(127, 's'),
          "a-" + std::string(125, 's'), "a-" + std::string(126, 's'), "s/k"}},
        {"keyVault.secrets.registryKey", {"pool-registry-key", "", std::string(32, 'r'), "r r"}},
        {"keyVault.secrets.previousRegistryKey",
         {"old-registry-key", "", std::string(40, 'p'), "p_k"}},
        {"sudoAuthentication", {"password", "none", "Password", "", "nopasswd"}},
        {"share.type", {"smb", "nfs", "bind", "SMB", "cifs", ""}},
        {"share.smbAccess", {"per-user", "shared", "peruser", ""}},
    };
}

// Agreement on every edge value of the fields at `paths`, in a config of each share type and
// alone. Each field must see both verdicts, or its edge values test nothing.
void check_edges(std::initializer_list<std::string> paths) {
    const auto edges = edge_values();
    for (const auto& path : paths) {
        const Field& f = field(path);
        REQUIRE(edges.count(path) == 1);
        bool some_accepted = false;
        bool some_refused = false;
        for (const auto& value : edges.at(path)) {
            const int accepted = expect_agreement(f, value, Breadth::ShareTypes);
            some_accepted = some_accepted || accepted > 0;
            some_refused = some_refused || accepted == 0;
        }
        INFO(path);
        CHECK(some_accepted);
        CHECK(some_refused);
    }
}

}  // namespace

TEST_CASE("schema: the test's validator knows every keyword the schema uses", "[schema]") {
    // The constructor refuses a schema with a keyword the validator does not implement.
    CHECK_NOTHROW(JsonSchema(json::parse(read_repo_file("docs/pool-config.schema.json"))));
    CHECK_THROWS_WITH(JsonSchema(json{{"minContains", 1}}), Contains("does not know"));
    CHECK_THROWS_WITH(JsonSchema(json{{"properties", {{"a", {{"patternProperties", 1}}}}}}),
                      Contains("does not know"));
    CHECK(schema().root().at("$schema") == "https://json-schema.org/draft/2020-12/schema");

    // The validator itself on the keywords' edge cases it relies on.
    const JsonSchema small(json::parse(R"({
        "type": "object", "additionalProperties": false, "required": ["a"],
        "properties": {"a": {"$ref": "#/$defs/name"},
                       "n": {"type": "integer", "minimum": 1, "maximum": 3},
                       "r": {"type": "array", "prefixItems": [{"type": "integer"}], "items": false}},
        "$defs": {"name": {"type": "string", "pattern": "^(?!x)[a-z]{1,3}$"}}})"));
    CHECK(small.errors(json{{"a", "abc"}}).empty());
    CHECK_FALSE(small.errors(json{{"a", "abcd"}}).empty());
    CHECK_FALSE(small.errors(json{{"a", "xa"}}).empty());
    CHECK_FALSE(small.errors(json{{"a", "a"}, {"b", 1}}).empty());
    CHECK_FALSE(small.errors(json::object()).empty());
    CHECK(small.errors(json::object(), Mode::Layer).empty());
    CHECK(small.errors(json{{"a", "a"}, {"n", 2.0}}).empty());
    CHECK_FALSE(small.errors(json{{"a", "a"}, {"n", 4}}).empty());
    CHECK_FALSE(small.errors(json{{"a", "a"}, {"n", 1.5}}).empty());
    CHECK(small.errors(json{{"a", "a"}, {"r", {1}}}).empty());
    CHECK_FALSE(small.errors(json{{"a", "a"}, {"r", {1, 2}}}).empty());
}

TEST_CASE("schema: every example in docs/pool-config.md is valid and accepted by the agent",
          "[schema]") {
    const auto examples = fenced_examples();
    std::map<std::string, int> kinds;
    for (const auto& example : examples) {
        ++kinds[example.kind];
        INFO(example.where << " (" << example.kind << "): " << example.value.dump());
        if (example.kind == "config") {
            CHECK(schema_error(example.value, Mode::Whole) == "");
            CHECK(agent_error(example.value, Mode::Whole) == "");
            // Nothing in an example is secret: each may equally be a scale set's userData.
            CHECK(agent_user_data_error(json{{"dsvmPool", example.value}}, Mode::Whole) == "");
        } else if (example.kind == "userData") {
            REQUIRE(example.value.contains("dsvmPool"));
            CHECK(schema_error(example.value["dsvmPool"], Mode::Whole) == "");
            CHECK(agent_user_data_error(example.value, Mode::Whole) == "");
            CHECK(agent_error(example.value["dsvmPool"], Mode::Whole) == "");
        } else {
            CHECK(schema_error(example.value, Mode::Layer) == "");
            CHECK(agent_error(example.value, Mode::Layer) == "");
            CHECK(agent_user_data_error(json{{"dsvmPool", example.value}}, Mode::Layer) == "");
        }
    }
    // The page's examples: the full one under Fields, userData, NFS, bind, and keyVault's.
    CHECK(kinds["config"] >= 3);
    CHECK(kinds["userData"] >= 1);
    CHECK(kinds["layer"] >= 1);
}

TEST_CASE("schema: the inline layers of docs/pool-config.md and the demo's metadata are valid",
          "[schema]") {
    const auto examples = inline_examples();
    CHECK(examples.size() >= 2);
    for (const auto& example : examples) {
        INFO(example.where);
        const json layer = example.kind == "layer" ? example.value : example.value["dsvmPool"];
        CHECK(schema_error(layer, Mode::Layer) == "");
        CHECK(agent_error(layer, Mode::Layer) == "");
        CHECK(agent_user_data_error(json{{"dsvmPool", layer}}, Mode::Layer) == "");
    }

    // scripts/demo-pool.sh: its tags and userData, merged as the agent merges them.
    const std::string demo = read_repo_file("scripts/demo-pool.sh");
    std::smatch user_data;
    REQUIRE(std::regex_search(demo, user_data, std::regex("user_data='([^']*)'")));
    const json document = json::parse(user_data[1].str(), nullptr, false);
    REQUIRE(document.is_object());
    CHECK(schema_error(document["dsvmPool"], Mode::Layer) == "");
    std::vector<ImdsTag> tags;
    const std::regex tag(R"re(\{"name": "([^"]+)", "value": "([^"]*)"\})re");
    for (auto it = std::sregex_iterator(demo.begin(), demo.end(), tag);
         it != std::sregex_iterator(); ++it) {
        tags.push_back(ImdsTag{(*it)[1].str(), (*it)[2].str()});
    }
    CHECK(tags.size() >= 3);
    const auto tag_layer = layer_from_tags(tags);
    REQUIRE(error_of(tag_layer) == "");
    CHECK(schema_error(tag_layer->data, Mode::Layer) == "");
    const auto data_layer = layer_from_user_data(user_data[1].str());
    REQUIRE(error_of(data_layer) == "");
    REQUIRE(data_layer->has_value());
    const json merged = merge_layers({tag_layer.value(), **data_layer});
    CHECK(schema_error(merged, Mode::Whole) == "");
    CHECK(error_of(build_pool_config(merged)) == "");
}

TEST_CASE("schema: the examples of docs/pool-config.md use every field of the schema", "[schema]") {
    std::set<std::string> used;
    for (const auto& example : fenced_examples()) {
        collect_paths(example.kind == "userData" ? example.value["dsvmPool"] : example.value, {},
                      used);
    }
    for (const auto& f : fields()) {
        INFO(f.path << " appears in no ```json example of docs/pool-config.md");
        CHECK(used.count(f.path) == 1);
    }
}

TEST_CASE("schema: every field of the schema is described in docs/pool-config.md", "[schema]") {
    const std::string text = read_repo_file("docs/pool-config.md");
    for (const auto& f : fields()) {
        if (f.steps.back() == "[]") {
            continue;
        }
        // `name`, or part of a dotted path such as `secrets.registryKey`.
        const std::string& name = f.steps.back();
        INFO(f.path);
        CHECK((text.find("`" + name + "`") != std::string::npos ||
               text.find("`" + name + ".") != std::string::npos ||
               text.find("." + name + "`") != std::string::npos));
    }
}

TEST_CASE("schema: the schema and the agent know the same keys at every level", "[schema]") {
    const auto levels = object_levels();
    CHECK(levels.size() >= 5);  // top, share, users[], keyVault, keyVault.secrets
    for (const auto& level : levels) {
        const std::string where = level.empty() ? "the top level" : path_of(level);
        INFO(where);
        const json& node = level_schema(level);
        const auto parts = parts_of(node);
        // Closed in the schema, as in the agent: a misspelt key is an error, not ignored.
        CHECK(std::any_of(parts.begin(), parts.end(), [](const json* part) {
            return part->value("additionalProperties", json(true)) == json(false);
        }));

        auto steps = level;
        steps.push_back(k_unknown_key);
        const json document = with(json::object(), steps, 1);
        CHECK_FALSE(schema_error(document, Mode::Layer).empty());
        CHECK_FALSE(schema_error(document, Mode::Whole).empty());
        const std::string refusal = agent_error(document, Mode::Layer);
        INFO(refusal);
        REQUIRE_THAT(refusal, Contains(k_unknown_key + ": unknown key"));

        // "...: unknown key; allowed keys in share: source, type, ..."
        const auto list_at = refusal.find(": ", refusal.find("allowed keys"));
        REQUIRE(list_at != std::string::npos);
        std::string list = refusal.substr(list_at + 2);
        list = list.substr(0, list.find(';'));
        std::set<std::string> agent_keys;
        for (std::size_t start = 0; start <= list.size();) {
            const std::size_t comma = list.find(", ", start);
            agent_keys.insert(list.substr(start, comma - start));
            start = comma == std::string::npos ? list.size() + 1 : comma + 2;
        }
        CHECK(agent_keys == property_names(node));
    }
}

TEST_CASE("schema: every field takes the schema's own sample values in the agent", "[schema]") {
    for (const auto& f : fields()) {
        if (is_object_level(*f.schema)) {
            continue;
        }
        const auto samples = samples_of(f);
        INFO(f.path << ": the schema gives no examples, enum or default for it");
        CHECK_FALSE(samples.empty());
        for (const auto& value : samples) {
            // The field alone is a source both accept...
            const json alone = with(json::object(), f.steps, value);
            INFO(probe_name(f, value, "alone") << "\n  schema: " << schema_error(alone, Mode::Layer)
                                               << "\n  agent: " << agent_error(alone, Mode::Layer));
            CHECK(agree(alone, Mode::Layer, probe_name(f, value, "alone")));
            // ...and a whole config with it is accepted by both in at least one context.
            bool accepted = false;
            for (const auto& trial : trials(f, value)) {
                accepted = agree(trial.document, Mode::Whole, probe_name(f, value, trial.where)) ||
                           accepted;
            }
            INFO(probe_name(f, value, "in no example accepted: add an example that takes it"));
            CHECK(accepted);
        }
    }
}

TEST_CASE("schema: the schema and the agent agree on values of the wrong JSON type", "[schema]") {
    const json wrong[] = {nullptr, true, 7, 1.5, "x", json::array(), json::object()};
    for (const auto& f : fields()) {
        for (const auto& value : wrong) {
            agree(with(json::object(), f.steps, value), Mode::Layer, probe_name(f, value, "alone"));
            expect_agreement(f, value, Breadth::First);
        }
    }
    for (const auto& value : wrong) {
        agree(value, Mode::Layer, "the whole document " + value.dump());
    }
}

TEST_CASE("schema: the schema and the agent agree on the bounds of numbers", "[schema]") {
    for (const auto& f : fields()) {
        std::set<std::int64_t> bounds;
        bounds_in(*f.schema, "minimum", bounds);
        bounds_in(*f.schema, "maximum", bounds);
        const auto samples = samples_of(f);
        if (bounds.empty() || samples.empty()) {
            continue;
        }
        for (const std::int64_t bound : bounds) {
            for (const std::int64_t number : {bound - 1, bound, bound + 1}) {
                if (samples.front().is_number()) {
                    expect_agreement(f, number, Breadth::First);
                } else if (samples.front().is_array()) {
                    // [min, max]: each end in turn, the other as in the sample.
                    for (std::size_t i = 0; i < samples.front().size(); ++i) {
                        json value = samples.front();
                        value[i] = number;
                        expect_agreement(f, value, Breadth::First);
                    }
                }
            }
        }
    }
    const Field& range = field("uidRange");
    for (const json& count : {json::array(), json{20000}, json{20000, 30000, 40000}}) {
        expect_agreement(range, count, Breadth::First);
    }
}

TEST_CASE("schema: the schema and the agent agree on the lengths of strings", "[schema]") {
    for (const auto& f : fields()) {
        const auto parts = parts_of(*f.schema);
        const bool listed = std::any_of(parts.begin(), parts.end(),
                                        [](const json* part) { return part->contains("enum"); });
        if (!is_string_field(f) || listed) {
            continue;
        }
        // The schema's own limits, and where name limits usually sit (32: user names).
        std::set<std::int64_t> bounds = {1, 32};
        bounds_in(*f.schema, "minLength", bounds);
        bounds_in(*f.schema, "maxLength", bounds);
        std::set<std::size_t> lengths = {0};
        for (const std::int64_t bound : bounds) {
            for (const std::int64_t length : {bound - 1, bound, bound + 1}) {
                if (length >= 0) {
                    lengths.insert(static_cast<std::size_t>(length));
                }
            }
        }
        for (const auto& sample : samples_of(f)) {
            for (const std::size_t length : lengths) {
                expect_agreement(f, of_length(sample.get<std::string>(), length), Breadth::First);
            }
        }
    }
}

TEST_CASE("schema: the schema and the agent agree on edge values of share.source", "[schema]") {
    check_edges({"share.source"});
}

TEST_CASE("schema: the schema and the agent agree on edge values of the share's other fields",
          "[schema]") {
    check_edges({"share.mountPoint", "share.type", "share.smbAccess"});
}

TEST_CASE("schema: the schema and the agent agree on edge values of share.options", "[schema]") {
    check_edges({"share.options"});
}

TEST_CASE("schema: the schema and the agent agree on edge values of users", "[schema]") {
    check_edges({"users[].name", "users[].groups[]", "users[].sshKeys[]"});
}

TEST_CASE("schema: the schema and the agent agree on edge values of the other fields", "[schema]") {
    check_edges({"notebooks", "keyVault.vault", "keyVault.clientId",
                 "keyVault.secrets.storageAccountKey", "keyVault.secrets.registryKey",
                 "keyVault.secrets.previousRegistryKey", "sudoAuthentication"});
}

TEST_CASE("schema: the schema and the agent agree on the rules between fields", "[schema]") {
    const json smb = {{"source", "//acct.file.core.windows.net/dsvmshare"}};
    const json nfs = {{"source", "acct.file.core.windows.net:/acct/pool"}};
    const json bind = {{"source", "/srv/pool"}};
    const json vault = {{"vault", "contoso-pool-kv"}};
    const auto key_vault = [&](const json& secrets) {
        json out = vault;
        out["secrets"] = secrets;
        return out;
    };
    const json storage = {{"storageAccountKey", "storage-key"}};
    const json registry = {{"registryKey", "pool-registry-key"}};
    const std::vector<json> documents = {
        json::object(),
        {{"users", json::array()}},
        {{"users", {json::object()}}},
        {{"share", {{"type", "smb"}}}},
        {{"share", {{"source", "//h/s"}, {"type", "nfs"}}}},
        {{"share", {{"source", "h:/x"}, {"type", "bind"}}}},
        {{"share", {{"source", "/srv/x"}, {"type", "smb"}}}},
        {{"share", {{"source", "host:/"}}}},
        {{"share", {{"source", "host:/"}, {"mountPoint", "/datamnt/root"}}}},
        {{"share", {{"source", "[fd00::5]:/"}}}},
        {{"share", {{"source", "//h/s$"}}}},
        {{"share", {{"source", "//h/s$"}, {"mountPoint", "/datamnt/s"}}}},
        {{"share", {{"source", "//h/s$/sub"}}}},
        {{"share", {{"source", "//h/s/sub$"}}}},
        {{"share", {{"source", "/datamnt/x"}}}},
        {{"share", {{"source", "/datamnt/x"}, {"mountPoint", "/datamnt/y"}}}},
        {{"share", {{"source", "/datamnt/x/y"}}}},
        {{"share", {{"source", "/srv/x"}, {"mountPoint", "/srv/x/y"}}}},
        {{"keyVault", vault}},
        {{"keyVault", {{"secrets", registry}}}},
        {{"keyVault", key_vault(json::object())}},
        {{"keyVault", key_vault(registry)}},
        {{"keyVault", key_vault({{"previousRegistryKey", "old-key"}})}},
        {{"keyVault", key_vault({{"registryKey", "new-key"}, {"previousRegistryKey", "old-key"}})}},
        {{"keyVault", key_vault(storage)}},
        {{"keyVault", key_vault(storage)}, {"share", smb}},
        {{"keyVault", key_vault(storage)}, {"share", nfs}},
        {{"keyVault", key_vault(storage)}, {"share", bind}},
        {{"keyVault", key_vault(storage)}, {"share", {{"type", "smb"}}}},
        {{"keyVault", key_vault({{"storageAccountKey", "s"}, {"previousRegistryKey", "p"}})},
         {"share", smb}},
        {{"keyVault", key_vault(registry)}, {"share", nfs}},
    };
    for (const auto& document : documents) {
        agree(document, Mode::Whole, document.dump());
    }
}

TEST_CASE("schema: the schema says in words where it and the agent differ", "[schema]") {
    const std::string text = schema().root().dump();
    for (const auto& gap : gaps()) {
        INFO(gap.rule << ": " << gap.witness.dump()
                      << "\n  the schema should say: " << gap.schema_says);
        CHECK(text.find(gap.schema_says) != std::string::npos);
        CHECK(schema_error(gap.witness, Mode::Whole) == "");
        CHECK_FALSE(agent_error(gap.witness, Mode::Whole).empty());
        json repaired = gap.witness;
        CHECK(gap.repair(repaired));
        CHECK(agent_error(repaired, Mode::Whole) == "");
    }
}

// The scale-set templates build the instances' pool config from their parameters: every key
// they write is a schema field, and every literal value, parameter default and allowed value
// that lands in a field is valid for it, with the same bounds.
TEST_CASE("schema: the scale-set templates write the schema's fields with valid values",
          "[schema]") {
    const std::regex parameter(R"(^\[parameters\('([A-Za-z0-9_]+)'\)\]$)");
    for (const std::string template_file :
         {"packaging/azure/dsvm-pool.json", "packaging/azure/dsvm-pool-extension.json"}) {
        const json arm = json::parse(read_repo_file(template_file));
        REQUIRE(arm.contains("variables"));
        const json& config = arm["variables"].at("poolConfig");
        std::function<void(const json&, const std::vector<std::string>&)> walk =
            [&](const json& object, const std::vector<std::string>& steps) {
                for (const auto& [key, value] : object.items()) {
                    auto child_steps = steps;
                    child_steps.push_back(key);
                    const std::string path = path_of(child_steps);
                    INFO(template_file << ": " << path << " = " << value.dump());
                    const auto& all = fields();
                    const auto found = std::find_if(all.begin(), all.end(),
                                                    [&](const Field& f) { return f.path == path; });
                    REQUIRE(found != all.end());
                    const json& field_schema = *found->schema;
                    std::smatch match;
                    const std::string text = value.is_string() ? value.get<std::string>() : "";
                    if (value.is_object()) {
                        walk(value, child_steps);
                    } else if (!text.starts_with("[")) {
                        CHECK(schema().errors_against(field_schema, value).empty());
                    } else if (std::regex_match(text, match, parameter)) {
                        const json& declared = arm["parameters"].at(match[1].str());
                        if (declared.contains("defaultValue")) {
                            CHECK(schema()
                                      .errors_against(field_schema, declared["defaultValue"])
                                      .empty());
                        }
                        std::set<json> schema_enum;
                        for (const json* part : parts_of(field_schema)) {
                            for (const auto& item : part->value("enum", json::array())) {
                                schema_enum.insert(item);
                            }
                        }
                        if (declared.contains("allowedValues")) {
                            const auto allowed = declared["allowedValues"].get<std::set<json>>();
                            CHECK(allowed == schema_enum);
                        }
                        for (const auto& [arm_bound, schema_bound] :
                             {std::pair{"minValue", "minimum"}, std::pair{"maxValue", "maximum"},
                              std::pair{"minLength", "minLength"},
                              std::pair{"maxLength", "maxLength"}}) {
                            if (declared.contains(arm_bound)) {
                                std::set<std::int64_t> bounds;
                                bounds_in(field_schema, schema_bound, bounds);
                                CHECK(bounds == std::set<std::int64_t>{
                                                    declared[arm_bound].get<std::int64_t>()});
                            }
                        }
                    }
                }
            };
        walk(config, {});
    }
}

}  // namespace dsvm
