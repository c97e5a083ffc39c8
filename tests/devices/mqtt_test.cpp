// MQTT sensors against a real Mosquitto broker on loopback.
#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>

#include "config/config.hpp"
#include "devices/mqtt_link.hpp"
#include "devices/mqtt_sensors.hpp"
#include "tests/support/test_support.hpp"

using namespace caregate;
using namespace caregate::devices;
using namespace caregate::testing;

namespace {

std::string site(const std::string& uri) {
    return "site: {id: t, name: x}\nmqtt: {uri: '" + uri +
           "'}\n"
           "zones: [{id: bath, name: 浴室, private: true}, {id: hall, name: 大厅}]\n"
           "mqtt_devices:\n"
           "  - {id: sos, topic: zigbee2mqtt/sos, model: ts0215a_sos, kind: call_button, zone: bath, "
           "battery: true}\n"
           "  - {id: radar, topic: zigbee2mqtt/radar, model: mir_he200_fall, kind: fall_sensor, zone: bath}\n"
           "  - {id: fallpad, topic: zigbee2mqtt/fallpad, model: zigbee_fall, kind: fall_sensor, zone: "
           "bath}\n"
           "  - {id: btn, topic: zigbee2mqtt/btn, model: zigbee_button, kind: call_button, zone: hall, "
           "max_silence_s: 2}\n"
           "  - {id: gen, topic: caregate/t/sensor/gen, model: generic, kind: thermometer, zone: hall}\n";
}

// A topic the test's link also subscribes to, last: its messages are counted by the test and never
// reach the bridge. The link shows no "subscribed" state; a probe coming back shows it instead.
const char* kProbeTopic = "caregate-test/probe";

struct Rig {
    Mosquitto broker;
    config::SiteConfig cfg = config::parse_config(site(broker.uri()), "x.yaml");
    Bus bus;
    std::shared_ptr<Subscription> sub = bus.subscribe("t");
    SystemClock clock;
    MqttSensorBridge bridge{cfg, bus, clock};
    std::unique_ptr<MqttLink> link;
    std::unique_ptr<MqttLink> pub;
    std::atomic<uint64_t> probes{0};
    Rig() {
        MqttLinkOptions o;
        o.uri = broker.uri();
        o.client_id = "caregate-test";
        o.subscriptions = bridge.topics();
        o.subscriptions.push_back(kProbeTopic);  // subscribed after the bridge's topics
        o.status_topic = "caregate/t/status";
        link = std::make_unique<MqttLink>(o, [this](const std::string& t, const std::string& p) {
            if (t == kProbeTopic)
                probes++;
            else
                bridge.enqueue(t, p);
        });
        bridge.start();
        link->start();
        MqttLinkOptions po;
        po.uri = broker.uri();
        po.client_id = "test-publisher";
        pub = std::make_unique<MqttLink>(po, nullptr);
        pub->start();
        if (!subscribed()) throw std::runtime_error("the link's subscriptions are not in place");
    }
    // True once both clients are connected and a probe comes back through the link: the link
    // subscribes topic by topic, the probe topic last, and the broker handles one client's packets
    // in order, so every subscription is then in place. One probe every 200 ms until the deadline.
    bool subscribed(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
        auto end = std::chrono::steady_clock::now() + timeout;
        if (!eventually([&] { return link->connected() && pub->connected(); }, timeout)) return false;
        uint64_t before = probes;
        while (std::chrono::steady_clock::now() < end) {
            pub->publish(kProbeTopic, "probe", 1, false);
            if (eventually([&] { return probes > before; }, std::chrono::milliseconds(200))) return true;
        }
        return false;
    }
    void send(const std::string& topic, const std::string& payload) {
        pub->publish(topic, payload, 1, false);
    }
    std::vector<Event> collect(std::chrono::milliseconds d) {
        std::vector<Event> out;
        auto end = std::chrono::steady_clock::now() + d;
        while (std::chrono::steady_clock::now() < end)
            if (auto e = sub->next(std::chrono::milliseconds(20))) out.push_back(*e);
        return out;
    }
    template <typename T>
    std::vector<T> only(const std::vector<Event>& v) {
        std::vector<T> out;
        for (auto& e : v)
            if (std::holds_alternative<T>(e)) out.push_back(std::get<T>(e));
        return out;
    }
};

TEST(MqttSensors, EachModelMapsToTheRightEvent) {
    Rig r;
    ASSERT_TRUE(r.link->connected());
    r.send("zigbee2mqtt/sos", R"({"action":"emergency","battery":87,"linkquality":120})");
    r.send("zigbee2mqtt/radar", R"({"fall_down_status":"fall","presence":true})");
    r.send("zigbee2mqtt/radar", R"({"fall_down_status":"none","presence":true})");
    r.send("zigbee2mqtt/fallpad", R"({"fall":"fall"})");
    r.send("zigbee2mqtt/btn", R"({"action":"single"})");
    r.send("caregate/t/sensor/gen", R"({"event":"temperature","value":36.7})");
    auto ev = r.collect(std::chrono::milliseconds(1500));
    auto presses = r.only<ButtonPressed>(ev);
    auto falls = r.only<FallDetected>(ev);
    auto temps = r.only<TemperatureReading>(ev);
    ASSERT_EQ(presses.size(), 2u);
    EXPECT_EQ(presses[0].device_id, "sos");
    EXPECT_EQ(presses[0].zone, "bath");
    EXPECT_EQ(presses[1].device_id, "btn");
    ASSERT_EQ(falls.size(), 2u);
    EXPECT_EQ(falls[0].device_id, "radar");
    EXPECT_EQ(falls[1].device_id, "fallpad");
    ASSERT_EQ(temps.size(), 1u);
    EXPECT_DOUBLE_EQ(temps[0].celsius, 36.7);
}

TEST(MqttSensors, MalformedUnknownAndOutOfRangeAreCountedNeverAlarms) {
    Rig r;
    r.send("zigbee2mqtt/sos", "{not json");
    r.send("zigbee2mqtt/sos", R"({"action":42})");
    r.send("zigbee2mqtt/sos", R"({"action":"explode"})");
    r.send("zigbee2mqtt/sos", R"({"battery":250})");
    r.send("zigbee2mqtt/radar", R"([1,2,3])");
    r.send("caregate/t/sensor/gen", R"({"event":"temperature","value":"hot"})");
    r.send("caregate/t/sensor/gen", R"({"event":"temperature","value":900})");
    auto ev = r.collect(std::chrono::milliseconds(1200));
    EXPECT_TRUE(r.only<ButtonPressed>(ev).empty());
    EXPECT_TRUE(r.only<FallDetected>(ev).empty());
    EXPECT_TRUE(r.only<TemperatureReading>(ev).empty());
    auto s = r.bridge.stats();
    EXPECT_EQ(s.malformed, 4u);
    EXPECT_EQ(s.out_of_range, 3u);
    EXPECT_EQ(s.received, 7u);
}

TEST(MqttSensors, AvailabilitySilenceAndLowBattery) {
    Rig r;
    r.send("zigbee2mqtt/sos/availability", "offline");
    r.send("zigbee2mqtt/radar/availability", R"({"state":"offline"})");
    auto ev = r.collect(std::chrono::milliseconds(800));
    auto h = r.only<DeviceHealth>(ev);
    int offline = 0;
    for (auto& x : h) offline += !x.online && (x.device_id == "sos" || x.device_id == "radar");
    EXPECT_EQ(offline, 2);
    r.send("zigbee2mqtt/sos/availability", "online");
    r.send("zigbee2mqtt/sos", R"({"battery":12})");
    // btn has max_silence_s: 2 and has said nothing.
    auto ev2 = r.collect(std::chrono::milliseconds(3500));
    bool back = false, low = false, silent = false;
    for (auto& x : r.only<DeviceHealth>(ev2)) {
        back |= x.device_id == "sos" && x.online;
        low |= x.device_id == "sos" && x.battery && *x.battery == 12;
        silent |= x.device_id == "btn" && !x.online;
    }
    EXPECT_TRUE(back);
    EXPECT_TRUE(low);
    EXPECT_TRUE(silent);
}

TEST(MqttSensors, BrokerRestartIsSurvived) {
    Rig r;
    r.broker.stop();
    EXPECT_TRUE(eventually([&] { return !r.link->connected(); }, std::chrono::seconds(10)));
    EXPECT_FALSE(r.link->connected());
    r.broker.start();
    ASSERT_TRUE(eventually([&] { return r.link->connected(); }, std::chrono::seconds(10)));
    // The broker keeps no sessions: only a link that subscribes again gets the probe (and the button).
    EXPECT_TRUE(r.subscribed()) << "subscriptions are renewed after a reconnect";
    r.send("zigbee2mqtt/btn", R"({"action":"single"})");
    auto ev = r.collect(std::chrono::milliseconds(1500));
    EXPECT_EQ(r.only<ButtonPressed>(ev).size(), 1u) << "subscriptions are renewed after a reconnect";
}

// The shipped models, read through the library as the bridge reads them; the fields the parser table
// below asserts (it predates the library, when each model was C++).
struct Parsed {
    bool call = false, reset = false, fall = false, fall_certain = true, malformed = false;
    std::optional<bool> occupied;
    std::string why;
};
Parsed parse_payload(const std::string& model, const std::string& payload) {
    static const auto lib = DeviceLibrary::load({source_dir() + "/config/devices"});
    const DeviceModel* m = lib.find(model);
    if (!m) throw std::runtime_error("no model " + model);
    Reading r = read_payload(*m, payload);
    Parsed p;
    p.malformed = r.malformed;
    p.why = r.why;
    for (auto& v : r.states) {
        if (v.state == "call") p.call = v.value != 0;
        if (v.state == "cancel") p.reset = v.value != 0;
        if (v.state == "fall") p.fall = v.value != 0, p.fall_certain = v.certain;
        if (v.state == "presence" || v.state == "contact") p.occupied = v.value != 0;
    }
    return p;
}

TEST(MqttPayloads, ParserTable) {
    EXPECT_TRUE(parse_payload("ts0215a_sos", R"({"action":"emergency"})").call);
    EXPECT_FALSE(parse_payload("ts0215a_sos", R"({"battery":50})").call);
    auto maybe = parse_payload("mir_he200_fall", R"({"fall_down_status":"maybe_fall"})");
    EXPECT_TRUE(maybe.fall);
    EXPECT_FALSE(maybe.fall_certain);
    EXPECT_TRUE(parse_payload("generic", R"({"event":"reset"})").reset);
    EXPECT_TRUE(parse_payload("zigbee_occupancy", R"({"occupancy":"yes"})").malformed);
    EXPECT_EQ(parse_payload("zigbee_occupancy", R"({"occupancy":true,"battery":90})").occupied, true);
    EXPECT_EQ(parse_payload("zigbee_occupancy", R"({"presence":false})").occupied, false) << "mmWave";
    EXPECT_FALSE(parse_payload("zigbee_occupancy", R"({"illuminance":30})").occupied.has_value());
    EXPECT_EQ(parse_payload("zigbee_contact", R"({"contact":true})").occupied, true) << "door closed";
    EXPECT_TRUE(parse_payload("zigbee_contact", R"({"contact":1})").malformed);
    // Hostile payloads are refused before they are parsed.
    auto deep =
        parse_payload("ts0215a_sos", "{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "}");
    EXPECT_TRUE(deep.malformed);
    EXPECT_NE(deep.why.find("over the limit"), std::string::npos) << deep.why;
    auto nested = parse_payload("ts0215a_sos", "{\"a\":" + std::string(50, '[') + std::string(50, ']') + "}");
    EXPECT_NE(nested.why.find("deeper"), std::string::npos) << nested.why;
    EXPECT_TRUE(*parse_availability("online").available);
    EXPECT_FALSE(parse_availability("maybe").available.has_value());
}

}  // namespace
