#include "controller/people/statistics.hpp"

#include <algorithm>
#include <cmath>
#include <string>

namespace caregate {

using nlohmann::json;

namespace {

// The site's energy over [from, to) in kWh: for each meter, its last energy_kwh reading of the period
// minus its first (the first minute's min: the counter only grows; never below 0, so a replaced meter
// does not subtract), summed and rounded to the Wh. Null when no meter reported in the period (a site
// without meters). The kiosk's 今日用电 of one meter is counted the same way (controller/kiosk).
json energy_between(sqlite3* db, int64_t from, int64_t to) {
    // The devices with readings, by a skip scan over the primary key (device_id, state, minute).
    Stmt next(db, "SELECT device_id FROM readings WHERE device_id>? ORDER BY device_id LIMIT 1");
    Stmt used(
        db,
        "SELECT (SELECT last FROM readings WHERE device_id=?1 AND state='energy_kwh' AND minute>=?2 AND "
        "minute<?3 ORDER BY minute DESC LIMIT 1) - (SELECT min FROM readings WHERE device_id=?1 AND "
        "state='energy_kwh' AND minute>=?2 AND minute<?3 ORDER BY minute LIMIT 1)");
    std::string after;
    bool metered = false;
    double total = 0;
    for (;;) {
        next.reset();
        next.bind(1, after);
        if (!next.step()) break;
        after = next.str(0);
        used.reset();
        used.bind(1, after).bind(2, from).bind(3, to);
        if (!used.step() || used.is_null(0)) continue;
        metered = true;
        total += std::max(0.0, used.f64(0));
    }
    if (!metered) return nullptr;
    return std::round(total * 1000) / 1000;
}

}  // namespace

json activity_between(sqlite3* db, int64_t from, int64_t to) {
    json j;
    Stmt c(db,
           "SELECT COUNT(*), COUNT(DISTINCT elder_id) FROM checkins WHERE direction='in' AND ts>=? AND ts<?");
    c.bind(1, from).bind(2, to).step();
    j["checkins"] = c.i64(0);
    j["unique_elders"] = c.i64(1);
    json services = json::object();
    Stmt s(db, "SELECT service, COUNT(*) FROM service_records WHERE ts>=? AND ts<? GROUP BY service");
    s.bind(1, from).bind(2, to);
    while (s.step()) services[s.str(0)] = s.i64(1);
    j["services"] = services;
    Stmt v(db, "SELECT COUNT(*) FROM visit_records WHERE ts>=? AND ts<?");
    v.bind(1, from).bind(2, to).step();
    j["visits"] = v.i64(0);
    json alarms = json::array();
    Stmt a(db,
           "SELECT kind, COUNT(*), AVG(acked_at-raised_at)/1000.0, MAX(acked_at-raised_at)/1000.0, "
           "AVG(CASE WHEN state='resolved' THEN closed_at-raised_at END)/1000.0, "
           "MAX(CASE WHEN state='resolved' THEN closed_at-raised_at END)/1000.0, "
           "SUM(state NOT IN ('resolved','cancelled')), "
           "SUM(COALESCE(json_extract(detail, '$.false_alarm'), 0) = 1) FROM alarms "
           "WHERE raised_at>=? AND raised_at<? GROUP BY kind ORDER BY kind");
    a.bind(1, from).bind(2, to);
    auto seconds = [&](int col) { return a.is_null(col) ? json(nullptr) : json(a.f64(col)); };
    while (a.step())
        alarms.push_back({{"kind", a.str(0)},
                          {"count", a.i64(1)},
                          {"avg_ack_s", seconds(2)},
                          {"max_ack_s", seconds(3)},
                          {"avg_resolve_s", seconds(4)},
                          {"max_resolve_s", seconds(5)},
                          {"open", a.i64(6)},
                          {"false_alarms", a.i64(7)}});
    j["alarms"] = alarms;
    j["energy_kwh"] = energy_between(db, from, to);
    // 助餐 by subsidy category: meals, what elders paid and what the city owes (yuan).
    json meals = json::object();
    Stmt m(db,
           "SELECT category, COUNT(*), SUM(pays), SUM(subsidy) FROM meals WHERE ts>=? AND ts<? GROUP BY "
           "category");
    m.bind(1, from).bind(2, to);
    while (m.step())
        meals[m.str(0)] = {{"meals", m.i64(1)},
                           {"paid", std::round(m.f64(2) * 100) / 100},
                           {"subsidy", std::round(m.f64(3) * 100) / 100}};
    j["meals_by_category"] = meals;
    return j;
}

}  // namespace caregate
