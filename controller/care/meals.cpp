#include "controller/care/meals.hpp"

#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>

#include "controller/care/calendar.hpp"
#include "controller/care/planner.hpp"
#include "controller/core/csv.hpp"
#include "controller/core/uuid.hpp"

namespace caregate::care {

using nlohmann::json;

namespace {
std::string money(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", v);
    return buf;
}

std::vector<std::string> diets_of(sqlite3* db, int64_t elder_id) {
    Stmt s(db, "SELECT diets FROM care_profiles WHERE elder_id=?");
    s.bind(1, elder_id);
    return s.step() ? json_strings(s.str(0)) : std::vector<std::string>{};
}
}  // namespace

namespace {
// The stored columns id, uuid, ts, method, category, pays, subsidy, actor from `col` on.
void read_meal(const Stmt& row, int col, const config::Meals& meals, Meal& m) {
    m.id = row.i64(col);
    m.uuid = row.str(col + 1);
    m.ts_ms = row.i64(col + 2);
    m.method = row.str(col + 3);
    m.category = row.str(col + 4);
    auto* c = meals.find_category(m.category);
    m.category_name = c ? c->name : m.category;
    m.pays = row.f64(col + 5);
    m.subsidy = row.f64(col + 6);
    m.actor = row.str(col + 7);
}
}  // namespace

json to_json(const Meal& m) {
    return {{"id", m.id},
            {"uuid", m.uuid},
            {"elder_id", m.elder_id},
            {"elder_name", m.elder_name},
            {"day", m.day},
            {"session", m.session},
            {"session_name", m.session_name},
            {"ts", m.ts_ms},
            {"method", m.method},
            {"category", m.category},
            {"category_name", m.category_name},
            {"pays", m.pays},
            {"subsidy", m.subsidy},
            {"actor", m.actor},
            {"diets", m.diets},
            {"already", m.already}};
}

const config::MealCategory& MealService::category_of(sqlite3* db, int64_t elder_id, int day) {
    Stmt s(db,
           "SELECT COALESCE(p.meal_category,''), e.categories, COALESCE(e.birth_date,'') FROM elders e "
           "LEFT JOIN care_profiles p ON p.elder_id=e.id WHERE e.id=?");
    s.bind(1, elder_id);
    if (s.step()) {
        if (auto* set = cfg_.meals.find_category(s.str(0))) return *set;
        return meal_category_for(cfg_.meals, json_strings(s.str(1)), age_on(s.str(2), day));
    }
    return cfg_.meals.categories.back();
}

Meal MealService::take(int64_t elder_id, const std::string& method, const std::string& actor,
                       const std::string& session) {
    if (method != "face" && method != "card" && method != "staff")
        throw std::invalid_argument("用餐登记方式须为 人脸、刷卡 或 人工");
    const auto& tz = cfg_.site.timezone;
    int64_t now = clock_.now_ms();
    int day = day_of(now, tz);
    const config::MealSession* ms = nullptr;
    if (session.empty()) {
        ms = cfg_.meals.at_minute(minute_of(now, tz));
        if (!ms) {
            std::string when;
            for (auto& s : cfg_.meals.sessions)
                when += (when.empty() ? "" : "，") + s.name + " " + clock_text(s.start_min) + "–" +
                        clock_text(s.end_min);
            throw MealRefused("现在不是用餐时间（" + when + "）");
        }
    } else {
        ms = cfg_.meals.find_session(session);
        if (!ms) throw std::invalid_argument("没有这个餐次，请刷新页面后重新选择");
    }
    return store_.write([&](sqlite3* db) {
        Meal m;
        Stmt e(db, "SELECT name, active, uuid FROM elders WHERE id=?");
        e.bind(1, elder_id);
        if (!e.step())
            throw std::invalid_argument("没有这位老人（档案编号 " + std::to_string(elder_id) +
                                        "），请刷新页面后重新选择");
        if (e.i64(1) == 0) throw MealRefused(e.str(0) + " 的档案已停用，不能登记用餐");
        m.elder_id = elder_id;
        m.elder_name = e.str(0);
        std::string elder_uuid = e.str(2);
        m.day = date_text(day);
        m.session = ms->id;
        m.session_name = ms->name;
        m.diets = diets_of(db, elder_id);
        Stmt have(
            db,
            "SELECT id, uuid, ts, method, category, pays, subsidy, actor FROM meals WHERE elder_id=? AND "
            "day=? AND session=?");
        have.bind(1, elder_id).bind(2, m.day).bind(3, m.session);
        if (have.step()) {
            read_meal(have, 0, cfg_.meals, m);
            m.already = true;
            return m;
        }
        const auto& cat = category_of(db, elder_id, day);
        m.uuid = new_uuid();
        m.ts_ms = now;
        m.method = method;
        m.category = cat.id;
        m.category_name = cat.name;
        m.pays = cat.pays;
        m.subsidy = cat.subsidy;
        m.actor = actor;
        Stmt ins(
            db,
            "INSERT INTO meals(uuid, elder_id, day, session, ts, method, category, pays, subsidy, actor) "
            "VALUES(?,?,?,?,?,?,?,?,?,?)");
        ins.bind(1, m.uuid).bind(2, elder_id).bind(3, m.day).bind(4, m.session).bind(5, now).bind(6, method);
        ins.bind(7, cat.id).bind(8, cat.pays).bind(9, cat.subsidy).bind(10, actor).run();
        m.id = last_insert_id(db);
        // The same meal as a 助餐 service record: the monthly report and the city count it there.
        Stmt svc(
            db, "INSERT INTO service_records(uuid, elder_id, ts, service, staff, notes) VALUES(?,?,?,?,?,?)");
        svc.bind(1, m.uuid).bind(2, elder_id).bind(3, now).bind(4, "助餐").bind(5, actor);
        svc.bind(6, m.session_name + " · " + cat.name).run();
        outbox_.put(db, "service", m.uuid, now,
                    {{"id", m.uuid},
                     {"elder_id", elder_uuid},
                     {"ts", now},
                     {"service", "助餐"},
                     {"staff", actor},
                     {"meal",
                      {{"day", m.day},
                       {"session", m.session},
                       {"method", method},
                       {"category", cat.id},
                       {"pays", cat.pays},
                       {"subsidy", cat.subsidy}}}});
        return m;
    });
}

Meal MealService::take_by_card(const std::string& card_no, const std::string& actor,
                               const std::string& session) {
    if (card_no.empty() || card_no.size() > 64) throw std::invalid_argument("请输入卡号");
    auto id = store_.read([&](sqlite3* db) -> std::optional<int64_t> {
        Stmt s(db, "SELECT id FROM elders WHERE card_no=?");
        s.bind(1, card_no);
        if (!s.step()) return std::nullopt;
        return s.i64(0);
    });
    if (!id) throw MealRefused("没有这张卡（" + card_no.substr(0, 32) + "）的登记，请核对卡号");
    return take(*id, "card", actor, session);
}

void MealService::set_menu(int day, const std::string& session, const std::string& dishes,
                           const std::string& actor) {
    if (!cfg_.meals.find_session(session)) throw std::invalid_argument("没有这个餐次，请刷新页面后重新选择");
    if (dishes.size() > 1000) throw std::invalid_argument("菜单过长（最多约 300 个汉字）");
    int64_t now = clock_.now_ms();
    store_.write([&](sqlite3* db) {
        Stmt s(
            db,
            "INSERT INTO meal_menus(day, session, dishes, updated_by, updated_at) VALUES(?,?,?,?,?) "
            "ON CONFLICT(day, session) DO UPDATE SET dishes=excluded.dishes, updated_by=excluded.updated_by, "
            "updated_at=excluded.updated_at");
        s.bind(1, date_text(day)).bind(2, session).bind(3, dishes).bind(4, actor).bind(5, now).run();
        Store::audit(db, actor, "meals.menu", date_text(day) + ":" + session, "{}", now);
        return 0;
    });
}

json MealService::day_view(int day) {
    const auto& tz = cfg_.site.timezone;
    auto now_session = cfg_.meals.at_minute(minute_of(clock_.now_ms(), tz));
    bool today = day == day_of(clock_.now_ms(), tz);
    return store_.read([&](sqlite3* db) {
        json sessions = json::array();
        for (auto& s : cfg_.meals.sessions) {
            Stmt menu(db, "SELECT dishes FROM meal_menus WHERE day=? AND session=?");
            menu.bind(1, date_text(day)).bind(2, s.id);
            json meals = json::array();
            std::map<std::string, int> counts;
            for (auto& c : cfg_.meals.categories) counts[c.id] = 0;
            Stmt m(
                db,
                "SELECT m.elder_id, e.name, m.id, m.uuid, m.ts, m.method, m.category, m.pays, m.subsidy, "
                "m.actor FROM meals m JOIN elders e ON e.id=m.elder_id WHERE m.day=? AND m.session=? ORDER "
                "BY m.ts DESC");
            m.bind(1, date_text(day)).bind(2, s.id);
            while (m.step()) {
                Meal x;
                x.elder_id = m.i64(0);
                x.elder_name = m.str(1);
                read_meal(m, 2, cfg_.meals, x);
                x.day = date_text(day);
                x.session = s.id;
                x.session_name = s.name;
                x.diets = diets_of(db, x.elder_id);
                counts[x.category]++;
                meals.push_back(to_json(x));
            }
            sessions.push_back({{"id", s.id},
                                {"name", s.name},
                                {"from", clock_text(s.start_min)},
                                {"to", clock_text(s.end_min)},
                                {"open_now", today && now_session && now_session->id == s.id},
                                {"menu", menu.step() ? menu.str(0) : ""},
                                {"count", meals.size()},
                                {"by_category", counts},
                                {"meals", meals}});
        }
        json cats = json::array();
        for (auto& c : cfg_.meals.categories)
            cats.push_back({{"id", c.id}, {"name", c.name}, {"pays", c.pays}, {"subsidy", c.subsidy}});
        return json{{"day", date_text(day)}, {"sessions", sessions}, {"categories", cats}};
    });
}

json MealService::statement(const std::string& month) {
    auto [first, next] = month_days(month);
    return store_.read([&](sqlite3* db) {
        json rows = json::array();
        double paid = 0, owed = 0;
        int64_t total = 0;
        std::map<std::string, std::tuple<int64_t, double, double>> per;
        Stmt s(
            db,
            "SELECT category, COUNT(*), SUM(pays), SUM(subsidy) FROM meals WHERE day>=? AND day<? GROUP BY "
            "category");
        s.bind(1, date_text(first)).bind(2, date_text(next));
        while (s.step()) per[s.str(0)] = {s.i64(1), s.f64(2), s.f64(3)};
        auto add_row = [&](const std::string& id, const std::string& name, double pays, double subsidy) {
            auto it = per.find(id);
            int64_t n = it == per.end() ? 0 : std::get<0>(it->second);
            double p = it == per.end() ? 0 : std::get<1>(it->second);
            double o = it == per.end() ? 0 : std::get<2>(it->second);
            rows.push_back({{"category", id},
                            {"name", name},
                            {"pays_each", pays},
                            {"subsidy_each", subsidy},
                            {"meals", n},
                            {"paid", std::round(p * 100) / 100},
                            {"subsidy", std::round(o * 100) / 100}});
            total += n;
            paid += p;
            owed += o;
            if (it != per.end()) per.erase(it);
        };
        for (auto& c : cfg_.meals.categories) add_row(c.id, c.name, c.pays, c.subsidy);
        // Categories no longer configured keep their meals on the statement.
        auto left = per;
        for (auto& [id, v] : left) add_row(id, id + "（已停用类别）", 0, 0);
        json days = json::array();
        Stmt d(db,
               "SELECT day, session, COUNT(*) FROM meals WHERE day>=? AND day<? GROUP BY day, session ORDER "
               "BY day");
        d.bind(1, date_text(first)).bind(2, date_text(next));
        std::map<std::string, json> by_day;
        while (d.step()) by_day[d.str(0)][d.str(1)] = d.i64(2);
        for (auto& [day, counts] : by_day) days.push_back({{"day", day}, {"sessions", counts}});
        return json{{"site", cfg_.site.name},
                    {"site_id", cfg_.site.id},
                    {"month", month},
                    {"categories", rows},
                    {"meals", total},
                    {"paid", std::round(paid * 100) / 100},
                    {"subsidy", std::round(owed * 100) / 100},
                    {"days", days}};
    });
}

std::string MealService::statement_csv(const std::string& month) {
    json st = statement(month);
    std::ostringstream out;
    out << "站点,月份,类别,每餐自付(元),每餐补贴(元),份数,自付合计(元),补贴合计(元)\r\n";
    for (auto& r : st["categories"])
        out << csv_cell(cfg_.site.name) << "," << month << "," << csv_cell(r["name"].get<std::string>())
            << "," << money(r["pays_each"].get<double>()) << "," << money(r["subsidy_each"].get<double>())
            << "," << r["meals"].get<int64_t>() << "," << money(r["paid"].get<double>()) << ","
            << money(r["subsidy"].get<double>()) << "\r\n";
    out << csv_cell(cfg_.site.name) << "," << month << ",合计,,," << st["meals"].get<int64_t>() << ","
        << money(st["paid"].get<double>()) << "," << money(st["subsidy"].get<double>()) << "\r\n";
    return out.str();
}

}  // namespace caregate::care
