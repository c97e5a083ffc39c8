// Payload mapping per device model. Adding a model is a new entry here plus its name in the config
// validator; see devices/README.md.
#include <nlohmann/json.hpp>

#include "controller/core/bounded_json.hpp"
#include "devices/mqtt_sensors.hpp"

namespace caregate::devices {

namespace {
// A sensor message is a few hundred bytes of flat JSON; anything far bigger or deeper is hostile.
const JsonLimits kDeviceJson{16 * 1024, 6};
}  // namespace

using nlohmann::json;

namespace {

void common_fields(const json& j, ParsedPayload& p) {
    if (j.contains("battery")) {
        if (!j["battery"].is_number()) {
            p.malformed = true;
            p.why = "battery is not a number";
            return;
        }
        double b = j["battery"].get<double>();
        if (b < 0 || b > 100) {
            p.out_of_range = true;
            p.why = "battery " + std::to_string(b) + " outside 0..100";
        } else {
            p.battery = b;
        }
    }
}

bool string_field(const json& j, const char* key, std::string& out, ParsedPayload& p) {
    if (!j.contains(key)) return false;
    if (!j[key].is_string()) {
        p.malformed = true;
        p.why = std::string(key) + " is not a string";
        return false;
    }
    out = j[key].get<std::string>();
    return true;
}

}  // namespace

ParsedPayload parse_availability(const std::string& payload) {
    ParsedPayload p;
    std::string s = payload;
    auto parsed = parse_bounded_json(payload, kDeviceJson);
    json j = parsed ? *parsed : json();
    if (j.is_object() && j.contains("state") && j["state"].is_string()) s = j["state"].get<std::string>();
    if (s == "online")
        p.available = true;
    else if (s == "offline")
        p.available = false;
    else {
        p.malformed = true;
        p.why = "availability must be online or offline";
    }
    return p;
}

ParsedPayload parse_payload(const std::string& model, const std::string& payload) {
    ParsedPayload p;
    std::string why;
    auto parsed = parse_bounded_json(payload, kDeviceJson, &why);
    if (!parsed || !parsed->is_object()) {
        p.malformed = true;
        p.why = parsed ? "not a JSON object" : why;
        return p;
    }
    json j = std::move(*parsed);
    common_fields(j, p);
    if (p.malformed) return p;
    std::string s;
    if (model == "ts0215a_sos" || model == "zigbee_button") {
        // SOS pendants say "emergency"; plain buttons single/double/long/hold.
        if (string_field(j, "action", s, p)) {
            if (s == "emergency" || s == "sos" || s == "single" || s == "double" || s == "long" ||
                s == "hold")
                p.call = true;
            else if (s != "" && s != "release") {
                p.out_of_range = true;
                p.why = "unknown action '" + s + "'";
            }
        }
    } else if (model == "mir_he200_fall") {
        if (string_field(j, "fall_down_status", s, p)) {
            if (s == "fall")
                p.fall = true;
            else if (s == "maybe_fall")
                p.fall = true, p.fall_certain = false;
            else if (s != "none") {
                p.out_of_range = true;
                p.why = "unknown fall_down_status '" + s + "'";
            }
        }
    } else if (model == "zigbee_fall") {
        if (string_field(j, "fall", s, p)) {
            if (s == "fall")
                p.fall = true;
            else if (s != "none" && s != "normal") {
                p.out_of_range = true;
                p.why = "unknown fall value '" + s + "'";
            }
        }
    } else if (model == "zigbee_occupancy") {
        // PIR sensors say "occupancy", mmWave presence sensors "presence" (zigbee2mqtt's exposes).
        for (const char* key : {"occupancy", "presence"}) {
            if (!j.contains(key)) continue;
            if (!j[key].is_boolean()) {
                p.malformed = true;
                p.why = std::string(key) + " is not true/false";
            } else {
                p.occupied = j[key].get<bool>();
            }
        }
    } else if (model == "zigbee_contact") {
        // zigbee2mqtt door contacts: contact true = closed. A closed bathroom door = someone inside.
        if (j.contains("contact")) {
            if (!j["contact"].is_boolean()) {
                p.malformed = true;
                p.why = "contact is not true/false";
            } else {
                p.occupied = j["contact"].get<bool>();
            }
        }
    } else {  // generic: {"event":"call"|"reset"|"fall"|"temperature","value":..}
        if (string_field(j, "event", s, p)) {
            if (s == "call")
                p.call = true;
            else if (s == "reset")
                p.reset = true;
            else if (s == "fall")
                p.fall = true;
            else if (s == "temperature") {
                if (!j.contains("value") || !j["value"].is_number()) {
                    p.malformed = true;
                    p.why = "temperature needs a numeric value";
                } else {
                    double v = j["value"].get<double>();
                    if (v < -40 || v > 125) {
                        p.out_of_range = true;
                        p.why = "temperature " + std::to_string(v) + " outside -40..125";
                    } else {
                        p.temperature = v;
                    }
                }
            } else {
                p.out_of_range = true;
                p.why = "unknown event '" + s + "'";
            }
        }
    }
    return p;
}

}  // namespace caregate::devices
