#include "controller/alarms/safety.hpp"

#include <cmath>
#include <sstream>

#include "controller/core/log.hpp"

namespace caregate {

using nlohmann::json;

namespace {
std::string number(double v) {
    std::ostringstream o;
    o.precision(std::fabs(v) >= 100 ? 0 : 1);
    o << std::fixed << v;
    return o.str();
}
}  // namespace

SafetyMonitor::SafetyMonitor(const config::SiteConfig& cfg, Store& store, const Clock& clock,
                             AlarmService& alarms)
    : cfg_(cfg), store_(store), clock_(clock), alarms_(alarms) {}

std::string SafetyMonitor::state_name(const std::string& s) {
    static const std::map<std::string, std::string> names = {{"residual_current_ma", "剩余电流"},
                                                             {"cable_temp_c", "线缆温度"},
                                                             {"voltage_v", "电压"},
                                                             {"current_a", "电流"},
                                                             {"power_w", "功率"},
                                                             {"energy_kwh", "电能"},
                                                             {"smoke", "烟雾"},
                                                             {"gas", "燃气"},
                                                             {"water_leak", "漏水"},
                                                             {"tamper", "防拆"},
                                                             {"battery_low", "电量低"},
                                                             {"link_quality", "信号质量"},
                                                             {"target_distance_m", "目标距离"},
                                                             {"battery_pct", "电量"}};
    auto it = names.find(s);
    return it == names.end() ? s : it->second;
}

std::string SafetyMonitor::unit_of(const std::string& s) {
    static const std::map<std::string, std::string> units = {{"residual_current_ma", "mA"},
                                                             {"cable_temp_c", "°C"},
                                                             {"voltage_v", "V"},
                                                             {"current_a", "A"},
                                                             {"power_w", "W"},
                                                             {"energy_kwh", "kWh"},
                                                             {"target_distance_m", "m"},
                                                             {"battery_pct", "%"}};
    auto it = units.find(s);
    return it == units.end() ? "" : it->second;
}

std::string SafetyMonitor::kind_of(const std::string& id) const {
    for (auto& b : cfg_.buses)
        for (auto& d : b.devices)
            if (d.id == id) return d.kind;
    for (auto& d : cfg_.mqtt_devices)
        if (d.id == id) return d.kind;
    return "device";
}

void SafetyMonitor::set_device_flag(const std::string& id, const std::string& zone, const char* column,
                                    bool on) {
    store_.write([&](sqlite3* db) {
        Stmt s(db, std::string("INSERT INTO devices(id, kind, zone, ") + column +
                       ", updated_at) VALUES(?1,?2,?3,?4,?5) ON CONFLICT(id) DO UPDATE SET " + column +
                       "=excluded." + column + ", updated_at=excluded.updated_at");
        s.bind(1, id)
            .bind(2, kind_of(id))
            .bind(3, zone)
            .bind(4, int64_t(on ? 1 : 0))
            .bind(5, clock_.now_ms());
        s.run();
        if (on)
            Store::audit(db, "system", std::string("device.") + column, "device:" + id, "{}",
                         clock_.now_ms());
    });
}

void SafetyMonitor::condition(const DeviceCondition& c) {
    const std::string& s = c.state;
    if (s == "smoke" || s == "gas" || s == "water_leak") {
        if (c.active) {
            alarms_.raise(s, c.device_id, c.zone, "device:" + c.device_id,
                          json{{"reason", cfg_.device_name(c.device_id) + " 报警：" + state_name(s)}});
        } else if (auto open = alarms_.find_open(s, c.device_id)) {
            // A detector back to normal does not close the alarm: someone must have looked.
            alarms_.record(open->id, "note", "device:" + c.device_id, "",
                           "探测器已恢复正常，请到现场确认后关闭");
        }
    } else if (s == "tamper") {
        set_device_flag(c.device_id, c.zone, "tamper", c.active);
        if (c.active)
            alarms_.raise("tamper", c.device_id, c.zone, "system",
                          json{{"reason", cfg_.device_name(c.device_id) + " 被拆或外壳被打开"}});
        else
            alarms_.clear("tamper", c.device_id, "已复位");
    } else if (s == "battery_low") {
        set_device_flag(c.device_id, c.zone, "battery_low", c.active);
        if (c.active) logger("devices")->warn("maintenance: device {} reports its battery low", c.device_id);
    }
}

void SafetyMonitor::measurement(const Measurement& m) {
    auto key = std::make_pair(m.device_id, m.state);
    if (m.alarm_above) {
        bool& over = over_[key];
        double clear_below = m.clear_below.value_or(*m.alarm_above * 0.9);
        std::string unit = unit_of(m.state);
        if (!over && m.value >= *m.alarm_above) {
            over = true;
            alarms_.raise("electrical_fault", m.device_id, m.zone, "device:" + m.device_id,
                          json{{"state", m.state},
                               {"value", m.value},
                               {"threshold", *m.alarm_above},
                               {"unit", unit},
                               {"reason", state_name(m.state) + " " + number(m.value) + " " + unit +
                                              "，报警值 " + number(*m.alarm_above) + " " + unit}});
        } else if (over && m.value < clear_below) {
            over = false;
            if (auto open = alarms_.find_open("electrical_fault", m.device_id))
                alarms_.record(open->id, "note", "device:" + m.device_id, "",
                               "已恢复：" + state_name(m.state) + " " + number(m.value) + " " + unit +
                                   "（低于 " + number(clear_below) + " " + unit + "），请检查线路后关闭");
        }
    }
    int64_t start = (m.ts_ms ? m.ts_ms : clock_.now_ms()) / 60000 * 60000;
    auto& cur = minutes_[key];
    if (cur.n > 0 && cur.start != start) flush(start);  // a new minute: write the finished one
    auto& mm = minutes_[key];
    if (mm.n == 0) mm = Minute{start, 0, m.value, m.value, 0, m.value};
    mm.n++;
    mm.min = std::min(mm.min, m.value);
    mm.max = std::max(mm.max, m.value);
    mm.sum += m.value;
    mm.last = m.value;
}

void SafetyMonitor::flush(int64_t now, bool everything) {
    int64_t this_minute = now / 60000 * 60000;
    std::vector<std::pair<std::pair<std::string, std::string>, Minute>> done;
    for (auto it = minutes_.begin(); it != minutes_.end();) {
        if (it->second.n > 0 && (everything || it->second.start < this_minute)) {
            done.emplace_back(it->first, it->second);
            it = minutes_.erase(it);
        } else {
            ++it;
        }
    }
    if (done.empty()) return;
    // An upsert: a minute written at shutdown and continued after a restart is merged.
    store_.write([&](sqlite3* db) {
        Stmt s(
            db,
            "INSERT INTO readings(device_id, state, minute, n, min, max, mean, last) VALUES(?,?,?,?,?,?,?,?) "
            "ON CONFLICT(device_id, state, minute) DO UPDATE SET "
            "mean=(readings.mean*readings.n + excluded.mean*excluded.n)/(readings.n + excluded.n), "
            "n=readings.n + excluded.n, min=MIN(readings.min, excluded.min), "
            "max=MAX(readings.max, excluded.max), last=excluded.last");
        for (auto& [key, m] : done) {
            s.reset();
            s.bind(1, key.first).bind(2, key.second).bind(3, m.start).bind(4, int64_t(m.n));
            s.bind(5, m.min).bind(6, m.max).bind(7, m.sum / m.n).bind(8, m.last);
            s.run();
        }
    });
}

}  // namespace caregate
