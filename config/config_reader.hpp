// The config loader's reader (internal to config/): a view on a YAML mapping that knows its key
// path, rejects unknown keys and names the line of every error, and the checks the sections share.
// The sections are parsed in config.cpp, and care and meals in care_config.cpp.
#pragma once

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace caregate::config::detail {

// The item of a config list with this id (zones, channels, meal sessions, …), or null.
template <typename T>
const T* by_id(const std::vector<T>& items, const std::string& id) {
    for (auto& x : items)
        if (x.id == id) return &x;
    return nullptr;
}

inline size_t edit_distance(const std::string& a, const std::string& b) {
    std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (size_t j = 1; j <= b.size(); ++j)
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

// A view on one YAML mapping that remembers its key path and which keys were read, so that
// unknown keys (typos) can be rejected once all known ones are consumed.
// A mapping key as text; a key that is itself a list or a mapping ({[k]: 1}) is an error at it.
inline std::string key_text(const std::string& file, const YAML::Node& key) {
    if (!key.IsScalar()) {
        auto m = key.Mark();
        throw ConfigError(file, m.is_null() ? 0 : m.line + 1, m.is_null() ? 0 : m.column + 1, "",
                          "a key must be a plain name, not a list or a mapping");
    }
    return key.Scalar();
}

class MapReader {
public:
    MapReader(const std::string& file, YAML::Node node, std::string path)
        : file_(file), node_(std::move(node)), path_(std::move(path)) {
        if (node_.IsDefined() && !node_.IsNull() && !node_.IsMap())
            fail(node_, "", "must be a mapping of key: value");
    }

    [[noreturn]] void fail(const YAML::Node& at, const std::string& key, const std::string& what) const {
        auto m = at.Mark();
        throw ConfigError(file_, m.is_null() ? 0 : m.line + 1, m.is_null() ? 0 : m.column + 1, join(key),
                          what);
    }
    [[noreturn]] void fail_here(const std::string& key, const std::string& what) const {
        YAML::Node n = has(key) ? node_[key] : node_;
        fail(n, key, what);
    }

    std::string join(const std::string& key) const {
        if (key.empty()) return path_;
        return path_.empty() ? key : path_ + "." + key;
    }
    bool has(const std::string& key) const { return node_.IsMap() && node_[key].IsDefined(); }
    YAML::Node raw(const std::string& key) {
        known_.insert(key);
        return node_.IsMap() ? node_[key] : YAML::Node();
    }

    template <typename T>
    void get(const std::string& key, T& out, bool required = false) {
        known_.insert(key);
        if (!has(key) || node_[key].IsNull()) {
            if (required) {
                std::string msg = "is required";
                if (node_.IsMap())  // a typo of this key is the likeliest cause
                    for (auto it = node_.begin(); it != node_.end(); ++it) {
                        std::string k = key_text(file_, it->first);
                        if (k != key && edit_distance(k, key) <= 2)
                            msg += "; found '" + k + "': did you mean '" + key + "'?";
                    }
                fail(node_, key, msg);
            }
            return;
        }
        YAML::Node v = node_[key];
        if (!v.IsScalar()) fail(v, key, std::string("must be a single ") + type_name<T>());
        try {
            out = v.as<T>();
        } catch (const YAML::Exception&) {
            fail(v, key, std::string("must be ") + type_name<T>() + ", got '" + v.Scalar() + "'");
        }
    }

    MapReader child(const std::string& key) {
        known_.insert(key);
        return MapReader(file_, node_.IsMap() ? node_[key] : YAML::Node(), join(key));
    }

    // Sequence of mappings at `key`; calls fn(reader, index) for each.
    void each(const std::string& key, const std::function<void(MapReader&, size_t)>& fn) {
        known_.insert(key);
        if (!has(key) || node_[key].IsNull()) return;
        YAML::Node seq = node_[key];
        if (!seq.IsSequence()) fail(seq, key, "must be a list (items start with '- ')");
        for (size_t i = 0; i < seq.size(); ++i) {
            MapReader r(file_, seq[i], join(key) + "[" + std::to_string(i) + "]");
            if (!seq[i].IsMap()) r.fail(seq[i], "", "each item must be a mapping of key: value");
            fn(r, i);
            r.finish();
        }
    }

    // Rejects keys nobody asked for, with the closest known key as a hint.
    void finish() const {
        if (!node_.IsMap()) return;
        for (auto it = node_.begin(); it != node_.end(); ++it) {
            std::string k = key_text(file_, it->first);
            if (known_.count(k)) continue;
            std::string best;
            size_t best_d = 99;
            for (auto& cand : known_) {
                size_t d = edit_distance(k, cand);
                if (d < best_d) best_d = d, best = cand;
            }
            std::string msg = "unknown key";
            if (!best.empty() && best_d <= std::max<size_t>(2, k.size() / 3))
                msg += "; did you mean '" + best + "'?";
            else {
                msg += "; known keys here:";
                for (auto& c : known_) msg += " " + c;
            }
            fail(it->first, k, msg);
        }
    }

    const YAML::Node& node() const { return node_; }

private:
    template <typename T>
    static const char* type_name() {
        if constexpr (std::is_same_v<T, bool>)
            return "true or false";
        else if constexpr (std::is_integral_v<T>)
            return "a whole number";
        else if constexpr (std::is_floating_point_v<T>)
            return "a number";
        else
            return "a string";
    }
    std::string file_;
    YAML::Node node_;
    std::string path_;
    std::set<std::string> known_;
};

// A YAML list of numbers (a mask polygon, a counting line, a homography): the list, or a failure
// at that node naming the key and what was expected.
template <typename T>
std::vector<T> number_list(MapReader& r, const YAML::Node& node, const std::string& key,
                           const std::string& expect) {
    try {
        if (node.IsSequence()) return node.as<std::vector<T>>();
    } catch (const YAML::Exception&) {
    }
    r.fail(node, key, expect);
}

inline void check_range(MapReader& r, const std::string& key, double v, double lo, double hi) {
    if (!std::isfinite(v) || v < lo || v > hi) {  // .nan passes both comparisons
        std::ostringstream ss;
        ss << "must be between " << lo << " and " << hi << ", got " << v;
        r.fail_here(key, ss.str());
    }
}

inline void check_one_of(MapReader& r, const std::string& key, const std::string& v,
                         const std::vector<std::string>& ok) {
    if (std::find(ok.begin(), ok.end(), v) != ok.end()) return;
    std::string msg = "must be one of:";
    for (auto& o : ok) msg += " " + o;
    msg += "; got '" + v + "'";
    r.fail_here(key, msg);
}

inline void check_id(MapReader& r, const std::string& key, const std::string& v) {
    static const std::regex re("[a-z0-9][a-z0-9_-]{0,63}");
    if (!std::regex_match(v, re))
        r.fail_here(key,
                    "'" + v + "' must be lowercase letters, digits, '_' or '-' (it is used in MQTT topics)");
}

inline void reject_inline_secret(MapReader& r, const std::string& key) {
    if (r.has(key))
        r.fail_here(key, "secrets are never written inline; put it in a file and use '" + key + "_file'");
}

inline void parse_point(MapReader& r, Point& p) {
    r.get("table", p.table);
    r.get("address", p.address, true);
    r.get("count", p.count);
    r.get("scale", p.scale);
    r.get("meaning", p.meaning, true);
    r.get("channel", p.channel);
    r.get("type", p.type);
    double above = 0;
    if (r.has("alarm_above")) {
        r.get("alarm_above", above);
        p.alarm_above = above;
        p.clear_below = above * 0.9;
    }
    check_one_of(r, "table", p.table, {"coils", "discrete_inputs", "holding_registers", "input_registers"});
    check_range(r, "address", p.address, 0, 65535);
    check_range(r, "count", p.count, 1, 125);
    check_range(r, "channel", p.channel, -1, 15);
    check_one_of(r, "type", p.type, {"", "u16", "s16", "u32", "s32", "f32"});
    if (p.type == "u32" || p.type == "s32" || p.type == "f32") p.count = 2;
    std::vector<std::string> meanings = {"call",       "cancel",      "fall",   "cord_pulled", "temperature",
                                         "counter_in", "counter_out", "output", "status"};
    for (auto& st : {"smoke", "gas", "water_leak", "tamper", "presence", "motion", "contact", "battery_low"})
        meanings.push_back(st);
    for (auto& st : {"residual_current_ma", "cable_temp_c", "voltage_v", "current_a", "power_w", "energy_kwh",
                     "battery_pct", "link_quality", "target_distance_m"})
        meanings.push_back(st);
    check_one_of(r, "meaning", p.meaning, meanings);
    if (p.alarm_above && !devices::is_electrical_state(p.meaning))
        r.fail_here("alarm_above",
                    "thresholds are for electrical readings (residual_current_ma, cable_temp_c, "
                    "voltage_v, current_a, power_w)");
}

// A device's thresholds: {state: alarm_above}, overriding its model's.
inline std::map<std::string, double> parse_thresholds(MapReader& r, const devices::DeviceModel& m) {
    std::map<std::string, double> out;
    YAML::Node t = r.raw("thresholds");
    if (!t.IsDefined() || t.IsNull()) return out;
    if (!t.IsMap()) r.fail(t, "thresholds", "a mapping: {residual_current_ma: 300, cable_temp_c: 70}");
    for (auto it = t.begin(); it != t.end(); ++it) {
        std::string state = it->first.IsScalar() ? it->first.Scalar() : "";
        const auto* src = m.find(state);
        if (!devices::is_electrical_state(state) || !src)
            r.fail(it->first, "thresholds",
                   "'" + state + "' is not an electrical reading of model " + m.id +
                       " (residual_current_ma, cable_temp_c, voltage_v, current_a, power_w)");
        double v = 0;
        try {
            v = it->second.as<double>();
        } catch (const YAML::Exception&) {
            r.fail(it->second, "thresholds", "the threshold of " + state + " must be a number");
        }
        if (!std::isfinite(v) || v <= 0) r.fail(it->second, "thresholds", "must be a number above 0");
        out[state] = v;
    }
    return out;
}

inline bool is_loopback(const std::string& host) {
    return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

// A list of plain strings at `key` (categories, channel ids); `what` says what an entry is.
inline std::vector<std::string> string_list(MapReader& r, const std::string& key, const std::string& what) {
    YAML::Node n = r.raw(key);
    std::vector<std::string> out;
    if (!n.IsDefined() || n.IsNull()) return out;
    if (!n.IsSequence()) r.fail(n, key, "must be a list: [" + what + ", …]");
    for (auto item : n) {
        if (!item.IsScalar() || item.Scalar().empty()) r.fail(item, key, "each entry is " + what);
        out.push_back(item.Scalar());
    }
    return out;
}

// "11:30" → 690; fails at `key` otherwise.
inline int parse_hhmm(MapReader& r, const std::string& key, const std::string& text) {
    int h = -1, m = -1;
    char tail = 0;
    if (std::sscanf(text.c_str(), "%d:%d%c", &h, &m, &tail) != 2 || h < 0 || h > 24 || m < 0 || m > 59 ||
        h * 60 + m > 1440)
        r.fail_here(key, "must be a time of day like 11:30, got '" + text + "'");
    return h * 60 + m;
}

// Ids the sections share: devices, cameras and their thermometers are one namespace (alarms name
// them); devices and cameras name zones.
struct SiteIds {
    std::set<std::string> things;
    std::set<std::string> zones;
    void unique(MapReader& r, const std::string& id) {
        check_id(r, "id", id);
        if (!things.insert(id).second)
            r.fail_here("id", "'" + id + "' is used twice; device and camera ids must be unique");
    }
    void check_zone(MapReader& r, const std::string& zone) const {
        if (zone.empty()) return;
        if (!zones.count(zone)) {
            std::string msg = "zone '" + zone + "' is not defined under zones:";
            for (auto& z : zones) msg += " " + z;
            r.fail_here("zone", msg);
        }
    }
};

// Sections parsed in their own files, in the order parse_config calls them.
void parse_face(MapReader& top, SiteConfig& c);                                           // camera_config.cpp
void parse_cctv(MapReader& top, SiteConfig& c);                                           // camera_config.cpp
void parse_cameras(MapReader& top, SiteConfig& c, SiteIds& ids);                          // camera_config.cpp
void parse_devices(MapReader& top, const YAML::Node& root, SiteConfig& c, SiteIds& ids);  // device_config.cpp
void parse_alarms(MapReader& top, SiteConfig& c);                                         // alarm_config.cpp
void parse_notify(MapReader& top, SiteConfig& c);                                         // alarm_config.cpp
void parse_care(MapReader& top, SiteConfig& c);                                           // care_config.cpp
void parse_meals(MapReader& top, SiteConfig& c);                                          // care_config.cpp

}  // namespace caregate::config::detail
