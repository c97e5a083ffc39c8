#include "controller/people/occupancy.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace caregate {

int64_t local_offset_ms(const std::string& timezone) {
    return timezone == "UTC" ? 0 : 8LL * 3600 * 1000;  // config validation allows Asia/Shanghai or UTC
}

std::pair<int, int> local_weekday_minute(int64_t ms, const std::string& timezone) {
    int64_t local = ms + local_offset_ms(timezone);
    int64_t days = local >= 0 ? local / 86400000 : (local - 86399999) / 86400000;
    int weekday = int(((days + 3) % 7 + 7) % 7) + 1;  // 1970-01-01 was a Thursday
    int minute = int((local - days * 86400000) / 60000);
    return {weekday, minute};
}

int64_t Occupancy::day_start_ms() const {
    const int64_t day = 24LL * 3600 * 1000;
    int64_t off = local_offset_ms(cfg_.site.timezone) - int64_t(cfg_.gate.reset_hour) * 3600 * 1000;
    int64_t local = clock_.now_ms() + off;
    return local - (((local % day) + day) % day) - off;
}

int Occupancy::count_in(sqlite3* db, const std::string& zone) {
    Stmt s(db, "SELECT COALESCE(SUM(delta),0) FROM occupancy_adjustments WHERE zone=? AND ts>=?");
    s.bind(1, zone).bind(2, day_start_ms());
    s.step();
    return static_cast<int>(std::max<int64_t>(0, s.i64(0)));
}

int Occupancy::adjust(sqlite3* db, const std::string& zone, int delta, const std::string& source,
                      const std::string& actor) {
    int cur = count_in(db, zone);
    if (source == "checkin")
        if (auto* z = cfg_.find_zone(zone); z && !z->counter.empty()) return cur;
    int applied = std::max(delta, -cur);  // never below zero
    if (applied != 0) {
        Stmt s(db, "INSERT INTO occupancy_adjustments(ts, zone, delta, source, actor) VALUES(?,?,?,?,?)");
        s.bind(1, clock_.now_ms()).bind(2, zone).bind(3, applied).bind(4, source).bind(5, actor).run();
    }
    return cur + applied;
}

ZoneOccupancy Occupancy::correct(const std::string& zone, int count, const std::string& actor,
                                 const std::string& reason) {
    if (!cfg_.find_zone(zone)) throw std::invalid_argument("没有这个区域，请刷新页面");
    if (count < 0) throw std::invalid_argument("人数不能为负数");
    if (reason.empty()) throw std::invalid_argument("请填写修改人数的原因（会记入操作日志）");
    store_.write([&](sqlite3* db) {
        int before = count_in(db, zone);
        adjust(db, zone, count - before, "staff", actor);
        Store::audit(db, actor, "occupancy.correct", "zone:" + zone,
                     nlohmann::json{{"from", before}, {"to", count}, {"reason", reason}}.dump(),
                     clock_.now_ms());
    });
    return this->zone(zone);
}

std::vector<ZoneOccupancy> Occupancy::counted(const std::string& counter_id, int delta) {
    std::vector<ZoneOccupancy> out;
    for (auto& z : cfg_.zones)
        if (z.counter == counter_id) {
            store_.write([&](sqlite3* db) { adjust(db, z.id, delta, "counter:" + counter_id, "system"); });
            out.push_back(zone(z.id));
        }
    return out;
}

int Occupancy::count(const std::string& zone) {
    return store_.read([&](sqlite3* db) { return count_in(db, zone); });
}

ZoneOccupancy Occupancy::zone(const std::string& id) {
    ZoneOccupancy z;
    z.zone = id;
    z.count = count(id);
    if (auto* cz = cfg_.find_zone(id)) {
        z.name = cz->name;
        z.capacity = cz->capacity;
        // 助餐: at meal times the dining room may have its own, lower limit.
        if (id == cfg_.gate.dining_zone && cfg_.gate.dining_limit > 0) {
            int64_t local = clock_.now_ms() + local_offset_ms(cfg_.site.timezone);
            int minute = static_cast<int>(((local / 60000) % 1440 + 1440) % 1440);
            bool meal =
                (minute >= 11 * 60 && minute < 13 * 60) || (minute >= 17 * 60 && minute < 18 * 60 + 30);
            if (meal) z.capacity = cfg_.gate.dining_limit;
        }
        if (z.capacity > 0 && z.count >= z.capacity)
            z.level = "full";
        else if (z.capacity > 0 && z.count * 100 >= z.capacity * cz->warn_percent)
            z.level = "near";
        else
            z.level = "ok";
    } else {
        z.level = "ok";
    }
    return z;
}

std::vector<ZoneOccupancy> Occupancy::all() {
    std::vector<ZoneOccupancy> out;
    for (auto& z : cfg_.zones)
        if (!z.is_private) out.push_back(zone(z.id));
    return out;
}

}  // namespace caregate
