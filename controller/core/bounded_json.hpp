// JSON from outside the box (kiosk bodies, city downlink, MQTT payloads) parsed only after its size
// and nesting depth are checked, so one hostile message cannot exhaust memory or the stack.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace caregate {

struct JsonLimits {
    size_t max_bytes = 64 * 1024;
    int max_depth = 16;
};

// The parsed value, or nullopt with `why` saying which limit or what syntax failed. Never throws.
std::optional<nlohmann::json> parse_bounded_json(const std::string& text, const JsonLimits& limits,
                                                 std::string* why = nullptr);

// Nesting depth of arrays/objects in `text` (strings and escapes skipped), stopping early once it
// exceeds `stop_after`. A linear scan with no recursion.
int json_depth(const std::string& text, int stop_after);

}  // namespace caregate
