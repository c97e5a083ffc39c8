#include "controller/alarms/alarms.hpp"

#include <algorithm>
#include <map>

#include "controller/core/log.hpp"
#include "controller/core/uuid.hpp"

namespace caregate {

using nlohmann::json;

namespace {
const char* kAlarmColumns =
    "id, uuid, kind, source, zone, elder_id, state, level, presses, detail, raised_at, acked_at, "
    "dispatched_at, closed_at, next_deadline";

Alarm row_to_alarm(const Stmt& s) {
    Alarm a;
    a.id = s.i64(0);
    a.uuid = s.str(1);
    a.kind = s.str(2);
    a.source = s.str(3);
    a.zone = s.str(4);
    a.elder_id = s.opt_i64(5);
    a.state = s.str(6);
    a.level = static_cast<int>(s.i64(7));
    a.presses = static_cast<int>(s.i64(8));
    a.detail = json::parse(s.str(9), nullptr, false);
    if (a.detail.is_discarded()) a.detail = json::object();
    a.raised_at = s.i64(10);
    a.acked_at = s.opt_i64(11);
    a.dispatched_at = s.opt_i64(12);
    a.closed_at = s.opt_i64(13);
    a.next_deadline = s.opt_i64(14);
    return a;
}

// The state of an alarm as staff read it in a refusal ("这条报警已处置").
const char* state_text(const std::string& state) {
    return state == "raised"         ? "尚未响应"
           : state == "acknowledged" ? "已响应"
           : state == "dispatched"   ? "已派出"
           : state == "resolved"     ? "已处置"
           : state == "cancelled"    ? "已取消"
                                     : "状态已变";
}

template <typename T>
json opt(const std::optional<T>& v) {
    return v ? json(*v) : json(nullptr);
}
}  // namespace

json to_json(const AlarmStep& s) {
    json j = {{"id", s.uuid},     {"ts", s.ts_ms},     {"step", s.step}, {"actor", s.actor},
              {"level", s.level}, {"target", nullptr}, {"note", nullptr}};
    if (!s.target.empty()) j["target"] = s.target;
    if (!s.note.empty()) j["note"] = s.note;
    return j;
}

json to_json(const Alarm& a) {
    json steps = json::array();
    for (auto& s : a.steps) steps.push_back(to_json(s));
    return {{"id", a.id},
            {"uuid", a.uuid},
            {"kind", a.kind},
            {"source", a.source},
            {"zone", a.zone},
            {"elder_id", opt(a.elder_id)},
            {"state", a.state},
            {"level", a.level},
            {"presses", a.presses},
            {"detail", a.detail},
            {"raised_at", a.raised_at},
            {"acked_at", opt(a.acked_at)},
            {"dispatched_at", opt(a.dispatched_at)},
            {"closed_at", opt(a.closed_at)},
            {"next_deadline", opt(a.next_deadline)},
            {"steps", steps}};
}

const std::vector<std::string>& AlarmService::dispatch_targets() {
    static const std::vector<std::string> t = {"110", "120", "119", "family", "city_hotline", "staff"};
    return t;
}

AlarmService::AlarmService(Store& store, const Clock& clock, const Outbox& outbox, AlarmPolicy policy)
    : store_(store), clock_(clock), outbox_(outbox), policy_(policy) {}

Alarm AlarmService::load(sqlite3* db, int64_t id) {
    Stmt s(db, std::string("SELECT ") + kAlarmColumns + " FROM alarms WHERE id=?");
    s.bind(1, id);
    if (!s.step()) throw AlarmError("报警不存在（编号 " + std::to_string(id) + "），请刷新页面");
    Alarm a = row_to_alarm(s);
    Stmt st(db,
            "SELECT id, uuid, ts, step, actor, target, note, level FROM alarm_steps WHERE alarm_id=? ORDER "
            "BY id");
    st.bind(1, id);
    while (st.step())
        a.steps.push_back({st.i64(0), st.str(1), st.i64(2), st.str(3), st.str(4), st.str(5), st.str(6),
                           static_cast<int>(st.i64(7))});
    return a;
}

std::optional<int64_t> AlarmService::deadline_for(const Alarm& a) const {
    if (!a.open()) return std::nullopt;
    if (!a.acked_at && a.level == 0) return a.raised_at + int64_t(policy_.ack_timeout_s) * 1000;
    int64_t resolve_at = a.raised_at + int64_t(policy_.resolve_timeout_s) * 1000;
    // The resolve deadline fires once: after it, the alarm stays at its level until closed.
    bool resolve_escalated = std::any_of(a.steps.begin(), a.steps.end(), [](const AlarmStep& s) {
        return s.step == "escalated" && s.note.find("未处置完毕") != std::string::npos;
    });
    return resolve_escalated ? std::nullopt : std::optional<int64_t>(resolve_at);
}

AlarmStep AlarmService::append(sqlite3* db, Alarm& a, const std::string& step, const std::string& actor,
                               const std::string& target, const std::string& note) {
    AlarmStep s{0, new_uuid(), clock_.now_ms(), step, actor, target, note, a.level};
    Stmt ins(db,
             "INSERT INTO alarm_steps(uuid, alarm_id, ts, step, actor, target, note, level) "
             "VALUES(?,?,?,?,?,?,?,?)");
    ins.bind(1, s.uuid).bind(2, a.id).bind(3, s.ts_ms).bind(4, step).bind(5, actor);
    target.empty() ? ins.bind_null(6) : ins.bind(6, target);
    note.empty() ? ins.bind_null(7) : ins.bind(7, note);
    ins.bind(8, a.level).run();
    s.id = last_insert_id(db);
    a.steps.push_back(s);
    a.next_deadline = deadline_for(a);
    Stmt up(db,
            "UPDATE alarms SET state=?, level=?, presses=?, acked_at=?, dispatched_at=?, closed_at=?, "
            "next_deadline=? WHERE id=?");
    up.bind(1, a.state).bind(2, a.level).bind(3, a.presses).bind(4, a.acked_at).bind(5, a.dispatched_at);
    up.bind(6, a.closed_at).bind(7, a.next_deadline).bind(8, a.id).run();

    json data = to_json(s);
    data["alarm_id"] = a.uuid;
    data["kind"] = a.kind;
    data["state"] = a.state;
    data["urgent"] = a.level >= 1;
    outbox_.put(db, "alarm_step", s.uuid, s.ts_ms, data, Priority::safety);
    if (follow_up_ &&
        (step == "acknowledged" || step == "dispatched" || step == "resolved" || step == "cancelled"))
        follow_up_->answered(db, a);
    return s;
}

AlarmStep AlarmService::record(int64_t id, const std::string& step, const std::string& actor,
                               const std::string& target, const std::string& note,
                               const std::function<void(sqlite3*)>& also) {
    std::lock_guard<std::mutex> lock(mu_);
    AlarmStep st;
    Alarm a = store_.write([&](sqlite3* db) {
        Alarm a = load(db, id);
        st = append(db, a, step, actor, target, note);
        if (also) also(db);
        return a;
    });
    publish(a, {st});
    return st;
}

void AlarmService::publish(const Alarm& a, const std::vector<AlarmStep>& steps) {
    if (!announce_) return;
    for (auto& s : steps) announce_(a, s);
}

std::string alarm_kind_name(const std::string& kind) {
    static const std::map<std::string, std::string> names = {{"call", "紧急呼叫"},
                                                             {"fall", "跌倒"},
                                                             {"fever", "发热"},
                                                             {"over_capacity", "超员"},
                                                             {"device_offline", "设备离线"},
                                                             {"camera_offline", "摄像头离线"},
                                                             {"storage", "存储空间不足"},
                                                             {"long_occupancy", "卫生间长时间占用"},
                                                             {"channel_offline", "通知渠道故障"},
                                                             {"smoke", "烟雾报警"},
                                                             {"gas", "燃气泄漏"},
                                                             {"water_leak", "漏水"},
                                                             {"electrical_fault", "电气火灾隐患"},
                                                             {"tamper", "设备被拆"}};
    auto it = names.find(kind);
    return it != names.end() ? it->second : "其他";
}

bool is_call_from_a_person(const std::string& kind) { return kind == "call" || kind == "fall"; }

Alarm AlarmService::raise(const std::string& kind, const std::string& source, const std::string& zone,
                          const std::string& actor, const json& detail, std::optional<int64_t> elder_id) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<AlarmStep> steps;
    Alarm a = store_.write([&](sqlite3* db) {
        Stmt f(db,
               "SELECT id FROM alarms WHERE kind=? AND source=? AND state NOT IN ('resolved','cancelled') "
               "ORDER BY id DESC LIMIT 1");
        f.bind(1, kind).bind(2, source);
        std::optional<Alarm> earlier;
        if (f.step()) {
            Alarm open = load(db, f.i64(0));
            // A person calling again before anyone answered is the same call. Once staff have
            // answered, a new call or fall is news: its own alarm, banner and sound, linked back.
            if (open.state == "raised" || !is_call_from_a_person(kind)) {
                open.presses++;
                steps.push_back(append(db, open, "repeated", actor, "", ""));
                return open;
            }
            earlier = std::move(open);
        }
        int64_t now = clock_.now_ms();
        Alarm n;
        n.uuid = new_uuid();
        n.kind = kind;
        n.source = source;
        n.zone = zone;
        n.elder_id = elder_id;
        n.state = "raised";
        n.detail = detail;
        if (earlier) n.detail["follows"] = earlier->id;
        n.raised_at = now;
        Stmt ins(db,
                 "INSERT INTO alarms(uuid, kind, source, zone, elder_id, state, level, presses, detail, "
                 "raised_at) "
                 "VALUES(?,?,?,?,?,?,0,1,?,?)");
        ins.bind(1, n.uuid).bind(2, kind).bind(3, source).bind(4, zone).bind(5, elder_id).bind(6, n.state);
        ins.bind(7, n.detail.dump()).bind(8, now).run();
        n.id = last_insert_id(db);
        json data = {{"id", n.uuid}, {"kind", kind},     {"source", source},
                     {"zone", zone}, {"raised_at", now}, {"detail", n.detail}};
        outbox_.put(db, "alarm", n.uuid, now, data, Priority::safety);
        if (elder_id) {  // 老年人家属服务提醒: families who opted in hear of alarms about their elder
            Stmt e(db, "SELECT uuid, name, family_notify FROM elders WHERE id=?");
            e.bind(1, *elder_id);
            if (e.step() && e.i64(2))
                outbox_.put(db, "family_notice", new_uuid(), now,
                            json{{"elder_id", e.str(0)},
                                 {"event", "alarm"},
                                 {"ts", now},
                                 {"text", e.str(1) + " 在照料中心触发了" + alarm_kind_name(kind) +
                                              "报警，工作人员正在处理"}},
                            Priority::safety);
        }
        steps.push_back(append(db, n, "raised", actor, "",
                               earlier ? "前一次报警 #" + std::to_string(earlier->id) + " 已响应后再次" +
                                             (kind == "fall" ? "跌倒" : "呼叫")
                                       : ""));
        if (follow_up_)
            for (auto& note : follow_up_->raised(db, n))
                steps.push_back(append(db, n, "note", "system", "", note));
        return n;
    });
    logger("alarms")->warn("alarm {} {} from {} zone={} step={}", a.id, a.kind, a.source, a.zone,
                           steps.back().step);
    publish(a, steps);
    return a;
}

Alarm AlarmService::acknowledge(int64_t id, const std::string& actor, const std::string& note) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<AlarmStep> steps;
    Alarm a = store_.write([&](sqlite3* db) {
        Alarm a = load(db, id);
        if (a.state != "raised")
            throw AlarmError(std::string("这条报警") + state_text(a.state) + "，不能再响应，请刷新页面");
        a.state = "acknowledged";
        a.acked_at = clock_.now_ms();
        steps.push_back(append(db, a, "acknowledged", actor, "", note));
        return a;
    });
    logger("alarms")->info("alarm {} acknowledged by {}", id, actor);
    publish(a, steps);
    return a;
}

Alarm AlarmService::dispatch(int64_t id, const std::string& target, const std::string& actor,
                             const std::string& note) {
    auto& targets = dispatch_targets();
    if (std::find(targets.begin(), targets.end(), target) == targets.end())
        throw AlarmError("派出对象须为 110、120、119、家属、城市热线 或 工作人员 之一");
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<AlarmStep> steps;
    Alarm a = store_.write([&](sqlite3* db) {
        Alarm a = load(db, id);
        if (!a.open())
            throw AlarmError(std::string("这条报警") + state_text(a.state) + "，不能再派出，请刷新页面");
        int64_t now = clock_.now_ms();
        if (a.state == "raised") {  // dispatching someone is answering the alarm
            a.state = "acknowledged";
            a.acked_at = now;
            steps.push_back(append(db, a, "acknowledged", actor, "", "派出人员即视为响应"));
        }
        a.state = "dispatched";
        if (!a.dispatched_at) a.dispatched_at = now;
        steps.push_back(append(db, a, "dispatched", actor, target, note));
        return a;
    });
    logger("alarms")->info("alarm {} dispatched to {} by {}", id, target, actor);
    publish(a, steps);
    return a;
}

Alarm AlarmService::resolve(int64_t id, const std::string& outcome_text, const std::string& actor,
                            const std::string& note, bool false_alarm) {
    if (outcome_text.empty()) throw AlarmError(false_alarm ? "误报须填写原因" : "处置完成须填写处置结果");
    std::string outcome = false_alarm ? "误报：" + outcome_text : outcome_text;
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<AlarmStep> steps;
    Alarm a = store_.write([&](sqlite3* db) {
        Alarm a = load(db, id);
        if (!a.open()) throw AlarmError(std::string("这条报警") + state_text(a.state) + "，请刷新页面");
        int64_t now = clock_.now_ms();
        if (!a.acked_at) a.acked_at = now;
        a.state = "resolved";
        a.closed_at = now;
        a.detail["outcome"] = outcome;
        if (false_alarm) a.detail["false_alarm"] = true;
        Stmt u(db, "UPDATE alarms SET detail=? WHERE id=?");
        u.bind(1, a.detail.dump()).bind(2, a.id).run();
        steps.push_back(
            append(db, a, "resolved", actor, "", note.empty() ? outcome : outcome + " — " + note));
        return a;
    });
    logger("alarms")->info("alarm {} resolved by {}: {}", id, actor, outcome);
    publish(a, steps);
    return a;
}

std::optional<Alarm> AlarmService::cancel_from_device(const std::string& device_id, const std::string& kind) {
    auto open = find_open(kind, device_id);
    if (!open) return std::nullopt;
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<AlarmStep> steps;
    Alarm a = store_.write([&](sqlite3* db) {
        Alarm a = load(db, open->id);
        // A reset at the call point (or a message claiming to be one) clears only a call nobody has
        // answered yet; once staff are on it, closing it takes staff, in the rescue record.
        if (a.state != "raised") {
            steps.push_back(append(db, a, "note", "device:" + device_id, "",
                                   "呼叫点复位：报警已有人响应，须由工作人员处置后关闭"));
            return a;
        }
        a.state = "cancelled";
        a.closed_at = clock_.now_ms();
        steps.push_back(append(db, a, "cancelled", "device:" + device_id, "", "呼叫点已复位"));
        return a;
    });
    publish(a, steps);
    return a;
}

std::optional<Alarm> AlarmService::clear(const std::string& kind, const std::string& source,
                                         const std::string& outcome) {
    auto open = find_open(kind, source);
    if (!open) return std::nullopt;
    return resolve(open->id, outcome, "system");
}

int AlarmService::tick() {
    int64_t now = clock_.now_ms();
    std::vector<int64_t> due;
    store_.read([&](sqlite3* db) {
        Stmt s(db,
               "SELECT id FROM alarms WHERE state NOT IN ('resolved','cancelled') AND next_deadline <= ?");
        s.bind(1, now);
        while (s.step()) due.push_back(s.i64(0));
    });
    int n = 0;
    for (int64_t id : due) {
        std::lock_guard<std::mutex> lock(mu_);
        std::vector<AlarmStep> steps;
        bool escalated = false;
        Alarm a = store_.write([&](sqlite3* db) {
            Alarm a = load(db, id);
            if (!a.open() || !a.next_deadline || *a.next_deadline > now) return a;  // changed meanwhile
            std::string why = (!a.acked_at && a.level == 0)
                                  ? std::to_string(policy_.ack_timeout_s) + " 秒内无人响应"
                                  : std::to_string(policy_.resolve_timeout_s) + " 秒内未处置完毕";
            a.level++;
            steps.push_back(append(db, a, "escalated", "system", "", why));
            escalated = true;
            return a;
        });
        if (!escalated) continue;
        n++;
        logger("alarms")->error("alarm {} {} escalated to level {}: {}", a.id, a.kind, a.level,
                                steps.back().note);
        publish(a, steps);
        if (escalate_) escalate_(a, a.level);
    }
    return n;
}

std::optional<Alarm> AlarmService::get(int64_t id) {
    return store_.read([&](sqlite3* db) -> std::optional<Alarm> {
        try {
            return load(db, id);
        } catch (const AlarmError&) {
            return std::nullopt;
        }
    });
}

std::optional<Alarm> AlarmService::find_open(const std::string& kind, const std::string& source) {
    return store_.read([&](sqlite3* db) -> std::optional<Alarm> {
        Stmt f(db,
               "SELECT id FROM alarms WHERE kind=? AND source=? AND state NOT IN ('resolved','cancelled') "
               "ORDER BY id DESC LIMIT 1");
        f.bind(1, kind).bind(2, source);
        if (!f.step()) return std::nullopt;
        return load(db, f.i64(0));
    });
}

std::vector<Alarm> AlarmService::list(bool open_only, int limit) {
    return store_.read([&](sqlite3* db) {
        std::vector<Alarm> out;
        std::string sql = std::string("SELECT ") + kAlarmColumns + " FROM alarms" +
                          (open_only ? " WHERE state NOT IN ('resolved','cancelled')" : "") +
                          " ORDER BY (state IN ('resolved','cancelled')), id DESC LIMIT ?";
        Stmt s(db, sql);
        s.bind(1, limit);
        while (s.step()) out.push_back(row_to_alarm(s));
        return out;
    });
}

}  // namespace caregate
