#include "controller/statistics.hpp"

namespace caregate {

using nlohmann::json;

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
           "SUM(state NOT IN ('resolved','cancelled')) FROM alarms "
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
                          {"open", a.i64(6)}});
    j["alarms"] = alarms;
    return j;
}

}  // namespace caregate
