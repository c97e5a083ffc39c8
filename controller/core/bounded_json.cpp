#include "controller/core/bounded_json.hpp"

namespace caregate {

int json_depth(const std::string& text, int stop_after) {
    int depth = 0, deepest = 0;
    bool in_string = false, escaped = false;
    for (char c : text) {
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > deepest) deepest = depth;
            if (deepest > stop_after) return deepest;
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return deepest;
}

std::optional<nlohmann::json> parse_bounded_json(const std::string& text, const JsonLimits& limits,
                                                 std::string* why) {
    auto fail = [&](const std::string& w) -> std::optional<nlohmann::json> {
        if (why) *why = w;
        return std::nullopt;
    };
    if (text.size() > limits.max_bytes)
        return fail("JSON of " + std::to_string(text.size()) + " bytes is over the limit of " +
                    std::to_string(limits.max_bytes));
    if (json_depth(text, limits.max_depth) > limits.max_depth)
        return fail("JSON nested deeper than " + std::to_string(limits.max_depth) + " levels");
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded()) return fail("not valid JSON");
    return j;
}

}  // namespace caregate
