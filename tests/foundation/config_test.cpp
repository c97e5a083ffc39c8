// Config validation: every bad config gets a message naming file, line and key.
#include "config/config.hpp"

#include <gtest/gtest.h>

#include "tests/support/test_support.hpp"

using caregate::config::ConfigError;
using caregate::config::parse_config;

namespace {

const char* kMinimal = "site: {id: t1, name: 测试中心}\n";

struct BadCase {
    const char* name;
    std::string yaml;
    int line;             // expected line (0: don't check)
    const char* message;  // expected substring
};

std::string with(const std::string& extra) { return std::string(kMinimal) + extra; }

const std::string kBus =
    "zones: [{id: hall, name: 大厅}, {id: bath, name: 浴室, private: true}]\n"
    "buses:\n"
    "  - id: b1\n"
    "    type: tcp\n"
    "    host: 127.0.0.1\n"
    "    devices:\n"
    "      - id: d1\n"
    "        kind: call_button\n"
    "        unit_id: 1\n"
    "        points: [{table: discrete_inputs, address: 0, meaning: call}]\n";

const std::vector<BadCase> kBadCases = {
    {"invalid_yaml", "site: {id: t1, name: x\nzones: [", 0, "invalid YAML"},
    {"not_a_map", "- a\n- b\n", 1, "must be a YAML mapping"},
    {"missing_site", "zones: []\n", 1, "site: is required"},
    {"missing_site_id", "site: {name: x}\n", 1, "site.id: is required"},
    {"bad_site_id", "site: {id: 'Bad Id', name: x}\n", 1, "must be lowercase"},
    {"unknown_top_key", with("zonez: []\n"), 2, "did you mean 'zones'"},
    {"unknown_nested_key", with("alarms:\n  ack_timeout: 30\n"), 3,
     "alarms.ack_timeout: unknown key; did you mean 'ack_timeout_s'"},
    {"wrong_type_int", with("kiosk:\n  port: eighty\n"), 3, "kiosk.port: must be a whole number"},
    {"port_range", with("kiosk:\n  port: 70000\n"), 3, "must be between 0 and 65535"},
    {"log_level", with("log: {level: loud}\n"), 2, "log.level: must be one of"},
    {"inline_password", with("mqtt:\n  password: hunter2\n"), 3, "secrets are never written inline"},
    {"mqtt_uri", with("mqtt: {uri: 'http://x'}\n"), 2, "must start with tcp://"},
    {"resolve_before_ack", with("alarms: {ack_timeout_s: 120, resolve_timeout_s: 60}\n"), 2,
     "must be longer than ack_timeout_s"},
    {"threshold_range", with("face: {threshold: 3}\n"), 2, "face.threshold: must be between"},
    {"single_frame_decision", with("face: {decide_frames: 1}\n"), 2, "face.decide_frames: must be between 2"},
    {"zones_not_list", with("zones: {id: hall}\n"), 2, "zones: must be a list"},
    {"zone_twice", with("zones: [{id: hall, name: a}, {id: hall, name: b}]\n"), 2, "defined twice"},
    {"camera_unknown_zone",
     with("zones: [{id: hall, name: a}]\ncameras: [{id: c1, source: /dev/video0, zone: attic}]\n"), 3,
     "zone 'attic' is not defined"},
    {"camera_private_zone",
     with("zones: [{id: bath, name: 浴室, private: true}]\ncameras: [{id: c1, source: /dev/video0, zone: "
          "bath}]\n"),
     3, "no camera may watch it"},
    {"camera_bad_role",
     with("zones: [{id: hall, name: a}]\ncameras: [{id: c1, source: x, zone: hall, role: side}]\n"), 3,
     "role: must be one of"},
    {"mask_too_short",
     with("zones: [{id: hall, name: a}]\ncameras: [{id: c1, source: x, zone: hall, mask: [[0, 0, 5, 5]]}]\n"),
     3, "at least 3 points"},
    {"bus_type", with("buses: [{id: b1, type: can}]\n"), 2, "type: must be one of: rtu tcp"},
    {"rtu_needs_device", with("buses: [{id: b1, type: rtu}]\n"), 2, "needs device:"},
    {"bad_baud", with("buses: [{id: b1, type: rtu, device: /dev/ttyUSB0, baud: 9601}]\n"), 2,
     "baud: must be one of"},
    {"device_no_points",
     with("buses: [{id: b1, type: tcp, host: h, devices: [{id: d1, kind: call_button}]}]\n"), 2,
     "at least one point"},
    {"point_bad_meaning",
     with("buses: [{id: b1, type: tcp, host: h, devices: [{id: d1, kind: call_button, points: [{address: 0, "
          "meaning: panic}]}]}]\n"),
     2, "meaning: must be one of"},
    {"device_kind_typo",
     with("buses: [{id: b1, type: tcp, host: h, devices: [{id: d1, kind: call_buton, points: [{address: 0, "
          "meaning: call}]}]}]\n"),
     2, "kind: must be one of"},
    {"point_key_typo",
     with("buses: [{id: b1, type: tcp, host: h, devices: [{id: d1, kind: call_button, points: [{adress: 0, "
          "meaning: call}]}]}]\n"),
     2, "did you mean 'address'"},
    {"same_address_twice",
     with(kBus + "      - id: d2\n        kind: call_button\n        unit_id: 1\n"
                 "        points: [{table: discrete_inputs, address: 0, meaning: call}]\n"),
     15, "already mapped to device 'd1'"},
    {"duplicate_device_id",
     with(kBus + "mqtt_devices: [{id: d1, topic: zigbee2mqtt/x, kind: call_button}]\n"), 12,
     "'d1' is used twice"},
    {"mqtt_wildcard", with("mqtt_devices: [{id: m1, topic: 'zigbee2mqtt/#', kind: call_button}]\n"), 2,
     "without the wildcards"},
    {"mqtt_model", with("mqtt_devices: [{id: m1, topic: a/b, kind: call_button, model: acme}]\n"), 2,
     "model: 'acme' is not in the device library"},
    {"fever_range", with("gate: {fever_c: 35}\n"), 2, "gate.fever_c: must be between"},
    {"timezone", "site: {id: t1, name: x, timezone: Europe/Paris}\n", 1, "timezone: must be one of"},
    {"bool_type", with("face: {liveness: maybe}\n"), 2, "face.liveness: must be true or false"},
    {"city_inline_hmac", with("city: {hmac_key: abc}\n"), 2, "secrets are never written inline"},
    {"version", "version: 2\n" + std::string(kMinimal), 1, "config version 1"},
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

class BadConfig : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadConfig, IsRefusedWithFileLineAndKey) {
    const auto& c = GetParam();
    try {
        parse_config(c.yaml, "/etc/caregate/site.yaml");
        FAIL() << c.name << ": accepted a bad config";
    } catch (const ConfigError& e) {
        std::string what = e.what();
        EXPECT_NE(what.find(c.message), std::string::npos) << c.name << ": got '" << what << "'";
        EXPECT_EQ(what.rfind("/etc/caregate/site.yaml", 0), 0u)
            << "message must start with the file: " << what;
        if (c.line > 0) {
            EXPECT_EQ(e.line(), c.line) << c.name << ": " << what;
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Table, BadConfig, ::testing::ValuesIn(kBadCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Config, TableHasAtLeastTwentyCases) { EXPECT_GE(kBadCases.size(), 20u); }

TEST(Config, MissingFileIsNamed) {
    try {
        caregate::config::load_config("/nonexistent/site.yaml");
        FAIL();
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("config file not found: /nonexistent/site.yaml"),
                  std::string::npos);
    }
}

TEST(Config, ExampleSitesAreValid) {
    for (auto name : {"demo", "center", "wuchang"}) {
        auto path = caregate::testing::source_dir() + "/config/" + name + ".yaml";
        auto cfg = caregate::config::load_config(path);
        EXPECT_FALSE(cfg.site.id.empty()) << path;
        EXPECT_FALSE(cfg.zones.empty()) << path;
    }
    auto center = caregate::config::load_config(caregate::testing::source_dir() + "/config/center.yaml");
    EXPECT_GE(center.cameras.size(), 2u);
    EXPECT_EQ(center.buses.size(), 2u);
    auto wc = caregate::config::load_config(caregate::testing::source_dir() + "/config/wuchang.yaml");
    EXPECT_EQ(wc.cameras.size(), 1u);
    EXPECT_EQ(wc.mqtt_devices.size(), 2u);
    EXPECT_TRUE(wc.buses.empty());
}

TEST(Config, DefaultsAndRelativePaths) {
    auto cfg = parse_config(std::string(kMinimal) + "store: {path: data/cg.db}\n", "/etc/cg/site.yaml");
    EXPECT_EQ(cfg.store.path, "/etc/cg/data/cg.db");
    EXPECT_EQ(cfg.store.media_dir, "/etc/cg/data/media");
    EXPECT_EQ(cfg.alarms.ack_timeout_s, 60);
    EXPECT_DOUBLE_EQ(cfg.gate.fever_c, 37.3);
    EXPECT_DOUBLE_EQ(cfg.face.threshold, 0) << "unset: the recognition model's calibrated threshold";
    EXPECT_EQ(cfg.face.recognition_model, "/usr/share/caregate/models/MobileFaceNet.tflite");
    EXPECT_EQ(cfg.checkin.interval_minutes, 30);
    EXPECT_EQ(cfg.mqtt.client_id, "caregate-t1");
}

TEST(Config, SummaryNamesEverything) {
    auto cfg = parse_config(with(kBus), "x.yaml");
    auto s = caregate::config::summarize(cfg);
    EXPECT_NE(s.find("site: t1"), std::string::npos);
    EXPECT_NE(s.find("b1[tcp:127.0.0.1:502]"), std::string::npos);
    EXPECT_NE(s.find("bath(private)"), std::string::npos);
}

}  // namespace
