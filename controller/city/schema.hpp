// A small JSON Schema validator for the subset our message schemas use (type, required, properties,
// additionalProperties, enum, const, items, minimum, maximum, minLength, maxLength, pattern, oneOf). The
// schemas in docs/schemas are plain draft-07, so a city team can validate with any full implementation.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace caregate::city {

// Returns "" when valid, else the first problem with its JSON path ("data.ts: must be integer").
std::string validate(const nlohmann::json& schema, const nlohmann::json& value, const std::string& path = "");

class SchemaSet {
public:
    explicit SchemaSet(const std::string& dir);  // loads <dir>/*.json, keyed by "$id" file stem
    // Validates an uplink envelope and its data against caregate.<kind>/1.
    std::string validate_message(const nlohmann::json& msg) const;
    bool has(const std::string& kind) const { return schemas_.count(kind) > 0; }

private:
    std::map<std::string, nlohmann::json> schemas_;
};

}  // namespace caregate::city
