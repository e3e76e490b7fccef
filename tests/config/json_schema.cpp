#include "config/json_schema.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <utility>

namespace dsvm::test {

using nlohmann::json;

namespace {

// Keywords that only describe; they never make an instance invalid.
constexpr std::string_view k_annotations[] = {"$schema", "$id",         "$comment", "$defs",
                                              "title",   "description", "default",  "examples"};

bool is_integer(const json& value) {
    if (value.is_number_integer() || value.is_number_unsigned()) {
        return true;
    }
    // JSON Schema counts 60.0 as an integer: the type is about the value, not how it is written.
    return value.is_number_float() && std::isfinite(value.get<double>()) &&
           std::floor(value.get<double>()) == value.get<double>();
}

bool has_type(const json& value, std::string_view type) {
    if (type == "object") {
        return value.is_object();
    }
    if (type == "array") {
        return value.is_array();
    }
    if (type == "string") {
        return value.is_string();
    }
    if (type == "boolean") {
        return value.is_boolean();
    }
    if (type == "null") {
        return value.is_null();
    }
    if (type == "number") {
        return value.is_number();
    }
    if (type == "integer") {
        return is_integer(value);
    }
    throw std::logic_error("JSON Schema type '" + std::string(type) + "' is not a type");
}

// maxLength and minLength count code points, not UTF-8 bytes.
std::size_t code_points(const std::string& text) {
    return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
        return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    }));
}

std::string member(const std::string& path, const std::string& key) {
    return path + "/" + key;
}

std::string element(const std::string& path, std::size_t index) {
    return path + "/" + std::to_string(index);
}

std::string shown(const json& value) {
    std::string text = value.dump();
    return text.size() > 80 ? text.substr(0, 77) + "..." : text;
}

}  // namespace

const std::vector<std::string_view>& JsonSchema::keywords() {
    static const std::vector<std::string_view> k_all = [] {
        std::vector<std::string_view> all(std::begin(k_annotations), std::end(k_annotations));
        for (const std::string_view keyword : {"$ref",
                                               "type",
                                               "enum",
                                               "const",
                                               "properties",
                                               "required",
                                               "minProperties",
                                               "maxProperties",
                                               "dependentRequired",
                                               "additionalProperties",
                                               "items",
                                               "prefixItems",
                                               "minItems",
                                               "maxItems",
                                               "uniqueItems",
                                               "minLength",
                                               "maxLength",
                                               "pattern",
                                               "minimum",
                                               "maximum",
                                               "allOf",
                                               "anyOf",
                                               "oneOf",
                                               "not",
                                               "if",
                                               "then",
                                               "else"}) {
            all.push_back(keyword);
        }
        return all;
    }();
    return k_all;
}

namespace {

bool is_one_of(std::string_view keyword, std::initializer_list<std::string_view> names) {
    return std::find(names.begin(), names.end(), keyword) != names.end();
}

// Every keyword of every sub-schema, checked once: one this validator does not implement would
// otherwise be skipped wherever it sits.
void check_keywords(const json& schema, const std::string& at) {
    if (schema.is_boolean()) {
        return;
    }
    if (!schema.is_object()) {
        throw std::logic_error("the schema at " + at + " is neither an object nor a boolean");
    }
    const auto& known = JsonSchema::keywords();
    for (const auto& [keyword, value] : schema.items()) {
        const std::string here = at + "/" + keyword;
        if (std::find(known.begin(), known.end(), keyword) == known.end()) {
            throw std::logic_error("the schema uses keyword '" + keyword + "' (" + here +
                                   "), which tests/config/json_schema.cpp does not know");
        }
        if (is_one_of(keyword, {"properties", "$defs"})) {
            for (const auto& [name, child] : value.items()) {
                check_keywords(child, here + "/" + name);
            }
        } else if (is_one_of(keyword, {"allOf", "anyOf", "oneOf", "prefixItems"})) {
            for (std::size_t i = 0; i < value.size(); ++i) {
                check_keywords(value[i], here + "/" + std::to_string(i));
            }
        } else if (is_one_of(keyword,
                             {"not", "if", "then", "else", "items", "additionalProperties"})) {
            check_keywords(value, here);
        }
    }
}

}  // namespace

JsonSchema::JsonSchema(json root) : m_root(std::move(root)) {
    check_keywords(m_root, "#");
}

const json& JsonSchema::resolve(std::string_view reference) const {
    if (!reference.starts_with("#")) {
        throw std::logic_error("only local $refs are supported, not " + std::string(reference));
    }
    return m_root.at(json::json_pointer(std::string(reference.substr(1))));
}

bool JsonSchema::matches(const std::string& pattern, const std::string& text) const {
    auto known = m_matches.find({&pattern, text});
    if (known == m_matches.end()) {
        auto compiled = m_regexes.find(&pattern);
        if (compiled == m_regexes.end()) {
            // ECMAScript is the dialect JSON Schema patterns are written in.
            compiled =
                m_regexes.emplace(&pattern, std::regex(pattern, std::regex::ECMAScript)).first;
        }
        // A pattern matches anywhere unless it is anchored, as in ECMAScript's RegExp.test.
        known =
            m_matches.emplace(std::pair{&pattern, text}, std::regex_search(text, compiled->second))
                .first;
    }
    return known->second;
}

std::vector<std::string> JsonSchema::errors(const json& instance, Mode mode) const {
    return errors_against(m_root, instance, mode);
}

std::vector<std::string> JsonSchema::errors_against(const json& schema, const json& instance,
                                                    Mode mode) const {
    std::vector<std::string> out;
    check(schema, instance, "", mode, false, false, out);
    return out;
}

bool JsonSchema::valid(const json& schema, const json& instance, const std::string& path, Mode mode,
                       bool in_array) const {
    std::vector<std::string> out;
    check(schema, instance, path, mode, in_array, true, out);
    return out.empty();
}

void JsonSchema::check(const json& schema, const json& instance, const std::string& path, Mode mode,
                       bool in_array, bool quiet, std::vector<std::string>& out) const {
    if (schema.is_boolean()) {
        if (!schema.get<bool>()) {
            out.push_back(quiet ? std::string() : path + ": nothing is allowed here");
        }
        return;
    }
    if (!schema.is_object()) {
        throw std::logic_error("a schema at " + path + " is neither an object nor a boolean");
    }
    const bool after_merge = mode == Mode::Whole || in_array;
    const auto fail = [&](const auto& why) {
        out.push_back(quiet ? std::string() : path + ": " + why());
    };

    if (const auto ref = schema.find("$ref"); ref != schema.end()) {
        check(resolve(ref->get<std::string>()), instance, path, mode, in_array, quiet, out);
    }
    if (const auto type = schema.find("type"); type != schema.end()) {
        const bool matches =
            type->is_array() ? std::any_of(type->begin(), type->end(),
                                           [&](const json& one) {
                                               return has_type(instance, one.get<std::string>());
                                           })
                             : has_type(instance, type->get<std::string>());
        if (!matches) {
            fail([&] { return shown(instance) + " is not of type " + type->dump(); });
            return;  // the other keywords would only repeat it
        }
    }
    if (const auto values = schema.find("enum"); values != schema.end()) {
        if (std::find(values->begin(), values->end(), instance) == values->end()) {
            fail([&] { return shown(instance) + " is not one of " + shown(*values); });
        }
    }
    if (const auto value = schema.find("const"); value != schema.end() && *value != instance) {
        fail([&] { return shown(instance) + " is not " + value->dump(); });
    }

    if (instance.is_object()) {
        const auto properties = schema.find("properties");
        for (const auto& [key, child] : instance.items()) {
            if (properties != schema.end() && properties->contains(key)) {
                check(properties->at(key), child, member(path, key), mode, in_array, quiet, out);
            } else if (const auto extra = schema.find("additionalProperties");
                       extra != schema.end()) {
                check(*extra, child, member(path, key), mode, in_array, quiet, out);
            }
        }
        if (after_merge) {
            if (const auto required = schema.find("required"); required != schema.end()) {
                for (const auto& key : *required) {
                    if (!instance.contains(key.get<std::string>())) {
                        fail([&] { return "required property " + key.dump() + " is missing"; });
                    }
                }
            }
            if (const auto minimum = schema.find("minProperties");
                minimum != schema.end() && instance.size() < minimum->get<std::size_t>()) {
                fail([&] { return "fewer than " + minimum->dump() + " properties"; });
            }
            if (const auto dependent = schema.find("dependentRequired");
                dependent != schema.end()) {
                for (const auto& [key, needs] : dependent->items()) {
                    for (const auto& need : needs) {
                        if (instance.contains(key) && !instance.contains(need.get<std::string>())) {
                            fail([&] { return key + " requires " + need.dump(); });
                        }
                    }
                }
            }
        }
        if (const auto maximum = schema.find("maxProperties");
            maximum != schema.end() && instance.size() > maximum->get<std::size_t>()) {
            fail([&] { return "more than " + maximum->dump() + " properties"; });
        }
    }

    if (instance.is_array()) {
        std::size_t first_unchecked = 0;
        if (const auto prefix = schema.find("prefixItems"); prefix != schema.end()) {
            for (std::size_t i = 0; i < prefix->size() && i < instance.size(); ++i) {
                check(prefix->at(i), instance[i], element(path, i), mode, true, quiet, out);
            }
            first_unchecked = prefix->size();
        }
        if (const auto items = schema.find("items"); items != schema.end()) {
            for (std::size_t i = first_unchecked; i < instance.size(); ++i) {
                check(*items, instance[i], element(path, i), mode, true, quiet, out);
            }
        }
        if (const auto minimum = schema.find("minItems");
            minimum != schema.end() && instance.size() < minimum->get<std::size_t>()) {
            fail([&] { return "fewer than " + minimum->dump() + " items"; });
        }
        if (const auto maximum = schema.find("maxItems");
            maximum != schema.end() && instance.size() > maximum->get<std::size_t>()) {
            fail([&] { return "more than " + maximum->dump() + " items"; });
        }
        if (const auto unique = schema.find("uniqueItems");
            unique != schema.end() && unique->get<bool>()) {
            for (std::size_t i = 0; i < instance.size(); ++i) {
                for (std::size_t j = i + 1; j < instance.size(); ++j) {
                    if (instance[i] == instance[j]) {
                        fail([&] {
                            return "items " + std::to_string(i) + " and " + std::to_string(j) +
                                   " are equal";
                        });
                    }
                }
            }
        }
    }

    if (instance.is_string()) {
        const auto& text = instance.get_ref<const std::string&>();
        if (const auto minimum = schema.find("minLength");
            minimum != schema.end() && code_points(text) < minimum->get<std::size_t>()) {
            fail([&] { return shown(instance) + " is shorter than " + minimum->dump(); });
        }
        if (const auto maximum = schema.find("maxLength");
            maximum != schema.end() && code_points(text) > maximum->get<std::size_t>()) {
            fail([&] {
                return "a string of " + std::to_string(code_points(text)) + " is longer than " +
                       maximum->dump();
            });
        }
        if (const auto pattern = schema.find("pattern"); pattern != schema.end()) {
            if (!matches(pattern->get_ref<const std::string&>(), text)) {
                fail([&] { return shown(instance) + " does not match " + shown(*pattern); });
            }
        }
    }

    if (instance.is_number()) {
        const double number = instance.get<double>();
        if (const auto minimum = schema.find("minimum");
            minimum != schema.end() && number < minimum->get<double>()) {
            fail([&] { return shown(instance) + " is below " + minimum->dump(); });
        }
        if (const auto maximum = schema.find("maximum");
            maximum != schema.end() && number > maximum->get<double>()) {
            fail([&] { return shown(instance) + " is above " + maximum->dump(); });
        }
    }

    if (const auto all = schema.find("allOf"); all != schema.end()) {
        for (const auto& sub : *all) {
            check(sub, instance, path, mode, in_array, quiet, out);
        }
    }
    if (const auto any = schema.find("anyOf"); any != schema.end()) {
        if (std::none_of(any->begin(), any->end(), [&](const json& sub) {
                return valid(sub, instance, path, mode, in_array);
            })) {
            fail([&] { return shown(instance) + " matches none of anyOf"; });
        }
    }
    if (const auto one = schema.find("oneOf"); one != schema.end()) {
        const auto matching = std::count_if(one->begin(), one->end(), [&](const json& sub) {
            return valid(sub, instance, path, mode, in_array);
        });
        if (matching != 1) {
            fail([&] {
                return shown(instance) + " matches " + std::to_string(matching) +
                       " of oneOf, not exactly one";
            });
        }
    }
    if (const auto negated = schema.find("not"); negated != schema.end()) {
        if (valid(*negated, instance, path, mode, in_array)) {
            fail([&] { return shown(instance) + " matches what " + shown(*negated) + " forbids"; });
        }
    }
    if (const auto condition = schema.find("if"); condition != schema.end() && after_merge) {
        const bool holds = valid(*condition, instance, path, mode, in_array);
        const auto branch = schema.find(holds ? "then" : "else");
        if (branch != schema.end()) {
            check(*branch, instance, path, mode, in_array, quiet, out);
        }
    }
}

}  // namespace dsvm::test
