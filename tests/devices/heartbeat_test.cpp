// Worker heartbeats of the device threads (#19): the Modbus poller and the MQTT bridge beat while they
// run, and one that stops beating is named by Heartbeats::stalled (which /healthz, the overview and
// the systemd watchdog read).
#include "controller/core/heartbeat.hpp"

#include <gtest/gtest.h>

#include "config/config.hpp"
#include "controller/core/bus.hpp"
#include "controller/core/clock.hpp"
#include "devices/modbus_poller.hpp"
#include "devices/mqtt_sensors.hpp"
#include "devices/simulator.hpp"
#include "tests/support/test_support.hpp"

using namespace caregate;
using caregate::testing::eventually;

namespace {
bool names(const Heartbeats& h, const std::string& name) {
    for (auto& w : h.stalled())
        if (w.name == name) return true;
    return false;
}
}  // namespace

TEST(WorkerHeartbeats, TheModbusPollerBeatsWhileItRunsAndIsNamedWhenItStops) {
    auto cfg = config::parse_config(
        "site: {id: t, name: x}\nmqtt: {enabled: false}\nzones: [{id: bath, name: 浴室, private: true}]\n"
        "buses:\n  - id: b1\n    type: tcp\n    host: 127.0.0.1\n    port: 502\n    devices:\n"
        "      - {id: bath_call, kind: call_button, zone: bath, unit_id: 1, poll_ms: 50, points: "
        "[{table: discrete_inputs, address: 0, meaning: call}]}\n",
        "x.yaml");
    cfg.buses[0].port = 0;  // the simulator binds a port of the kernel's choosing
    devices::Simulator sim(cfg);
    sim.start();
    cfg.buses[0].port = sim.tcp_port("b1");
    Bus bus;
    SystemClock clock;
    Heartbeats beats;
    auto hb = beats.add("modbus:b1", "呼叫与报警设备总线（b1）", 400);
    auto poller = std::make_unique<devices::ModbusBusPoller>(cfg.buses[0], bus, clock);
    poller->set_heartbeat(hb);
    int64_t before = hb->last_ms();
    poller->start();
    ASSERT_TRUE(eventually([&] { return hb->last_ms() > before; }, std::chrono::seconds(5)));
    // Beating on: never named while it runs (checked over more than its limit).
    int64_t until = Heartbeat::steady_ms() + 1000;
    bool named = false;
    while (Heartbeat::steady_ms() < until) named = named || names(beats, "modbus:b1");
    EXPECT_FALSE(named);
    poller->stop();
    EXPECT_TRUE(eventually([&] { return names(beats, "modbus:b1"); }, std::chrono::seconds(5)))
        << "a poller that stopped beating is stalled";
    sim.stop();
}

TEST(WorkerHeartbeats, TheMqttBridgeBeatsWithoutMessagesAndIsNamedWhenItStops) {
    auto cfg = config::parse_config("site: {id: t, name: x}\n", "x.yaml");
    Bus bus;
    SystemClock clock;
    Heartbeats beats;
    auto hb = beats.add("mqtt", "无线传感器接入", 1500);
    devices::MqttSensorBridge bridge(cfg, bus, clock);
    bridge.set_heartbeat(hb);
    int64_t before = hb->last_ms();
    bridge.start();
    // Its loop wakes every 500 ms even when no device speaks.
    ASSERT_TRUE(eventually([&] { return hb->last_ms() > before + 400; }, std::chrono::seconds(5)));
    EXPECT_FALSE(names(beats, "mqtt"));
    bridge.stop();
    EXPECT_TRUE(eventually([&] { return names(beats, "mqtt"); }, std::chrono::seconds(5)));
}
