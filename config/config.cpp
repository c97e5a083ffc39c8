#include "config/config.hpp"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/config_reader.hpp"

namespace caregate::config {

using namespace detail;

ConfigError::ConfigError(std::string file, int line, int column, std::string key, const std::string& what)
    : std::runtime_error([&] {
          std::ostringstream ss;
          ss << file;
          if (line > 0) ss << ":" << line << ":" << column;
          ss << ": ";
          if (!key.empty()) ss << key << ": ";
          ss << what;
          return ss.str();
      }()),
      file_(std::move(file)),
      line_(line),
      column_(column),
      key_(std::move(key)) {}

std::string SiteConfig::zone_name(const std::string& id) const {
    const Zone* z = find_zone(id);
    return z && !z->name.empty() ? z->name : id;
}

std::string SiteConfig::device_name(const std::string& id) const {
    auto named = [&](const std::string& name) { return name.empty() ? id : name; };
    if (id.rfind("bus:", 0) == 0) {
        for (size_t i = 0; i < buses.size(); ++i)
            if (buses[i].id == id.substr(4)) return std::to_string(i + 1) + " 号设备总线（其上全部设备）";
        return "设备总线（已不在配置中）";
    }
    if (id.rfind("channel:", 0) == 0) {
        const NotifyChannel* ch = notify.find_channel(id.substr(8));
        return "通知渠道" + (ch ? "“" + ch->name + "”" : std::string("（已不在配置中）"));
    }
    if (id == "manual_checkin") return "人工签到";
    if (id == "storage") return "录像存储";
    for (auto& b : buses)
        for (auto& d : b.devices)
            if (d.id == id) return named(d.name);
    for (auto& d : mqtt_devices)
        if (d.id == id) return named(d.name);
    for (auto& c : cameras)
        if (c.id == id) return named(c.name);
    if (const Zone* z = find_zone(id)) return named(z->name);  // over_capacity's source is its zone
    return id;
}

const std::vector<EscalationStep>* Notify::chain_for(const std::string& alarm_kind) const {
    for (auto& [kind, steps] : escalation)
        if (kind == alarm_kind) return &steps;
    for (auto& [kind, steps] : escalation)
        if (kind == "default") return &steps;
    return nullptr;
}

bool Notify::has_own_chain(const std::string& alarm_kind) const {
    for (auto& [kind, steps] : escalation)
        if (kind == alarm_kind) return true;
    return false;
}

const NotifyChannel* Notify::find_channel(const std::string& id) const { return by_id(channels, id); }

const Zone* SiteConfig::find_zone(const std::string& id) const { return by_id(zones, id); }

SiteConfig parse_config(const std::string& yaml_text, const std::string& file) {
    YAML::Node root;
    try {
        root = YAML::Load(yaml_text);
    } catch (const YAML::ParserException& e) {
        throw ConfigError(file, e.mark.line + 1, e.mark.column + 1, "", "invalid YAML: " + e.msg);
    }
    if (!root.IsMap())
        throw ConfigError(file, 1, 1, "", "the file must be a YAML mapping (site:, zones:, ...)");

    SiteConfig c;
    c.source_file = file;
    MapReader top(file, root, "");
    int version = 1;
    top.get("version", version);
    if (version != 1)
        top.fail_here("version", "this caregate reads config version 1; got " + std::to_string(version));
    {
        auto r = top.child("site");
        if (!top.has("site")) top.fail(root, "site", "is required (site: {id: ..., name: ...})");
        r.get("id", c.site.id, true);
        r.get("name", c.site.name, true);
        r.get("region", c.site.region);
        r.get("timezone", c.site.timezone);
        check_id(r, "id", c.site.id);
        check_id(r, "region", c.site.region);
        check_one_of(r, "timezone", c.site.timezone, {"Asia/Shanghai", "UTC"});
        r.finish();
    }
    {
        auto r = top.child("store");
        r.get("path", c.store.path);
        r.get("media_dir", c.store.media_dir);
        r.get("busy_timeout_ms", c.store.busy_timeout_ms);
        check_range(r, "busy_timeout_ms", c.store.busy_timeout_ms, 0, 600000);
        r.finish();
        if (c.store.path.empty()) r.fail_here("path", "must not be empty");
    }
    {
        auto r = top.child("log");
        r.get("level", c.log.level);
        check_one_of(r, "level", c.log.level, {"trace", "debug", "info", "warn", "error"});
        r.finish();
    }
    {
        auto r = top.child("kiosk");
        r.get("bind", c.kiosk.bind);
        r.get("port", c.kiosk.port);
        r.get("max_sse_clients", c.kiosk.max_sse_clients);
        r.get("static_dir", c.kiosk.static_dir);
        r.get("session_idle_min", c.kiosk.session_idle_min);
        r.get("session_max_h", c.kiosk.session_max_h);
        check_range(r, "session_idle_min", c.kiosk.session_idle_min, 1, 24 * 60);
        check_range(r, "session_max_h", c.kiosk.session_max_h, 1, 72);
        check_range(r, "port", c.kiosk.port, 0, 65535);
        check_range(r, "max_sse_clients", c.kiosk.max_sse_clients, 1, 10000);
        r.get("tls_cert_file", c.kiosk.tls_cert_file);
        r.get("tls_key_file", c.kiosk.tls_key_file);
        r.get("allow_plain_http", c.kiosk.allow_plain_http);
        if (c.kiosk.tls_cert_file.empty() != c.kiosk.tls_key_file.empty())
            r.fail_here(c.kiosk.tls_cert_file.empty() ? "tls_key_file" : "tls_cert_file",
                        "give both tls_cert_file and tls_key_file (caregate tls selfsigned makes a pair)");
        // Staff passwords and elders' records never cross the LAN in the clear.
        if (c.kiosk.tls_cert_file.empty() && !c.kiosk.allow_plain_http && !is_loopback(c.kiosk.bind))
            r.fail_here(
                "bind",
                "'" + c.kiosk.bind +
                    "' reaches the network, so the kiosk must use HTTPS: set tls_cert_file and "
                    "tls_key_file (`caregate tls selfsigned --out /etc/caregate --host <name>` makes a "
                    "pair), or bind 127.0.0.1, or set allow_plain_http: true if you really mean it");
        r.finish();
    }
    {
        auto r = top.child("mqtt");
        r.get("enabled", c.mqtt.enabled);
        r.get("uri", c.mqtt.uri);
        r.get("client_id", c.mqtt.client_id);
        r.get("username", c.mqtt.username);
        reject_inline_secret(r, "password");
        r.get("password_file", c.mqtt.password_file);
        r.get("ca_file", c.mqtt.ca_file);
        r.get("keepalive_s", c.mqtt.keepalive_s);
        check_range(r, "keepalive_s", c.mqtt.keepalive_s, 5, 3600);
        if (c.mqtt.uri.rfind("tcp://", 0) != 0 && c.mqtt.uri.rfind("ssl://", 0) != 0 &&
            c.mqtt.uri.rfind("mqtt://", 0) != 0 && c.mqtt.uri.rfind("mqtts://", 0) != 0)
            r.fail_here("uri",
                        "must start with tcp://, ssl://, mqtt:// or mqtts:// (e.g. tcp://127.0.0.1:1883)");
        if (c.mqtt.client_id.empty()) c.mqtt.client_id = "caregate-" + c.site.id;
        r.finish();
    }
    {
        auto r = top.child("checkin");
        r.get("interval_minutes", c.checkin.interval_minutes);
        check_range(r, "interval_minutes", c.checkin.interval_minutes, 0, 24 * 60);
        r.finish();
    }
    parse_face(top, c);
    parse_alarms(top, c);
    {
        auto r = top.child("gate");
        auto& g = c.gate;
        r.get("fever_c", g.fever_c);
        r.get("offset_c", g.offset_c);
        r.get("require_temperature", g.require_temperature);
        r.get("thermometer_offline_policy", g.thermometer_offline_policy);
        r.get("pairing_window_ms", g.pairing_window_ms);
        r.get("reset_hour", g.reset_hour);
        r.get("thermometer", g.thermometer);
        r.get("door_relay", g.door_relay);
        r.get("epidemic_mode", g.epidemic_mode);
        r.get("speech", g.speech);
        r.get("quiet_from_hour", g.quiet_from_hour);
        r.get("quiet_to_hour", g.quiet_to_hour);
        r.get("dining_limit", g.dining_limit);
        r.get("dining_zone", g.dining_zone);
        check_range(r, "quiet_from_hour", g.quiet_from_hour, 0, 24);
        check_range(r, "quiet_to_hour", g.quiet_to_hour, 0, 24);
        check_range(r, "dining_limit", g.dining_limit, 0, 100000);
        check_range(r, "fever_c", g.fever_c, 36.0, 40.0);
        check_range(r, "offset_c", g.offset_c, -3.0, 3.0);
        check_range(r, "reset_hour", g.reset_hour, 0, 23);
        check_range(r, "pairing_window_ms", g.pairing_window_ms, 100, 60000);
        check_one_of(r, "thermometer_offline_policy", g.thermometer_offline_policy, {"flag", "staff"});
        r.finish();
    }
    {
        auto r = top.child("city");
        auto& y = c.city;
        r.get("enabled", y.enabled);
        r.get("uri", y.uri);
        r.get("client_id", y.client_id);
        r.get("ca_file", y.ca_file);
        r.get("cert_file", y.cert_file);
        r.get("key_file", y.key_file);
        r.get("hmac_key_file", y.hmac_key_file);
        reject_inline_secret(r, "password");
        reject_inline_secret(r, "hmac_key");
        r.get("inflight", y.inflight);
        r.get("daily_summary_hour", y.daily_summary_hour);
        check_range(r, "inflight", y.inflight, 1, 65535);
        check_range(r, "daily_summary_hour", y.daily_summary_hour, 0, 23);
        if (y.client_id.empty()) y.client_id = "caregate-" + c.site.region + "-" + c.site.id;
        r.finish();
    }

    parse_cctv(top, c);

    SiteIds ids;  // device and camera ids share one namespace (alarms name them)
    top.each("zones", [&](MapReader& r, size_t) {
        Zone z;
        r.get("id", z.id, true);
        r.get("name", z.name, true);
        r.get("capacity", z.capacity);
        r.get("private", z.is_private);
        r.get("warn_percent", z.warn_percent);
        r.get("counter", z.counter);
        r.get("long_occupancy_min", z.long_occupancy_min);
        r.get("long_occupancy_night_min", z.long_occupancy_night_min);
        check_range(r, "long_occupancy_min", z.long_occupancy_min, 0, 24 * 60);
        check_range(r, "long_occupancy_night_min", z.long_occupancy_night_min, 0, 24 * 60);
        check_id(r, "id", z.id);
        check_range(r, "capacity", z.capacity, 0, 100000);
        check_range(r, "warn_percent", z.warn_percent, 1, 100);
        if (!ids.zones.insert(z.id).second) r.fail_here("id", "zone '" + z.id + "' is defined twice");
        c.zones.push_back(z);
    });
    parse_cameras(top, c, ids);

    parse_devices(top, root, c, ids);
    parse_notify(top, c);
    parse_care(top, c);
    parse_meals(top, c);
    top.finish();
    {
        auto gate = MapReader(file, root["gate"], "gate");
        auto device_exists = [&](const std::string& id) { return ids.things.count(id) > 0; };
        if (!c.gate.thermometer.empty() && !device_exists(c.gate.thermometer))
            gate.fail_here("thermometer", "device '" + c.gate.thermometer +
                                              "' is not defined under buses: or mqtt_devices:");
        if (!c.gate.door_relay.empty() && !device_exists(c.gate.door_relay))
            gate.fail_here("door_relay", "device '" + c.gate.door_relay + "' is not defined under buses:");
    }

    // A counting camera must count into a zone.
    {
        auto cams = root["cameras"];
        for (size_t i = 0; i < c.cameras.size(); ++i) {
            if (c.cameras[i].count_line.empty()) continue;
            bool named = false;
            for (auto& z : c.zones) named = named || z.counter == c.cameras[i].id;
            if (!named)
                MapReader(file, cams[i], "cameras[" + std::to_string(i) + "]")
                    .fail_here("count_line",
                               "counts into no zone: name camera '" + c.cameras[i].id +
                                   "' as the counter of a zone (zones: … counter: " + c.cameras[i].id + ")");
        }
    }
    // A zone's door counter must exist and be able to count.
    for (size_t i = 0; i < c.zones.size(); ++i) {
        const auto& counter = c.zones[i].counter;
        if (counter.empty()) continue;
        bool ok = false;
        for (auto& b : c.buses)
            for (auto& d : b.devices)
                if (d.id == counter)
                    for (auto& p : d.points)
                        ok = ok || p.meaning == "counter_in" || p.meaning == "counter_out";
        for (auto& cam : c.cameras) ok = ok || (cam.id == counter && !cam.count_line.empty());
        if (!ok)
            MapReader(file, root["zones"][i], "zones[" + std::to_string(i) + "]")
                .fail_here("counter",
                           "'" + counter +
                               "' is neither a Modbus device with counter_in/counter_out points nor "
                               "a camera with count_line");
    }

    // Relative paths are relative to the config file's folder, not to wherever caregate was started.
    namespace fs = std::filesystem;
    fs::path base = fs::path(file).parent_path();
    auto resolve = [&](std::string& p) {
        if (p.empty() || fs::path(p).is_absolute() || p.find("://") != std::string::npos) return;
        p = (base / p).lexically_normal().string();
    };
    resolve(c.store.path);
    if (c.store.media_dir.empty())
        c.store.media_dir = (fs::path(c.store.path).parent_path() / "media").string();
    resolve(c.store.media_dir);
    resolve(c.kiosk.static_dir);
    resolve(c.mqtt.password_file);
    resolve(c.mqtt.ca_file);
    resolve(c.face.recognition_model);
    resolve(c.face.landmark_model);
    resolve(c.face.mmod_model);
    resolve(c.face.photo_detector_model);
    resolve(c.face.key_file);
    for (auto* p : {&c.city.ca_file, &c.city.cert_file, &c.city.key_file, &c.city.hmac_key_file}) resolve(*p);
    for (auto& cam : c.cameras) {
        resolve(cam.source);
        if (cam.thermal) resolve(cam.thermal->source);
    }
    for (auto& b : c.buses) resolve(b.device);
    for (auto& ch : c.notify.channels) {
        resolve(ch.secret_file);
        resolve(ch.ca_file);
    }
    return c;
}

SiteConfig load_config(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) {
        if (!std::filesystem::exists(path))
            throw ConfigError(path, 0, 0, "", "config file not found: " + path);
        throw ConfigError(path, 0, 0, "", "cannot read config file (permission denied?): " + path);
    }
    std::stringstream ss;
    ss << f.rdbuf();
    return parse_config(ss.str(), path);
}

std::string read_secret_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f)
        throw std::runtime_error("cannot read secret file " + path +
                                 ": check the path and that the caregate user may read it");
    std::stringstream ss;
    ss << f.rdbuf();
    std::string s = ss.str();
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    return s;
}

std::string summarize(const SiteConfig& c) {
    std::ostringstream o;
    o << "site: " << c.site.id << " (" << c.site.name << "), region " << c.site.region << ", "
      << c.site.timezone << "\n";
    o << "store: " << c.store.path << " (media " << c.store.media_dir << ")\n";
    o << "kiosk: http://" << c.kiosk.bind << ":" << c.kiosk.port << "/\n";
    o << "mqtt: " << (c.mqtt.enabled ? c.mqtt.uri + " as " + c.mqtt.client_id : std::string("disabled"))
      << "\n";
    o << "face: " << (c.face.enabled ? "on" : "off") << ", threshold " << c.face.threshold << ", liveness "
      << (c.face.liveness ? "on" : "off") << "\n";
    o << "alarms: ack within " << c.alarms.ack_timeout_s << " s, resolve within "
      << c.alarms.resolve_timeout_s << " s\n";
    o << "gate: fever at " << c.gate.fever_c << " C\n";
    o << "city: " << (c.city.enabled ? c.city.uri : std::string("disabled")) << "\n";
    o << "zones (" << c.zones.size() << "):";
    for (auto& z : c.zones)
        o << " " << z.id << (z.capacity ? "/" + std::to_string(z.capacity) : "")
          << (z.is_private ? "(private)" : "");
    o << "\ncameras (" << c.cameras.size() << "):";
    for (auto& cam : c.cameras) o << " " << cam.id << "@" << cam.zone;
    size_t n = 0;
    for (auto& b : c.buses) n += b.devices.size();
    o << "\nbuses (" << c.buses.size() << ", " << n << " devices):";
    for (auto& b : c.buses)
        o << " " << b.id << "[" << b.type << ":"
          << (b.type == "rtu" ? b.device : b.host + ":" + std::to_string(b.port)) << "]";
    o << "\nmqtt devices (" << c.mqtt_devices.size() << "):";
    for (auto& d : c.mqtt_devices) o << " " << d.id << "(" << d.model << ")";
    o << "\nnotify channels (" << c.notify.channels.size() << "):";
    for (auto& ch : c.notify.channels) o << " " << ch.id << "(" << ch.type << ")";
    for (auto& [kind, steps] : c.notify.escalation) {
        o << "\n  " << kind << ":";
        if (steps.empty()) o << " kiosk only";
        for (auto& st : steps) {
            o << " +" << st.after_s << "s";
            for (auto& id : st.notify) o << " " << id;
            o << ";";
        }
    }
    o << "\n";
    return o.str();
}

const MealSession* Meals::at_minute(int minute) const {
    for (auto& s : sessions)
        if (minute >= s.start_min && minute < s.end_min) return &s;
    return nullptr;
}
const MealSession* Meals::find_session(const std::string& id) const { return by_id(sessions, id); }
const MealCategory* Meals::find_category(const std::string& id) const { return by_id(categories, id); }

}  // namespace caregate::config
