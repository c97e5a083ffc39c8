// libFuzzer target: the pure part of the city downlink check (controller/city/exchange.cpp), i.e.
// what anyone able to publish on the command topic controls before the HMAC is checked: the payload
// is gated with the downlink's limits (64 KB, 8 levels), then command_hmac runs on the object.
// Downlink::handle itself needs a Store and a Roster (SQLite) and is not run here.
//  - An object with the fields handle() checks before computing the MAC (site/id/cmd/hmac strings,
//    integer ts, data object): command_hmac must not throw, must give 64 lowercase hex digits, and
//    the same MAC again after the command is serialised and parsed back (the city signs its own
//    serialisation of data, the box recomputes it from the parsed one).
//  - Any other object: command_hmac may refuse with nlohmann's type_error (a field of the wrong
//    type), nothing else. Objects with a floating-point ts are skipped there: handle() never passes
//    one, and converting one out of int64 range is undefined behaviour (UBSan would stop on it).
// Nothing else is caught, so an exception of another type terminates at the throw, with that stack.
#include <cstdint>
#include <string>

#include "controller/city/exchange.hpp"
#include "controller/core/bounded_json.hpp"

namespace {
using nlohmann::json;

bool checked_like_handle(const json& j) {
    for (auto k : {"site", "id", "cmd", "hmac"})
        if (!j.contains(k) || !j[k].is_string()) return false;
    if (!j.contains("ts") || !j["ts"].is_number_integer()) return false;
    return j.contains("data") && j["data"].is_object();
}

bool lower_hex(const std::string& s, size_t n) {
    if (s.size() != n) return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const std::string key = "caregate-fuzz-hmac-key-0123456789abcdef";
    std::string text(reinterpret_cast<const char*>(data), size);
    auto parsed = caregate::parse_bounded_json(text, caregate::JsonLimits{64 * 1024, 8});
    if (!parsed || !parsed->is_object()) return 0;
    const json& j = *parsed;
    if (checked_like_handle(j)) {
        std::string mac = caregate::city::command_hmac(j, key);
        if (!lower_hex(mac, 64)) __builtin_trap();
        if (caregate::city::command_hmac(json::parse(j.dump()), key) != mac) __builtin_trap();
    } else if (!j.contains("ts") || !j["ts"].is_number_float()) {
        try {
            (void)caregate::city::command_hmac(j, key);
        } catch (const json::type_error&) {
        }
    }
    return 0;
}
