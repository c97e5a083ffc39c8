#include "controller/kiosk/kiosk.hpp"

#include <httplib.h>
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <limits>
#include <regex>
#include <set>
#include <sstream>

#include "controller/alarms/safety.hpp"
#include "controller/care/meals.hpp"
#include "controller/care/planner.hpp"
#include "controller/city/exchange.hpp"
#include "controller/core/bounded_json.hpp"
#include "controller/core/csv.hpp"
#include "controller/core/log.hpp"
#include "controller/kiosk/api.hpp"
#include "controller/kiosk/http_server.hpp"
#include "controller/people/statistics.hpp"

namespace fs = std::filesystem;

namespace caregate {

namespace {
constexpr size_t kLoginBodyBytes = 4 * 1024;  // a user name and a password
// A roster file (.xlsx or .csv, at most 4 MB: roster_import.cpp) in a multipart form.
constexpr size_t kImportBodyBytes = 4 * 1024 * 1024 + 64 * 1024;
constexpr int64_t kLoginWindowMs = 15 * 60 * 1000;
constexpr int kMaxFailuresPerAddress = 20;  // a shared front-desk PC: several people, a few typos each
}  // namespace

using api::body;
using api::fail;
using api::int_field;
using api::kApiBodyBytes;
using api::path_id;
using api::reply;
using api::str_field;
using nlohmann::json;

namespace {

const int64_t kDayMs = 24LL * 3600 * 1000;

std::string cookie(const httplib::Request& req, const std::string& name) {
    auto h = req.get_header_value("Cookie");
    std::string key = name + "=";
    size_t pos = 0;
    while ((pos = h.find(key, pos)) != std::string::npos) {
        if (pos == 0 || h[pos - 1] == ' ' || h[pos - 1] == ';') {
            size_t end = h.find(';', pos);
            return h.substr(pos + key.size(),
                            end == std::string::npos ? std::string::npos : end - pos - key.size());
        }
        pos += key.size();
    }
    return "";
}

// A refused request, thrown inside a store transaction so that it rolls back.
struct Refused : std::runtime_error {
    int status;
    Refused(int status, const std::string& message) : std::runtime_error(message), status(status) {}
};

json staff_json(const StaffMember& m) {
    return {{"id", m.id},     {"username", m.username}, {"name", m.display_name},
            {"role", m.role}, {"active", m.active},     {"phone", m.phone}};
}

// Minutes since midnight → "HH:MM" (1440 → "24:00").
std::string hhmm(int64_t minute) {
    char buf[24];  // room for any int pair, so the compiler can prove no truncation
    std::snprintf(buf, sizeof buf, "%02d:%02d", int(minute / 60), int(minute % 60));
    return buf;
}

// "HH:MM" → minutes since midnight; "24:00" only when allow_midnight_end.
std::optional<int> parse_hhmm(const std::string& s, bool allow_midnight_end) {
    auto digit = [&](size_t i) { return s[i] >= '0' && s[i] <= '9'; };
    if (s.size() != 5 || s[2] != ':' || !digit(0) || !digit(1) || !digit(3) || !digit(4)) return std::nullopt;
    int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
    if (allow_midnight_end && h == 24 && m == 0) return 1440;
    if (h > 23 || m > 59) return std::nullopt;
    return h * 60 + m;
}

const char* weekday_name(int64_t weekday) {
    static const char* names[] = {"", "周一", "周二", "周三", "周四", "周五", "周六", "周日"};
    return weekday >= 1 && weekday <= 7 ? names[weekday] : "";
}

constexpr int64_t kMaxShifts = 2000;  // the whole roster; a week of a large center is far below

// ---------- readings of electrical detectors and meters (设备 page, 线路监测) ----------

// The states a circuit card shows: the electrical readings and the energy counter.
const std::vector<std::string> kCircuitStates = {"residual_current_ma", "cable_temp_c", "voltage_v",
                                                 "current_a",           "power_w",      "energy_kwh"};
bool is_circuit_state(const std::string& s) {
    return std::find(kCircuitStates.begin(), kCircuitStates.end(), s) != kCircuitStates.end();
}

// A device as the readings views know it: its kept numeric states, in the order its points or its
// model list them, each with its alarm threshold (the site's thresholds: over the model's).
struct DeviceStates {
    std::string id, kind, zone, model;
    bool configured = false;
    std::vector<std::pair<std::string, std::optional<double>>> states;  // state → alarm_above
    void add(const std::string& state, std::optional<double> alarm_above) {
        for (auto& s : states)
            if (s.first == state) return;
        states.emplace_back(state, alarm_above);
    }
    std::optional<double> alarm_above(const std::string& state) const {
        for (auto& s : states)
            if (s.first == state) return s.second;
        return std::nullopt;
    }
    bool circuit() const {
        if (kind == "electrical_fire_detector" || kind == "energy_meter") return true;
        return std::any_of(states.begin(), states.end(), [](auto& s) { return is_circuit_state(s.first); });
    }
};

// Every configured Modbus and MQTT device. Thermometer readings are not kept per minute (the gate
// takes them), nor an MQTT device's battery (device health keeps it).
std::vector<DeviceStates> configured_devices(const config::SiteConfig& cfg) {
    std::vector<DeviceStates> out;
    for (auto& b : cfg.buses)
        for (auto& d : b.devices) {
            DeviceStates x{d.id, d.kind, d.zone, d.model, true, {}};
            for (auto& p : d.points)
                if (devices::is_numeric_state(p.meaning) && p.meaning != "temperature_c")
                    x.add(p.meaning, p.alarm_above);
            out.push_back(std::move(x));
        }
    for (auto& d : cfg.mqtt_devices) {
        DeviceStates x{d.id, d.kind, d.zone, d.model, true, {}};
        const devices::DeviceModel* m = cfg.models ? cfg.models->find(d.model) : nullptr;
        if (m)
            for (auto& st : m->states) {
                if (!devices::is_numeric_state(st.state) || st.state == "temperature_c" ||
                    st.state == "battery_pct")
                    continue;
                auto t = d.thresholds.find(st.state);
                x.add(st.state, t != d.thresholds.end() ? std::optional<double>(t->second) : st.alarm_above);
            }
        out.push_back(std::move(x));
    }
    return out;
}

// The device's model id in the site config ("" when it has none).
std::string configured_model(const config::SiteConfig& cfg, const std::string& id) {
    for (auto& b : cfg.buses)
        for (auto& d : b.devices)
            if (d.id == id) return d.model;
    for (auto& d : cfg.mqtt_devices)
        if (d.id == id) return d.model;
    return "";
}

// The device's kind in the site config ("" when it is not configured). A bus going offline records
// its devices without a kind; the device list takes it from here then.
std::string configured_kind(const config::SiteConfig& cfg, const std::string& id) {
    for (auto& b : cfg.buses)
        for (auto& d : b.devices)
            if (d.id == id) return d.kind;
    for (auto& d : cfg.mqtt_devices)
        if (d.id == id) return d.kind;
    return "";
}

// The states a device has readings of, by a skip scan over the primary key (a few probes, not a scan).
std::vector<std::string> recorded_states(sqlite3* db, const std::string& id) {
    std::vector<std::string> out;
    Stmt s(db, "SELECT state FROM readings WHERE device_id=? AND state>? ORDER BY state LIMIT 1");
    std::string after;
    for (;;) {
        s.reset();
        s.bind(1, id).bind(2, after);
        if (!s.step()) break;
        after = s.str(0);
        out.push_back(after);
    }
    return out;
}

// {minute, last} of the newest minute of a device's state, or null.
json latest_reading(sqlite3* db, const std::string& id, const std::string& state) {
    Stmt s(db,
           "SELECT minute, last FROM readings WHERE device_id=? AND state=? ORDER BY minute DESC LIMIT 1");
    s.bind(1, id).bind(2, state);
    if (!s.step()) return nullptr;
    return {{"minute", s.i64(0)}, {"last", s.f64(1)}};
}

// The minutes from `from` on, oldest first.
json reading_series(sqlite3* db, const std::string& id, const std::string& state, int64_t from) {
    json out = json::array();
    Stmt s(db,
           "SELECT minute, min, max, mean, last FROM readings WHERE device_id=? AND state=? AND minute>=? "
           "ORDER BY minute");
    s.bind(1, id).bind(2, state).bind(3, from);
    while (s.step())
        out.push_back({{"minute", s.i64(0)},
                       {"min", s.f64(1)},
                       {"max", s.f64(2)},
                       {"mean", s.f64(3)},
                       {"last", s.f64(4)}});
    return out;
}

// A meter's energy over [from, to), as the city's daily statistics count it
// (controller/people/statistics.cpp): its last energy_kwh reading minus its first (the first minute's min:
// the counter only grows), never below 0, in kWh to the Wh; null when it has no reading in the period.
json energy_used(sqlite3* db, const std::string& id, int64_t from, int64_t to) {
    Stmt s(db,
           "SELECT (SELECT last FROM readings WHERE device_id=?1 AND state='energy_kwh' AND minute>=?2 AND "
           "minute<?3 ORDER BY minute DESC LIMIT 1) - (SELECT min FROM readings WHERE device_id=?1 AND "
           "state='energy_kwh' AND minute>=?2 AND minute<?3 ORDER BY minute LIMIT 1)");
    s.bind(1, id).bind(2, from).bind(3, to);
    if (!s.step() || s.is_null(0)) return nullptr;
    return std::round(std::max(0.0, s.f64(0)) * 1000) / 1000;
}

json optional_number(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

}  // namespace

std::pair<int64_t, int64_t> local_month_range(const std::string& month, const std::string& timezone) {
    int y = 0, m = 0;
    if (std::sscanf(month.c_str(), "%d-%d", &y, &m) != 2 || m < 1 || m > 12 || y < 2000 || y > 2200)
        throw std::invalid_argument("月份须为 2026-11 这样的格式");
    auto start = [&](int yy, int mm) {
        std::tm tm{};
        tm.tm_year = yy - 1900;
        tm.tm_mon = mm - 1;
        tm.tm_mday = 1;
        return static_cast<int64_t>(timegm(&tm)) * 1000 - local_offset_ms(timezone);
    };
    return {start(y, m), m == 12 ? start(y + 1, 1) : start(y, m + 1)};
}

std::string Kiosk::find_static_dir(const std::string& configured) {
    std::vector<std::string> candidates;
    if (!configured.empty()) candidates.push_back(configured);
    if (const char* env = std::getenv("CAREGATE_STATIC_DIR")) candidates.push_back(env);
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        candidates.push_back((fs::path(exe).parent_path().parent_path() / "share/caregate/kiosk").string());
    }
    candidates.push_back(CAREGATE_SOURCE_STATIC_DIR);
    for (auto& c : candidates)
        if (fs::exists(fs::path(c) / "index.html")) return c;
    return CAREGATE_SOURCE_STATIC_DIR;
}

Kiosk::Kiosk(KioskParts parts, httplib::Server& server)
    : p_(std::move(parts)), static_dir_(find_static_dir(p_.cfg.kiosk.static_dir)) {
    if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
    // Runs after the headers and before the body is read: a body over its route's cap, or any write
    // without a session (login aside), is refused without reading or parsing a byte of it.
    server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
        return admit(req, res) ? httplib::Server::HandlerResponse::Unhandled
                               : httplib::Server::HandlerResponse::Handled;
    });
    routes(server);
}

bool Kiosk::admit(const httplib::Request& req, httplib::Response& res) {
    bool writes =
        req.method == "POST" || req.method == "PUT" || req.method == "PATCH" || req.method == "DELETE";
    if (!writes) return true;
    static const std::regex upload(R"(/api/elders/\d+/enroll)");
    size_t cap = req.path == "/api/login" || req.path == "/api/door/pair" ? kLoginBodyBytes
                 : std::regex_match(req.path, upload)                     ? kMaxUploadBytes
                 : req.path == "/api/elders/import"                       ? kImportBodyBytes
                                                                          : kApiBodyBytes;
    if (req.has_header("Transfer-Encoding") && cap < kMaxUploadBytes) {
        fail(res, 411, api::Msg::length_required);
        return false;
    }
    std::string length = req.get_header_value("Content-Length");
    if (!length.empty()) {
        bool digits = length.size() <= 12 && length.find_first_not_of("0123456789") == std::string::npos;
        if (!digits || std::stoull(length) > cap) {
            fail(res, 413, api::Msg::body_too_large, "最多 " + std::to_string(cap / 1024) + " KB");
            return false;
        }
    }
    // Logins and door pairing come without a session (both are throttled per address).
    if (req.path != "/api/login" && req.path != "/api/door/pair" && req.path.rfind("/api/", 0) == 0 &&
        !session(req)) {
        fail(res, 401, api::Msg::not_logged_in);
        return false;
    }
    return true;
}

std::optional<Session> Kiosk::session(const httplib::Request& req) {
    return sessions_.use(cookie(req, "cg_session"));
}

std::optional<Session> Kiosk::reader(const httplib::Request& req, httplib::Response& res) {
    auto s = session(req);
    if (!s) fail(res, 401, api::Msg::not_logged_in);
    return s;
}

std::optional<Session> Kiosk::writer(const httplib::Request& req, httplib::Response& res, bool admin) {
    auto s = reader(req, res);
    if (!s) return std::nullopt;
    std::string token = req.get_header_value("X-CSRF-Token");
    if (token.empty() ||
        sodium_memcmp(token.data(), s->csrf.data(), std::min(token.size(), s->csrf.size())) != 0 ||
        token.size() != s->csrf.size()) {
        logger("kiosk")->warn("write refused for {}: missing or wrong CSRF token on {}", s->who.username,
                              req.path);
        fail(res, 403, api::Msg::csrf_failed);
        return std::nullopt;
    }
    if (admin && s->who.role != "admin") {
        fail(res, 403, api::Msg::admin_only);
        return std::nullopt;
    }
    return s;
}

namespace {
// Who took a step of the rescue record, as staff read it: a device by its configured name, the door,
// the system, a phone that replied; staff steps already carry the person's display name.
std::string actor_name(const config::SiteConfig& cfg, const std::string& actor) {
    auto after = [&](const char* prefix) -> std::optional<std::string> {
        size_t n = std::strlen(prefix);
        if (actor.compare(0, n, prefix) != 0) return std::nullopt;
        return actor.substr(n);
    };
    if (auto id = after("device:")) return cfg.device_name(*id);
    if (auto id = after("camera:")) return cfg.device_name(*id);
    if (auto id = after("counter:")) return cfg.device_name(*id);
    if (auto name = after("staff:")) return *name;
    if (auto phone = after("sms:")) return "短信回复（" + *phone + "）";
    if (after("notify:")) return "通知";
    if (actor == "system" || actor == "rules") return "系统";
    if (actor == "gate" || actor == "door") return "门口";
    if (actor == "city") return "市平台";
    if (actor == "staff") return "工作人员";
    if (actor == "cli") return "命令行";
    return actor;  // a staff action: the person's display name
}
}  // namespace

// An alarm as staff read it: where (the configured names of the device and zone), not config ids,
// and who took each step.
json Kiosk::alarm_json(const Alarm& a) const {
    json j = to_json(a);
    j["source_name"] = p_.cfg.device_name(a.source);
    j["zone_name"] = a.zone.empty() ? "" : p_.cfg.zone_name(a.zone);
    for (auto& s : j["steps"]) s["actor_name"] = actor_name(p_.cfg, s["actor"].get<std::string>());
    return j;
}

bool Kiosk::door_allowed(const httplib::Request& req, httplib::Response& res) {
    if (session(req)) return true;
    std::string token = cookie(req, "cg_door");
    if (!token.empty() && doors_.valid(token)) return true;
    fail(res, 401, api::Msg::door_not_paired);
    return false;
}

json Kiosk::overview() {
    int64_t day_start = p_.occupancy.day_start_ms();
    int64_t now = p_.clock.now_ms();
    json zones = json::array();
    for (auto& z : p_.occupancy.all())
        zones.push_back({{"id", z.zone},
                         {"name", z.name},
                         {"count", z.count},
                         {"capacity", z.capacity},
                         {"level", z.level}});
    json alarms = json::array();
    for (auto& a : p_.alarms.list(true, 50)) alarms.push_back(alarm_json(a));
    auto checkins = p_.checkins.list(day_start, now + 1, std::nullopt, 100000);
    int ins = 0;
    for (auto& c : checkins) ins += c.direction == "in";
    // The model is the one the site config names; the device's own word for it otherwise.
    auto model_json = [&](const std::string& id, const std::string& reported) {
        std::string m = configured_model(p_.cfg, id);
        if (m.empty()) m = reported;
        return m.empty() ? json(nullptr) : json(m);
    };
    // tamper, battery_low: what the device last said (null: it never said).
    auto flag = [](const Stmt& s, int col) { return s.is_null(col) ? json(nullptr) : json(s.i64(col) != 0); };
    json devices = p_.store.read([&](sqlite3* db) {
        json d = json::array();
        Stmt s(db,
               "SELECT id, kind, zone, online, reason, battery, last_seen, errors, tamper, battery_low, "
               "COALESCE(model, '') FROM devices ORDER BY id");
        while (s.step())
            d.push_back({{"id", s.str(0)},
                         {"name", p_.cfg.device_name(s.str(0))},
                         {"kind", s.str(1).empty() ? configured_kind(p_.cfg, s.str(0)) : s.str(1)},
                         {"zone", s.str(2)},
                         {"online", flag(s, 3)},
                         {"reason", s.str(4)},
                         {"battery", s.is_null(5) ? json(nullptr) : json(s.f64(5))},
                         {"last_seen", s.is_null(6) ? json(nullptr) : json(s.i64(6))},
                         {"errors", s.i64(7)},
                         {"tamper", flag(s, 8)},
                         {"battery_low", flag(s, 9)},
                         {"model", model_json(s.str(0), s.str(10))}});
        return d;
    });
    // Configured devices that have not reported yet are shown too, as unknown.
    std::set<std::string> known;
    for (auto& d : devices) known.insert(d["id"].get<std::string>());
    auto add_cfg = [&](const std::string& id, const std::string& kind, const std::string& zone) {
        if (!known.count(id))
            devices.push_back({{"id", id},
                               {"name", p_.cfg.device_name(id)},
                               {"kind", kind},
                               {"zone", zone},
                               {"online", nullptr},
                               {"reason", "尚未上报"},
                               {"battery", nullptr},
                               {"last_seen", nullptr},
                               {"errors", 0},
                               {"tamper", nullptr},
                               {"battery_low", nullptr},
                               {"model", model_json(id, "")}});
    };
    for (auto& b : p_.cfg.buses)
        for (auto& d : b.devices) add_cfg(d.id, d.kind, d.zone);
    for (auto& d : p_.cfg.mqtt_devices) add_cfg(d.id, d.kind, d.zone);
    for (auto& c : p_.cfg.cameras) {
        add_cfg(c.id, "camera", c.zone);
        if (c.thermal) add_cfg(c.thermal_id(), "thermometer", c.zone);
    }
    if (p_.faces)
        for (auto& [id, text] : p_.faces->camera_advice())
            for (auto& d : devices)
                if (d["id"] == id) d["advice"] = text;
    json out = {
        {"site", {{"id", p_.cfg.site.id}, {"name", p_.cfg.site.name}}},
        {"now", now},
        {"zones", zones},
        {"alarms", alarms},
        {"checkins_today", ins},
        {"inside", p_.store.read([&](sqlite3* db) {
             Stmt s(db,
                    "SELECT COUNT(*) FROM (SELECT elder_id, direction, MAX(ts) FROM checkins WHERE ts>=? "
                    "GROUP BY elder_id) WHERE direction='in'");
             s.bind(1, day_start).step();
             return s.i64(0);
         })},
        {"devices", devices},
        // A battery under this is shown as low (电量低), as the rules log it for maintenance.
        {"low_battery_percent", p_.cfg.alarms.low_battery_percent},
        {"notices", city::current_notices(p_.store, now)}};
    json stalled = json::array();
    if (p_.heartbeats)
        for (auto& w : p_.heartbeats->stalled())
            stalled.push_back({{"name", w.name}, {"label", w.label}, {"silent_s", w.silent_ms / 1000}});
    out["stalled"] = stalled;
    if (p_.gate) {
        auto last = p_.gate->last();
        out["door"] = {{"last", last ? to_json(*last) : json(nullptr)},
                       {"thermometer", p_.gate->thermometer_id()},
                       {"thermometer_online", p_.gate->thermometer_online()}};
    }
    return out;
}

// The week's shifts, and who @duty reaches now (site local time, the rule of Notifier::recipients:
// on a shift now, account active, phone registered). Staff on a shift now whom @duty cannot reach are
// listed apart, with the reason.
json Kiosk::duty() {
    auto wm = local_weekday_minute(p_.clock.now_ms(), p_.cfg.site.timezone);
    int weekday = wm.first, minute = wm.second;
    return p_.store.read([&](sqlite3* db) {
        json shifts = json::array();
        Stmt s(db,
               "SELECT d.id, d.staff_id, s.display_name, COALESCE(s.phone,''), d.weekday, d.start_min, "
               "d.end_min, s.active FROM duty_shifts d JOIN staff s ON s.id=d.staff_id "
               "ORDER BY d.weekday, d.start_min, d.end_min, s.display_name, d.id");
        while (s.step())
            shifts.push_back({{"id", s.i64(0)},
                              {"staff_id", s.i64(1)},
                              {"display_name", s.str(2)},
                              {"phone", s.str(3)},
                              {"weekday", s.i64(4)},
                              {"start", hhmm(s.i64(5))},
                              {"end", hhmm(s.i64(6))},
                              {"active", s.i64(7) != 0}});
        json now_on = json::array(), unreachable = json::array();
        for (auto& o : on_shift(db, weekday, minute)) {
            if (o.reachable())
                now_on.push_back(
                    {{"staff_id", o.staff_id}, {"display_name", o.display_name}, {"phone", o.phone}});
            else
                unreachable.push_back({{"staff_id", o.staff_id},
                                       {"display_name", o.display_name},
                                       {"reason", o.active ? "未登记手机号" : "账号已停用"}});
        }
        return json{{"shifts", shifts},
                    {"on_duty_now", now_on},
                    {"on_shift_unreachable", unreachable},
                    {"now", {{"weekday", weekday}, {"time", hhmm(minute)}}}};
    });
}

json Kiosk::monthly_report(const std::string& month) {
    auto [from, to] = local_month_range(month, p_.cfg.site.timezone);
    json r = {{"site", p_.cfg.site.name}, {"site_id", p_.cfg.site.id}, {"month", month}};
    r.update(p_.store.read([&](sqlite3* db) { return activity_between(db, from, to); }));
    for (auto& a : r["alarms"]) a["closed"] = a["count"].get<int64_t>() - a["open"].get<int64_t>();
    r["services"] = p_.records.service_counts(from, to);  // every service type, zeros included
    // 探访覆盖率 (goal 100 %) with the elders not visited and why; 助餐 by subsidy category.
    if (p_.care) r["visit_coverage"] = p_.care->coverage(month);
    if (p_.meals) r["meals"] = p_.meals->statement(month);
    return r;
}

void Kiosk::routes(httplib::Server& s) {
    auto page = [this](const std::string& file) {
        return [this, file](const httplib::Request&, httplib::Response& res) {
            std::ifstream f(static_dir_ + "/" + file, std::ios::binary);
            if (!f) return fail(res, 404, api::Msg::page_not_found);
            std::stringstream ss;
            ss << f.rdbuf();
            res.set_header("Content-Security-Policy",
                           "default-src 'self'; img-src 'self' data: blob:; media-src 'self' data:; "
                           "style-src 'self' 'unsafe-inline'");
            res.set_header("X-Frame-Options", "DENY");
            res.set_content(ss.str(), "text/html; charset=utf-8");
        };
    };
    s.Get("/", page("index.html"));
    s.Get("/door", page("door.html"));
    s.set_mount_point("/assets", static_dir_ + "/assets");

    s.Post("/api/login", [this](const httplib::Request& req, httplib::Response& res) {
        auto j = body(req, res);
        if (!j) return;
        std::string username = str_field(*j, "username").substr(0, 64);
        int64_t now = p_.clock.now_ms();
        // Throttled per user name (known or not: the answer must not tell) and per client address.
        auto too_many = [&](int64_t until) {
            res.set_header("Retry-After", std::to_string(std::max<int64_t>(1, (until - now + 999) / 1000)));
            fail(res, 429, api::Msg::too_many_logins);
        };
        {
            std::lock_guard<std::mutex> lock(mu_);
            if (login_failures_.size() > 10000) login_failures_.clear();  // bounded under a flood
            for (auto key : {"user:" + username, "addr:" + req.remote_addr}) {
                auto it = login_failures_.find(key);
                if (it == login_failures_.end()) continue;
                if (now - it->second.first > kLoginWindowMs) {
                    login_failures_.erase(it);
                    continue;
                }
                int limit = key.rfind("user:", 0) == 0 ? StaffAccounts::kMaxFailures : kMaxFailuresPerAddress;
                if (it->second.second >= limit) return too_many(it->second.first + kLoginWindowMs);
            }
        }
        StaffMember who;
        auto r = p_.staff.login(username, str_field(*j, "password"), &who);
        if (r == LoginResult::busy) {
            res.set_header("Retry-After", "5");
            return fail(res, 503, api::Msg::busy);
        }
        if (r != LoginResult::ok) {
            bool limit_reached = false;
            {
                std::lock_guard<std::mutex> lock(mu_);
                for (auto key : {"user:" + username, "addr:" + req.remote_addr}) {
                    auto& f = login_failures_[key];
                    if (f.second == 0) f.first = now;
                    f.second++;
                    if (key.rfind("user:", 0) == 0 && f.second >= StaffAccounts::kMaxFailures)
                        limit_reached = true;
                }
            }
            // The attempt that reaches the limit answers like the ones after it, for every name.
            if (limit_reached || r == LoginResult::locked) return too_many(now + kLoginWindowMs);
        } else {
            std::lock_guard<std::mutex> lock(mu_);
            login_failures_.erase("user:" + username);
            login_failures_.erase("addr:" + req.remote_addr);
        }
        if (r == LoginResult::locked) return too_many(now + StaffAccounts::kLockMs);
        if (r != LoginResult::ok) return fail(res, 401, api::Msg::wrong_login);
        auto [token, sess] =
            sessions_.open(who, int64_t(p_.cfg.kiosk.session_max_h) * 3600000, req.remote_addr);
        // Secure over HTTPS: the browser never sends the session over plain HTTP.
        res.set_header("Set-Cookie", "cg_session=" + token + "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" +
                                         std::to_string(p_.cfg.kiosk.session_max_h * 3600) +
                                         (p_.cfg.kiosk.https() ? "; Secure" : ""));
        reply(res, {{"username", who.username},
                    {"name", who.display_name},
                    {"role", who.role},
                    {"csrf", sess.csrf}});
    });
    s.Post("/api/logout", [this](const httplib::Request& req, httplib::Response& res) {
        auto sess = writer(req, res);
        if (!sess) return;
        sessions_.end(cookie(req, "cg_session"));
        res.set_header("Set-Cookie",
                       std::string("cg_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0") +
                           (p_.cfg.kiosk.https() ? "; Secure" : ""));
        reply(res, {{"ok", true}});
    });
    s.Get("/api/me", [this](const httplib::Request& req, httplib::Response& res) {
        auto sess = reader(req, res);
        if (!sess) return;
        reply(res, {{"username", sess->who.username},
                    {"name", sess->who.display_name},
                    {"role", sess->who.role},
                    {"csrf", sess->csrf},
                    {"site", p_.cfg.site.name}});
    });

    s.Get("/api/overview", [this](const httplib::Request& req, httplib::Response& res) {
        if (!reader(req, res)) return;
        reply(res, overview());
    });

    // A device's readings per minute over the last `hours` (1-168, default 24), oldest first, with the
    // newest reading and the alarm threshold of each state.
    s.Get("/api/readings", [this](const httplib::Request& req, httplib::Response& res) {
        if (!reader(req, res)) return;
        int64_t hours = 24;
        if (req.has_param("hours")) {
            std::string h = req.get_param_value("hours");
            bool digits =
                !h.empty() && h.size() <= 3 && h.find_first_not_of("0123456789") == std::string::npos;
            hours = digits ? std::stoll(h) : 0;
            if (hours < 1 || hours > 168) return fail(res, 400, api::Msg::bad_hours);
        }
        std::string id = req.get_param_value("device");
        if (id.empty()) return fail(res, 400, api::Msg::device_required);
        int64_t from = p_.clock.now_ms() - hours * 3'600'000;
        auto all = configured_devices(p_.cfg);
        auto out = p_.store.read([&](sqlite3* db) -> std::optional<json> {
            DeviceStates dev;
            auto it = std::find_if(all.begin(), all.end(), [&](auto& d) { return d.id == id; });
            if (it != all.end()) {
                dev = *it;
            } else {
                // Not (or no longer) in the site config: what the device table knows of it.
                Stmt k(db, "SELECT kind, zone, COALESCE(model, '') FROM devices WHERE id=?");
                k.bind(1, id);
                if (!k.step()) return std::nullopt;
                dev = DeviceStates{id, k.str(0), k.str(1), k.str(2), false, {}};
            }
            for (auto& st : recorded_states(db, id)) dev.add(st, std::nullopt);
            json states = json::array();
            for (auto& [state, above] : dev.states)
                states.push_back({{"state", state},
                                  {"name", SafetyMonitor::state_name(state)},
                                  {"unit", SafetyMonitor::unit_of(state)},
                                  {"alarm_above", optional_number(above)},
                                  {"latest", latest_reading(db, id, state)},
                                  {"series", reading_series(db, id, state, from)}});
            return json{{"device", id},     {"name", p_.cfg.device_name(id)},
                        {"kind", dev.kind}, {"model", dev.model.empty() ? json(nullptr) : json(dev.model)},
                        {"zone", dev.zone}, {"zone_name", dev.zone.empty() ? "" : p_.cfg.zone_name(dev.zone)},
                        {"hours", hours},   {"from", from},
                        {"states", states}};
        });
        if (!out) return fail(res, 404, api::Msg::no_such_device);
        reply(res, *out);
    });

    // Circuit monitoring (线路监测): every configured electrical-fire detector and meter with its newest
    // readings against their thresholds, and today's energy (site local day) of each meter.
    s.Get("/api/circuits", [this](const httplib::Request& req, httplib::Response& res) {
        if (!reader(req, res)) return;
        int64_t now = p_.clock.now_ms(), off = local_offset_ms(p_.cfg.site.timezone);
        int64_t local = now + off;
        int64_t day_start = local - (((local % kDayMs) + kDayMs) % kDayMs) - off;
        auto all = configured_devices(p_.cfg);
        json circuits = p_.store.read([&](sqlite3* db) {
            json out = json::array();
            Stmt h(db, "SELECT online, reason, last_seen FROM devices WHERE id=?");
            for (auto& dev : all) {
                if (!dev.circuit()) continue;
                for (auto& st : recorded_states(db, dev.id))
                    if (is_circuit_state(st)) dev.add(st, std::nullopt);
                json states = json::array();
                bool any_over = false, meter = false;
                for (auto& [state, above] : dev.states) {
                    if (!is_circuit_state(state)) continue;
                    meter = meter || state == "energy_kwh";
                    json latest = latest_reading(db, dev.id, state);
                    bool over = above && !latest.is_null() && latest["last"].get<double>() >= *above;
                    any_over = any_over || over;
                    states.push_back({{"state", state},
                                      {"name", SafetyMonitor::state_name(state)},
                                      {"unit", SafetyMonitor::unit_of(state)},
                                      {"alarm_above", optional_number(above)},
                                      {"latest", latest},
                                      {"over", over}});
                }
                h.reset();
                h.bind(1, dev.id);
                bool seen = h.step();
                out.push_back({{"id", dev.id},
                               {"name", p_.cfg.device_name(dev.id)},
                               {"kind", dev.kind},
                               {"model", dev.model.empty() ? json(nullptr) : json(dev.model)},
                               {"zone", dev.zone},
                               {"zone_name", dev.zone.empty() ? "" : p_.cfg.zone_name(dev.zone)},
                               {"online", seen && !h.is_null(0) ? json(h.i64(0) != 0) : json(nullptr)},
                               {"reason", seen ? h.str(1) : "尚未上报"},
                               {"last_seen", seen && !h.is_null(2) ? json(h.i64(2)) : json(nullptr)},
                               {"states", states},
                               {"over", any_over},
                               {"meter", meter},
                               {"today_kwh", meter ? energy_used(db, dev.id, day_start, day_start + kDayMs)
                                                   : json(nullptr)}});
            }
            return out;
        });
        reply(res, {{"now", now}, {"day_start", day_start}, {"circuits", circuits}});
    });

    camera_routes(s);  // the cameras' live pictures (camera_routes.cpp)
    care_routes(s);    // worklist, care profiles, meals (care_routes.cpp)

    // Live updates. EventSource sends the cookie; one pool thread per stream, capped.
    s.Get("/api/stream", [this](const httplib::Request& req, httplib::Response& res) {
        if (!reader(req, res)) return;
        auto stream = p_.feed.open();
        if (!stream) return fail(res, 503, api::Msg::too_many_live_clients);
        res.set_header("Cache-Control", "no-store");
        res.set_header("X-Accel-Buffering", "no");
        LiveFeed* feed = &p_.feed;
        res.set_chunked_content_provider(
            "text/event-stream",
            [stream, first = true](size_t, httplib::DataSink& sink) mutable {
                if (first) {
                    first = false;
                    std::string hello = "retry: 2000\nevent: hello\ndata: {}\n\n";
                    return sink.write(hello.data(), hello.size());
                }
                if (stream->closed()) return false;
                auto f = stream->next(std::chrono::seconds(15));
                std::string out = f ? *f : std::string(": keep-alive\n\n");
                return sink.write(out.data(), out.size());
            },
            [stream, feed](bool) { feed->close(stream); });
    });

    // Alarms.
    s.Get("/api/alarms", [this](const httplib::Request& req, httplib::Response& res) {
        if (!reader(req, res)) return;
        bool open = req.get_param_value("open") == "1";
        json out = json::array();
        for (auto& a : p_.alarms.list(open, 200)) out.push_back(alarm_json(a));
        reply(res, out);
    });
    s.Get(R"(/api/alarms/(\d+))", [this](const httplib::Request& req, httplib::Response& res) {
        if (!reader(req, res)) return;
        auto a = p_.alarms.get(std::stoll(req.matches[1]));
        if (!a) return fail(res, 404, api::Msg::no_such_alarm);
        json j = alarm_json(*a);
        if (p_.cctv_events) j["nearby_events"] = p_.cctv_events("alarm=" + std::to_string(a->id));
        reply(res, j);
    });
    // Who was (to be) told of an alarm, per channel and recipient; each attempt is also a 'notified' step.
    s.Get(R"(/api/alarms/(\d+)/notifications)", [this](const httplib::Request& req, httplib::Response& res) {
        if (!reader(req, res)) return;
        auto id = path_id(req.matches[1].str());
        auto rows = p_.store.read([&](sqlite3* db) -> std::optional<json> {
            if (!id) return std::nullopt;
            Stmt a(db, "SELECT 1 FROM alarms WHERE id=?");
            a.bind(1, *id);
            if (!a.step()) return std::nullopt;
            json out = json::array();
            Stmt s(db,
                   "SELECT id, step, channel, recipient, state, attempts, COALESCE(result,''), due_at, "
                   "updated_at "
                   "FROM notifications WHERE alarm_id=? ORDER BY step, due_at, id LIMIT 1000");
            s.bind(1, *id);
            while (s.step()) {
                const auto* ch = p_.cfg.notify.find_channel(s.str(2));
                out.push_back({{"id", s.i64(0)},
                               {"step", s.i64(1)},
                               {"channel", s.str(2)},
                               {"channel_type", ch ? json(ch->type) : json(nullptr)},
                               {"channel_name", ch ? json(ch->name) : json(nullptr)},
                               {"recipient", s.str(3)},
                               {"state", s.str(4)},
                               {"attempts", s.i64(5)},
                               {"result", s.str(6)},
                               {"due_at", s.i64(7)},
                               {"updated_at", s.i64(8)}});
            }
            return out;
        });
        if (!rows) return fail(res, 404, api::Msg::no_such_alarm);
        reply(res, *rows);
    });
    s.Post(R"(/api/alarms/(\d+)/(ack|dispatch|resolve))",
           [this](const httplib::Request& req, httplib::Response& res) {
               auto sess = writer(req, res);
               if (!sess) return;
               auto j = body(req, res);
               if (!j) return;
               int64_t id = std::stoll(req.matches[1]);
               std::string action = req.matches[2];
               std::string actor = sess->who.display_name;
               try {
                   Alarm a;
                   if (action == "ack")
                       a = p_.alarms.acknowledge(id, actor, str_field(*j, "note"));
                   else if (action == "dispatch")
                       a = p_.alarms.dispatch(id, str_field(*j, "target"), actor, str_field(*j, "note"));
                   else
                       a = p_.alarms.resolve(id, str_field(*j, "outcome"), actor, str_field(*j, "note"),
                                             j->contains("false_alarm") && (*j)["false_alarm"].is_boolean() &&
                                                 (*j)["false_alarm"].get<bool>());
                   p_.store.write([&](sqlite3* db) {
                       Store::audit(db, sess->who.username, "alarm." + action, "alarm:" + std::to_string(id),
                                    j->dump(), p_.clock.now_ms());
                   });
                   reply(res, alarm_json(*p_.alarms.get(id)));
               } catch (const AlarmError& e) {
                   fail(res, 409, e, api::Msg::alarm_refused);
               }
           });

    // Check-ins (the search: elder_routes.cpp).
    s.Post("/api/checkins", [this](const httplib::Request& req, httplib::Response& res) {
        auto sess = writer(req, res);
        if (!sess) return;
        auto j = body(req, res);
        if (!j) return;
        CheckIn c;
        if (j->contains("card_no")) {
            auto e = p_.roster.find_by_card(str_field(*j, "card_no"));
            if (!e) return fail(res, 404, api::Msg::no_such_card);
            c.elder_id = e->id;
            c.method = "card";
        } else if (j->contains("elder_id") && (*j)["elder_id"].is_number_integer()) {
            c.elder_id = (*j)["elder_id"].get<int64_t>();
            c.method = "staff";
        } else {
            return fail(res, 400, api::Msg::elder_or_card_required);
        }
        c.direction = str_field(*j, "direction", "in");
        c.actor = sess->who.display_name;
        if (j->contains("temperature") && (*j)["temperature"].is_number())
            c.temperature = (*j)["temperature"].get<double>();
        // The front desk follows the door's rule: a fever is not let in by hand either. It is raised
        // as a fever alarm so the fever procedure (re-measure, family, clinic) starts.
        if (c.direction == "in" && c.temperature && *c.temperature >= p_.cfg.gate.fever_c) {
            auto e = p_.roster.get(c.elder_id);
            if (!e) return fail(res, 404, api::Msg::no_such_elder);
            char msg[256];
            std::snprintf(msg, sizeof msg,
                          "体温 %.1f℃，达到发热标准（%.1f℃），不能签到入内；已发出发热报警，请按发热流程处理",
                          *c.temperature, p_.cfg.gate.fever_c);
            p_.alarms.raise("fever", "manual_checkin", "", "staff:" + sess->who.display_name,
                            json{{"temperature", *c.temperature}, {"method", c.method}}, c.elder_id);
            return fail(res, 409, e->name + " " + msg, api::Msg::checkin_refused);
        }
        try {
            auto r = p_.checkins.record(c);
            p_.store.write([&](sqlite3* db) {
                Store::audit(db, sess->who.username, "checkin.manual", "elder:" + std::to_string(c.elder_id),
                             j->dump(), p_.clock.now_ms());
            });
            if (!r) return reply(res, {{"duplicate", true}, {"message", "该长者刚刚已登记"}});
            reply(res, to_json(*r), 201);
        } catch (const std::invalid_argument& e) {
            fail(res, 400, e, api::Msg::checkin_refused);
        }
    });

    elder_routes(s);  // roster, elder pages, import, check-in search, services, visits, exports

    face_routes(s);  // enrollment (photos or the door camera), forgetting, renewals

    s.Get("/api/events", [this](const httplib::Request& req, httplib::Response& res) {
        if (!reader(req, res)) return;
        if (!p_.cctv_events) return reply(res, {{"events", json::array()}, {"total", 0}});
        std::string q;
        for (auto& [k, v] : req.params) q += k + "=" + v + "&";
        reply(res, p_.cctv_events(q));
    });

    // Staff accounts: admin only.
    s.Get("/api/staff", [this](const httplib::Request& req, httplib::Response& res) {
        auto sess = reader(req, res);
        if (!sess) return;
        if (sess->who.role != "admin") return fail(res, 403, api::Msg::admin_only);
        json out = json::array();
        for (auto& m : p_.staff.list()) out.push_back(staff_json(m));
        reply(res, out);
    });
    // The staff account a path names by id; nullopt for a bad or unknown id.
    auto staff_at = [this](const std::string& id_text) -> std::optional<StaffMember> {
        auto id = path_id(id_text);
        for (auto& m : p_.staff.list())
            if (id && m.id == *id) return m;
        return std::nullopt;
    };
    s.Post("/api/staff", [this](const httplib::Request& req, httplib::Response& res) {
        auto sess = writer(req, res, true);
        if (!sess) return;
        auto j = body(req, res);
        if (!j) return;
        try {
            auto m =
                p_.staff.add(str_field(*j, "username"), str_field(*j, "name"), str_field(*j, "role", "staff"),
                             str_field(*j, "password"), sess->who.username);
            reply(res, {{"username", m.username}, {"role", m.role}}, 201);
        } catch (const std::exception& e) {
            fail(res, 400, e, api::Msg::bad_field);
        }
    });

    s.Get("/api/sessions", [this](const httplib::Request& req, httplib::Response& res) {
        auto sess = reader(req, res);
        if (!sess) return;
        json out = json::array();
        for (auto& x : sessions_.list())
            if (sess->who.role == "admin" || x.who.username == sess->who.username)
                out.push_back({{"id", x.id},
                               {"username", x.who.username},
                               {"name", x.who.display_name},
                               {"client", x.client},
                               {"created_at", x.created_ms},
                               {"last_seen", x.last_seen_ms},
                               {"expires_at", x.expires_ms},
                               {"current", x.id == sess->id}});
        reply(res, out);
    });
    s.Delete(R"(/api/sessions/([0-9a-f]{12}))", [this](const httplib::Request& req, httplib::Response& res) {
        auto sess = writer(req, res);
        if (!sess) return;
        std::string id = req.matches[1];
        auto ended = sessions_.end_by_id(id, [&](const Session& x) {
            return sess->who.role == "admin" || x.who.username == sess->who.username;
        });
        if (ended && !*ended) return fail(res, 403, api::Msg::own_sessions_only);
        if (ended) return reply(res, {{"revoked", id}});
        fail(res, 404, api::Msg::no_such_session);
    });
    s.Put(R"(/api/staff/(\d+)/active)",
          [this, staff_at](const httplib::Request& req, httplib::Response& res) {
              auto sess = writer(req, res, true);
              if (!sess) return;
              auto j = body(req, res);
              if (!j) return;
              if (!j->contains("active") || !(*j)["active"].is_boolean())
                  return fail(res, 400, api::Msg::active_required);
              bool active = (*j)["active"].get<bool>();
              auto who = staff_at(req.matches[1].str());
              if (!who) return fail(res, 404, api::Msg::no_such_staff);
              if (!active && who->username == sess->who.username)
                  return fail(res, 400, api::Msg::cannot_disable_self);
              p_.staff.set_active(who->username, active, sess->who.username);
              if (!active)
                  sessions_.end_all_of(who->username);  // a disabled account is logged out everywhere, now
              reply(res, {{"id", who->id}, {"username", who->username}, {"active", active}});
          });
    // An admin changes an account's role; its logins end, so it logs in again with the new one.
    s.Put(R"(/api/staff/(\d+)/role)", [this, staff_at](const httplib::Request& req, httplib::Response& res) {
        auto sess = writer(req, res, true);
        if (!sess) return;
        auto j = body(req, res);
        if (!j) return;
        auto who = staff_at(req.matches[1].str());
        if (!who) return fail(res, 404, api::Msg::no_such_staff);
        try {
            p_.staff.set_role(who->username, str_field(*j, "role"), sess->who.username);
        } catch (const std::invalid_argument& e) {
            return fail(res, 400, e, api::Msg::bad_field);
        }
        sessions_.end_all_of(who->username);
        reply(res, {{"id", who->id}, {"username", who->username}, {"role", str_field(*j, "role")}});
    });
    // Sets a password; false (with the answer written) for a refused one or no free hashing slot.
    auto password_set = [this](httplib::Response& res, const std::string& username,
                               const std::string& password, const std::string& actor) {
        try {
            p_.staff.set_password(username, password, actor);
            return true;
        } catch (const std::invalid_argument& e) {
            fail(res, 400, e, api::Msg::bad_field);
        } catch (const std::runtime_error& e) {
            res.set_header("Retry-After", "5");
            fail(res, 503, e, api::Msg::busy);
        }
        return false;
    };
    // A staff member changes their own password: the current one is checked (a wrong one counts as a
    // failed login), and their other logins end.
    s.Put("/api/me/password", [this, password_set](const httplib::Request& req, httplib::Response& res) {
        auto sess = writer(req, res);
        if (!sess) return;
        auto j = body(req, res);
        if (!j) return;
        std::string current = str_field(*j, "current"), fresh = str_field(*j, "password");
        if (fresh == current) return fail(res, 400, api::Msg::same_password);
        StaffMember who;
        auto r = p_.staff.login(sess->who.username, current, &who);
        if (r == LoginResult::busy) {
            res.set_header("Retry-After", "5");
            return fail(res, 503, api::Msg::busy);
        }
        if (r != LoginResult::ok) return fail(res, 403, api::Msg::wrong_current_password);
        if (!password_set(res, sess->who.username, fresh, sess->who.username)) return;
        int ended = sessions_.end_all_of(sess->who.username, sess->id);
        reply(res, {{"ok", true}, {"other_logins_ended", ended}});
    });
    // An admin sets a new password for a staff member (forgotten password); their logins end.
    s.Put(R"(/api/staff/(\d+)/password)",
          [this, staff_at, password_set](const httplib::Request& req, httplib::Response& res) {
              auto sess = writer(req, res, true);
              if (!sess) return;
              auto j = body(req, res);
              if (!j) return;
              auto who = staff_at(req.matches[1].str());
              if (!who) return fail(res, 404, api::Msg::no_such_staff);
              if (!password_set(res, who->username, str_field(*j, "password"), sess->who.username)) return;
              sessions_.end_all_of(who->username);
              reply(res, {{"id", who->id}, {"username", who->username}, {"password_set", true}});
          });
    s.Put(R"(/api/staff/(\d+)/phone)", [this](const httplib::Request& req, httplib::Response& res) {
        auto sess = writer(req, res, true);
        if (!sess) return;
        auto j = body(req, res);
        if (!j) return;
        auto id = path_id(req.matches[1].str());
        if (!id) return fail(res, 404, api::Msg::no_such_staff);
        if (!j->contains("phone") || !j->at("phone").is_string())
            return fail(res, 400, api::Msg::phone_required);
        std::string phone = j->at("phone").get<std::string>();
        size_t a = phone.find_first_not_of(" \t"), b = phone.find_last_not_of(" \t");
        phone = a == std::string::npos ? "" : phone.substr(a, b - a + 1);
        try {
            auto m = p_.staff.set_phone(*id, phone, sess->who.username);
            if (!m) return fail(res, 404, api::Msg::no_such_staff);
            reply(res, staff_json(*m));
        } catch (const std::invalid_argument& e) {
            fail(res, 400, e, api::Msg::bad_field);
        }
    });

    // The duty roster (值班表): read by all staff, changed by admins. A night shift is two rows.
    s.Get("/api/duty", [this](const httplib::Request& req, httplib::Response& res) {
        if (!reader(req, res)) return;
        reply(res, duty());
    });
    s.Post("/api/duty", [this](const httplib::Request& req, httplib::Response& res) {
        auto sess = writer(req, res, true);
        if (!sess) return;
        auto j = body(req, res);
        if (!j) return;
        auto staff_id = int_field(*j, "staff_id", 1, std::numeric_limits<int64_t>::max());
        if (!staff_id) return fail(res, 400, api::Msg::duty_staff_required);
        auto weekday = int_field(*j, "weekday", 1, 7);
        if (!weekday) return fail(res, 400, api::Msg::duty_weekday);
        auto start = parse_hhmm(str_field(*j, "start"), false);
        if (!start) return fail(res, 400, api::Msg::duty_start);
        auto end = parse_hhmm(str_field(*j, "end"), true);
        if (!end) return fail(res, 400, api::Msg::duty_end);
        if (*end == 0) *end = 1440;  // "00:00" as an end is midnight
        if (*end == *start) return fail(res, 400, api::Msg::duty_same_time);
        // Crossing midnight (20:00-08:00): to midnight, then from midnight on the next weekday.
        struct Part {
            int64_t weekday;
            int start, end;
        };
        std::vector<Part> parts;
        if (*end > *start) {
            parts.push_back({*weekday, *start, *end});
        } else {
            parts.push_back({*weekday, *start, 1440});
            parts.push_back({*weekday % 7 + 1, 0, *end});
        }
        try {
            json created = p_.store.write([&](sqlite3* db) {
                Stmt f(db, "SELECT username, display_name, active, COALESCE(phone,'') FROM staff WHERE id=?");
                f.bind(1, *staff_id);
                if (!f.step()) throw Refused(404, api::text_of(api::Msg::no_such_staff));
                std::string username = f.str(0), name = f.str(1), phone = f.str(3);
                if (f.i64(2) == 0) throw Refused(409, name + " 的账号已停用，不能排班");
                Stmt c(db, "SELECT COUNT(*) FROM duty_shifts");
                c.step();
                if (c.i64(0) + int64_t(parts.size()) > kMaxShifts)
                    throw Refused(409, "值班表已满（最多 " + std::to_string(kMaxShifts) +
                                           " 条班次），请先删除不用的班次");
                Stmt o(db,
                       "SELECT start_min, end_min FROM duty_shifts WHERE staff_id=? AND weekday=? AND "
                       "start_min<? AND end_min>? LIMIT 1");
                Stmt ins(db,
                         "INSERT INTO duty_shifts(staff_id, weekday, start_min, end_min) VALUES(?,?,?,?)");
                json rows = json::array(), ids = json::array();
                for (auto& part : parts) {
                    o.reset();
                    o.bind(1, *staff_id).bind(2, part.weekday).bind(3, part.end).bind(4, part.start);
                    if (o.step())
                        throw Refused(409, name + " " + weekday_name(part.weekday) + " 已有 " +
                                               hhmm(o.i64(0)) + "–" + hhmm(o.i64(1)) +
                                               " 的班次，与新班次重叠");
                    ins.reset();
                    ins.bind(1, *staff_id).bind(2, part.weekday).bind(3, part.start).bind(4, part.end).run();
                    int64_t id = last_insert_id(db);
                    ids.push_back(id);
                    rows.push_back({{"id", id},
                                    {"staff_id", *staff_id},
                                    {"display_name", name},
                                    {"phone", phone},
                                    {"weekday", part.weekday},
                                    {"start", hhmm(part.start)},
                                    {"end", hhmm(part.end)},
                                    {"active", true}});
                }
                Store::audit(
                    db, sess->who.username, "duty.add", "staff:" + username,
                    json{{"ids", ids}, {"weekday", *weekday}, {"start", hhmm(*start)}, {"end", hhmm(*end)}}
                        .dump(),
                    p_.clock.now_ms());
                return rows;
            });
            reply(res, {{"shifts", created}}, 201);
        } catch (const Refused& e) {
            fail(res, e.status, e.what(), e.status == 404 ? api::Msg::no_such_staff : api::Msg::duty_refused);
        }
    });
    s.Delete(R"(/api/duty/(\d+))", [this](const httplib::Request& req, httplib::Response& res) {
        auto sess = writer(req, res, true);
        if (!sess) return;
        auto id = path_id(req.matches[1].str());
        bool deleted = id && p_.store.write([&](sqlite3* db) {
            Stmt f(db,
                   "SELECT d.weekday, d.start_min, d.end_min, s.username FROM duty_shifts d JOIN staff s ON "
                   "s.id=d.staff_id WHERE d.id=?");
            f.bind(1, *id);
            if (!f.step()) return false;
            json detail = {
                {"id", *id}, {"weekday", f.i64(0)}, {"start", hhmm(f.i64(1))}, {"end", hhmm(f.i64(2))}};
            std::string username = f.str(3);
            Stmt d(db, "DELETE FROM duty_shifts WHERE id=?");
            d.bind(1, *id).run();
            Store::audit(db, sess->who.username, "duty.delete", "staff:" + username, detail.dump(),
                         p_.clock.now_ms());
            return true;
        });
        if (!deleted) return fail(res, 404, api::Msg::no_such_shift);
        reply(res, {{"deleted", *id}});
    });

    // The door display: public on purpose (it is the screen at the door), so it shows only what the
    // door already says aloud.
    s.Get("/api/door/state", [this](const httplib::Request& req, httplib::Response& res) {
        if (!door_allowed(req, res)) return;
        json j = {
            {"site", p_.cfg.site.name}, {"now", p_.clock.now_ms()}, {"last", nullptr}, {"speech", false}};
        if (p_.gate) {
            auto last = p_.gate->last();
            if (last) {
                json d = to_json(*last);
                d.erase("elder_id");
                j["last"] = d;
                j["speech"] = p_.speaker && p_.speaker->wav(last->seq).has_value();
                // Not spoken by the box in its quiet hours: nor by the screen's own voice then.
                j["quiet"] = !p_.cfg.gate.speech ||
                             quiet_hours(last->ts_ms, local_offset_ms(p_.cfg.site.timezone),
                                         p_.cfg.gate.quiet_from_hour, p_.cfg.gate.quiet_to_hour);
            }
        }
        json zones = json::array();
        for (auto& z : p_.occupancy.all())
            zones.push_back(
                {{"name", z.name}, {"count", z.count}, {"capacity", z.capacity}, {"level", z.level}});
        j["zones"] = zones;
        j["announcement"] = nullptr;
        if (p_.announcement)
            if (auto a = p_.announcement())
                j["announcement"] = {{"seq", a->first},
                                     {"text", a->second},
                                     {"speech", p_.speaker && p_.speaker->wav(a->first).has_value()}};
        reply(res, j);
    });
    s.Get(R"(/api/door/speech/(\d+)\.wav)", [this](const httplib::Request& req, httplib::Response& res) {
        if (!door_allowed(req, res)) return;
        auto wav = p_.speaker ? p_.speaker->wav(std::stoll(req.matches[1])) : std::nullopt;
        if (!wav) return fail(res, 404, api::Msg::no_speech);
        std::ifstream f(*wav, std::ios::binary);
        std::stringstream ss;
        ss << f.rdbuf();
        res.set_content(ss.str(), "audio/wav");
    });
    // A door screen pairs itself with a one-time code an admin made (kiosk or `caregate door pair`).
    s.Post("/api/door/pair", [this](const httplib::Request& req, httplib::Response& res) {
        int64_t now = p_.clock.now_ms();
        std::string key = "pair:" + req.remote_addr;
        {
            std::lock_guard<std::mutex> lock(mu_);
            auto it = login_failures_.find(key);
            if (it != login_failures_.end() && now - it->second.first <= kLoginWindowMs &&
                it->second.second >= kMaxFailuresPerAddress) {
                res.set_header("Retry-After", "900");
                return fail(res, 429, api::Msg::too_many_pairings);
            }
        }
        auto j = body(req, res);
        if (!j) return;
        auto token = doors_.pair(str_field(*j, "code"));
        if (!token) {
            std::lock_guard<std::mutex> lock(mu_);
            auto& f = login_failures_[key];
            if (f.second == 0 || now - f.first > kLoginWindowMs) f = {now, 0};
            f.second++;
            return fail(res, 403, api::Msg::pairing_code_invalid);
        }
        res.set_header("Set-Cookie", "cg_door=" + *token +
                                         "; Path=/; HttpOnly; SameSite=Strict; Max-Age=31536000" +
                                         (p_.cfg.kiosk.https() ? "; Secure" : ""));
        reply(res, {{"paired", true}});
    });
    s.Post("/api/door/pairings", [this](const httplib::Request& req, httplib::Response& res) {
        auto sess = writer(req, res, true);
        if (!sess) return;
        auto j = body(req, res);
        if (!j) return;
        try {
            std::string code = doors_.new_code(str_field(*j, "name", "门口屏"), sess->who.username);
            reply(res,
                  {{"code", code},
                   {"url", "/door?pair=" + code},
                   {"expires_at", p_.clock.now_ms() + DoorDisplays::kCodeLifetimeMs}},
                  201);
        } catch (const std::invalid_argument& e) {
            fail(res, 400, e, api::Msg::bad_field);
        }
    });
    s.Get("/api/door/displays", [this](const httplib::Request& req, httplib::Response& res) {
        auto sess = reader(req, res);
        if (!sess) return;
        if (sess->who.role != "admin") return fail(res, 403, api::Msg::admin_only);
        json out = json::array();
        for (auto& d : doors_.list())
            out.push_back({{"id", d.id},
                           {"name", d.name},
                           {"created_by", d.created_by},
                           {"created_at", d.created_at},
                           {"last_seen", d.last_seen ? json(*d.last_seen) : json(nullptr)},
                           {"revoked", d.revoked_at.has_value()}});
        reply(res, out);
    });
    s.Delete(R"(/api/door/displays/(\d+))", [this](const httplib::Request& req, httplib::Response& res) {
        auto sess = writer(req, res, true);
        if (!sess) return;
        auto id = path_id(req.matches[1].str());
        if (!id || !doors_.revoke(*id, sess->who.username))
            return fail(res, 404, api::Msg::no_such_door_screen);
        reply(res, {{"revoked", *id}});
    });
    s.Post("/api/door/override", [this](const httplib::Request& req, httplib::Response& res) {
        auto sess = writer(req, res);
        if (!sess) return;
        auto j = body(req, res);
        if (!j) return;
        if (!p_.gate) return fail(res, 503, api::Msg::no_door);
        try {
            std::optional<double> t;
            if (j->contains("temperature") && (*j)["temperature"].is_number())
                t = (*j)["temperature"].get<double>();
            auto d = p_.gate->staff_override(j->value("elder_id", int64_t(0)), str_field(*j, "decision"),
                                             str_field(*j, "reason"), t, sess->who.display_name);
            reply(res, to_json(d));
        } catch (const std::invalid_argument& e) {
            fail(res, 400, e, api::Msg::refused);
        }
    });
    // Staff correct a zone's head count (audited).
    s.Post(R"(/api/occupancy/([a-z0-9_-]+))", [this](const httplib::Request& req, httplib::Response& res) {
        auto sess = writer(req, res);
        if (!sess) return;
        auto j = body(req, res);
        if (!j) return;
        const auto& count = (*j)["count"];
        if (!count.is_number_integer() || count.get<int64_t>() < 0 || count.get<int64_t>() > 100000)
            return fail(res, 400, api::Msg::bad_count);
        const auto& why = (*j)["reason"];
        std::string reason = why.is_string() ? why.get<std::string>() : "";
        if (reason.find_first_not_of(" \t\r\n") == std::string::npos) reason.clear();
        try {
            auto z =
                p_.occupancy.correct(req.matches[1], int(count.get<int64_t>()), sess->who.username, reason);
            if (p_.occupancy_changed) p_.occupancy_changed(z);
            reply(res, {{"zone", z.zone}, {"count", z.count}, {"capacity", z.capacity}, {"level", z.level}});
        } catch (const std::invalid_argument& e) {
            fail(res, 400, e, api::Msg::bad_field);
        }
    });
    s.Post("/api/door/commitment", [this](const httplib::Request& req, httplib::Response& res) {
        auto sess = writer(req, res);
        if (!sess) return;
        auto j = body(req, res);
        if (!j) return;
        if (!p_.gate) return fail(res, 503, api::Msg::no_door);
        p_.gate->confirm_commitment(j->value("elder_id", int64_t(0)), sess->who.username);
        reply(res, {{"ok", true}});
    });
    if (!p_.media_dir.empty()) {
        // Snapshots and thumbnails for the kiosk; only for logged-in staff.
        s.Get(R"(/api/media/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
            if (!reader(req, res)) return;
            std::string rel = req.matches[1];
            if (rel.find("..") != std::string::npos) return fail(res, 400, api::Msg::bad_path);
            std::ifstream f(p_.media_dir + "/" + rel, std::ios::binary);
            if (!f) return fail(res, 404, api::Msg::media_expired);
            std::stringstream ss;
            ss << f.rdbuf();
            res.set_content(ss.str(), "image/jpeg");
        });
    }

    // Monthly report (centers report by the 5th): JSON for the page, CSV for the city's forms.
    s.Get("/api/report/monthly", [this](const httplib::Request& req, httplib::Response& res) {
        if (!reader(req, res)) return;
        try {
            auto r = monthly_report(req.get_param_value("month"));
            if (req.get_param_value("format") != "csv") return reply(res, r);
            std::ostringstream csv;
            csv << "\xEF\xBB\xBF";  // BOM so that spreadsheet software reads UTF-8
            csv << "项目,类别,数量,平均响应(秒),平均处置(秒)\n";
            csv << "签到人次,," << r["checkins"] << ",,\n";
            csv << "签到长者数,," << r["unique_elders"] << ",,\n";
            csv << "探访,," << r["visits"] << ",,\n";
            for (auto& [k, v] : r["services"].items()) csv << "服务," << k << "," << v << ",,\n";
            if (r.contains("visit_coverage")) {
                auto& c = r["visit_coverage"];
                csv << "探访覆盖率(%),全部," << c["percent"] << ",,\n";
                for (auto& t : c["by_tier"])
                    csv << "探访覆盖率(%)," << t["tier_name"].get<std::string>() << "," << t["percent"]
                        << ",,\n";
                for (auto& v : c["by_visitor"])
                    csv << "探访覆盖率(%)," << csv_cell(v["visitor"].get<std::string>()) << ","
                        << v["percent"] << ",,\n";
                for (auto& n : c["not_visited"])
                    csv << "未探访,"
                        << csv_cell(n["name"].get<std::string>() + "：" +
                                    (n["reason"].is_null() ? "未填写原因" : n["reason"].get<std::string>()))
                        << ",,,\n";
            }
            if (r.contains("meals"))
                for (auto& m : r["meals"]["categories"])
                    csv << "助餐(份)," << csv_cell(m["name"].get<std::string>()) << "," << m["meals"]
                        << ",,\n";
            for (auto& a : r["alarms"])
                csv << "报警," << alarm_kind_name(a["kind"].get<std::string>()) << "," << a["count"] << ","
                    << (a["avg_ack_s"].is_null() ? "" : std::to_string(int(a["avg_ack_s"].get<double>())))
                    << ","
                    << (a["avg_resolve_s"].is_null() ? ""
                                                     : std::to_string(int(a["avg_resolve_s"].get<double>())))
                    << "\n";
            res.set_header("Content-Disposition", "attachment; filename=\"report-" + p_.cfg.site.id + "-" +
                                                      req.get_param_value("month") + ".csv\"");
            res.set_content(csv.str(), "text/csv; charset=utf-8");
        } catch (const std::invalid_argument&) {
            fail(res, 400, api::Msg::bad_month);
        }
    });
}

}  // namespace caregate
