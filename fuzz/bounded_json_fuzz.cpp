// libFuzzer target: the size/depth gate in front of every JSON parse of outside input
// (controller/core/bounded_json.cpp; kiosk bodies, city downlink, MQTT payloads), with the downlink's
// limits. parse_bounded_json must never throw (nothing is caught); a value it returns must serialise
// again, re-parse to the same value and be no deeper than the limit; a refusal must say why.
// json_depth must agree with a plain bracket count on inputs without strings, and never count less
// than the nesting of the value an input parses to.
#include <cstdint>
#include <string>

#include "controller/core/bounded_json.hpp"

namespace {
int value_depth(const nlohmann::json& j) {
    if (!j.is_array() && !j.is_object()) return 0;
    int deepest = 0;
    for (const auto& c : j) deepest = std::max(deepest, value_depth(c));
    return 1 + deepest;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string text(reinterpret_cast<const char*>(data), size);
    const caregate::JsonLimits limits{64 * 1024, 8};
    std::string why;
    auto v = caregate::parse_bounded_json(text, limits, &why);
    if (v) {
        std::string again = v->dump();  // throws type_error.316 on invalid UTF-8: a finding
        if (nlohmann::json::parse(again) != *v) __builtin_trap();
        int d = value_depth(*v);
        if (d > limits.max_depth) __builtin_trap();
        // The gate may count more than the value holds (a repeated key keeps only its last value;
        // nlohmann stops reading at a NUL byte, "[1]\0[[[" parses as [1]), never less.
        if (caregate::json_depth(text, 1000) < d) __builtin_trap();
    } else if (why.empty()) {
        __builtin_trap();
    }
    if (text.find('"') == std::string::npos) {
        // Reference: a plain running count of openers minus closers, its maximum.
        int depth = 0, deepest = 0;
        for (char c : text) {
            if (c == '[' || c == '{') deepest = std::max(deepest, ++depth);
            if (c == ']' || c == '}') --depth;
        }
        for (int stop : {0, 1, 8, int(size % 32), 1 << 20}) {
            int expect = deepest <= stop ? deepest : stop + 1;  // the scan stops at the first level past it
            if (caregate::json_depth(text, stop) != expect) __builtin_trap();
        }
    }
    return 0;
}
