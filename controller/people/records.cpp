#include "controller/people/records.hpp"

#include <algorithm>
#include <stdexcept>

#include "controller/core/uuid.hpp"

namespace caregate {

using nlohmann::json;

const std::vector<std::string>& service_types() {
    static const std::vector<std::string> t = {"助餐",     "助浴",     "助洁",     "文体娱乐",    "代办代购",
                                               "医疗保健", "心理慰藉", "技能培训", "康复辅具租赁"};
    return t;
}
const std::vector<std::string>& visit_methods() {
    static const std::vector<std::string> m = {"上门", "电话", "视频"};
    return m;
}

json to_json(const ServiceRecord& r) {
    return {{"id", r.uuid},  {"record_id", r.id},    {"elder_id", r.elder_id}, {"elder_name", r.elder_name},
            {"ts", r.ts_ms}, {"service", r.service}, {"staff", r.staff},       {"notes", r.notes}};
}
json to_json(const VisitRecord& r) {
    return {
        {"id", r.uuid},       {"record_id", r.id},  {"elder_id", r.elder_id},  {"elder_name", r.elder_name},
        {"ts", r.ts_ms},      {"method", r.method}, {"visitor", r.visitor},    {"health", r.health},
        {"safety", r.safety}, {"needs", r.needs},   {"follow_up", r.follow_up}};
}

std::string Records::elder_uuid(sqlite3* db, int64_t elder_id) {
    Stmt s(db, "SELECT uuid FROM elders WHERE id=?");
    s.bind(1, elder_id);
    if (!s.step()) throw std::invalid_argument("没有这位长者（档案编号 " + std::to_string(elder_id) + "）");
    return s.str(0);
}

ServiceRecord Records::add_service(ServiceRecord r, const std::string& actor) {
    auto& types = service_types();
    if (std::find(types.begin(), types.end(), r.service) == types.end())
        throw std::invalid_argument(
            "服务类型须为 助餐 助浴 助洁 文体娱乐 代办代购 医疗保健 心理慰藉 技能培训 康复辅具租赁 之一");
    if (r.notes.size() > 2000) throw std::invalid_argument("备注过长（最多 600 个汉字）");
    if (r.staff.empty()) r.staff = actor;
    if (r.ts_ms == 0) r.ts_ms = clock_.now_ms();
    return store_.write([&](sqlite3* db) {
        std::string eu = elder_uuid(db, r.elder_id);
        r.uuid = new_uuid();
        Stmt s(db,
               "INSERT INTO service_records(uuid, elder_id, ts, service, staff, notes) VALUES(?,?,?,?,?,?)");
        s.bind(1, r.uuid)
            .bind(2, r.elder_id)
            .bind(3, r.ts_ms)
            .bind(4, r.service)
            .bind(5, r.staff)
            .bind(6, r.notes);
        s.run();
        r.id = last_insert_id(db);
        json data = {
            {"id", r.uuid}, {"elder_id", eu}, {"ts", r.ts_ms}, {"service", r.service}, {"staff", r.staff}};
        outbox_.put(db, "service", r.uuid, r.ts_ms, data);
        Store::audit(db, actor, "service.create", "elder:" + std::to_string(r.elder_id),
                     json{{"service", r.service}}.dump(), clock_.now_ms());
        return r;
    });
}

void Records::check_visit_time(int64_t ts_ms, int64_t now_ms, bool may_backdate) {
    // A minute of grace: the form's "now" was filled in on the phone a moment ago, by its own clock.
    if (ts_ms > now_ms + 60'000) throw std::invalid_argument("探访时间不能晚于现在");
    if (!may_backdate && ts_ms < now_ms - int64_t(kVisitBackdateDays) * 24 * 3600 * 1000)
        throw std::invalid_argument("探访时间不能早于 " + std::to_string(kVisitBackdateDays) +
                                    " 天前；补录更早的探访请找管理员");
}

VisitRecord Records::add_visit(VisitRecord r, const std::string& actor) {
    auto& methods = visit_methods();
    if (std::find(methods.begin(), methods.end(), r.method) == methods.end())
        throw std::invalid_argument("探访方式须为 上门、电话 或 视频");
    for (auto* f : {&r.health, &r.safety, &r.needs, &r.follow_up})
        if (f->size() > 2000) throw std::invalid_argument("探访记录的每一项最多 600 个汉字");
    if (r.visitor.empty()) r.visitor = actor;
    if (r.ts_ms == 0) r.ts_ms = clock_.now_ms();
    return store_.write([&](sqlite3* db) {
        std::string eu = elder_uuid(db, r.elder_id);
        r.uuid = new_uuid();
        Stmt s(db,
               "INSERT INTO visit_records(uuid, elder_id, ts, method, visitor, health, safety, needs, "
               "follow_up) "
               "VALUES(?,?,?,?,?,?,?,?,?)");
        s.bind(1, r.uuid).bind(2, r.elder_id).bind(3, r.ts_ms).bind(4, r.method).bind(5, r.visitor);
        s.bind(6, r.health).bind(7, r.safety).bind(8, r.needs).bind(9, r.follow_up).run();
        r.id = last_insert_id(db);
        json data = {{"id", r.uuid},       {"elder_id", eu},       {"ts", r.ts_ms},
                     {"method", r.method}, {"visitor", r.visitor}, {"health", r.health},
                     {"safety", r.safety}, {"needs", r.needs},     {"follow_up", r.follow_up}};
        outbox_.put(db, "visit", r.uuid, r.ts_ms, data);
        Store::audit(db, actor, "visit.create", "elder:" + std::to_string(r.elder_id), "{}", clock_.now_ms());
        return r;
    });
}

std::vector<ServiceRecord> Records::services(int64_t from_ms, int64_t to_ms, int limit) {
    return store_.read([&](sqlite3* db) {
        std::vector<ServiceRecord> out;
        Stmt s(db,
               "SELECT r.id, r.uuid, r.elder_id, e.name, r.ts, r.service, r.staff, COALESCE(r.notes,'') FROM "
               "service_records r JOIN elders e ON e.id=r.elder_id WHERE r.ts>=? AND r.ts<? ORDER BY r.ts "
               "DESC LIMIT ?");
        s.bind(1, from_ms).bind(2, to_ms).bind(3, limit);
        while (s.step())
            out.push_back({s.i64(0), s.str(1), s.i64(2), s.str(3), s.i64(4), s.str(5), s.str(6), s.str(7)});
        return out;
    });
}

std::vector<VisitRecord> Records::visits(int64_t from_ms, int64_t to_ms, int limit) {
    return store_.read([&](sqlite3* db) {
        std::vector<VisitRecord> out;
        Stmt s(db,
               "SELECT r.id, r.uuid, r.elder_id, e.name, r.ts, r.method, r.visitor, COALESCE(r.health,''), "
               "COALESCE(r.safety,''), COALESCE(r.needs,''), COALESCE(r.follow_up,'') FROM visit_records r "
               "JOIN elders e ON e.id=r.elder_id WHERE r.ts>=? AND r.ts<? ORDER BY r.ts DESC LIMIT ?");
        s.bind(1, from_ms).bind(2, to_ms).bind(3, limit);
        while (s.step())
            out.push_back({s.i64(0), s.str(1), s.i64(2), s.str(3), s.i64(4), s.str(5), s.str(6), s.str(7),
                           s.str(8), s.str(9), s.str(10)});
        return out;
    });
}

std::map<std::string, int> Records::service_counts(int64_t from_ms, int64_t to_ms) {
    return store_.read([&](sqlite3* db) {
        std::map<std::string, int> out;
        for (auto& t : service_types()) out[t] = 0;
        Stmt s(db, "SELECT service, COUNT(*) FROM service_records WHERE ts>=? AND ts<? GROUP BY service");
        s.bind(1, from_ms).bind(2, to_ms);
        while (s.step()) out[s.str(0)] = static_cast<int>(s.i64(1));
        return out;
    });
}

}  // namespace caregate
