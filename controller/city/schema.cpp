#include "controller/city/schema.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>

namespace caregate::city {

using nlohmann::json;

namespace {
bool type_ok(const std::string& t, const json& v) {
    if (t == "object") return v.is_object();
    if (t == "array") return v.is_array();
    if (t == "string") return v.is_string();
    if (t == "integer")
        return v.is_number_integer() ||
               (v.is_number_float() && v.get<double>() == std::floor(v.get<double>()));
    if (t == "number") return v.is_number();
    if (t == "boolean") return v.is_boolean();
    if (t == "null") return v.is_null();
    return false;
}
// JSON Schema lengths count characters: 张三 is 2, not 6 bytes.
size_t utf8_length(const std::string& s) {
    size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
}
}  // namespace

std::string validate(const json& schema, const json& v, const std::string& path) {
    std::string where = path.empty() ? "(message)" : path;
    if (schema.contains("type")) {
        bool ok = false;
        if (schema["type"].is_array()) {
            for (auto& t : schema["type"]) ok |= type_ok(t.get<std::string>(), v);
        } else {
            ok = type_ok(schema["type"].get<std::string>(), v);
        }
        if (!ok) return where + ": must be " + schema["type"].dump();
    }
    if (schema.contains("const") && v != schema["const"])
        return where + ": must be " + schema["const"].dump();
    if (schema.contains("enum")) {
        bool found = false;
        for (auto& e : schema["enum"]) found |= e == v;
        if (!found) return where + ": must be one of " + schema["enum"].dump();
    }
    if (v.is_number()) {
        if (schema.contains("minimum") && v.get<double>() < schema["minimum"].get<double>())
            return where + ": below minimum";
        if (schema.contains("maximum") && v.get<double>() > schema["maximum"].get<double>())
            return where + ": above maximum";
    }
    if (schema.contains("oneOf")) {
        int matches = 0;
        for (auto& alt : schema["oneOf"]) matches += validate(alt, v, path).empty() ? 1 : 0;
        if (matches != 1)
            return where + ": must match exactly one alternative (matches " + std::to_string(matches) + ")";
    }
    if (v.is_string()) {
        size_t chars = utf8_length(v.get_ref<const std::string&>());
        if (schema.contains("minLength") && chars < schema["minLength"].get<size_t>())
            return where + ": too short";
        if (schema.contains("maxLength") && chars > schema["maxLength"].get<size_t>())
            return where + ": too long";
        if (schema.contains("pattern") &&
            !std::regex_search(v.get<std::string>(), std::regex(schema["pattern"].get<std::string>())))
            return where + ": does not match " + schema["pattern"].get<std::string>();
    }
    if (v.is_object()) {
        if (schema.contains("required"))
            for (auto& r : schema["required"])
                if (!v.contains(r.get<std::string>())) return where + ": missing " + r.get<std::string>();
        if (schema.contains("properties"))
            for (auto& [k, sub] : schema["properties"].items())
                if (v.contains(k)) {
                    auto e = validate(sub, v[k], path.empty() ? k : path + "." + k);
                    if (!e.empty()) return e;
                }
        if (schema.contains("additionalProperties") && schema["additionalProperties"] == false)
            for (auto& [k, _] : v.items())
                if (!schema.contains("properties") || !schema["properties"].contains(k))
                    return where + ": unexpected " + k;
    }
    if (v.is_array() && schema.contains("items"))
        for (size_t i = 0; i < v.size(); ++i) {
            auto e = validate(schema["items"], v[i], where + "[" + std::to_string(i) + "]");
            if (!e.empty()) return e;
        }
    return "";
}

SchemaSet::SchemaSet(const std::string& dir) {
    namespace fs = std::filesystem;
    if (!fs::exists(dir)) throw std::runtime_error("schema folder " + dir + " not found");
    for (auto& f : fs::directory_iterator(dir)) {
        if (f.path().extension() != ".json") continue;
        std::ifstream in(f.path());
        auto j = json::parse(in, nullptr, false);
        if (j.is_discarded()) throw std::runtime_error("schema " + f.path().string() + " is not valid JSON");
        schemas_[f.path().stem().string()] = j;
    }
}

std::string SchemaSet::validate_message(const json& msg) const {
    auto env = schemas_.find("envelope");
    if (env == schemas_.end()) return "no envelope schema";
    auto e = validate(env->second, msg);
    if (!e.empty()) return e;
    std::string schema = msg["schema"].get<std::string>();  // caregate.<kind>/1
    std::string kind = schema.substr(9, schema.find('/') - 9);
    auto it = schemas_.find(kind);
    if (it == schemas_.end()) return "unknown kind " + kind;
    return validate(it->second, msg["data"], "data");
}

}  // namespace caregate::city
