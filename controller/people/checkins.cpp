#include "controller/people/checkins.hpp"

#include <stdexcept>

#include "controller/core/log.hpp"
#include "controller/core/uuid.hpp"

namespace caregate {

using nlohmann::json;

json to_json(const CheckIn& c) {
    return {{"id", c.uuid},
            {"elder_id", c.elder_id},
            {"elder_name", c.elder_name},
            {"ts", c.ts_ms},
            {"direction", c.direction},
            {"method", c.method},
            {"camera_id", c.camera_id.empty() ? json(nullptr) : json(c.camera_id)},
            {"zone", c.zone},
            {"temperature", c.temperature ? json(*c.temperature) : json(nullptr)},
            {"distance", c.distance ? json(*c.distance) : json(nullptr)},
            {"actor", c.actor.empty() ? json(nullptr) : json(c.actor)}};
}

CheckinService::CheckinService(Store& store, const Clock& clock, const Outbox& outbox, Occupancy& occupancy,
                               int interval_minutes, std::string default_zone)
    : store_(store),
      clock_(clock),
      outbox_(outbox),
      occupancy_(occupancy),
      interval_ms_(int64_t(interval_minutes) * 60000),
      default_zone_(std::move(default_zone)) {}

std::optional<CheckIn> CheckinService::record(CheckIn c) {
    if (c.direction != "in" && c.direction != "out") throw std::invalid_argument("签到方向须为 签到 或 签退");
    std::lock_guard<std::mutex> lock(mu_);
    if (c.ts_ms == 0) c.ts_ms = clock_.now_ms();
    if (c.zone.empty()) c.zone = default_zone_;
    bool recorded = store_.write([&](sqlite3* db) {
        Stmt e(db, "SELECT name, active, family_notify, uuid FROM elders WHERE id=?");
        e.bind(1, c.elder_id);
        if (!e.step())
            throw std::invalid_argument("没有这位长者（档案编号 " + std::to_string(c.elder_id) +
                                        "），请刷新页面后重新选择");
        if (e.i64(1) == 0) throw std::invalid_argument(e.str(0) + " 的档案已停用，不能签到");
        c.elder_name = e.str(0);
        bool family = e.i64(2) != 0;
        std::string elder_uuid = e.str(3);

        Stmt last(db,
                  "SELECT ts, direction FROM checkins WHERE elder_id=? ORDER BY ts DESC, id DESC LIMIT 1");
        last.bind(1, c.elder_id);
        if (last.step() && last.str(1) == c.direction && c.ts_ms - last.i64(0) < interval_ms_) return false;

        c.uuid = new_uuid();
        Stmt s(db,
               "INSERT INTO checkins(uuid, elder_id, ts, direction, method, camera_id, zone, temperature, "
               "distance, "
               "actor) VALUES(?,?,?,?,?,?,?,?,?,?)");
        s.bind(1, c.uuid).bind(2, c.elder_id).bind(3, c.ts_ms).bind(4, c.direction).bind(5, c.method);
        c.camera_id.empty() ? s.bind_null(6) : s.bind(6, c.camera_id);
        s.bind(7, c.zone).bind(8, c.temperature).bind(9, c.distance);
        c.actor.empty() ? s.bind_null(10) : s.bind(10, c.actor);
        s.run();
        c.id = last_insert_id(db);
        occupancy_.adjust(db, c.zone, c.direction == "in" ? 1 : -1, "checkin", c.actor);

        json data = to_json(c);
        data["elder_id"] = elder_uuid;  // the city knows elders by uuid / external id, not our row id
        outbox_.put(db, "checkin", c.uuid, c.ts_ms, data, Priority::normal);
        if (family) {
            json notice = {
                {"elder_id", elder_uuid},
                {"event", c.direction == "in" ? "checkin" : "checkout"},
                {"ts", c.ts_ms},
                {"text", c.elder_name + (c.direction == "in" ? " 已到达照料中心" : " 已离开照料中心")}};
            outbox_.put(db, "family_notice", new_uuid(), c.ts_ms, notice, Priority::normal);
        }
        return true;
    });
    if (!recorded) return std::nullopt;
    logger("checkin")->info("check-{} elder={} ({}) method={} zone={}", c.direction, c.elder_id, c.elder_name,
                            c.method, c.zone);
    if (announce_) announce_(c);
    return c;
}

std::vector<CheckIn> CheckinService::list(int64_t from_ms, int64_t to_ms, std::optional<int64_t> elder_id,
                                          int limit) {
    return store_.read([&](sqlite3* db) {
        std::vector<CheckIn> out;
        Stmt s(db,
               "SELECT c.id, c.uuid, c.elder_id, e.name, c.ts, c.direction, c.method, c.camera_id, c.zone, "
               "c.temperature, c.distance, c.actor FROM checkins c JOIN elders e ON e.id=c.elder_id "
               "WHERE c.ts>=? AND c.ts<? AND (? IS NULL OR c.elder_id=?) ORDER BY c.ts DESC LIMIT ?");
        s.bind(1, from_ms).bind(2, to_ms).bind(3, elder_id).bind(4, elder_id).bind(5, limit);
        while (s.step()) {
            CheckIn c;
            c.id = s.i64(0);
            c.uuid = s.str(1);
            c.elder_id = s.i64(2);
            c.elder_name = s.str(3);
            c.ts_ms = s.i64(4);
            c.direction = s.str(5);
            c.method = s.str(6);
            c.camera_id = s.str(7);
            c.zone = s.str(8);
            c.temperature = s.opt_f64(9);
            c.distance = s.opt_f64(10);
            c.actor = s.str(11);
            out.push_back(c);
        }
        return out;
    });
}

bool CheckinService::is_inside(int64_t elder_id) {
    return store_.read([&](sqlite3* db) {
        Stmt s(db,
               "SELECT direction FROM checkins WHERE elder_id=? AND ts>=? ORDER BY ts DESC, id DESC LIMIT 1");
        s.bind(1, elder_id).bind(2, occupancy_.day_start_ms());
        return s.step() && s.str(0) == "in";
    });
}

}  // namespace caregate
