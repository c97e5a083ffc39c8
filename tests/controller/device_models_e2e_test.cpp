// Done-when of "devices as data", with the real daemon, a real Mosquitto and a real Modbus TCP server:
// two device models that caregate has never seen are added as YAML files in the site's
// device_library folder (no rebuild) and drive alarms end to end. The electrical-fire detector's
// residual-current alarm fires within two poll periods of crossing its threshold, with the value and
// threshold in the rescue record; its readings are kept per minute. A model file changed on disk is
// read again on SIGHUP.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "config/config.hpp"
#include "devices/simulator.hpp"
#include "tests/support/test_support.hpp"

using namespace caregate;
using namespace caregate::testing;
using nlohmann::json;

namespace {
json alarms(const std::string& cfg) {
    std::string out;
    json all = json::array();
    if (run(caregate_bin() + " alarms --config " + cfg + " list --all --json", &out) != 0) return all;
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
        auto a = json::parse(line, nullptr, false);
        if (a.is_object()) all.push_back(a);
    }
    return all;
}
json find_alarm(const std::string& cfg, const std::string& kind, const std::string& source) {
    for (auto& a : alarms(cfg))
        if (a["kind"] == kind && a["source"] == source) return a;
    return nullptr;
}

// A smoke detector whose payload looks like no model we ship.
const char* kAcmeSmoke = R"(id: acme_smoke
vendor: ACME 测试
model: SD-1 (made up for this test)
transport: mqtt
kind: smoke_detector
power: battery
source: test fixture, not a real product
states:
  - json: /alarm_state
    type: string
    values: {fire: smoke, normal: smoke=false, test: none}
  - state: tamper
    json: /case/open
    type: bool
  - state: battery_pct
    json: /power/level
    type: number
    range: [0, 100]
)";
// An electrical-fire detector with residual current in input register 5 (mA) and a cable
// temperature in tenths of a degree in input register 6.
const char* kAcmeRcd = R"(id: acme_rcd
vendor: ACME 测试
model: EF-2 (made up for this test)
transport: modbus
kind: electrical_fire_detector
power: mains
poll_ms: 200
source: test fixture, not a real product
states:
  - state: residual_current_ma
    table: input_registers
    address: 5
    type: u16
    range: [0, 30000]
    alarm_above: 300
  - state: cable_temp_c
    table: input_registers
    address: 6
    type: s16
    scale: 0.1
    range: [-40, 200]
    alarm_above: 70
)";
}  // namespace

TEST(DeviceModelsEndToEnd, NewModelFilesDriveAlarmsWithoutARebuild) {
    TempDir dir;
    std::filesystem::create_directories(dir.file("models"));
    write_file(dir.file("models/acme_smoke.yaml"), kAcmeSmoke);
    write_file(dir.file("models/acme_rcd.yaml"), kAcmeRcd);
    Mosquitto broker;
    std::string devices =
        "device_library: [models]\n"
        "zones: [{id: kitchen, name: 厨房}, {id: board, name: 配电间}]\n"
        "mqtt: {uri: '" +
        broker.uri() +
        "'}\n"
        "mqtt_devices: [{id: kitchen_smoke, name: 厨房烟感, topic: zigbee2mqtt/kitchen_smoke, model: "
        "acme_smoke, "
        "zone: kitchen}]\n"
        "buses: [{id: b1, type: tcp, host: 127.0.0.1, port: PORT, devices: [{id: rcd1, name: 1号配电箱, "
        "model: "
        "acme_rcd, unit_id: 3, zone: board}]}]\n";
    std::string site = "site: {id: t1, name: 颐康照料中心}\n";
    write_file(dir.file("sim.yaml"), site + std::regex_replace(devices, std::regex("PORT"), "502"));
    auto sim_cfg = config::load_config(dir.file("sim.yaml"));
    sim_cfg.buses[0].port = 0;
    ASSERT_EQ(sim_cfg.buses[0].devices[0].points.size(), 2u) << "the model's registers became the points";
    devices::Simulator sim(sim_cfg);
    sim.start();
    sim.set_register("rcd1", 5, 35);   // 35 mA: normal
    sim.set_register("rcd1", 6, 286);  // 28.6 °C
    std::string cfg = dir.file("site.yaml");
    write_file(cfg, site +
                        std::regex_replace(devices, std::regex("PORT"), std::to_string(sim.tcp_port("b1"))) +
                        "store: {path: " + dir.file("state/cg.db") +
                        "}\nkiosk: {port: 0}\nface: {enabled: false}\n");
    Process daemon({caregate_bin(), "run", "--config", cfg}, dir.file("log"));
    ASSERT_GT(kiosk_port(dir.file("log")), 0) << read_file(dir.file("log"));
    // MQTT: the new smoke detector's own words raise a smoke alarm; its "case open" is a tamper alarm.
    json smoke;
    ASSERT_TRUE(eventually(
        [&] {
            sim.mqtt("zigbee2mqtt/kitchen_smoke",
                     R"({"alarm_state":"fire","case":{"open":false},"power":{"level":77}})");
            smoke = find_alarm(cfg, "smoke", "kitchen_smoke");
            return smoke.is_object();
        },
        std::chrono::seconds(10)))
        << read_file(dir.file("log"));
    EXPECT_EQ(smoke["zone"], "kitchen");
    EXPECT_NE(smoke.dump().find("厨房烟感"), std::string::npos) << smoke;
    sim.mqtt("zigbee2mqtt/kitchen_smoke", R"({"alarm_state":"normal","case":{"open":true}})");
    ASSERT_TRUE(eventually([&] { return find_alarm(cfg, "tamper", "kitchen_smoke").is_object(); },
                           std::chrono::seconds(10)))
        << read_file(dir.file("log"));
    // Back to normal is noted in the smoke alarm's record, which stays open until someone closes it.
    ASSERT_TRUE(eventually(
        [&] {
            auto a = find_alarm(cfg, "smoke", "kitchen_smoke");
            return a.is_object() && a.dump().find("探测器已恢复正常") != std::string::npos;
        },
        std::chrono::seconds(10)));
    EXPECT_EQ(find_alarm(cfg, "smoke", "kitchen_smoke")["state"], "raised");

    // Modbus: residual current crosses 300 mA; the alarm is committed within two poll periods.
    EXPECT_FALSE(find_alarm(cfg, "electrical_fault", "rcd1").is_object());
    auto crossed = std::chrono::system_clock::now();
    sim.set_register("rcd1", 5, 352);
    json fault;
    ASSERT_TRUE(eventually(
        [&] {
            fault = find_alarm(cfg, "electrical_fault", "rcd1");
            return fault.is_object();
        },
        std::chrono::seconds(10)))
        << read_file(dir.file("log"));
    int64_t crossed_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(crossed.time_since_epoch()).count();
    EXPECT_LE(fault["raised_at"].get<int64_t>() - crossed_ms, 2 * 200)
        << "raised " << fault["raised_at"].get<int64_t>() - crossed_ms << " ms after the crossing";
    EXPECT_EQ(fault["detail"]["value"], 352);
    EXPECT_EQ(fault["detail"]["threshold"], 300);
    EXPECT_EQ(fault["detail"]["state"], "residual_current_ma");
    EXPECT_NE(fault["detail"]["reason"].get<std::string>().find("剩余电流 352 mA"), std::string::npos)
        << fault;

    // SIGHUP reads the library again: the detector's new firmware says "smoke" instead of "fire".
    std::string v2 =
        std::regex_replace(kAcmeSmoke, std::regex("values: \\{fire: smoke"), "values: {smoke: smoke");
    write_file(dir.file("models/acme_smoke.yaml"), v2);
    // Close the first smoke alarm so a new one is news.
    ASSERT_EQ(run(caregate_bin() + " alarms --config " + cfg + " resolve " +
                  std::to_string(smoke["id"].get<int>()) + " --outcome 误报"),
              0);
    daemon.signal(SIGHUP);
    ASSERT_TRUE(eventually([&] { return read_file(dir.file("log")).find("reloaded") != std::string::npos; },
                           std::chrono::seconds(10)));
    ASSERT_TRUE(eventually(
        [&] {
            sim.mqtt("zigbee2mqtt/kitchen_smoke", R"({"alarm_state":"smoke"})");
            int open = 0;
            for (auto& a : alarms(cfg)) open += a["kind"] == "smoke" && a["state"] == "raised";
            return open == 1;
        },
        std::chrono::seconds(10)))
        << read_file(dir.file("log"));

    // The readings are kept per minute (written at the latest when the daemon stops).
    daemon.signal(SIGTERM);
    ASSERT_EQ(daemon.wait(std::chrono::seconds(10)), 0) << read_file(dir.file("log"));
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open_v2(dir.file("state/cg.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr),
              SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db,
                       "SELECT SUM(n), MAX(max), MIN(min) FROM readings WHERE device_id='rcd1' AND "
                       "state='residual_current_ma'",
                       -1, &st, nullptr);
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    EXPECT_GT(sqlite3_column_int(st, 0), 2);
    EXPECT_EQ(sqlite3_column_double(st, 1), 352);
    EXPECT_EQ(sqlite3_column_double(st, 2), 35);
    sqlite3_finalize(st);
    sqlite3_close(db);
}
