// The device-model library: the shipped files, errors that name the line and key, and hostile payloads
// on every model (counted and logged, never a crash, never an alarm).
#include "devices/model_library.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "config/config.hpp"
#include "devices/mqtt_sensors.hpp"
#include "tests/support/test_support.hpp"

using namespace caregate;
using namespace caregate::devices;
using namespace caregate::testing;

namespace {

DeviceLibrary shipped() { return DeviceLibrary::load({source_dir() + "/config/devices"}); }

std::string model_error(const std::string& yaml) {
    try {
        DeviceLibrary::parse(yaml, "m.yaml");
    } catch (const ModelError& e) {
        return e.what();
    }
    return "";
}

const std::string kHead =
    "id: m1\nvendor: v\nmodel: x\ntransport: mqtt\nkind: smoke_detector\npower: battery\nsource: test\n";

}  // namespace

TEST(DeviceModels, EveryShippedModelLoadsAndTheFiveFormerCppModelsAreThere) {
    auto lib = shipped();
    for (auto id : {"generic", "ts0215a_sos", "mir_he200_fall", "zigbee_button", "zigbee_occupancy",
                    "zigbee_fall", "zigbee_contact", "z2m_smoke", "z2m_gas", "z2m_water_leak",
                    "z2m_door_contact", "z2m_mmwave_presence", "acrel_arcm300", "threephase_meter"})
        EXPECT_NE(lib.find(id), nullptr) << id;
    for (auto* m : lib.all()) {
        EXPECT_FALSE(m->source.empty()) << m->id;
        EXPECT_FALSE(m->states.empty()) << m->id;
    }
    // The electrical-fire detector's defaults are GB 14287.2's usual settings.
    auto* rcd = lib.find("acrel_arcm300");
    ASSERT_NE(rcd, nullptr);
    EXPECT_EQ(rcd->find("residual_current_ma")->alarm_above, 300.0);
    EXPECT_EQ(rcd->find("cable_temp_c")->alarm_above, 70.0);
}

TEST(DeviceModels, ErrorsNameTheLineAndTheKey) {
    EXPECT_NE(model_error(kHead + "states:\n  - {state: smok, json: /smoke, type: bool}\n")
                  .find("m.yaml:9: states[0].state: 'smok'"),
              std::string::npos)
        << model_error(kHead + "states:\n  - {state: smok, json: /smoke, type: bool}\n");
    EXPECT_NE(model_error(kHead + "states:\n  - {state: smoke, json: smoke, type: bool}\n")
                  .find("json: must be a JSON pointer"),
              std::string::npos);
    EXPECT_NE(model_error(kHead + "colour: red\nstates:\n  - {state: smoke, json: /smoke, type: bool}\n")
                  .find("m.yaml:8: colour: is not a key"),
              std::string::npos);
    EXPECT_NE(model_error(kHead + "states:\n  - {json: /a, type: string, values: {x: explode}}\n")
                  .find("'explode' is not"),
              std::string::npos);
    EXPECT_NE(model_error(kHead + "states:\n  - {state: smoke, json: /s, type: bool, alarm_above: 3}\n")
                  .find("thresholds are for the electrical states"),
              std::string::npos);
    std::string modbus =
        "id: m2\nvendor: v\nmodel: x\ntransport: modbus\nkind: energy_meter\npower: mains\nsource: t\n"
        "states:\n  - {state: voltage_v, table: input_registers, address: 0, type: f32}\n"
        "  - {state: voltage_v, table: input_registers, address: 2, type: f32}\n";
    EXPECT_NE(model_error(modbus).find("m.yaml:10: states[1].state: 'voltage_v' is mapped twice"),
              std::string::npos)
        << model_error(modbus);
    EXPECT_NE(model_error("id: [\n").find("not valid YAML"), std::string::npos);
    EXPECT_NE(model_error(std::string(300 * 1024, '#')).find("is not a device model"), std::string::npos);
}

TEST(DeviceModels, ASiteFolderReplacesAShippedModelAndDuplicatesInOneFolderAreRefused) {
    TempDir dir;
    std::filesystem::create_directories(dir.file("site"));
    write_file(dir.file("site/ts0215a_sos.yaml"),
               "id: ts0215a_sos\nvendor: site\nmodel: x\ntransport: mqtt\nkind: call_button\npower: battery\n"
               "source: our pendant\nstates:\n  - {json: /btn, type: string, values: {press: call}}\n");
    auto lib = DeviceLibrary::load({source_dir() + "/config/devices", dir.file("site")});
    EXPECT_EQ(lib.find("ts0215a_sos")->vendor, "site");
    ASSERT_EQ(lib.notes().size(), 1u);
    EXPECT_NE(lib.notes()[0].find("replaces"), std::string::npos);
    EXPECT_EQ(read_payload(*lib.find("ts0215a_sos"), R"({"btn":"press"})").get("call"), 1.0);
    write_file(dir.file("site/copy.yaml"), read_file(dir.file("site/ts0215a_sos.yaml")));
    EXPECT_THROW(DeviceLibrary::load({dir.file("site")}), ModelError);
}

TEST(DeviceModels, PayloadsAndRegistersAreReadAsTheModelSays) {
    auto lib = shipped();
    auto smoke = read_payload(*lib.find("z2m_smoke"),
                              R"({"smoke":true,"battery_low":false,"tamper":true,"battery":91})");
    EXPECT_EQ(smoke.get("smoke"), 1.0);
    EXPECT_EQ(smoke.get("tamper"), 1.0);
    EXPECT_EQ(smoke.get("battery_pct"), 91.0);
    // A garbled field does not hide a valid one.
    auto mixed = read_payload(*lib.find("ts0215a_sos"), R"({"action":"emergency","battery":"full"})");
    EXPECT_TRUE(mixed.malformed);
    EXPECT_EQ(mixed.get("call"), 1.0);
    auto radar =
        read_payload(*lib.find("z2m_mmwave_presence"), R"({"presence":true,"target_distance":2.35})");
    EXPECT_EQ(radar.get("target_distance_m"), 2.35);
    // SDM630 float32, high word first: 230.0 V = 0x43660000; 1000 kWh = 0x447A0000.
    auto meter = read_registers(*lib.find("threephase_meter"), {{{"input_registers", 0}, 0x4366},
                                                                {{"input_registers", 1}, 0},
                                                                {{"input_registers", 72}, 0x447A},
                                                                {{"input_registers", 73}, 0}});
    EXPECT_DOUBLE_EQ(*meter.get("voltage_v"), 230.0);
    EXPECT_DOUBLE_EQ(*meter.get("energy_kwh"), 1000.0);
    uint16_t words[2] = {0x0001, 0x0002};  // little word order: low word first
    EXPECT_EQ(decode_registers("u32", false, words), double(0x00020001));
    EXPECT_EQ(decode_registers("s16", true, (const uint16_t[]){0xFFFF, 0}), -1.0);
}

// Done-when of #16: 2,000 malformed or unknown payloads on every MQTT model are counted and logged
// rejections; nothing crashes and nothing raises an alarm.
TEST(DeviceModels, TwoThousandHostilePayloadsOnEveryModelAreCountedRejections) {
    auto lib = shipped();
    std::string yaml = "site: {id: t, name: x}\nmqtt: {uri: 'tcp://127.0.0.1:1'}\nmqtt_devices:\n";
    std::vector<const DeviceModel*> models;
    for (auto* m : lib.all())
        if (m->transport == "mqtt") {
            models.push_back(m);
            yaml += "  - {id: d_" + m->id + ", topic: t/" + m->id + ", model: " + m->id + "}\n";
        }
    ASSERT_GE(models.size(), 10u);
    auto cfg = config::parse_config(yaml, "x.yaml");
    Bus bus;
    auto sub = bus.subscribe("t", 1 << 20);
    SystemClock clock;
    MqttSensorBridge bridge(cfg, bus, clock, 1 << 20);
    std::mt19937 rng(20261202);
    auto pick = [&](size_t n) { return size_t(rng() % n); };
    const int kPerModel = 2000;
    for (auto* m : models) {
        for (int i = 0; i < kPerModel; ++i) {
            std::string p;
            const auto& s = m->states[pick(m->states.size())];
            std::string field = s.json.substr(1);
            // A field read only when another one has a value gets that value, so it is read.
            std::string when =
                s.when_json.empty() ? "" : "\"" + s.when_json.substr(1) + "\":\"" + s.when_equals + "\",";
            switch (i % 8) {
                case 0: {  // bytes that are not JSON
                    p.resize(1 + pick(200));
                    for (auto& c : p) c = char(rng());
                    p[0] = char('!' + pick(26));  // never a valid JSON start by chance: ! … :
                    break;
                }
                case 1:  // JSON that is not an object
                    p = std::vector<std::string>{"[1,2]", "42", "\"x\"", "null", "true"}[pick(5)];
                    break;
                case 2:  // truncated
                    p = "{\"" + field + "\":";
                    break;
                case 3:  // too deep
                    p = "{\"" + field + "\":" + std::string(20 + pick(50), '[') + std::string(20, ']') + "}";
                    break;
                case 4:  // the wrong type for the field
                    p = "{" + when + "\"" + field + "\":" +
                        (s.type == "number" ? "\"many\""
                         : s.type == "bool" ? "\"yes\""
                                            : "[1]") +
                        "}";
                    break;
                case 5:  // an unknown value, or a number far out of any range
                    p = s.type == "string"
                            ? "{" + when + "\"" + field + "\":\"unknown_" + std::to_string(i) + "\"}"
                        : s.type == "number" && (s.min || s.max)
                            ? "{" + when + "\"" + field + "\":1e300}"
                            : "{" + when + "\"" + field + "\":{\"nested\":true}}";
                    break;
                case 6:  // over the size limit
                    p = "{\"" + field + "\":\"" + std::string(17 * 1024, 'a') + "\"}";
                    break;
                default:  // a number where an object was expected, or an invalid escape
                    p = pick(2) ? "{\"" + field + "\":\"\\u12\"}" : "{\"a\":1,}";
                    break;
            }
            bridge.enqueue("t/" + m->id, p);
        }
    }
    bridge.start();
    const uint64_t total = uint64_t(kPerModel) * models.size();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (bridge.stats().received < total && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    bridge.stop();
    auto st = bridge.stats();
    EXPECT_EQ(st.received, total);
    EXPECT_EQ(st.malformed + st.out_of_range, total) << "every hostile payload is a counted rejection";
    while (auto e = sub->next(std::chrono::milliseconds(0)))
        EXPECT_TRUE(std::holds_alternative<DeviceHealth>(*e))
            << "no alarm-bearing event from garbage: " << event_name(*e);
}
