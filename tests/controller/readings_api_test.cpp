// The kiosk's readings of electrical detectors and meters: /api/readings (a login, its arguments, the
// series oldest first within the window, the site's thresholds), /api/circuits (over the threshold now,
// today's energy of a meter in site local time), the device list's tamper / battery_low / model, and
// the daily energy the city statistics count.
#include <gtest/gtest.h>
#include <httplib.h>

#include "controller/kiosk/http_server.hpp"
#include "controller/kiosk/kiosk.hpp"
#include "controller/kiosk/live_feed.hpp"
#include "controller/people/checkins.hpp"
#include "controller/people/records.hpp"
#include "controller/people/roster.hpp"
#include "controller/people/staff.hpp"
#include "controller/people/statistics.hpp"
#include "tests/controller/kiosk_rig.hpp"
#include "tests/support/test_support.hpp"

using namespace caregate;
using nlohmann::json;

namespace {

constexpr int64_t kMinute = 60'000, kHour = 3'600'000, kDay = 24 * kHour;
constexpr int64_t kShanghai = 8 * kHour;

struct Rig : caregate::testing::KioskRig {
    // 2026-12-02 14:03:21 in Shanghai: the local day began 14 h ago.
    Rig()
        : KioskRig(

              "site: {id: t1, name: x}\n"
              "zones: [{id: kitchen, name: 厨房}, {id: hall, name: 大厅}]\n"
              "kiosk: {port: 0}\n"
              "buses:\n"
              "  - id: power\n"
              "    type: tcp\n"
              "    host: 127.0.0.1\n"
              "    devices:\n"
              "      - {id: rcd, name: 厨房电气火灾探测器, model: acrel_arcm300, zone: kitchen,\n"
              "         thresholds: {residual_current_ma: 250}}\n"
              "      - {id: meter, name: 总电表, model: threephase_meter, zone: hall, unit_id: 2}\n"
              "mqtt_devices:\n"
              "  - {id: smoke, name: 厨房烟感, topic: z/smoke, model: z2m_smoke, zone: kitchen}\n",
              1'796'191'401'000, "kitchen") {
        start();
        staff.add("nurse", "王护士", "staff", "nurse-password", "test");
        nurse = login("nurse", "nurse-password");
        cookie = nurse.cookie;
    }
    Login nurse;
    std::string cookie;

    httplib::Result get(const std::string& path, bool logged_in = true) {
        return KioskRig::get(logged_in ? nurse : Login{}, path);
    }
    json get_json(const std::string& path) {
        auto r = get(path);
        EXPECT_TRUE(r);
        if (!r) return nullptr;
        EXPECT_EQ(r->status, 200) << path << ": " << r->body;
        return json::parse(r->body);
    }
    // One minute of readings (n = 1 unless min and last differ).
    void put(const std::string& device, const std::string& state, int64_t minute, double min, double last) {
        store.write([&](sqlite3* db) {
            Stmt s(db,
                   "INSERT INTO readings(device_id, state, minute, n, min, max, mean, last) "
                   "VALUES(?,?,?,?,?,?,?,?)");
            s.bind(1, device).bind(2, state).bind(3, minute).bind(4, int64_t(min == last ? 1 : 2));
            s.bind(5, std::min(min, last))
                .bind(6, std::max(min, last))
                .bind(7, (min + last) / 2)
                .bind(8, last);
            s.run();
        });
    }
    int64_t now_minute() const { return clock.now_ms() / kMinute * kMinute; }
    int64_t day_start() const {
        int64_t local = clock.now_ms() + kShanghai;
        return local - local % kDay - kShanghai;
    }
};

const json* find_state(const json& states, const std::string& state) {
    for (auto& s : states)
        if (s["state"] == state) return &s;
    return nullptr;
}

}  // namespace

TEST(KioskReadings, NeedALoginAndAKnownDeviceAndHoursFrom1To168) {
    Rig r;
    ASSERT_FALSE(r.cookie.empty());
    EXPECT_EQ(r.get("/api/readings?device=rcd", false)->status, 401);
    EXPECT_EQ(r.get("/api/circuits", false)->status, 401);
    for (auto bad : {"0", "169", "-1", "abc", "24h", "", "1e2", "0024x", "99999999999999999999"}) {
        auto res = r.get(std::string("/api/readings?device=rcd&hours=") + bad);
        EXPECT_EQ(res->status, 400) << "hours=" << bad;
        EXPECT_NE(res->body.find("1 到 168"), std::string::npos) << res->body;
    }
    EXPECT_EQ(r.get("/api/readings?device=rcd&hours=1")->status, 200);
    EXPECT_EQ(r.get("/api/readings?device=rcd&hours=168")->status, 200);
    auto unknown = r.get("/api/readings?device=nope");
    EXPECT_EQ(unknown->status, 404);
    EXPECT_NE(json::parse(unknown->body)["error"].get<std::string>().find("没有这个设备"), std::string::npos);
    EXPECT_EQ(r.get("/api/readings")->status, 400) << "which device?";
}

TEST(KioskReadings, TheSeriesIsOldestFirstWithinTheWindowWithTheSitesThreshold) {
    Rig r;
    int64_t now = r.now_minute();
    // Written newest first: the answer is ordered by minute, not by insertion.
    r.put("rcd", "residual_current_ma", now - kMinute, 280, 300);
    r.put("rcd", "residual_current_ma", now - 2 * kHour, 150, 150);
    r.put("rcd", "residual_current_ma", now - 23 * kHour, 90, 100);
    r.put("rcd", "residual_current_ma", now - 30 * kHour, 50, 50);  // outside 24 h
    r.put("rcd", "link_quality", now - kMinute, 80, 80);            // not in the model, recorded all the same

    auto j = r.get_json("/api/readings?device=rcd");
    EXPECT_EQ(j["device"], "rcd");
    EXPECT_EQ(j["name"], "厨房电气火灾探测器");
    EXPECT_EQ(j["zone"], "kitchen");
    EXPECT_EQ(j["zone_name"], "厨房");
    EXPECT_EQ(j["model"], "acrel_arcm300");
    const json* rc = find_state(j["states"], "residual_current_ma");
    ASSERT_TRUE(rc);
    EXPECT_EQ((*rc)["name"], "剩余电流");
    EXPECT_EQ((*rc)["unit"], "mA");
    EXPECT_EQ((*rc)["alarm_above"], 250.0) << "the site's threshold over the model's 300";
    EXPECT_EQ((*rc)["latest"], (json{{"minute", now - kMinute}, {"last", 300.0}}));
    const json& series = (*rc)["series"];
    ASSERT_EQ(series.size(), 3u) << series.dump();
    EXPECT_EQ(series[0]["minute"], now - 23 * kHour);
    EXPECT_EQ(series[1]["minute"], now - 2 * kHour);
    EXPECT_EQ(series[2]["minute"], now - kMinute);
    EXPECT_EQ(series[2]["min"], 280.0);
    EXPECT_EQ(series[2]["max"], 300.0);
    EXPECT_EQ(series[2]["mean"], 290.0);
    EXPECT_EQ(series[2]["last"], 300.0);
    const json* temp = find_state(j["states"], "cable_temp_c");
    ASSERT_TRUE(temp) << "a state of the model is listed before it has a reading";
    EXPECT_EQ((*temp)["alarm_above"], 70.0);
    EXPECT_TRUE((*temp)["latest"].is_null());
    EXPECT_TRUE((*temp)["series"].empty());
    const json* lq = find_state(j["states"], "link_quality");
    ASSERT_TRUE(lq);
    EXPECT_TRUE((*lq)["alarm_above"].is_null());

    auto two_days = r.get_json("/api/readings?device=rcd&hours=48");
    EXPECT_EQ((*find_state(two_days["states"], "residual_current_ma"))["series"].size(), 4u);
    auto one_hour = r.get_json("/api/readings?device=rcd&hours=1");
    EXPECT_EQ((*find_state(one_hour["states"], "residual_current_ma"))["series"].size(), 1u);
}

TEST(KioskReadings, CircuitsSayWhatIsOverItsThresholdAndTodaysEnergyInLocalTime) {
    Rig r;
    int64_t now = r.now_minute(), day = r.day_start();
    r.put("rcd", "residual_current_ma", now - kMinute, 240, 260);  // 260 ≥ 250: over
    r.put("rcd", "cable_temp_c", now - kMinute, 45, 45);
    r.put("meter", "energy_kwh", day - kHour, 980, 990);              // yesterday (local): not today
    r.put("meter", "energy_kwh", day, 1000, 1000.4);                  // the local day's first minute
    r.put("meter", "energy_kwh", now - 2 * kMinute, 1012.1, 1012.5);  // its newest
    r.put("meter", "power_w", now - 2 * kMinute, 3200, 3200);

    auto j = r.get_json("/api/circuits");
    EXPECT_EQ(j["day_start"], day);
    std::map<std::string, json> by_id;
    for (auto& c : j["circuits"]) by_id[c["id"]] = c;
    ASSERT_EQ(by_id.size(), 2u) << "the detector and the meter; not the smoke detector: " << j.dump();
    auto& rcd = by_id["rcd"];
    EXPECT_TRUE(rcd["over"].get<bool>());
    EXPECT_EQ(rcd["zone_name"], "厨房");
    EXPECT_TRUE((*find_state(rcd["states"], "residual_current_ma"))["over"].get<bool>());
    EXPECT_FALSE((*find_state(rcd["states"], "cable_temp_c"))["over"].get<bool>());
    EXPECT_FALSE(rcd["meter"].get<bool>());
    EXPECT_TRUE(rcd["today_kwh"].is_null());
    auto& meter = by_id["meter"];
    EXPECT_FALSE(meter["over"].get<bool>()) << "no thresholds on the meter";
    EXPECT_TRUE(meter["meter"].get<bool>());
    EXPECT_DOUBLE_EQ(meter["today_kwh"].get<double>(), 12.5);
    EXPECT_EQ((*find_state(meter["states"], "power_w"))["latest"]["last"], 3200.0);
    EXPECT_TRUE((*find_state(meter["states"], "voltage_v"))["latest"].is_null());

    // The city's daily statistics count the same energy for the site (and null without meters).
    auto today = r.store.read([&](sqlite3* db) { return activity_between(db, day, day + kDay); });
    EXPECT_DOUBLE_EQ(today["energy_kwh"].get<double>(), 12.5);
    r.put("meter2", "energy_kwh", day + kHour, 50, 50);
    r.put("meter2", "energy_kwh", day + 2 * kHour, 52, 52.25);
    today = r.store.read([&](sqlite3* db) { return activity_between(db, day, day + kDay); });
    EXPECT_DOUBLE_EQ(today["energy_kwh"].get<double>(), 14.75) << "summed over the meters";
    auto yesterday = r.store.read([&](sqlite3* db) { return activity_between(db, day - kDay, day); });
    EXPECT_DOUBLE_EQ(yesterday["energy_kwh"].get<double>(), 10.0) << "980 → 990 the day before";
    auto before = r.store.read([&](sqlite3* db) { return activity_between(db, day - 2 * kDay, day - kDay); });
    EXPECT_TRUE(before["energy_kwh"].is_null()) << "no meter reported that day";
}

TEST(KioskReadings, TheDeviceListSaysTamperBatteryLowAndTheModel) {
    Rig r;
    r.store.exec(
        "INSERT INTO devices(id, kind, zone, online, battery, tamper, battery_low, updated_at) "
        "VALUES('smoke','smoke_detector','kitchen',1,15,1,0,1)");
    auto o = r.get_json("/api/overview");
    EXPECT_EQ(o["low_battery_percent"], 20.0);
    std::map<std::string, json> by_id;
    for (auto& d : o["devices"]) by_id[d["id"]] = d;
    ASSERT_TRUE(by_id.count("smoke") && by_id.count("rcd") && by_id.count("meter"));
    EXPECT_EQ(by_id["smoke"]["tamper"], true);
    EXPECT_EQ(by_id["smoke"]["battery_low"], false);
    EXPECT_EQ(by_id["smoke"]["model"], "z2m_smoke");
    EXPECT_EQ(by_id["smoke"]["name"], "厨房烟感");
    EXPECT_TRUE(by_id["rcd"]["tamper"].is_null()) << "never reported";
    EXPECT_TRUE(by_id["rcd"]["battery_low"].is_null());
    EXPECT_EQ(by_id["rcd"]["model"], "acrel_arcm300");
}
