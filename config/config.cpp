#include "config/config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>
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
    if (id.rfind("bus:", 0) == 0) return "Modbus 总线 " + id.substr(4) + "（其上全部设备）";
    if (id.rfind("channel:", 0) == 0) return "通知渠道 " + id.substr(8);
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
    {
        auto r = top.child("face");
        auto& f = c.face;
        r.get("enabled", f.enabled);
        r.get("recognition_model", f.recognition_model);
        r.get("landmark_model", f.landmark_model);
        r.get("key_file", f.key_file);
        r.get("threshold", f.threshold);
        r.get("margin", f.margin);
        r.get("decide_frames", f.decide_frames);
        r.get("min_face_px", f.min_face_px);
        r.get("min_sharpness", f.min_sharpness);
        r.get("liveness", f.liveness);
        r.get("keep_enrollment_photos", f.keep_enrollment_photos);
        r.get("detect_width", f.detect_width);
        r.get("mmod_model", f.mmod_model);
        if (f.threshold != 0) check_range(r, "threshold", f.threshold, 0.1, 1.5);
        check_range(r, "margin", f.margin, 0.0, 0.5);
        check_range(r, "decide_frames", f.decide_frames, 1, 20);
        check_range(r, "min_face_px", f.min_face_px, 20, 2000);
        check_range(r, "detect_width", f.detect_width, 160, 4096);
        r.finish();
    }
    {
        auto r = top.child("alarms");
        r.get("ack_timeout_s", c.alarms.ack_timeout_s);
        r.get("resolve_timeout_s", c.alarms.resolve_timeout_s);
        r.get("low_battery_percent", c.alarms.low_battery_percent);
        check_range(r, "ack_timeout_s", c.alarms.ack_timeout_s, 5, 3600);
        check_range(r, "resolve_timeout_s", c.alarms.resolve_timeout_s, 30, 86400);
        check_range(r, "low_battery_percent", c.alarms.low_battery_percent, 0, 100);
        if (c.alarms.resolve_timeout_s <= c.alarms.ack_timeout_s)
            r.fail_here("resolve_timeout_s", "must be longer than ack_timeout_s");
        r.finish();
    }
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

    {
        auto r = top.child("cctv");
        auto& v = c.cctv;
        r.get("motion_days", v.motion_days);
        r.get("person_days", v.person_days);
        r.get("face_days", v.face_days);
        r.get("alarm_days", v.alarm_days);
        r.get("quota_mb", v.quota_mb);
        r.get("min_free_mb", v.min_free_mb);
        r.get("clips", v.clips);
        r.get("pre_roll_s", v.pre_roll_s);
        r.get("post_roll_s", v.post_roll_s);
        r.get("end_gap_ms", v.end_gap_ms);
        r.get("stall_s", v.stall_s);
        r.get("black_s", v.black_s);
        r.get("min_area", v.min_area);
        r.get("sensitivity", v.sensitivity);
        check_range(r, "motion_days", v.motion_days, 1, 3650);
        check_range(r, "person_days", v.person_days, 1, 3650);
        check_range(r, "face_days", v.face_days, 1, 3650);
        check_range(r, "alarm_days", v.alarm_days, 1, 3650);
        check_range(r, "quota_mb", v.quota_mb, 10, 10000000);
        check_range(r, "min_free_mb", v.min_free_mb, 0, 1000000);
        check_range(r, "pre_roll_s", v.pre_roll_s, 0, 30);
        check_range(r, "post_roll_s", v.post_roll_s, 0, 60);
        check_range(r, "end_gap_ms", v.end_gap_ms, 100, 600000);
        check_range(r, "stall_s", v.stall_s, 1, 3600);
        check_range(r, "black_s", v.black_s, 1, 3600);
        check_range(r, "min_area", v.min_area, 0.0001, 0.5);
        check_range(r, "sensitivity", v.sensitivity, 2, 200);
        if (v.alarm_days < std::max({v.motion_days, v.person_days, v.face_days}))
            r.fail_here(
                "alarm_days",
                "must be at least as long as every other retention (events tied to alarms are kept longest)");
        r.finish();
    }

    std::set<std::string> ids;  // device, camera ids share one namespace (alarms name them)
    auto unique_id = [&](MapReader& r, const std::string& id) {
        check_id(r, "id", id);
        if (!ids.insert(id).second)
            r.fail_here("id", "'" + id + "' is used twice; device and camera ids must be unique");
    };

    std::set<std::string> zone_ids;
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
        if (!zone_ids.insert(z.id).second) r.fail_here("id", "zone '" + z.id + "' is defined twice");
        c.zones.push_back(z);
    });
    auto check_zone = [&](MapReader& r, const std::string& zone) {
        if (zone.empty()) return;
        if (!zone_ids.count(zone)) {
            std::string msg = "zone '" + zone + "' is not defined under zones:";
            for (auto& z : zone_ids) msg += " " + z;
            r.fail_here("zone", msg);
        }
    };

    top.each("cameras", [&](MapReader& r, size_t) {
        Camera cam;
        r.get("id", cam.id, true);
        r.get("name", cam.name);
        r.get("source", cam.source, true);
        r.get("zone", cam.zone, true);
        r.get("role", cam.role);
        r.get("fps", cam.fps);
        r.get("width", cam.width);
        r.get("height", cam.height);
        r.get("faces", cam.faces);
        r.get("loop", cam.loop);
        YAML::Node mask = r.raw("mask");
        if (mask.IsDefined() && !mask.IsNull()) {
            if (!mask.IsSequence())
                r.fail(mask, "mask", "must be a list of polygons [[x1,y1,x2,y2,...], ...]");
            for (auto poly : mask) {
                auto pts = number_list<int>(r, poly, "mask",
                                            "each polygon must be a list of whole numbers x1,y1,x2,y2,...");
                if (pts.size() < 6 || pts.size() % 2)
                    r.fail(poly, "mask", "a polygon needs at least 3 points (6 numbers), in x,y pairs");
                cam.mask.push_back(pts);
            }
        }
        YAML::Node line = r.raw("count_line");
        if (line.IsDefined() && !line.IsNull()) {
            const char* expect = "must be [x1, y1, x2, y2]: the counting line in frame pixels";
            cam.count_line = number_list<int>(r, line, "count_line", expect);
            if (cam.count_line.size() != 4) r.fail(line, "count_line", expect);
        }
        if (r.has("thermal")) {
            auto t = r.child("thermal");
            ThermalSource th;
            t.get("source", th.source, true);
            t.get("gain", th.gain);
            t.get("offset", th.offset);
            t.get("percentile", th.percentile);
            t.get("ambient_coeff", th.ambient_coeff);
            t.get("ambient_ref_c", th.ambient_ref_c);
            t.get("max_age_ms", th.max_age_ms);
            t.get("stall_s", th.stall_s);
            YAML::Node h = t.raw("homography");
            if (h.IsDefined() && !h.IsNull()) {
                const char* expect = "must be a list of 9 numbers (row-major 3×3, RGB → thermal)";
                th.homography = number_list<double>(t, h, "homography", expect);
                if (th.homography.size() != 9) t.fail(h, "homography", expect);
                auto& m = th.homography;
                double det = m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) +
                             m[2] * (m[3] * m[7] - m[4] * m[6]);
                if (!std::isfinite(det) || std::fabs(det) < 1e-12)
                    t.fail(h, "homography",
                           "is singular (maps the picture onto a line or a point); calibrate it again with 4 "
                           "points seen by both cameras");
            }
            if (th.gain == 0) t.fail_here("gain", "must not be 0 (celsius = raw × gain + offset)");
            check_range(t, "percentile", th.percentile, 0.5, 1.0);
            check_range(t, "max_age_ms", th.max_age_ms, 50, 60000);
            check_range(t, "stall_s", th.stall_s, 1, 3600);
            t.finish();
            if (cam.role != "entrance") r.fail_here("thermal", "only an entrance camera screens temperature");
            if (!cam.faces || !c.face.enabled)
                r.fail_here("thermal",
                            "a thermal camera measures the faces the door camera finds: set faces: true here "
                            "and keep face.enabled");
            for (auto& other : c.cameras)
                if (other.thermal)
                    r.fail_here("thermal", "camera '" + other.id +
                                               "' already screens temperature; the gate screens one door");
            cam.thermal = th;
        }
        if (cam.count_line.size() == 4 && cam.count_line[0] == cam.count_line[2] &&
            cam.count_line[1] == cam.count_line[3])
            r.fail_here("count_line", "is a point, not a line: give two different ends");
        unique_id(r, cam.id);
        if (cam.thermal && !ids.insert(cam.thermal_id()).second)
            r.fail_here("id",
                        "'" + cam.thermal_id() + "' (this camera's thermometer) is already a device id");
        check_zone(r, cam.zone);
        check_one_of(r, "role", cam.role, {"entrance", "exit", "cctv", "canteen"});
        check_range(r, "fps", cam.fps, 0.1, 60);
        check_range(r, "width", cam.width, 64, 7680);
        check_range(r, "height", cam.height, 48, 4320);
        if (auto* z = c.find_zone(cam.zone); z && z->is_private)
            r.fail_here("zone", "zone '" + cam.zone + "' is private (toilet/bath): no camera may watch it");
        c.cameras.push_back(cam);
    });

    // The device-model library, read before the devices that name its models.
    {
        namespace fs = std::filesystem;
        YAML::Node dl = top.raw("device_library");
        if (dl.IsDefined() && !dl.IsNull()) {
            if (!dl.IsSequence())
                top.fail(dl, "device_library",
                         "a list of folders of device models: [devices, /etc/caregate/devices]");
            for (auto n : dl) {
                if (!n.IsScalar() || n.Scalar().empty())
                    top.fail(n, "device_library", "each entry is a folder");
                fs::path d = n.Scalar();
                if (d.is_relative()) d = fs::path(file).parent_path() / d;
                c.device_library.push_back(d.lexically_normal().string());
            }
        }
        std::vector<std::string> dirs{devices::DeviceLibrary::builtin_dir()};
        dirs.insert(dirs.end(), c.device_library.begin(), c.device_library.end());
        try {
            c.models = std::make_shared<const devices::DeviceLibrary>(devices::DeviceLibrary::load(dirs));
        } catch (const devices::ModelError& e) {
            top.fail(dl.IsDefined() ? dl : root, "device_library", e.what());
        }
    }
    auto find_model = [&](MapReader& r, const std::string& id, const std::string& transport) {
        const devices::DeviceModel* m = c.models->find(id);
        if (!m) {
            std::string folders;
            for (auto& d : c.models->dirs()) folders += (folders.empty() ? "" : ", ") + d;
            r.fail_here("model", "'" + id + "' is not in the device library (folders: " + folders +
                                     "); add a model file there, or name its folder in device_library");
        }
        if (m->transport != transport)
            r.fail_here("model", "'" + id + "' is a " + m->transport + " model (" + m->file +
                                     "); list it under " +
                                     (m->transport == "mqtt" ? "mqtt_devices:" : "buses: devices:"));
        return m;
    };
    std::vector<std::string> kinds = {"call_button", "pull_cord",   "fall_sensor",  "ir_thermometer",
                                      "di_module",   "do_module",   "door_counter", "thermometer",
                                      "occupancy",   "door_contact"};
    for (auto& k : devices::device_kinds())
        if (std::find(kinds.begin(), kinds.end(), k) == kinds.end()) kinds.push_back(k);

    std::map<std::string, std::string> addr_owner;  // "bus/unit/table/address" -> device id
    top.each("buses", [&](MapReader& r, size_t) {
        Bus b;
        r.get("id", b.id, true);
        r.get("type", b.type, true);
        r.get("device", b.device);
        r.get("baud", b.baud);
        r.get("parity", b.parity);
        r.get("data_bits", b.data_bits);
        r.get("stop_bits", b.stop_bits);
        r.get("rs485", b.rs485);
        r.get("host", b.host);
        r.get("port", b.port);
        r.get("response_timeout_ms", b.response_timeout_ms);
        r.get("byte_timeout_ms", b.byte_timeout_ms);
        r.get("retries", b.retries);
        check_id(r, "id", b.id);
        check_one_of(r, "type", b.type, {"rtu", "tcp"});
        if (b.type == "rtu" && b.device.empty())
            r.fail_here("device", "an rtu bus needs device: (e.g. /dev/ttyUSB0)");
        if (b.type == "tcp" && b.host.empty())
            r.fail_here("host", "a tcp bus needs host: (e.g. 192.168.1.20)");
        check_one_of(r, "baud", std::to_string(b.baud),
                     {"1200", "2400", "4800", "9600", "19200", "38400", "57600", "115200"});
        check_one_of(r, "parity", b.parity, {"N", "E", "O"});
        check_range(r, "data_bits", b.data_bits, 5, 8);
        check_range(r, "stop_bits", b.stop_bits, 1, 2);
        check_range(r, "port", b.port, 1, 65535);
        check_range(r, "response_timeout_ms", b.response_timeout_ms, 10, 10000);
        check_range(r, "byte_timeout_ms", b.byte_timeout_ms, 0, 10000);
        check_range(r, "retries", b.retries, 0, 10);
        r.each("devices", [&](MapReader& d, size_t) {
            ModbusDevice dev;
            d.get("id", dev.id, true);
            d.get("name", dev.name);
            d.get("model", dev.model);
            const devices::DeviceModel* model =
                dev.model.empty() ? nullptr : find_model(d, dev.model, "modbus");
            if (model) {
                dev.kind = model->kind;
                if (model->poll_ms) dev.poll_ms = model->poll_ms;
            }
            d.get("kind", dev.kind, !model);
            d.get("zone", dev.zone);
            d.get("unit_id", dev.unit_id);
            d.get("poll_ms", dev.poll_ms);
            d.get("debounce_ms", dev.debounce_ms);
            d.get("max_silence_s", dev.max_silence_s);
            unique_id(d, dev.id);
            check_zone(d, dev.zone);
            check_one_of(d, "kind", dev.kind, kinds);
            check_range(d, "unit_id", dev.unit_id, 1, 247);
            check_range(d, "poll_ms", dev.poll_ms, 10, 600000);
            check_range(d, "debounce_ms", dev.debounce_ms, 0, 10000);
            check_range(d, "max_silence_s", dev.max_silence_s, 1, 86400);
            if (model) {
                if (d.has("points"))
                    d.fail_here("points", "model " + model->id +
                                              " already says which registers to read; "
                                              "remove points: (or model:)");
                auto thresholds = parse_thresholds(d, *model);
                for (auto& st : model->states) {
                    Point p;
                    p.table = st.table;
                    p.address = st.address;
                    p.channel = st.bit;
                    p.type = st.type == "bool" ? "" : st.type;
                    p.count = (p.type == "u32" || p.type == "s32" || p.type == "f32") ? 2 : 1;
                    p.words_big_endian = st.words_big_endian;
                    p.scale = st.scale;
                    p.min = st.min;
                    p.max = st.max;
                    p.alarm_above = st.alarm_above;
                    p.clear_below = st.clear_below;
                    if (auto it = thresholds.find(st.state); it != thresholds.end()) {
                        p.alarm_above = it->second;
                        p.clear_below = it->second * 0.9;
                    }
                    p.meaning = st.state == "temperature_c" ? "temperature" : st.state;
                    std::string key = b.id + "/" + std::to_string(dev.unit_id) + "/" + p.table + "/" +
                                      std::to_string(p.address) + "/" + std::to_string(p.channel);
                    auto [it, fresh] = addr_owner.emplace(key, dev.id);
                    if (!fresh && it->second != dev.id)
                        d.fail_here("unit_id", "bus " + b.id + " unit " + std::to_string(dev.unit_id) +
                                                   " is already read by device '" + it->second +
                                                   "' at the addresses of model " + model->id);
                    dev.points.push_back(p);
                }
            }
            d.each("points", [&](MapReader& pr, size_t) {
                Point p;
                parse_point(pr, p);
                std::string key = b.id + "/" + std::to_string(dev.unit_id) + "/" + p.table + "/" +
                                  std::to_string(p.address) + "/" + std::to_string(p.channel);
                auto [it, fresh] = addr_owner.emplace(key, dev.id);
                if (!fresh && it->second != dev.id)
                    pr.fail_here("address", "bus " + b.id + " unit " + std::to_string(dev.unit_id) + " " +
                                                p.table + " " + std::to_string(p.address) +
                                                " is already mapped to device '" + it->second +
                                                "'; two devices cannot share one address");
                if (!fresh) pr.fail_here("address", "this point is listed twice for device '" + dev.id + "'");
                dev.points.push_back(p);
            });
            if (dev.points.empty()) d.fail_here("points", "a device needs at least one point (what to read)");
            b.devices.push_back(dev);
        });
        c.buses.push_back(b);
    });
    top.each("mqtt_devices", [&](MapReader& r, size_t) {
        MqttDevice d;
        r.get("id", d.id, true);
        r.get("name", d.name);
        r.get("topic", d.topic, true);
        r.get("model", d.model);
        if (d.model.empty()) d.model = "generic";
        const devices::DeviceModel* model = find_model(r, d.model, "mqtt");
        d.kind = model->kind;
        d.battery = model->power == "battery";
        d.max_silence_s = model->default_silence_s();
        r.get("kind", d.kind);
        r.get("zone", d.zone);
        r.get("max_silence_s", d.max_silence_s);
        r.get("battery", d.battery);
        d.thresholds = parse_thresholds(r, *model);
        unique_id(r, d.id);
        check_zone(r, d.zone);
        check_one_of(r, "kind", d.kind, kinds);
        check_range(r, "max_silence_s", d.max_silence_s, 0, 30 * 86400);
        if (d.topic.find_first_of("#+") != std::string::npos)
            r.fail_here("topic", "must be one exact topic, without the wildcards + or #");
        c.mqtt_devices.push_back(d);
    });
    {
        auto n = top.child("notify");
        n.get("kiosk_url", c.notify.kiosk_url);
        n.get("supervision_s", c.notify.supervision_s);
        n.get("sms_reply_ack", c.notify.sms_reply_ack);
        check_range(n, "supervision_s", c.notify.supervision_s, 30, 86400);
        if (c.notify.kiosk_url.size() > 512) n.fail_here("kiosk_url", "is longer than 512 characters");
        if (!c.notify.kiosk_url.empty() && c.notify.kiosk_url.rfind("https://", 0) != 0 &&
            c.notify.kiosk_url.rfind("http://", 0) != 0)
            n.fail_here("kiosk_url", "must start with https:// (the address staff phones open the kiosk at)");
        std::set<std::string> channel_ids;
        n.each("channels", [&](MapReader& r, size_t) {
            NotifyChannel ch;
            r.get("id", ch.id, true);
            r.get("type", ch.type, true);
            r.get("url", ch.url);
            r.get("secret_file", ch.secret_file);
            r.get("ca_file", ch.ca_file);
            r.get("modem", ch.modem);
            r.get("ring_s", ch.ring_s);
            r.get("repeat_s", ch.repeat_s);
            r.get("timeout_ms", ch.timeout_ms);
            reject_inline_secret(r, "secret");
            if (r.has("to")) {
                YAML::Node to = r.raw("to");
                if (to.IsScalar())
                    ch.to.push_back(to.Scalar());
                else if (to.IsSequence())
                    for (auto t : to) {
                        if (!t.IsScalar())
                            r.fail(t, "to", "each recipient is a phone number, @duty or @family");
                        ch.to.push_back(t.Scalar());
                    }
                else
                    r.fail_here("to", "a list of phone numbers, @duty or @family");
                static const std::regex phone(R"(\+?[0-9]{3,20})");
                for (auto& t : ch.to)
                    if (t != "@duty" && t != "@family" && !std::regex_match(t, phone))
                        r.fail_here(
                            "to",
                            "'" + t + "' is not a phone number (digits, optionally +86…), @duty or @family");
            }
            check_id(r, "id", ch.id);
            check_one_of(r, "type", ch.type, {"wecom", "dingtalk", "webhook", "sms", "voice", "speaker"});
            check_range(r, "ring_s", ch.ring_s, 5, 120);
            check_range(r, "repeat_s", ch.repeat_s, 10, 600);
            check_range(r, "timeout_ms", ch.timeout_ms, 500, 60000);
            if (!channel_ids.insert(ch.id).second)
                r.fail_here("id", "channel '" + ch.id + "' is defined twice");
            bool http = ch.type == "wecom" || ch.type == "dingtalk" || ch.type == "webhook";
            if (http) {
                if (ch.url.empty()) r.fail_here("url", "is required for a " + ch.type + " channel");
                if (ch.url.size() > 2048) r.fail_here("url", "is longer than 2048 characters");
                static const std::regex loopback(
                    R"(http://(127\.[0-9.]+|localhost|\[::1\])(:[0-9]+)?(/.*)?)");
                if (ch.url.rfind("https://", 0) != 0 && !std::regex_match(ch.url, loopback))
                    r.fail_here("url",
                                "must start with https:// (http:// is accepted only for 127.0.0.1, "
                                "::1 or localhost test receivers)");
                if ((ch.type == "dingtalk" || ch.type == "webhook") && ch.secret_file.empty())
                    r.fail_here("secret_file", "is required: " + ch.type + " messages are signed");
            }
            if ((ch.type == "sms" || ch.type == "voice")) {
                if (ch.modem.empty())
                    r.fail_here("modem", "is required: the modem's AT port, e.g. /dev/ttyUSB2");
                if (ch.to.empty())
                    r.fail_here("to", "is required: the phone numbers to " +
                                          std::string(ch.type == "sms" ? "text" : "ring"));
            }
            c.notify.channels.push_back(ch);
        });
        if (n.has("escalation")) {
            YAML::Node esc = n.raw("escalation");
            if (!esc.IsMap())
                n.fail_here("escalation", "a mapping: default (or an alarm kind) → list of steps");
            static const std::vector<std::string> kinds = {"default",        "call",
                                                           "fall",           "fever",
                                                           "over_capacity",  "device_offline",
                                                           "camera_offline", "storage",
                                                           "long_occupancy", "channel_offline",
                                                           "smoke",          "gas",
                                                           "water_leak",     "electrical_fault"};
            MapReader er(file, esc, "notify.escalation");
            for (auto it = esc.begin(); it != esc.end(); ++it) {
                std::string kind = key_text(file, it->first);
                if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end())
                    er.fail(it->first, kind,
                            "is not an alarm kind; use default or one of call fall smoke gas "
                            "water_leak electrical_fault long_occupancy device_offline …");
                std::vector<EscalationStep> steps;
                er.each(kind, [&](MapReader& r, size_t) {
                    EscalationStep st;
                    r.get("after_s", st.after_s);
                    check_range(r, "after_s", st.after_s, 0, 86400);
                    YAML::Node ids = r.raw("notify");
                    if (!ids.IsSequence() || ids.size() == 0)
                        r.fail_here("notify", "a list of channel ids, e.g. [duty_chat]");
                    for (auto id : ids) {
                        std::string cid = id.Scalar();
                        if (!channel_ids.count(cid))
                            r.fail(id, "notify",
                                   "channel '" + cid + "' is not defined under notify.channels");
                        st.notify.push_back(cid);
                    }
                    if (!steps.empty() && st.after_s < steps.back().after_s)
                        r.fail_here("after_s", "steps must be in order of after_s");
                    steps.push_back(st);
                });
                c.notify.escalation.emplace_back(kind, steps);
            }
        }
        n.finish();
    }
    parse_care(top, c);
    parse_meals(top, c);
    top.finish();
    {
        auto gate = MapReader(file, root["gate"], "gate");
        auto device_exists = [&](const std::string& id) { return ids.count(id) > 0; };
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
