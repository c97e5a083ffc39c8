// Care that notices (#17): the calendar, the absence rule on hand-built histories, the visit worklist
// and coverage on a real store with an injected clock, meals (idempotent, by category, statement),
// and the rules replayed over the simulator's history against its ground truth.
#include <gtest/gtest.h>

#include <set>

#include "config/config.hpp"
#include "controller/care/attendance.hpp"
#include "controller/care/calendar.hpp"
#include "controller/care/history_sim.hpp"
#include "controller/care/meals.hpp"
#include "controller/care/planner.hpp"
#include "controller/people/records.hpp"
#include "controller/people/roster.hpp"
#include "tests/support/test_support.hpp"

using namespace caregate;
using caregate::testing::TempDir;
using nlohmann::json;

namespace {

const std::string kTz = "Asia/Shanghai";

int64_t at(const std::string& date, int hour, int minute = 0) {
    return care::day_start_ms(care::parse_date(date), kTz) + int64_t(hour * 60 + minute) * 60000;
}

TEST(CareCalendar, DatesWeekdaysMonthsAndAges) {
    int d = care::parse_date("2026-12-07");
    EXPECT_EQ(care::date_text(d), "2026-12-07");
    EXPECT_EQ(care::weekday(d), 1) << "2026-12-07 is a Monday";
    EXPECT_EQ(care::weekday(care::parse_date("2026-12-13")), 7);
    EXPECT_EQ(care::date_text(care::parse_date("2024-02-29") + 1), "2024-03-01");
    auto [a, b] = care::month_days("2026-02");
    EXPECT_EQ(b - a, 28);
    EXPECT_EQ(care::month_days("2024-02").second - care::month_days("2024-02").first, 29);
    EXPECT_EQ(care::age_on("1946-12-08", d), 79) << "the birthday is tomorrow";
    EXPECT_EQ(care::age_on("1946-12-07", d), 80);
    EXPECT_EQ(care::age_on("", d), -1);
    // 23:30 in Shanghai on the 7th is 15:30 UTC: still the 7th, local minute 1410.
    int64_t late = at("2026-12-07", 23, 30);
    EXPECT_EQ(care::day_of(late, kTz), d);
    EXPECT_EQ(care::minute_of(late, kTz), 1410);
    for (auto bad : {"2026-13-01", "2026-02-30", "26-12-07", "2026-12-07x", "", "2026-1-7"})
        EXPECT_THROW(care::parse_date(bad), std::invalid_argument) << bad;
    EXPECT_THROW(care::month_days("2026-13"), std::invalid_argument);
}

// An elder who comes Monday, Wednesday and Friday at 8:30, from `first` for `weeks` weeks; the
// center is open Monday to Saturday (someone else comes every open day).
struct Habit {
    care::ElderAttendance elder;
    std::set<int> open;
    Habit(int first_monday, int weeks) {
        elder.first_day = first_monday;
        for (int d = first_monday; d < first_monday + weeks * 7; ++d) {
            if (care::weekday(d) == 7) continue;
            open.insert(d);
            int w = care::weekday(d);
            if (w == 1 || w == 3 || w == 5) elder.arrivals[d] = 8 * 60 + 30;
        }
    }
    void skip(int d) { elder.arrivals.erase(d); }
};

TEST(CareAbsence, LearnsWeekdaysAndArrivalAndRaisesAfterTwoExpectedDaysMissed) {
    config::Care cfg;
    int mon = care::parse_date("2026-10-05");
    Habit h(mon, 10);
    int today = mon + 9 * 7 + 2;  // the Wednesday of week 10
    auto p = care::learn_pattern(cfg, h.elder, h.open, today);
    EXPECT_TRUE(p.regular);
    EXPECT_EQ(p.weekdays, (std::set<int>{1, 3, 5}));
    EXPECT_EQ(p.arrival_minute, 8 * 60 + 30);
    // Came on Monday and Wednesday: nothing.
    EXPECT_FALSE(care::evaluate_absence(cfg, h.elder, h.open, today, 1440));
    h.skip(today - 2);  // Monday missed
    h.skip(today);      // Wednesday missed
    // Wednesday 9:00 is before 8:30 + the 2 h grace: only Monday counts yet.
    EXPECT_FALSE(care::evaluate_absence(cfg, h.elder, h.open, today, 9 * 60));
    auto f = care::evaluate_absence(cfg, h.elder, h.open, today, 10 * 60 + 31);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->kind, "absence");
    EXPECT_EQ(f->missed, 2);
    EXPECT_EQ(care::date_text(f->start), care::date_text(today - 2));
    EXPECT_NE(f->reason.find("周一、周三、周五"), std::string::npos) << f->reason;
    EXPECT_NE(f->reason.find("8:30"), std::string::npos) << f->reason;
    // With 3 required, two are not enough.
    config::Care three = cfg;
    three.absence_days = 3;
    EXPECT_FALSE(care::evaluate_absence(three, h.elder, h.open, today, 1440));
}

TEST(CareAbsence, ARecordedReasonOrAClosedCenterIsNotAnAbsence) {
    config::Care cfg;
    int mon = care::parse_date("2026-10-05");
    Habit h(mon, 10);
    int today = mon + 9 * 7 + 2;
    h.skip(today - 2);
    h.skip(today);
    h.elder.excused = {today - 2, today - 1, today};  // 外出, recorded
    EXPECT_FALSE(care::evaluate_absence(cfg, h.elder, h.open, today, 1440));
    h.elder.excused.clear();
    h.open.erase(today - 2);  // closed Monday (a holiday): nobody came
    EXPECT_FALSE(care::evaluate_absence(cfg, h.elder, h.open, today, 1440))
        << "only one open expected day missed";
    // Coming on a day that is not one of the usual ones also says the elder is not away.
    h.open.insert(today - 2);
    h.elder.arrivals[today - 1] = 9 * 60;
    EXPECT_FALSE(care::evaluate_absence(cfg, h.elder, h.open, today, 1440));
}

TEST(CareAbsence, IrregularAndNewAttendeesAreNotExpected) {
    config::Care cfg;
    int mon = care::parse_date("2026-10-05");
    Habit h(mon, 10);
    care::ElderAttendance irregular;
    irregular.first_day = mon;
    for (int d = mon; d < mon + 70; d += 9) irregular.arrivals[d] = 600;  // every 9th day: no weekday habit
    EXPECT_FALSE(care::learn_pattern(cfg, irregular, h.open, mon + 70).regular);
    EXPECT_FALSE(care::evaluate_absence(cfg, irregular, h.open, mon + 70, 1440));
    care::ElderAttendance fresh;
    fresh.first_day = mon + 60;
    fresh.arrivals = {{mon + 60, 500}, {mon + 62, 500}};
    EXPECT_FALSE(care::learn_pattern(cfg, fresh, h.open, mon + 66).regular) << "two days are not a habit";
}

TEST(CareAbsence, ASharpTwoWeekDropIsFlagged) {
    config::Care cfg;
    int mon = care::parse_date("2026-10-05");
    Habit h(mon, 10);
    int today = mon + 9 * 7 + 4;  // Friday of week 10
    // The last two weeks: only the Fridays (2 of 6 usual days), so never 2 expected days in a row.
    for (int d = today - 13; d <= today; ++d)
        if (care::weekday(d) != 5) h.skip(d);
    auto f = care::evaluate_absence(cfg, h.elder, h.open, today, 1440);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->kind, "attendance_drop") << f->reason;
    EXPECT_NE(f->reason.find("近两周到访 2 次"), std::string::npos) << f->reason;
}

TEST(CareTiers, SeedMappingAndOverrides) {
    config::Care cfg = config::parse_config("site: {id: t1, name: x}\n", "x.yaml").care;
    EXPECT_EQ(care::tier_for(cfg, {"独居", "失能"}, 70), "weekly");
    EXPECT_EQ(care::tier_for(cfg, {"独居"}, 85), "weekly") << "独居 and 高龄";
    EXPECT_EQ(care::tier_for(cfg, {"独居"}, 70), "fortnightly");
    EXPECT_EQ(care::tier_for(cfg, {"空巢"}, 70), "monthly");
    EXPECT_EQ(care::tier_for(cfg, {}, 82), "quarterly");
    EXPECT_EQ(care::tier_for(cfg, {}, 70), "") << "not on the visit list";
    auto custom = config::parse_config(
        "site: {id: t1, name: x}\ncare: {tiers: [{tier: monthly, any: [低保]}], old_age: 75}\n", "x.yaml");
    EXPECT_EQ(care::tier_for(custom.care, {"独居", "失能"}, 70), "");
    EXPECT_EQ(care::tier_for(custom.care, {"低保"}, 70), "monthly");
    EXPECT_THROW(config::parse_config(
                     "site: {id: t1, name: x}\ncare: {tiers: [{tier: daily, any: [低保]}]}\n", "x.yaml"),
                 config::ConfigError);
    EXPECT_THROW(config::parse_config("site: {id: t1, name: x}\ncare: {tiers: [{tier: weekly, any: [穷]}]}\n",
                                      "x.yaml"),
                 config::ConfigError);
    EXPECT_THROW(config::parse_config(
                     "site: {id: t1, name: x}\nmeals: {sessions: [{id: a, name: 午餐, from: "
                     "\"11:00\", to: \"13:00\"}, {id: b, name: 晚餐, from: \"12:30\", to: \"14:00\"}]}\n",
                     "x.yaml"),
                 config::ConfigError)
        << "overlapping sessions";
}

struct Site {
    TempDir dir;
    ManualClock clock{at("2026-11-02", 9)};  // Monday
    Outbox outbox{"t1", "r1"};
    config::SiteConfig cfg = config::parse_config(
        "site: {id: t1, name: 测试中心}\n"
        "meals: {sessions: [{id: lunch, name: 午餐, from: \"10:30\", to: \"13:30\"}]}\n",
        "x.yaml");
    Store store{dir.file("c.db")};
    Roster roster{store, clock};
    Records records{store, clock, outbox};
    care::CarePlanner planner{cfg, store, clock};
    care::MealService meals{cfg, store, clock, outbox};

    int64_t elder(const std::string& name, std::vector<std::string> cats,
                  const std::string& birth = "1950-01-01", const std::string& card = "") {
        Elder e;
        e.name = name;
        e.categories = std::move(cats);
        e.birth_date = birth;
        e.card_no = card;
        return roster.save(e, "test").id;
    }
    void visit(int64_t id, int64_t ts, const std::string& method = "上门") {
        VisitRecord v;
        v.elder_id = id;
        v.ts_ms = ts;
        v.method = method;
        v.visitor = "小林";
        records.add_visit(v, "test");
    }
    std::vector<care::CareTask> tasks_of(int64_t id, const std::string& date) {
        std::vector<care::CareTask> out;
        for (auto& t : planner.worklist(care::parse_date(date)))
            if (t.elder_id == id) out.push_back(t);
        return out;
    }
};

TEST(CareWorklist, NextDueFromTheLastVisitOverdueAndSorted) {
    Site s;
    auto weekly = s.elder("王秀英", {"独居", "失能"});
    auto monthly = s.elder("李建国", {"空巢"});
    auto none = s.elder("张德明", {});
    // Never visited: due the day they joined the list (today).
    auto t = s.tasks_of(weekly, "2026-11-02");
    ASSERT_EQ(t.size(), 1u);
    EXPECT_EQ(t[0].task, "visit_due");
    EXPECT_EQ(t[0].tier, "weekly");
    EXPECT_TRUE(s.tasks_of(none, "2026-11-02").empty()) << "not on the list";
    s.visit(weekly, at("2026-11-02", 10));
    s.visit(monthly, at("2026-11-02", 11));
    s.clock.set_ms(at("2026-11-12", 9));
    // Weekly: due 11-09, 3 days overdue on 11-12; monthly: due 12-02, nothing yet.
    t = s.tasks_of(weekly, "2026-11-12");
    ASSERT_EQ(t.size(), 1u);
    EXPECT_EQ(t[0].task, "visit_overdue");
    EXPECT_EQ(t[0].due, "2026-11-09");
    EXPECT_EQ(t[0].overdue_days, 3);
    EXPECT_NE(t[0].reason.find("上次探访 2026-11-02"), std::string::npos) << t[0].reason;
    EXPECT_TRUE(s.tasks_of(monthly, "2026-11-12").empty());
    EXPECT_EQ(s.tasks_of(monthly, "2026-12-02").at(0).task, "visit_due");
    // A tier set on the elder wins over the rules; 'none' takes them off the list.
    s.planner.save_profile(monthly, {{"tier", "weekly"}, {"visitor", "小周"}}, "test");
    t = s.tasks_of(monthly, "2026-11-12");
    ASSERT_EQ(t.size(), 1u);
    EXPECT_EQ(t[0].visitor, "小周");
    EXPECT_EQ(t[0].overdue_days, 3);
    s.planner.save_profile(weekly, {{"tier", "none"}}, "test");
    EXPECT_TRUE(s.tasks_of(weekly, "2026-11-12").empty());
    EXPECT_THROW(s.planner.save_profile(weekly, {{"tier", "daily"}}, "test"), std::invalid_argument);
    EXPECT_THROW(s.planner.save_profile(weekly, {{"meal_category", "vip"}}, "test"), std::invalid_argument);
}

TEST(CareWorklist, ALifeEventMakesAVisitDueWithin24HoursAndAVisitAnswersIt) {
    Site s;
    auto id = s.elder("刘桂英", {"空巢"});
    s.visit(id, at("2026-11-01", 10));
    s.clock.set_ms(at("2026-11-05", 16));
    s.planner.add_life_event(id, "2026-11-05", "出院", "肺炎出院", "test");
    auto t = s.tasks_of(id, "2026-11-05");
    ASSERT_EQ(t.size(), 1u);
    EXPECT_EQ(t[0].task, "life_event");
    EXPECT_EQ(t[0].detail, "出院");
    EXPECT_EQ(t[0].due, "2026-11-06");
    s.clock.set_ms(at("2026-11-07", 9));
    EXPECT_EQ(s.tasks_of(id, "2026-11-07").at(0).overdue_days, 1);
    s.visit(id, at("2026-11-07", 9, 30), "电话");
    s.clock.set_ms(at("2026-11-07", 10));
    EXPECT_TRUE(s.tasks_of(id, "2026-11-07").empty());
    // 生病 is recorded but does not by itself make a visit due (care.visit_after).
    s.planner.add_life_event(id, "2026-11-07", "生病", "", "test");
    EXPECT_TRUE(s.tasks_of(id, "2026-11-07").empty());
    EXPECT_THROW(s.planner.add_life_event(id, "2026-11-07", "搬家了", "", "test"), std::invalid_argument);
    EXPECT_THROW(s.planner.add_life_event(id, "2026-11-30", "出院", "", "test"), std::invalid_argument)
        << "a day in the future";
    EXPECT_THROW(s.planner.add_life_event(999, "2026-11-07", "出院", "", "test"), std::invalid_argument);
}

TEST(CareWorklist, AbsenceTaskFromStoredCheckinsClosedByAPhoneCall) {
    Site s;
    auto id = s.elder("陈玉兰", {});
    auto other = s.elder("周福生", {});
    // Eight weeks of Monday/Wednesday/Friday at 8:30; someone comes every day but Sunday.
    int first = care::parse_date("2026-09-07");
    s.store.write([&](sqlite3* db) {
        Stmt ins(db, "INSERT INTO checkins(uuid, elder_id, ts, direction, method) VALUES(?,?,?,'in','face')");
        int n = 0;
        for (int d = first; d < care::parse_date("2026-11-02"); ++d) {
            int w = care::weekday(d);
            if (w == 7) continue;
            auto add = [&](int64_t e, int minute) {
                ins.reset();
                ins.bind(1, "u" + std::to_string(++n)).bind(2, e);
                ins.bind(3, int64_t(care::day_start_ms(d, kTz) + minute * int64_t(60000))).run();
            };
            add(other, 600);
            if (w == 1 || w == 3 || w == 5) add(id, 510);
        }
        return 0;
    });
    auto absent_on = [&](const std::string& date) {
        for (auto& t : s.planner.worklist(care::parse_date(date)))
            if (t.elder_id == id && t.task == "absence") return true;
        return false;
    };
    // Monday 11-02 and Wednesday 11-04 missed (the other elder came both days).
    s.store.write([&](sqlite3* db) {
        Stmt ins(db, "INSERT INTO checkins(uuid, elder_id, ts, direction, method) VALUES(?,?,?,'in','face')");
        for (auto d : {"2026-11-02", "2026-11-03", "2026-11-04"})
            ins.reset(), ins.bind(1, std::string("x") + d).bind(2, other).bind(3, at(d, 10)).run();
        return 0;
    });
    s.clock.set_ms(at("2026-11-04", 9));
    EXPECT_FALSE(absent_on("2026-11-04")) << "before the usual arrival + grace";
    s.clock.set_ms(at("2026-11-04", 11));
    EXPECT_TRUE(absent_on("2026-11-04"));
    EXPECT_FALSE(absent_on("2026-11-03")) << "one expected day missed by the end of Tuesday";
    // The call is recorded as a visit by phone: the task is done.
    s.visit(id, at("2026-11-04", 11, 5), "电话");
    s.clock.set_ms(at("2026-11-04", 11, 10));
    EXPECT_FALSE(absent_on("2026-11-04"));
    // Friday missed too: still answered by Wednesday's call (the same run of days)...
    s.clock.set_ms(at("2026-11-06", 18));
    EXPECT_FALSE(absent_on("2026-11-06"));
    // ...and a recorded reason answers the days it covers, before any call.
    s.store.write([&](sqlite3* db) {
        return sqlite3_exec(db, "DELETE FROM visit_records", nullptr, nullptr, nullptr);
    });
    EXPECT_TRUE(absent_on("2026-11-06"));
    s.planner.add_absence_reason(id, "2026-11-02", "2026-11-10", "外出", "去女儿家", "test");
    EXPECT_FALSE(absent_on("2026-11-06"));
    EXPECT_THROW(s.planner.add_absence_reason(id, "2026-11-10", "2026-11-02", "外出", "", "test"),
                 std::invalid_argument);
    EXPECT_THROW(s.planner.add_absence_reason(id, "2026-11-02", "2026-11-03", "不想来", "", "test"),
                 std::invalid_argument);
}

TEST(CareCoverage, PerTierAndVisitorWithTheReasonForTheMissed) {
    Site s;
    auto a = s.elder("王秀英", {"独居", "失能"});
    auto b = s.elder("李建国", {"空巢"});
    auto c = s.elder("张德明", {"空巢"});
    s.elder("不在名单", {});
    s.planner.save_profile(a, {{"visitor", "小林"}}, "test");
    s.planner.save_profile(b, {{"visitor", "小林"}}, "test");
    s.clock.set_ms(at("2026-11-20", 9));
    s.visit(a, at("2026-11-03", 10));
    s.visit(b, at("2026-11-04", 10), "电话");
    s.visit(c, at("2026-10-30", 10));  // last month
    s.planner.record_miss(c, "2026-11", "住院中，家属电话告知", "test");
    auto cov = s.planner.coverage("2026-11");
    EXPECT_EQ(cov["on_list"], 3);
    EXPECT_EQ(cov["visited"], 2);
    EXPECT_EQ(cov["in_person"], 1);
    EXPECT_DOUBLE_EQ(cov["percent"].get<double>(), 66.7);
    EXPECT_EQ(cov["goal_percent"], 100);
    ASSERT_EQ(cov["not_visited"].size(), 1u);
    EXPECT_EQ(cov["not_visited"][0]["name"], "张德明");
    EXPECT_EQ(cov["not_visited"][0]["reason"], "住院中，家属电话告知");
    json lin;
    for (auto& v : cov["by_visitor"])
        if (v["visitor"] == "小林") lin = v;
    EXPECT_EQ(lin["on_list"], 2);
    EXPECT_EQ(lin["visited"], 2);
    EXPECT_DOUBLE_EQ(lin["percent"].get<double>(), 100.0);
    EXPECT_THROW(s.planner.coverage("2026-13"), std::invalid_argument);
}

TEST(Meals, OnePerElderAndSessionByCategoryAlsoAServiceRecordForTheCity) {
    Site s;
    auto dibao = s.elder("王秀英", {"低保"}, "1950-01-01", "C001");
    auto old = s.elder("李建国", {}, "1940-05-01");
    auto std_ = s.elder("张德明", {}, "1960-05-01");
    s.planner.save_profile(old, {{"diets", {"糖尿病", "软食"}}}, "test");
    s.clock.set_ms(at("2026-11-02", 9));
    EXPECT_THROW(s.meals.take(dibao, "staff", "test"), care::MealRefused) << "9:00 is outside 10:30–13:30";
    s.clock.set_ms(at("2026-11-02", 11, 45));
    auto m1 = s.meals.take_by_card("C001", "test");
    EXPECT_FALSE(m1.already);
    EXPECT_EQ(m1.category, "dibao");
    EXPECT_EQ(m1.pays, 0);
    EXPECT_EQ(m1.subsidy, 15);
    auto again = s.meals.take(dibao, "face", "camera:canteen");
    EXPECT_TRUE(again.already);
    EXPECT_EQ(again.uuid, m1.uuid);
    auto m2 = s.meals.take(old, "staff", "test");
    EXPECT_EQ(m2.category, "over80");
    EXPECT_EQ(m2.diets, (std::vector<std::string>{"糖尿病", "软食"}));
    EXPECT_EQ(s.meals.take(std_, "face", "test").category, "standard");
    EXPECT_THROW(s.meals.take_by_card("NOPE", "test"), care::MealRefused);
    // A category set on the elder wins over the rules.
    s.planner.save_profile(std_, {{"meal_category", "dibao"}}, "test");
    s.clock.set_ms(at("2026-11-03", 11));
    EXPECT_EQ(s.meals.take(std_, "staff", "test").category, "dibao");
    auto counts = s.store.read([&](sqlite3* db) {
        Stmt a(db, "SELECT COUNT(*) FROM meals");
        a.step();
        Stmt b(db, "SELECT COUNT(*) FROM service_records WHERE service='助餐'");
        b.step();
        Stmt c(db, "SELECT payload FROM outbox WHERE kind='service' ORDER BY seq LIMIT 1");
        c.step();
        return std::make_tuple(a.i64(0), b.i64(0), c.str(0));
    });
    EXPECT_EQ(std::get<0>(counts), 4);
    EXPECT_EQ(std::get<1>(counts), 4) << "each meal is a 助餐 service record";
    auto msg = json::parse(std::get<2>(counts));
    EXPECT_EQ(msg["data"]["service"], "助餐");
    EXPECT_EQ(msg["data"]["meal"]["category"], "dibao");
    EXPECT_EQ(msg["data"]["meal"]["subsidy"], 15);
    auto st = s.meals.statement("2026-11");
    EXPECT_EQ(st["meals"], 4);
    EXPECT_DOUBLE_EQ(st["subsidy"].get<double>(), 15 + 10 + 3 + 15);
    EXPECT_DOUBLE_EQ(st["paid"].get<double>(), 0 + 5 + 12 + 0);
    auto csv = s.meals.statement_csv("2026-11");
    EXPECT_NE(csv.find("低保/特困,0.00,15.00,2,0.00,30.00"), std::string::npos) << csv;
    EXPECT_NE(csv.find("合计,,,4,17.00,43.00"), std::string::npos) << csv;
    EXPECT_EQ(s.meals.statement("2026-10")["meals"], 0);
}

TEST(CareReplay, OnSimulatedHistoryHospitalStaysArePrecededByAbsenceTasksAndTripsAreNot) {
    Site s;
    care::HistoryOptions o;
    o.days = 150;
    o.elders = 60;
    o.seed = 11;
    o.now_ms = at("2026-12-01", 0);
    auto truth = care::simulate_history(s.cfg, s.store, o);
    ASSERT_GE(truth["hospital_stays"].size(), 2u) << truth.dump();
    ASSERT_GE(truth["trips"].size(), 1u) << truth.dump();
    EXPECT_THROW(care::simulate_history(s.cfg, s.store, o), std::invalid_argument) << "the same seed twice";
    s.clock.set_ms(at("2026-12-01", 9));
    int from = care::parse_date(truth["from"].get<std::string>()) + 70, to = care::parse_date("2026-11-30");
    auto r = s.planner.replay(from, to);
    int stays_in_range = 0;
    for (auto& h : truth["hospital_stays"]) {
        int admitted = care::parse_date(h["admitted"].get<std::string>());
        if (admitted >= from && admitted <= to) ++stays_in_range;
        // Between the last day seen and the admission, the worklist had the absence task for this
        // elder, unless a visit or call in those days had already answered it.
        int64_t elder = h["elder_id"].get<int64_t>();
        int last_seen = care::parse_date(h["last_seen_before"].get<std::string>());
        bool raised = false;
        for (int d = last_seen; d < admitted && !raised; ++d)
            for (auto& t : s.planner.worklist(d))
                raised = raised || (t.elder_id == elder && t.task == "absence");
        bool answered = s.store.read([&](sqlite3* db) {
            Stmt v(db, "SELECT COUNT(*) FROM visit_records WHERE elder_id=? AND ts>=? AND ts<?");
            v.bind(1, elder)
                .bind(2, care::day_start_ms(last_seen, kTz))
                .bind(3, care::day_start_ms(admitted, kTz));
            v.step();
            return v.i64(0) > 0;
        });
        EXPECT_TRUE(raised || answered) << h.dump();
    }
    EXPECT_EQ(r["illness_events"], stays_in_range) << r.dump();
    EXPECT_EQ(r["illness_events_preceded_by_absence"], stays_in_range) << r.dump();
    EXPECT_GE(r["absence_followed_by_illness"].get<int>(), stays_in_range) << r.dump();
    EXPECT_GT(r["tasks"]["visit_due"].get<int>(), 0);
    // A trip recorded in advance never raises an absence task during it.
    for (auto& trip : truth["trips"]) {
        int a = care::parse_date(trip["from"].get<std::string>()),
            b = care::parse_date(trip["to"].get<std::string>());
        for (int d = a; d <= b; ++d)
            for (auto& t : s.planner.worklist(d))
                EXPECT_FALSE(t.elder_id == trip["elder_id"].get<int64_t>() && t.task == "absence")
                    << trip.dump() << " on " << care::date_text(d);
    }
    // Meals in the statement match the simulator's count.
    int64_t meals = 0;
    for (int m = 0; m < 6; ++m) {
        static const char* months[] = {"2026-07", "2026-08", "2026-09", "2026-10", "2026-11", "2026-12"};
        meals += s.meals.statement(months[m])["meals"].get<int64_t>();
    }
    EXPECT_EQ(meals, truth["meals"].get<int64_t>());
}

}  // namespace
