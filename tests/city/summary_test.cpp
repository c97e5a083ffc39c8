// The daily summary on a fixture day: check-ins, unique elders, services, alarms with acknowledge and
// resolve times, device uptime from the device_health history; the due date; idempotent queuing.
#include <gtest/gtest.h>

#include "config/config.hpp"
#include "controller/alarms/alarms.hpp"
#include "controller/city/exchange.hpp"
#include "controller/people/checkins.hpp"
#include "controller/people/records.hpp"
#include "tests/city/city_test_support.hpp"

using namespace caregate;
using nlohmann::json;

namespace ct = caregate::testing;

namespace {

constexpr int64_t kShanghai = 8 * 3600 * 1000;
constexpr int64_t kDay0 = 1'789'920'000'000;  // 2026-09-21 00:00 Beijing = 2026-09-20 16:00 UTC

TEST(CitySummary, DailyNumbersFromAFixture) {
    ct::TempDir dir;
    ManualClock clock{kDay0 - 3'600'000};  // the evening before: must not count
    Store store(dir.file("s.db"));
    Outbox out("t1", "wz");
    auto cfg = config::parse_config("site: {id: t1, name: x}\nzones: [{id: hall, name: h}]\n", "x.yaml");
    Roster roster(store, clock);
    Occupancy occ(store, clock, cfg);
    CheckinService checkins(store, clock, out, occ, 30, "hall");
    std::vector<int64_t> ids;
    for (auto n : {"a", "b", "c"}) {
        Elder e;
        e.name = n;
        ids.push_back(roster.save(e, "t").id);
    }
    CheckIn early;
    early.elder_id = ids[2];
    checkins.record(early);
    store.exec(
        "INSERT INTO devices(id, kind, zone, online, updated_at) VALUES"
        "('cam-1','camera','door',1,1),('btn-1','call_button','hall',1,1),('btn-2','call_button','hall',0,"
        "1)");
    // btn-2 was online before the day, goes offline at 06:00 and stays so: online 25 % of the day.
    city::queue_device_health(store, out,
                              {"btn-2", "call_button", "hall", true, "", 90.0, kDay0 - 7'200'000});
    city::queue_device_health(store, out,
                              {"btn-2", "call_button", "hall", false, "silent", 90.0, kDay0 + 6 * 3'600'000});
    // cam-1 drops at 12:00 and is back at 18:00: 75 %.
    city::queue_device_health(
        store, out, {"cam-1", "camera", "door", false, "no frames", std::nullopt, kDay0 + 12 * 3'600'000});
    city::queue_device_health(store, out,
                              {"cam-1", "camera", "door", true, "", std::nullopt, kDay0 + 18 * 3'600'000});

    clock.set_ms(kDay0 + 9 * 3'600'000);
    for (auto id : ids) {
        CheckIn c;
        c.elder_id = id;
        checkins.record(c);
    }
    clock.advance_ms(3'600'000);
    CheckIn again;
    again.elder_id = ids[0];
    checkins.record(again);
    Records records(store, clock, out);
    records.add_service({0, "", ids[0], "", 0, "助餐", "", ""}, "t");
    records.add_service({0, "", ids[1], "", 0, "助餐", "", ""}, "t");
    records.add_service({0, "", ids[1], "", 0, "助浴", "", ""}, "t");
    AlarmService alarms(store, clock, out, AlarmPolicy{600, 9000});
    auto a = alarms.raise("call", "b1", "bath", "x");
    clock.advance_ms(30'000);
    alarms.acknowledge(a.id, "s");
    clock.advance_ms(90'000);
    alarms.resolve(a.id, "ok", "s");
    auto b = alarms.raise("call", "b2", "hall", "x");
    clock.advance_ms(60'000);
    alarms.acknowledge(b.id, "s");
    clock.advance_ms(240'000);
    alarms.resolve(b.id, "ok", "s");
    alarms.raise("fall", "radar", "bath", "x");  // still open at the end of the day

    auto s = city::daily_summary(store, "2026-09-21", kShanghai);
    EXPECT_EQ(s["date"], "2026-09-21");
    EXPECT_EQ(s["checkins"], 4);
    EXPECT_EQ(s["unique_elders"], 3);
    EXPECT_EQ(s["services"], (json{{"助餐", 2}, {"助浴", 1}}));
    ASSERT_EQ(s["alarms"].size(), 2u);
    auto call = s["alarms"][0];
    EXPECT_EQ(call["kind"], "call");
    EXPECT_EQ(call["count"], 2);
    EXPECT_DOUBLE_EQ(call["avg_ack_s"].get<double>(), 45.0);
    EXPECT_DOUBLE_EQ(call["max_ack_s"].get<double>(), 60.0);
    EXPECT_DOUBLE_EQ(call["avg_resolve_s"].get<double>(), (120.0 + 300.0) / 2);
    EXPECT_DOUBLE_EQ(call["max_resolve_s"].get<double>(), 300.0);
    EXPECT_EQ(call["open"], 0);
    EXPECT_EQ(s["alarms"][1]["kind"], "fall");
    EXPECT_EQ(s["alarms"][1]["open"], 1);
    EXPECT_TRUE(s["alarms"][1]["avg_ack_s"].is_null());
    EXPECT_EQ(s["devices"]["total"], 3);
    EXPECT_EQ(s["devices"]["offline"], 1);
    std::map<std::string, double> up;
    for (auto& d : s["devices"]["uptime"]) up[d["device_id"]] = d["online_fraction"];
    EXPECT_DOUBLE_EQ(up["btn-1"], 1.0);
    EXPECT_DOUBLE_EQ(up["btn-2"], 0.25);
    EXPECT_DOUBLE_EQ(up["cam-1"], 0.75);
    EXPECT_DOUBLE_EQ(s["devices"]["online_fraction_by_kind"]["call_button"].get<double>(), 0.625);

    auto next = city::daily_summary(store, "2026-09-22", kShanghai);
    EXPECT_EQ(next["checkins"], 0);
    EXPECT_EQ(next["alarms"].size(), 0u);
    up.clear();
    for (auto& d : next["devices"]["uptime"]) up[d["device_id"]] = d["online_fraction"];
    EXPECT_DOUBLE_EQ(up["btn-2"], 0.0) << "offline all the next day";
    EXPECT_THROW(city::daily_summary(store, "yesterday", kShanghai), std::invalid_argument);

    // Queued once per site and date, whatever the number of runs.
    city::queue_daily_summary(store, out, "2026-09-21", kShanghai, clock.now_ms());
    city::queue_daily_summary(store, out, "2026-09-21", kShanghai, clock.now_ms());
    EXPECT_EQ(citytest::count_rows(store,
                                   "SELECT COUNT(*) FROM outbox WHERE kind='daily_summary' AND "
                                   "id='daily-t1-2026-09-21' AND priority=0"),
              1);
}

TEST(CitySummary, DueDateIsThePreviousLocalDayOnceTheHourIsReached) {
    int64_t t = kDay0 + 30 * 60'000;  // 2026-09-21 00:30 Beijing
    EXPECT_FALSE(city::summary_date_due(t, kShanghai, 1, ""));
    EXPECT_EQ(city::summary_date_due(t + 3'600'000, kShanghai, 1, ""), "2026-09-20");
    EXPECT_FALSE(city::summary_date_due(t + 3'600'000, kShanghai, 1, "2026-09-20")) << "done already";
    EXPECT_EQ(city::summary_date_due(t + 20 * 3'600'000, kShanghai, 1, "2026-09-19"), "2026-09-20")
        << "catches up when the box was off at the hour";
}

}  // namespace
