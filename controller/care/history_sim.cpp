#include "controller/care/history_sim.hpp"

#include <algorithm>
#include <random>
#include <set>
#include <stdexcept>

#include "controller/care/calendar.hpp"
#include "controller/care/planner.hpp"
#include "controller/core/uuid.hpp"

namespace caregate::care {

using nlohmann::json;

namespace {

struct SimElder {
    int64_t id = 0;
    std::string kind;        // regular, irregular, home (never comes: visited at home)
    std::set<int> weekdays;  // regular: the days they come
    int arrival = 510;       // minute of the day
    std::vector<std::string> categories;
    std::string tier;
    std::string visitor;
    int age = -1;
    std::set<int> away;  // days not coming (declines, hospital, trips)
};

class Rng {
public:
    explicit Rng(uint32_t seed) : g_(seed) {}
    double uniform() { return std::uniform_real_distribution<double>(0, 1)(g_); }
    int range(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(g_); }  // inclusive
    bool chance(double p) { return uniform() < p; }

private:
    std::mt19937 g_;
};

}  // namespace

json simulate_history(const config::SiteConfig& cfg, Store& store, const HistoryOptions& o) {
    if (o.days < 1 || o.days > 1000) throw std::invalid_argument("--days must be from 1 to 1000");
    if (o.elders < 1 || o.elders > 2000) throw std::invalid_argument("--elders must be from 1 to 2000");
    const auto& tz = cfg.site.timezone;
    Rng rng(o.seed);
    int today = day_of(o.now_ms, tz);
    int first = today - o.days;
    auto at = [&](int day, int minute) { return day_start_ms(day, tz) + int64_t(minute) * 60000; };

    static const char* surnames[] = {"王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周",
                                     "徐", "孙", "马", "朱", "胡", "郭", "何", "林", "罗", "高"};
    static const char* given[] = {"秀英", "桂英", "玉兰", "建国", "德明", "淑珍", "国华",
                                  "志强", "金凤", "福生", "春梅", "永康", "兰芳", "长发",
                                  "美华", "守仁", "翠萍", "炳坤", "月娥", "振华"};
    static const char* visitors[] = {"社工小林", "社工小周", "志愿者陈阿姨"};
    // Center closed on Sundays and for three days in the middle (a holiday).
    std::set<int> closed;
    int holiday = first + o.days / 2;
    for (int d = first; d < today; ++d)
        if (weekday(d) == 7 || (d >= holiday && d < holiday + 3)) closed.insert(d);

    json truth = {{"hospital_stays", json::array()}, {"trips", json::array()}, {"declines", json::array()}};
    int64_t n_checkins = 0, n_visits = 0, n_meals = 0;
    std::vector<SimElder> elders;
    store.write([&](sqlite3* db) {
        Stmt dup(db, "SELECT COUNT(*) FROM elders WHERE external_id LIKE ?");
        dup.bind(1, "sim-" + std::to_string(o.seed) + "-%");
        dup.step();
        if (dup.i64(0) > 0)
            throw std::invalid_argument("this store already holds simulated history of seed " +
                                        std::to_string(o.seed) + "; use another --seed or a fresh store");
        for (int i = 0; i < o.elders; ++i) {
            SimElder e;
            double k = rng.uniform();
            e.kind = k < 0.6 ? "regular" : k < 0.85 ? "irregular" : "home";
            if (e.kind == "regular") {
                int n = rng.range(3, 5);
                while (int(e.weekdays.size()) < n) e.weekdays.insert(rng.range(1, 6));
                e.arrival = rng.range(7 * 60 + 30, 9 * 60 + 30);
            } else {
                e.arrival = rng.range(8 * 60, 14 * 60);
            }
            static const std::vector<std::vector<std::string>> cat_sets = {
                {},       {},       {"空巢"},         {"独居"}, {"独居", "低保"},
                {"失能"}, {"留守"}, {"独居", "失能"}, {"特困"}, {"低保"}};
            e.categories = cat_sets[rng.range(0, int(cat_sets.size()) - 1)];
            std::string birth = std::to_string(rng.range(1934, 1962)) + "-0" +
                                std::to_string(rng.range(1, 9)) + "-1" + std::to_string(rng.range(0, 9));
            e.age = age_on(birth, today);
            e.tier = tier_for(cfg.care, e.categories, e.age);
            e.visitor = visitors[i % 3];
            std::string name = std::string(surnames[i % 20]) + given[(i * 7 + i / 20 + o.seed) % 20];
            Stmt s(
                db,
                "INSERT INTO elders(uuid, external_id, name, gender, birth_date, phone, card_no, categories, "
                "emergency_contact, emergency_phone, active, created_at, updated_at) "
                "VALUES(?,?,?,?,?,?,?,?,?,?,1,?,?)");
            s.bind(1, new_uuid()).bind(2, "sim-" + std::to_string(o.seed) + "-" + std::to_string(i));
            s.bind(3, name).bind(4, i % 2 ? "男" : "女").bind(5, birth);
            s.bind(6, "139" + std::to_string(10000000 + o.seed * 1000 + i));
            s.bind(7, "SIM" + std::to_string(o.seed) + "-" + std::to_string(1000 + i));
            s.bind(8, json(e.categories).dump())
                .bind(9, "家属")
                .bind(10, "138" + std::to_string(20000000 + i));
            s.bind(11, at(first, 0)).bind(12, at(first, 0)).run();
            e.id = last_insert_id(db);
            Stmt p(db, "INSERT INTO care_profiles(elder_id, visitor, updated_at) VALUES(?,?,?)");
            p.bind(1, e.id).bind(2, e.visitor).bind(3, at(first, 0)).run();
            elders.push_back(e);
        }
        auto life_event = [&](int64_t id, int day, const std::string& kind, int64_t recorded) {
            Stmt s(db,
                   "INSERT INTO life_events(elder_id, day, kind, note, recorded_by, recorded_at) "
                   "VALUES(?,?,?,'模拟','sim',?)");
            s.bind(1, id).bind(2, date_text(day)).bind(3, kind).bind(4, recorded).run();
        };
        auto reason = [&](int64_t id, int from, int to, const std::string& why, int64_t recorded) {
            Stmt s(db,
                   "INSERT INTO absence_reasons(elder_id, from_day, to_day, reason, note, recorded_by, "
                   "recorded_at) "
                   "VALUES(?,?,?,?,'模拟','sim',?)");
            s.bind(1, id)
                .bind(2, date_text(from))
                .bind(3, date_text(to))
                .bind(4, why)
                .bind(5, recorded)
                .run();
        };
        std::vector<std::pair<int64_t, int64_t>> visits;  // elder, ts (home visits after discharge)
        // Hospital stays: a regular attendee stops coming 4–9 days before being admitted (the
        // pattern the absence rule is for); trips are announced in advance and excuse the days.
        int stays = 0, trips = 0;
        for (auto& e : elders) {
            if (e.kind != "regular" || o.days < 60) continue;
            if (stays < std::max(1, o.elders / 8) && rng.chance(0.4)) {
                int admitted = rng.range(first + 45, today - 15);
                int decline = rng.range(4, 9);
                int discharged = admitted + rng.range(6, 12);
                for (int d = admitted - decline; d <= discharged; ++d) e.away.insert(d);
                life_event(e.id, admitted, "住院", at(admitted, 15 * 60));
                reason(e.id, admitted, discharged, "住院", at(admitted, 15 * 60));
                if (discharged < today) {
                    life_event(e.id, discharged, "出院", at(discharged, 16 * 60));
                    if (rng.chance(0.7)) visits.push_back({e.id, at(discharged + 1, 10 * 60)});
                }
                truth["hospital_stays"].push_back({{"elder_id", e.id},
                                                   {"admitted", date_text(admitted)},
                                                   {"last_seen_before", date_text(admitted - decline)},
                                                   {"discharged", date_text(discharged)}});
                ++stays;
            } else if (trips < std::max(1, o.elders / 10) && rng.chance(0.3)) {
                int from = rng.range(first + 40, today - 10), to = from + rng.range(3, 8);
                for (int d = from; d <= to; ++d) e.away.insert(d);
                reason(e.id, from, to, "外出", at(from - 2, 9 * 60));
                truth["trips"].push_back(
                    {{"elder_id", e.id}, {"from", date_text(from)}, {"to", date_text(to)}});
                ++trips;
            }
        }
        Stmt ci(db,
                "INSERT INTO checkins(uuid, elder_id, ts, direction, method, camera_id, zone, temperature, "
                "distance, "
                "actor) VALUES(?,?,?,?,?,NULL,NULL,?,NULL,'sim')");
        Stmt meal(
            db,
            "INSERT INTO meals(uuid, elder_id, day, session, ts, method, category, pays, subsidy, actor) "
            "VALUES(?,?,?,?,?,?,?,?,?,'sim')");
        Stmt svc(db,
                 "INSERT INTO service_records(uuid, elder_id, ts, service, staff, notes) "
                 "VALUES(?,?,?,'助餐','sim',?)");
        for (auto& e : elders) {
            const config::MealCategory* cat = &meal_category_for(cfg.meals, e.categories, e.age);
            for (int d = first; d < today; ++d) {
                if (closed.count(d) || e.away.count(d)) continue;
                bool comes = e.kind == "regular"
                                 ? (e.weekdays.count(weekday(d)) ? rng.chance(0.93) : rng.chance(0.04))
                             : e.kind == "irregular" ? rng.chance(0.2)
                                                     : false;
                if (!comes) continue;
                int minute = std::clamp(e.arrival + rng.range(-25, 25), 6 * 60, 20 * 60);
                double temp = 36.2 + rng.range(0, 6) / 10.0;
                ci.reset();
                ci.bind(1, new_uuid()).bind(2, e.id).bind(3, at(d, minute)).bind(4, "in");
                ci.bind(5, rng.chance(0.85) ? "face" : "card").bind(6, temp).run();
                ci.reset();
                ci.bind(1, new_uuid())
                    .bind(2, e.id)
                    .bind(3, at(d, std::min(minute + rng.range(180, 420), 1430)));
                ci.bind(4, "out").bind(5, "face").bind(6, temp).run();
                n_checkins += 2;
                if (!cfg.meals.sessions.empty() && rng.chance(0.7)) {
                    auto& s = cfg.meals.sessions.front();
                    std::string id = new_uuid();
                    int64_t ts = at(d, s.start_min + rng.range(0, std::max(1, s.end_min - s.start_min - 1)));
                    meal.reset();
                    meal.bind(1, id).bind(2, e.id).bind(3, date_text(d)).bind(4, s.id).bind(5, ts);
                    meal.bind(6, rng.chance(0.8) ? "face" : "card").bind(7, cat->id).bind(8, cat->pays);
                    meal.bind(9, cat->subsidy).run();
                    svc.reset();
                    svc.bind(1, id).bind(2, e.id).bind(3, ts).bind(4, s.name + " · " + cat->name).run();
                    ++n_meals;
                }
            }
            // Visits by tier, each a few days early or late; one in eight is missed.
            int every = tier_interval_days(e.tier);
            if (every > 0) {
                for (int d = first + rng.range(0, every - 1); d < today; d += every + rng.range(-3, 0)) {
                    if (rng.chance(0.125)) continue;
                    visits.push_back({e.id, at(d, rng.range(9 * 60, 17 * 60))});
                }
            }
        }
        Stmt v(db,
               "INSERT INTO visit_records(uuid, elder_id, ts, method, visitor, health, safety, needs, "
               "follow_up) "
               "VALUES(?,?,?,?,?,'无变化','安全','','')");
        for (auto& [id, ts] : visits) {
            if (ts >= at(today, 0)) continue;
            auto& e = *std::find_if(elders.begin(), elders.end(), [&](auto& x) { return x.id == id; });
            v.reset();
            v.bind(1, new_uuid()).bind(2, id).bind(3, ts).bind(4, rng.chance(0.6) ? "上门" : "电话");
            v.bind(5, e.visitor).run();
            ++n_visits;
        }
        return 0;
    });
    truth["elders"] = elders.size();
    truth["checkins"] = n_checkins;
    truth["visits"] = n_visits;
    truth["meals"] = n_meals;
    truth["from"] = date_text(first);
    truth["to"] = date_text(today - 1);
    return truth;
}

}  // namespace caregate::care
