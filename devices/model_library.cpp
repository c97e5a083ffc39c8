#include "devices/model_library.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "controller/core/bounded_json.hpp"

namespace caregate::devices {

using nlohmann::json;

namespace {

// A sensor message is a few hundred bytes of flat JSON; anything far bigger or deeper is hostile.
const JsonLimits kDeviceJson{16 * 1024, 6};
// A model file is a page of YAML; a megabyte is not a device description.
constexpr size_t kMaxModelFileBytes = 256 * 1024;

const std::vector<std::string> kBoolStates = {"call",       "cancel",  "fall",        "presence",
                                              "motion",     "contact", "smoke",       "gas",
                                              "water_leak", "tamper",  "battery_low", "availability"};
const std::vector<std::string> kNumericStates = {
    "battery_pct",  "link_quality", "temperature_c", "target_distance_m", "residual_current_ma",
    "cable_temp_c", "voltage_v",    "current_a",     "power_w",           "energy_kwh"};
const std::vector<std::string> kElectrical = {"residual_current_ma", "cable_temp_c", "voltage_v", "current_a",
                                              "power_w"};
const std::vector<std::string> kKinds = {"call_button",
                                         "pull_cord",
                                         "fall_sensor",
                                         "thermometer",
                                         "occupancy",
                                         "presence_sensor",
                                         "door_contact",
                                         "smoke_detector",
                                         "gas_detector",
                                         "water_leak_sensor",
                                         "electrical_fire_detector",
                                         "energy_meter",
                                         "di_module"};

bool contains(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (auto& s : v) out += (out.empty() ? "" : ", ") + s;
    return out;
}

// Errors name the file, the line and the key, as site config errors do.
class Reader {
public:
    Reader(const std::string& file, YAML::Node node, std::string path)
        : file_(file), node_(std::move(node)), path_(std::move(path)) {
        if (!node_.IsMap()) fail(node_, "", "must be a mapping of key: value");
    }
    [[noreturn]] void fail(const YAML::Node& at, const std::string& key, const std::string& what) const {
        auto m = at.Mark();
        std::string where = file_ + (m.is_null() ? "" : ":" + std::to_string(m.line + 1));
        std::string k = key.empty() ? path_ : (path_.empty() ? key : path_ + "." + key);
        throw ModelError(where + ": " + (k.empty() ? "" : k + ": ") + what);
    }
    [[noreturn]] void fail_here(const std::string& key, const std::string& what) const {
        fail(has(key) ? node_[key] : node_, key, what);
    }
    bool has(const std::string& key) const { return node_[key].IsDefined() && !node_[key].IsNull(); }
    YAML::Node raw(const std::string& key) {
        known_.insert(key);
        return node_[key];
    }
    template <typename T>
    bool get(const std::string& key, T& out, bool required = false) {
        known_.insert(key);
        if (!has(key)) {
            if (required) fail(node_, key, "is required");
            return false;
        }
        YAML::Node v = node_[key];
        if (!v.IsScalar()) fail(v, key, "must be a single value");
        try {
            out = v.as<T>();
        } catch (const YAML::Exception&) {
            fail(v, key, "has the wrong type: '" + v.Scalar() + "'");
        }
        return true;
    }
    int line() const { return node_.Mark().is_null() ? 0 : node_.Mark().line + 1; }
    // Unknown keys are typos until proven otherwise.
    void finish() const {
        for (auto it = node_.begin(); it != node_.end(); ++it) {
            if (!it->first.IsScalar()) fail(it->first, "", "keys must be plain words");
            std::string k = it->first.Scalar();
            if (!known_.count(k))
                fail(it->first, k, "is not a key of a device model (config/devices/README.md)");
        }
    }

private:
    std::string file_;
    YAML::Node node_;
    std::string path_;
    std::set<std::string> known_;
};

StateSource::Target parse_target(Reader& r, const YAML::Node& at, const std::string& text) {
    StateSource::Target t;
    if (text == "none") {
        t.state.clear();
        return t;
    }
    auto eq = text.find('=');
    t.state = text.substr(0, eq);
    if (eq != std::string::npos) {
        std::string v = text.substr(eq + 1);
        if (v == "true")
            t.value = 1;
        else if (v == "false")
            t.value = 0;
        else if (v == "maybe")
            t.certain = false;
        else
            r.fail(at, "values", "'" + text + "': after '=' write true, false or maybe");
    }
    if (!contains(kBoolStates, t.state))
        r.fail(at, "values",
               "'" + t.state + "' is not a true/false state; use none or one of " + join(kBoolStates));
    return t;
}

void parse_state(Reader& r, const std::string& transport, StateSource& s) {
    s.line = r.line();
    r.get("state", s.state);
    r.get("type", s.type, true);
    r.get("scale", s.scale);
    r.get("invert", s.invert);
    if (!std::isfinite(s.scale) || s.scale == 0) r.fail_here("scale", "must be a finite number other than 0");
    if (r.has("range")) {
        YAML::Node rg = r.raw("range");
        if (!rg.IsSequence() || rg.size() != 2) r.fail_here("range", "must be [min, max]");
        try {
            s.min = rg[0].as<double>();
            s.max = rg[1].as<double>();
        } catch (const YAML::Exception&) {
            r.fail_here("range", "must be two numbers [min, max]");
        }
        if (!std::isfinite(*s.min) || !std::isfinite(*s.max) || *s.min > *s.max)
            r.fail_here("range", "must be finite numbers with min <= max");
    }
    double v = 0;
    if (r.get("alarm_above", v)) s.alarm_above = v;
    if (r.get("clear_below", v)) s.clear_below = v;
    if (transport == "mqtt") {
        r.get("json", s.json, true);
        if (s.json.empty() || s.json[0] != '/')
            r.fail_here("json", "must be a JSON pointer starting with '/', e.g. /smoke");
        try {
            (void)json::json_pointer(s.json);
        } catch (const json::exception&) {
            r.fail_here("json", "'" + s.json + "' is not a valid JSON pointer (RFC 6901)");
        }
        if (!contains({"bool", "number", "string"}, s.type))
            r.fail_here("type", "'" + s.type + "': an MQTT field is bool, number or string");
        if (r.has("when")) {
            YAML::Node w = r.raw("when");
            if (!w.IsMap() || !w["json"].IsScalar() || !w["equals"].IsScalar())
                r.fail_here("when", "must be {json: /field, equals: value}");
            s.when_json = w["json"].Scalar();
            s.when_equals = w["equals"].Scalar();
            if (s.when_json.empty() || s.when_json[0] != '/')
                r.fail_here("when", "json must be a JSON pointer starting with '/'");
        }
        if (s.type == "string") {
            YAML::Node vals = r.raw("values");
            if (!vals.IsMap() || vals.size() == 0)
                r.fail_here("values", "a string field needs values: {payload value: state, ...}");
            for (auto it = vals.begin(); it != vals.end(); ++it) {
                if (!it->first.IsScalar() || !it->second.IsScalar())
                    r.fail(it->first, "values", "each entry is 'payload value: state'");
                s.values[it->first.Scalar()] = parse_target(r, it->second, it->second.Scalar());
            }
            if (!s.state.empty())
                r.fail_here("state", "a string field names its states in values:, not state:");
        } else if (r.has("values")) {
            r.fail_here("values", "only string fields map values");
        }
    } else {
        r.get("table", s.table, true);
        r.get("address", s.address, true);
        r.get("bit", s.bit);
        std::string order = "big";
        r.get("word_order", order);
        if (!contains({"coils", "discrete_inputs", "holding_registers", "input_registers"}, s.table))
            r.fail_here("table", "'" + s.table +
                                     "': use coils, discrete_inputs, holding_registers or input_registers");
        if (s.address < 0 || s.address > 65535) r.fail_here("address", "must be 0..65535");
        if (s.bit < -1 || s.bit > 15) r.fail_here("bit", "must be 0..15");
        if (order != "big" && order != "little") r.fail_here("word_order", "must be big or little");
        s.words_big_endian = order == "big";
        bool bits = s.table == "coils" || s.table == "discrete_inputs";
        if (bits && s.type != "bool") r.fail_here("type", "a coil or discrete input is bool");
        if (!bits && s.bit >= 0 && s.type != "bool") r.fail_here("type", "one bit of a register is bool");
        if (!bits && s.bit < 0 && !contains({"u16", "s16", "u32", "s32", "f32"}, s.type))
            r.fail_here("type",
                        "'" + s.type + "': a register is u16, s16, u32, s32 or f32 (or bool with bit:)");
    }
    if (s.type != "string") {
        if (s.state.empty()) r.fail_here("state", "is required (what this field or register means)");
        bool want_bool = s.type == "bool";
        if (want_bool && !contains(kBoolStates, s.state))
            r.fail_here("state",
                        "'" + s.state + "' is not a true/false state; use one of " + join(kBoolStates));
        if (!want_bool && !contains(kNumericStates, s.state))
            r.fail_here("state",
                        "'" + s.state + "' is not a numeric state; use one of " + join(kNumericStates));
        if (s.state == "battery_pct" && !s.min) s.min = 0, s.max = 100;
    }
    if ((s.alarm_above || s.clear_below) && !contains(kElectrical, s.state))
        r.fail_here("alarm_above", "thresholds are for the electrical states " + join(kElectrical));
    if (s.clear_below && !s.alarm_above) r.fail_here("clear_below", "needs alarm_above");
    if (s.alarm_above && !s.clear_below) s.clear_below = *s.alarm_above * 0.9;
    if (s.alarm_above && *s.clear_below > *s.alarm_above)
        r.fail_here("clear_below", "must not be above alarm_above");
    r.finish();
}

// The JSON field at a pointer, or null when absent (a pointer into a non-object is absent too).
const json* at_pointer(const json& j, const std::string& pointer) {
    const json* cur = &j;
    size_t pos = 1;
    while (pos <= pointer.size()) {
        size_t next = pointer.find('/', pos);
        std::string token = pointer.substr(pos, next == std::string::npos ? std::string::npos : next - pos);
        for (size_t i; (i = token.find("~1")) != std::string::npos;) token.replace(i, 2, "/");
        for (size_t i; (i = token.find("~0")) != std::string::npos;) token.replace(i, 2, "~");
        if (cur->is_object()) {
            auto it = cur->find(token);
            if (it == cur->end()) return nullptr;
            cur = &*it;
        } else if (cur->is_array()) {
            if (token.empty() || token.size() > 6 ||
                token.find_first_not_of("0123456789") != std::string::npos)
                return nullptr;
            size_t i = std::stoul(token);
            if (i >= cur->size()) return nullptr;
            cur = &(*cur)[i];
        } else {
            return nullptr;
        }
        if (next == std::string::npos) break;
        pos = next + 1;
    }
    return cur;
}

std::string scalar_text(const json& v) {
    if (v.is_string()) return v.get<std::string>();
    return v.dump();
}

}  // namespace

bool is_bool_state(const std::string& s) { return contains(kBoolStates, s); }
bool is_numeric_state(const std::string& s) { return contains(kNumericStates, s); }
bool is_electrical_state(const std::string& s) { return contains(kElectrical, s); }
bool is_safety_state(const std::string& s) { return s == "smoke" || s == "gas" || s == "water_leak"; }
const std::vector<std::string>& device_kinds() { return kKinds; }

const StateSource* DeviceModel::find(const std::string& state) const {
    for (auto& s : states) {
        if (s.state == state) return &s;
        for (auto& [v, t] : s.values)
            if (t.state == state) return &s;
    }
    return nullptr;
}

std::optional<double> Reading::get(const std::string& state) const {
    for (auto& s : states)
        if (s.state == state) return s.value;
    return std::nullopt;
}

DeviceModel DeviceLibrary::parse(const std::string& text, const std::string& file) {
    if (text.size() > kMaxModelFileBytes)
        throw ModelError(file + ": " + std::to_string(text.size()) + " bytes is not a device model (limit " +
                         std::to_string(kMaxModelFileBytes) + ")");
    YAML::Node root;
    try {
        root = YAML::Load(text);
    } catch (const YAML::ParserException& e) {
        throw ModelError(file + ":" + std::to_string(e.mark.line + 1) + ": not valid YAML: " + e.msg);
    }
    if (!root.IsMap()) throw ModelError(file + ": a device model is a mapping (id:, vendor:, states:, ...)");
    Reader r(file, root, "");
    DeviceModel m;
    m.file = file;
    r.get("id", m.id, true);
    r.get("vendor", m.vendor, true);
    r.get("model", m.model, true);
    r.get("transport", m.transport, true);
    r.get("kind", m.kind, true);
    r.get("power", m.power, true);
    r.get("source", m.source, true);
    r.get("poll_ms", m.poll_ms);
    r.raw("description");
    static const std::regex id_re("[a-z0-9][a-z0-9_-]{0,63}");
    if (!std::regex_match(m.id, id_re))
        r.fail_here("id", "'" + m.id + "' must be lowercase letters, digits, '_' or '-'");
    if (m.transport != "mqtt" && m.transport != "modbus") r.fail_here("transport", "must be mqtt or modbus");
    if (!contains(kKinds, m.kind)) r.fail_here("kind", "'" + m.kind + "' is not one of " + join(kKinds));
    if (m.power != "battery" && m.power != "mains") r.fail_here("power", "must be battery or mains");
    if (m.poll_ms != 0 && (m.poll_ms < 10 || m.poll_ms > 600000))
        r.fail_here("poll_ms", "must be 10..600000");
    if (m.poll_ms != 0 && m.transport != "modbus") r.fail_here("poll_ms", "is for modbus models");
    if (m.source.find_first_not_of(" \t\n") == std::string::npos)
        r.fail_here("source",
                    "say where the mapping comes from (manual, converter), or that it is unverified");
    YAML::Node states = r.raw("states");
    if (!states.IsSequence() || states.size() == 0)
        r.fail_here("states", "a list of at least one state (what each field or register means)");
    if (states.size() > 64) r.fail_here("states", "more than 64 states");
    std::set<std::string> seen;
    for (size_t i = 0; i < states.size(); ++i) {
        Reader sr(file, states[i], "states[" + std::to_string(i) + "]");
        StateSource s;
        parse_state(sr, m.transport, s);
        // Modbus: one register per state (the poller keeps one value per state); MQTT may read one
        // state from several fields (PIR "occupancy" and radar "presence").
        if (m.transport == "modbus" && !seen.insert(s.state).second)
            sr.fail_here("state", "'" + s.state + "' is mapped twice; a Modbus model reads each state once");
        m.states.push_back(std::move(s));
    }
    r.finish();
    return m;
}

DeviceModel DeviceLibrary::load_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw ModelError(path + ": cannot be read");
    std::string text;
    text.resize(kMaxModelFileBytes + 1);
    f.read(text.data(), std::streamsize(text.size()));
    text.resize(size_t(f.gcount()));
    return parse(text, path);
}

std::string DeviceLibrary::builtin_dir() {
    const char* env = std::getenv("CAREGATE_DEVICE_MODELS");
    return env && *env ? env : "/usr/share/caregate/devices";
}

DeviceLibrary DeviceLibrary::load(const std::vector<std::string>& dirs) {
    namespace fs = std::filesystem;
    DeviceLibrary lib;
    for (auto& dir : dirs) {
        lib.dirs_.push_back(dir);
        std::error_code ec;
        if (!fs::is_directory(dir, ec)) {
            lib.notes_.push_back("device model folder " + dir + " does not exist");
            continue;
        }
        std::vector<std::string> files;
        for (auto& e : fs::directory_iterator(dir, ec))
            if (e.path().extension() == ".yaml" && e.is_regular_file()) files.push_back(e.path().string());
        std::sort(files.begin(), files.end());
        std::map<std::string, std::string> here;  // id → file, within this folder
        for (auto& f : files) {
            DeviceModel m = load_file(f);
            if (auto [it, fresh] = here.emplace(m.id, f); !fresh)
                throw ModelError(f + ": model id '" + m.id + "' is also defined in " + it->second);
            if (auto* old = lib.find(m.id))
                lib.notes_.push_back("model " + m.id + " from " + f + " replaces the one in " + old->file);
            lib.add(std::move(m));
        }
    }
    return lib;
}

void DeviceLibrary::add(DeviceModel m) {
    auto id = m.id;
    models_[id] = std::make_shared<const DeviceModel>(std::move(m));
}

const DeviceModel* DeviceLibrary::find(const std::string& id) const {
    auto it = models_.find(id);
    return it == models_.end() ? nullptr : it->second.get();
}

std::vector<const DeviceModel*> DeviceLibrary::all() const {
    std::vector<const DeviceModel*> out;
    for (auto& [id, m] : models_) out.push_back(m.get());
    return out;
}

Availability parse_availability(const std::string& payload) {
    Availability a;
    std::string s = payload;
    if (auto j = parse_bounded_json(payload, JsonLimits{4096, 4});
        j && j->is_object() && j->contains("state") && (*j)["state"].is_string())
        s = (*j)["state"].get<std::string>();
    if (s == "online")
        a.available = true;
    else if (s == "offline")
        a.available = false;
    else
        a.why = "availability must be online or offline";
    return a;
}

std::optional<std::string> example_payload(const DeviceModel& model, const std::string& state, bool active) {
    for (auto& s : model.states) {
        json j = json::object();
        if (!s.when_json.empty()) j[json::json_pointer(s.when_json)] = s.when_equals;
        if (s.type == "bool" && s.state == state) {
            j[json::json_pointer(s.json)] = active != s.invert;
            return j.dump();
        }
        if (s.type != "string") continue;
        bool names_state = false;
        for (auto& [v, t] : s.values) names_state |= t.state == state;
        if (!names_state) continue;
        for (auto& [v, t] : s.values) {
            bool match = active ? t.state == state && t.value != 0 && t.certain
                                : (t.state == state && t.value == 0) || t.state.empty();
            if (match) {
                j[json::json_pointer(s.json)] = v;
                return j.dump();
            }
        }
    }
    return std::nullopt;
}

double decode_registers(const std::string& type, bool words_big_endian, const uint16_t* regs) {
    uint32_t hi = words_big_endian ? regs[0] : regs[1];
    uint32_t lo = words_big_endian ? regs[1] : regs[0];
    uint32_t both = hi << 16 | lo;
    if (type == "s16") return int16_t(regs[0]);
    if (type == "u32") return both;
    if (type == "s32") return int32_t(both);
    if (type == "f32") {
        float f;
        std::memcpy(&f, &both, sizeof f);
        return f;
    }
    return regs[0];  // u16
}

Reading read_registers(const DeviceModel& model, const std::map<std::pair<std::string, int>, uint16_t>& raw) {
    Reading r;
    for (auto& s : model.states) {
        bool two = s.type == "u32" || s.type == "s32" || s.type == "f32";
        auto a = raw.find({s.table, s.address});
        auto b = raw.find({s.table, s.address + 1});
        if (a == raw.end() || (two && b == raw.end())) continue;
        uint16_t regs[2] = {a->second, two ? b->second : uint16_t(0)};
        double v;
        if (s.type == "bool")
            v = s.bit >= 0 ? (regs[0] >> s.bit) & 1 : regs[0] != 0;
        else
            v = decode_registers(s.type, s.words_big_endian, regs) * s.scale;
        if (s.type != "bool" && (!std::isfinite(v) || (s.min && v < *s.min) || (s.max && v > *s.max))) {
            if (!r.out_of_range) r.why = s.state + " " + std::to_string(v) + " outside its range";
            r.out_of_range = true;
            continue;
        }
        r.states.push_back({s.state, v, true});
    }
    return r;
}

Reading read_payload(const DeviceModel& model, const std::string& payload) {
    Reading r;
    std::string why;
    auto parsed = parse_bounded_json(payload, kDeviceJson, &why);
    if (!parsed || !parsed->is_object()) {
        r.malformed = true;
        r.why = parsed ? "not a JSON object" : why;
        return r;
    }
    const json& j = *parsed;
    auto fail = [&](bool malformed, std::string what) {
        if (r.malformed || r.out_of_range) return;  // the first reason is the one logged
        (malformed ? r.malformed : r.out_of_range) = true;
        r.why = std::move(what);
    };
    for (auto& s : model.states) {
        std::string name = s.json.substr(1);
        if (!s.when_json.empty()) {
            const json* cond = at_pointer(j, s.when_json);
            if (!cond || !cond->is_primitive() || scalar_text(*cond) != s.when_equals) continue;
        }
        const json* v = at_pointer(j, s.json);
        if (!v) {
            if (!s.when_json.empty())
                fail(true, s.when_equals + " needs a " + (s.type == "number" ? "numeric " : "") + name);
            continue;
        }
        if (s.type == "bool") {
            if (!v->is_boolean()) {
                fail(true, name + " is not true/false");
                continue;
            }
            bool b = v->get<bool>() != s.invert;
            r.states.push_back({s.state, b ? 1.0 : 0.0, true});
        } else if (s.type == "number") {
            if (!v->is_number()) {
                fail(true, name + " is not a number");
                continue;
            }
            double x = v->get<double>() * s.scale;
            if (!std::isfinite(x) || (s.min && x < *s.min) || (s.max && x > *s.max)) {
                std::ostringstream o;
                o << name << " " << x << " outside " << s.min.value_or(-INFINITY) << ".."
                  << s.max.value_or(INFINITY);
                fail(false, o.str());
                continue;
            }
            r.states.push_back({s.state, x, true});
        } else {
            if (!v->is_string()) {
                fail(true, name + " is not a string");
                continue;
            }
            auto text = v->get<std::string>();
            auto it = s.values.find(text);
            if (it == s.values.end()) {
                fail(false, "unknown " + name + " '" + text.substr(0, 64) + "'");
                continue;
            }
            if (!it->second.state.empty())
                r.states.push_back({it->second.state, it->second.value, it->second.certain});
        }
    }
    return r;
}

}  // namespace caregate::devices
