#include "controller/care/planner.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <stdexcept>

#include "controller/care/calendar.hpp"

namespace caregate::care {

using nlohmann::json;

namespace {
constexpr int64_t kDayMs = 86'400'000;

int tier_rank(const std::string& t) {
    if (t == "weekly") return 0;
    if (t == "fortnightly") return 1;
    if (t == "monthly") return 2;
    if (t == "quarterly") return 3;
    return 4;
}

bool one_of(const std::string& v, const std::vector<std::string>& list) {
    return std::find(list.begin(), list.end(), v) != list.end();
}

std::string list_text(const std::vector<std::string>& v) {
    std::string out;
    for (auto& s : v) out += (out.empty() ? "" : " ") + s;
    return out;
}
}  // namespace

std::string tier_for(const config::Care& cfg, const std::vector<std::string>& categories, int age) {
    std::vector<std::string> has = categories;
    if (age >= cfg.old_age) has.push_back("高龄");
    for (auto& rule : cfg.tiers) {
        bool all = std::all_of(rule.all.begin(), rule.all.end(), [&](auto& c) { return one_of(c, has); });
        bool any = rule.any.empty() ||
                   std::any_of(rule.any.begin(), rule.any.end(), [&](auto& c) { return one_of(c, has); });
        if (all && any) return rule.tier;
    }
    return "";
}

const config::MealCategory& meal_category_for(const config::Meals& meals,
                                              const std::vector<std::string>& categories, int age) {
    for (auto& c : meals.categories) {
        if (c.min_age > 0 && age >= c.min_age) return c;
        for (auto& x : categories)
            if (one_of(x, c.any)) return c;
    }
    return meals.categories.back();
}

int tier_interval_days(const std::string& tier) {
    if (tier == "weekly") return 7;
    if (tier == "fortnightly") return 14;
    if (tier == "monthly") return 30;
    if (tier == "quarterly") return 91;
    return 0;
}

std::string tier_name(const std::string& tier) {
    if (tier == "weekly") return "每周";
    if (tier == "fortnightly") return "每两周";
    if (tier == "monthly") return "每月";
    if (tier == "quarterly") return "每季度";
    return "不在探访名单";
}

const std::vector<std::string>& life_event_kinds() {
    static const std::vector<std::string> k = {"出院", "住院", "丧偶", "新近独居", "跌倒", "生病", "其他"};
    return k;
}
const std::vector<std::string>& absence_reason_kinds() {
    static const std::vector<std::string> k = {"住院", "外出", "家人照顾", "生病", "其他"};
    return k;
}
bool is_illness(const std::string& kind) { return kind == "住院" || kind == "生病"; }

std::vector<std::string> json_strings(const std::string& text) {
    std::vector<std::string> out;
    auto j = json::parse(text, nullptr, false);
    if (j.is_array())
        for (auto& v : j)
            if (v.is_string()) out.push_back(v.get<std::string>());
    return out;
}

json to_json(const CareTask& t) {
    return {{"elder_id", t.elder_id},
            {"name", t.name},
            {"task", t.task},
            {"detail", t.detail},
            {"due", t.due},
            {"overdue_days", t.overdue_days},
            {"reason", t.reason},
            {"tier", t.tier},
            {"tier_name", t.tier.empty() ? "" : tier_name(t.tier)},
            {"visitor", t.visitor},
            {"phone", t.phone},
            {"emergency_contact", t.emergency_contact},
            {"emergency_phone", t.emergency_phone}};
}

struct CarePlanner::ElderRow {
    int64_t id = 0;
    std::string name, phone, emergency_contact, emergency_phone, visitor, tier_override, tier;
    std::vector<std::string> categories;
    int created_day = 0;
};

int CarePlanner::today() const { return day_of(clock_.now_ms(), cfg_.site.timezone); }

std::vector<CarePlanner::ElderRow> CarePlanner::elders(sqlite3* db, int day) {
    std::vector<ElderRow> out;
    Stmt s(db,
           "SELECT e.id, e.name, COALESCE(e.phone,''), COALESCE(e.emergency_contact,''), "
           "COALESCE(e.emergency_phone,''), e.categories, COALESCE(e.birth_date,''), e.created_at, "
           "COALESCE(p.tier,''), COALESCE(p.visitor,'') FROM elders e LEFT JOIN care_profiles p ON "
           "p.elder_id=e.id WHERE e.active=1 ORDER BY e.id");
    while (s.step()) {
        ElderRow r;
        r.id = s.i64(0);
        r.name = s.str(1);
        r.phone = s.str(2);
        r.emergency_contact = s.str(3);
        r.emergency_phone = s.str(4);
        r.categories = json_strings(s.str(5));
        r.created_day = day_of(s.i64(7), cfg_.site.timezone);
        r.tier_override = s.str(8);
        r.visitor = s.str(9);
        if (r.tier_override == "none")
            r.tier = "";
        else if (!r.tier_override.empty())
            r.tier = r.tier_override;
        else
            r.tier = tier_for(cfg_.care, r.categories, age_on(s.str(6), day));
        out.push_back(std::move(r));
    }
    return out;
}

AttendanceHistory CarePlanner::attendance(int from_day, int to_day) {
    const auto& tz = cfg_.site.timezone;
    return store_.read([&](sqlite3* db) {
        AttendanceHistory h;
        Stmt first(db, "SELECT elder_id, MIN(ts) FROM checkins WHERE direction='in' GROUP BY elder_id");
        while (first.step()) h.elders[first.i64(0)].first_day = day_of(first.i64(1), tz);
        Stmt s(db, "SELECT elder_id, ts FROM checkins WHERE direction='in' AND ts>=? AND ts<? ORDER BY ts");
        s.bind(1, day_start_ms(from_day, tz)).bind(2, day_start_ms(to_day + 1, tz));
        while (s.step()) {
            int d = day_of(s.i64(1), tz);
            h.elders[s.i64(0)].arrivals.emplace(d, minute_of(s.i64(1), tz));  // the first one stays
            h.open_days.insert(d);
        }
        Stmt r(db, "SELECT elder_id, from_day, to_day FROM absence_reasons WHERE to_day>=? AND from_day<=?");
        r.bind(1, date_text(from_day)).bind(2, date_text(to_day));
        while (r.step()) {
            auto it = h.elders.find(r.i64(0));
            if (it == h.elders.end()) continue;  // never came: nothing to excuse
            int a = std::max(parse_date(r.str(1)), from_day), b = std::min(parse_date(r.str(2)), to_day);
            for (int d = a; d <= b; ++d) it->second.excused.insert(d);
        }
        return h;
    });
}

std::vector<CareTask> CarePlanner::worklist(int day) {
    const auto& tz = cfg_.site.timezone;
    int now_day = today();
    int minute = day < now_day ? 1440 : day == now_day ? minute_of(clock_.now_ms(), tz) : 0;
    int64_t end_ms = day == now_day ? clock_.now_ms() + 1 : day_start_ms(day + 1, tz);
    AttendanceHistory history = attendance(day - cfg_.care.pattern_days - 70, day);
    std::vector<CareTask> tasks;
    store_.read([&](sqlite3* db) {
        std::map<int64_t, int64_t> last_visit;
        Stmt v(db, "SELECT elder_id, MAX(ts) FROM visit_records WHERE ts<? GROUP BY elder_id");
        v.bind(1, end_ms);
        while (v.step()) last_visit[v.i64(0)] = v.i64(1);
        std::map<int64_t, std::vector<std::pair<int64_t, std::string>>> events;  // recorded_at, text
        Stmt le(db,
                "SELECT elder_id, kind, day, recorded_at FROM life_events WHERE recorded_at<? "
                "ORDER BY recorded_at");
        le.bind(1, end_ms);
        while (le.step())
            if (one_of(le.str(1), cfg_.care.visit_after))
                events[le.i64(0)].push_back({le.i64(3), le.str(1) + "（" + le.str(2).substr(5) + "）"});
        for (auto& e : elders(db, day)) {
            auto base = [&](const std::string& task) {
                CareTask t;
                t.elder_id = e.id;
                t.name = e.name;
                t.task = task;
                t.tier = e.tier;
                t.visitor = e.visitor;
                t.phone = e.phone;
                t.emergency_contact = e.emergency_contact;
                t.emergency_phone = e.emergency_phone;
                return t;
            };
            auto lv = last_visit.find(e.id);
            int64_t last_ts = lv == last_visit.end() ? 0 : lv->second;
            bool life_task = false;
            for (auto& [at, text] : events[e.id]) {
                if (last_ts >= at) continue;  // visited since it was recorded
                CareTask t = base("life_event");
                int due = day_of(at + kDayMs, tz);
                t.detail = text.substr(0, text.find("（"));
                t.due = date_text(due);
                t.overdue_days = std::max(0, day - due);
                t.reason = text + "：24 小时内探访";
                tasks.push_back(t);
                life_task = true;
                break;  // one visit answers them all
            }
            if (!e.tier.empty() && !life_task) {
                int due =
                    lv == last_visit.end() ? e.created_day : day_of(last_ts, tz) + tier_interval_days(e.tier);
                if (due <= day) {
                    CareTask t = base(due < day ? "visit_overdue" : "visit_due");
                    t.due = date_text(due);
                    t.overdue_days = day - due;
                    t.reason = tier_name(e.tier) + "探访；" +
                               (lv == last_visit.end() ? std::string("尚无探访记录")
                                                       : "上次探访 " + date_text(day_of(last_ts, tz)));
                    tasks.push_back(t);
                }
            }
            auto h = history.elders.find(e.id);
            if (h == history.elders.end()) continue;
            auto f = evaluate_absence(cfg_.care, h->second, history.open_days, day, minute);
            if (!f) continue;
            int since = f->kind == "absence" ? f->start : day - 13;
            if (last_ts >= day_start_ms(since, tz)) continue;  // someone called or visited: done
            CareTask t = base("absence");
            t.detail = f->kind;
            t.due = date_text(day);
            t.overdue_days = 0;
            t.reason = f->reason + "：今日致电本人或家属，记录结果";
            tasks.push_back(t);
        }
        return 0;
    });
    std::stable_sort(tasks.begin(), tasks.end(), [](const CareTask& a, const CareTask& b) {
        if (a.overdue_days != b.overdue_days) return a.overdue_days > b.overdue_days;
        if (tier_rank(a.tier) != tier_rank(b.tier)) return tier_rank(a.tier) < tier_rank(b.tier);
        return a.name < b.name;
    });
    return tasks;
}

void CarePlanner::check_elder(sqlite3* db, int64_t elder_id) {
    Stmt s(db, "SELECT 1 FROM elders WHERE id=?");
    s.bind(1, elder_id);
    if (!s.step())
        throw std::invalid_argument("没有这位老人（档案编号 " + std::to_string(elder_id) +
                                    "），请刷新页面后重新选择");
}

CareProfile CarePlanner::profile(int64_t elder_id) {
    return store_.read([&](sqlite3* db) {
        check_elder(db, elder_id);
        CareProfile p;
        p.elder_id = elder_id;
        Stmt s(db,
               "SELECT COALESCE(p.tier,''), COALESCE(p.visitor,''), COALESCE(p.meal_category,''), "
               "COALESCE(p.diets,'[]'), e.categories, COALESCE(e.birth_date,'') FROM elders e LEFT JOIN "
               "care_profiles p ON p.elder_id=e.id WHERE e.id=?");
        s.bind(1, elder_id);
        s.step();
        p.tier_override = s.str(0);
        p.visitor = s.str(1);
        p.meal_category = s.str(2);
        p.diets = json_strings(s.str(3));
        p.rule_tier = tier_for(cfg_.care, json_strings(s.str(4)), age_on(s.str(5), today()));
        p.tier = p.tier_override == "none" ? "" : !p.tier_override.empty() ? p.tier_override : p.rule_tier;
        return p;
    });
}

CareProfile CarePlanner::save_profile(int64_t elder_id, const json& j, const std::string& actor) {
    if (!j.is_object()) throw std::invalid_argument("提交的内容格式有误，请刷新页面后再试");
    auto text = [&](const char* key, size_t max) -> std::optional<std::string> {
        if (!j.contains(key)) return std::nullopt;
        if (j[key].is_null()) return std::string();
        if (!j[key].is_string()) throw std::invalid_argument("填写的内容须为文字，请检查后再试");
        auto v = j[key].get<std::string>();
        if (v.size() > max) throw std::invalid_argument("填写的内容过长，请删减后再试");
        return v;
    };
    auto tier = text("tier", 16), visitor = text("visitor", 64), meal = text("meal_category", 32);
    if (tier && !tier->empty() && !one_of(*tier, {"weekly", "fortnightly", "monthly", "quarterly", "none"}))
        throw std::invalid_argument("探访频次须为 每周、每两周、每月、每季度 或 不在探访名单 之一");
    if (meal && !meal->empty() && !cfg_.meals.find_category(*meal))
        throw std::invalid_argument("没有这个助餐类别，请刷新页面后重新选择");
    std::optional<std::string> diets;
    if (j.contains("diets")) {
        if (!j["diets"].is_array() || j["diets"].size() > 8)
            throw std::invalid_argument("特殊饮食最多 8 项，如 糖尿病 软食 清真");
        for (auto& d : j["diets"])
            if (!d.is_string() || d.get<std::string>().empty() || d.get<std::string>().size() > 24)
                throw std::invalid_argument("每项特殊饮食须为简短文字，如 糖尿病");
        diets = j["diets"].dump();
    }
    int64_t now = clock_.now_ms();
    store_.write([&](sqlite3* db) {
        check_elder(db, elder_id);
        Stmt ins(db, "INSERT OR IGNORE INTO care_profiles(elder_id, updated_at) VALUES(?,?)");
        ins.bind(1, elder_id).bind(2, now).run();
        auto set = [&](const char* col, const std::optional<std::string>& v, bool null_if_empty) {
            if (!v) return;
            Stmt u(db, std::string("UPDATE care_profiles SET ") + col + "=?, updated_at=? WHERE elder_id=?");
            if (null_if_empty && v->empty())
                u.bind_null(1);
            else
                u.bind(1, *v);
            u.bind(2, now).bind(3, elder_id).run();
        };
        set("tier", tier, true);
        set("visitor", visitor, true);
        set("meal_category", meal, true);
        set("diets", diets, false);
        Store::audit(db, actor, "care.profile", "elder:" + std::to_string(elder_id), j.dump(), now);
        return 0;
    });
    return profile(elder_id);
}

int64_t CarePlanner::add_life_event(int64_t elder_id, const std::string& day, const std::string& kind,
                                    const std::string& note, const std::string& actor) {
    if (!one_of(kind, life_event_kinds()))
        throw std::invalid_argument("事件须为 " + list_text(life_event_kinds()) + " 之一");
    int d = parse_date(day);
    if (d > today()) throw std::invalid_argument("事件日期不能晚于今天");
    if (note.size() > 500) throw std::invalid_argument("备注过长（最多约 160 个汉字）");
    int64_t now = clock_.now_ms();
    return store_.write([&](sqlite3* db) {
        check_elder(db, elder_id);
        Stmt s(db,
               "INSERT INTO life_events(elder_id, day, kind, note, recorded_by, recorded_at) "
               "VALUES(?,?,?,?,?,?)");
        s.bind(1, elder_id)
            .bind(2, date_text(d))
            .bind(3, kind)
            .bind(4, note)
            .bind(5, actor)
            .bind(6, now)
            .run();
        int64_t id = last_insert_id(db);
        Store::audit(db, actor, "care.life_event", "elder:" + std::to_string(elder_id),
                     json{{"kind", kind}, {"day", date_text(d)}}.dump(), now);
        return id;
    });
}

int64_t CarePlanner::add_absence_reason(int64_t elder_id, const std::string& from, const std::string& to,
                                        const std::string& reason, const std::string& note,
                                        const std::string& actor) {
    if (!one_of(reason, absence_reason_kinds()))
        throw std::invalid_argument("原因须为 " + list_text(absence_reason_kinds()) + " 之一");
    int a = parse_date(from), b = parse_date(to);
    if (b < a) throw std::invalid_argument("结束日期不能早于开始日期");
    if (b - a > 366) throw std::invalid_argument("请假最长一年");
    if (note.size() > 500) throw std::invalid_argument("备注过长（最多约 160 个汉字）");
    int64_t now = clock_.now_ms();
    return store_.write([&](sqlite3* db) {
        check_elder(db, elder_id);
        Stmt s(
            db,
            "INSERT INTO absence_reasons(elder_id, from_day, to_day, reason, note, recorded_by, recorded_at) "
            "VALUES(?,?,?,?,?,?,?)");
        s.bind(1, elder_id).bind(2, date_text(a)).bind(3, date_text(b)).bind(4, reason).bind(5, note);
        s.bind(6, actor).bind(7, now).run();
        int64_t id = last_insert_id(db);
        Store::audit(db, actor, "care.absence_reason", "elder:" + std::to_string(elder_id),
                     json{{"reason", reason}, {"from", date_text(a)}, {"to", date_text(b)}}.dump(), now);
        return id;
    });
}

void CarePlanner::record_miss(int64_t elder_id, const std::string& month, const std::string& reason,
                              const std::string& actor) {
    month_days(month);  // validates
    if (reason.empty() || reason.size() > 300)
        throw std::invalid_argument("请填写未探访原因（最多约 100 个汉字）");
    int64_t now = clock_.now_ms();
    store_.write([&](sqlite3* db) {
        check_elder(db, elder_id);
        Stmt s(
            db,
            "INSERT INTO visit_misses(elder_id, month, reason, recorded_by, recorded_at) VALUES(?,?,?,?,?) "
            "ON CONFLICT(elder_id, month) DO UPDATE SET reason=excluded.reason, "
            "recorded_by=excluded.recorded_by, recorded_at=excluded.recorded_at");
        s.bind(1, elder_id).bind(2, month).bind(3, reason).bind(4, actor).bind(5, now).run();
        Store::audit(db, actor, "care.visit_miss", "elder:" + std::to_string(elder_id),
                     json{{"month", month}}.dump(), now);
        return 0;
    });
}

json CarePlanner::life_events(int64_t elder_id) {
    return store_.read([&](sqlite3* db) {
        json out = json::array();
        Stmt s(db,
               "SELECT id, day, kind, COALESCE(note,''), recorded_by, recorded_at FROM life_events WHERE "
               "elder_id=? ORDER BY day DESC, id DESC LIMIT 100");
        s.bind(1, elder_id);
        while (s.step())
            out.push_back({{"id", s.i64(0)},
                           {"day", s.str(1)},
                           {"kind", s.str(2)},
                           {"note", s.str(3)},
                           {"recorded_by", s.str(4)},
                           {"recorded_at", s.i64(5)}});
        return out;
    });
}

json CarePlanner::coverage(const std::string& month) {
    auto [first, next] = month_days(month);
    const auto& tz = cfg_.site.timezone;
    int as_of = std::min(next - 1, today());
    return store_.read([&](sqlite3* db) {
        std::map<int64_t, std::pair<int, int>> visits;  // elder → (all, in person)
        Stmt v(db,
               "SELECT elder_id, COUNT(*), SUM(method='上门') FROM visit_records WHERE ts>=? AND ts<? GROUP "
               "BY elder_id");
        v.bind(1, day_start_ms(first, tz)).bind(2, day_start_ms(next, tz));
        while (v.step()) visits[v.i64(0)] = {int(v.i64(1)), int(v.i64(2))};
        std::map<int64_t, std::string> misses;
        Stmt m(db, "SELECT elder_id, reason FROM visit_misses WHERE month=?");
        m.bind(1, month);
        while (m.step()) misses[m.i64(0)] = m.str(1);
        struct Count {
            int on_list = 0, visited = 0, in_person = 0;
        };
        std::map<std::string, Count> by_tier, by_visitor;
        json not_visited = json::array();
        Count total;
        for (auto& e : elders(db, as_of)) {
            if (e.tier.empty() || e.created_day >= next) continue;
            auto it = visits.find(e.id);
            bool seen = it != visits.end();
            bool in_person = seen && it->second.second > 0;
            std::string who = e.visitor.empty() ? "未指定" : e.visitor;
            for (Count* c : {&by_tier[e.tier], &by_visitor[who], &total}) {
                c->on_list++;
                c->visited += seen;
                c->in_person += in_person;
            }
            if (!seen) {
                auto r = misses.find(e.id);
                not_visited.push_back({{"elder_id", e.id},
                                       {"name", e.name},
                                       {"tier", e.tier},
                                       {"tier_name", tier_name(e.tier)},
                                       {"visitor", who},
                                       {"reason", r == misses.end() ? json(nullptr) : json(r->second)}});
            }
        }
        auto row = [](const Count& c) {
            return json{{"on_list", c.on_list},
                        {"visited", c.visited},
                        {"in_person", c.in_person},
                        {"percent", c.on_list ? std::round(1000.0 * c.visited / c.on_list) / 10 : 100.0}};
        };
        json tiers = json::array(), visitors = json::array();
        for (auto& t : {"weekly", "fortnightly", "monthly", "quarterly"})
            if (by_tier.count(t)) {
                json r = row(by_tier[t]);
                r["tier"] = t;
                r["tier_name"] = tier_name(t);
                tiers.push_back(r);
            }
        for (auto& [who, c] : by_visitor) {
            json r = row(c);
            r["visitor"] = who;
            visitors.push_back(r);
        }
        json out = row(total);
        out["month"] = month;
        out["goal_percent"] = 100;
        out["by_tier"] = tiers;
        out["by_visitor"] = visitors;
        out["not_visited"] = not_visited;
        return out;
    });
}

json CarePlanner::replay(int from_day, int to_day) {
    if (to_day < from_day) throw std::invalid_argument("--to is before --from");
    if (to_day - from_day > 3660) throw std::invalid_argument("replay at most 10 years at once");
    const auto& tz = cfg_.site.timezone;
    AttendanceHistory history = attendance(from_day - cfg_.care.pattern_days - 70, to_day);
    std::map<std::string, int> raised = {
        {"visit_due", 0}, {"visit_overdue", 0}, {"life_event", 0}, {"absence", 0}, {"attendance_drop", 0}};
    struct Illness {
        int day;
        bool preceded = false;
    };
    std::map<int64_t, std::vector<Illness>> illness;
    int absence_followed = 0, life_visited = 0;
    store_.read([&](sqlite3* db) {
        std::map<int64_t, std::vector<int64_t>> visits;
        Stmt v(db, "SELECT elder_id, ts FROM visit_records WHERE ts<? ORDER BY ts");
        v.bind(1, day_start_ms(to_day + 1, tz));
        while (v.step()) visits[v.i64(0)].push_back(v.i64(1));
        Stmt le(db, "SELECT elder_id, day, kind, recorded_at FROM life_events WHERE day>=? AND day<=?");
        le.bind(1, date_text(from_day)).bind(2, date_text(to_day + 14));
        while (le.step()) {
            int d = parse_date(le.str(1));
            if (is_illness(le.str(2))) illness[le.i64(0)].push_back({d});
            if (d <= to_day && one_of(le.str(2), cfg_.care.visit_after)) {
                raised["life_event"]++;
                auto& vs = visits[le.i64(0)];
                int64_t at = le.i64(3);
                life_visited +=
                    std::any_of(vs.begin(), vs.end(), [&](int64_t t) { return t >= at && t <= at + kDayMs; });
            }
        }
        auto roster = elders(db, to_day);
        for (auto& e : roster) {
            // Visits: a due day is a visit_due task; one not met by a visit that day becomes overdue.
            if (!e.tier.empty()) {
                auto& vs = visits[e.id];
                std::set<int> due_days, overdue_days;
                size_t k = 0;
                int64_t last = 0;
                bool any = false;
                for (int d = from_day; d <= to_day; ++d) {
                    while (k < vs.size() && vs[k] < day_start_ms(d, tz)) last = vs[k++], any = true;
                    int due = any ? day_of(last, tz) + tier_interval_days(e.tier) : e.created_day;
                    if (due > d || due < from_day) continue;
                    due_days.insert(due);
                    if (due < d) overdue_days.insert(due);
                }
                raised["visit_due"] += static_cast<int>(due_days.size());
                raised["visit_overdue"] += static_cast<int>(overdue_days.size());
            }
            auto h = history.elders.find(e.id);
            if (h == history.elders.end()) continue;
            std::set<std::pair<std::string, int>> seen;
            bool drop_yesterday = false;
            for (int d = from_day; d <= to_day; ++d) {
                auto f = evaluate_absence(cfg_.care, h->second, history.open_days, d, 1440);
                bool drop = f && f->kind == "attendance_drop";
                if (f && f->kind == "absence" && seen.insert({"absence", f->start}).second) {
                    raised["absence"]++;
                    bool followed = false;
                    for (auto& ill : illness[e.id])
                        if (ill.day >= f->start && ill.day <= d + 14) ill.preceded = followed = true;
                    absence_followed += followed;
                }
                if (drop && !drop_yesterday) raised["attendance_drop"]++;
                drop_yesterday = drop;
            }
        }
        return 0;
    });
    int ill_total = 0, ill_preceded = 0;
    for (auto& [id, list] : illness)
        for (auto& i : list)
            if (i.day >= from_day && i.day <= to_day) ill_total++, ill_preceded += i.preceded;
    return {
        {"from", date_text(from_day)},
        {"to", date_text(to_day)},
        {"days", to_day - from_day + 1},
        {"tasks", raised},
        {"absence_followed_by_illness", absence_followed},
        {"life_events_visited_within_24h", life_visited},
        {"illness_events", ill_total},
        {"illness_events_preceded_by_absence", ill_preceded},
        {"window_days", 14},
        {"note", "tiers use today's roster categories; an absence task counts once per run of missed days"}};
}

}  // namespace caregate::care
