// End-to-end: a call button's register changes in the (libmodbus TCP) simulator → the poller sees
// the edge (polling and debounce at the shipped defaults) → the alarm row is committed → its MQTT
// message is on the site broker.
// Usage: bench_press_latency [presses=100]   (needs /usr/sbin/mosquitto)
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

#include "config/config.hpp"
#include "controller/alarms.hpp"
#include "controller/announcer.hpp"
#include "controller/checkins.hpp"
#include "controller/core/metrics.hpp"
#include "controller/rules.hpp"
#include "devices/modbus_poller.hpp"
#include "devices/mqtt_link.hpp"
#include "devices/simulator.hpp"
#include "tests/support/test_support.hpp"

using namespace caregate;
using Clk = std::chrono::steady_clock;

int main(int argc, char** argv) {
    spdlog::set_level(spdlog::level::err);
    int presses = argc > 1 ? std::atoi(argv[1]) : 100;
    testing::TempDir dir;
    testing::Mosquitto broker;
    auto cfg = config::parse_config(
        "site: {id: b, name: x}\nmqtt: {uri: '" + broker.uri() +
            "'}\nzones: [{id: bath, name: b, private: true}]\n"
            "buses: [{id: b1, type: tcp, host: 127.0.0.1, port: 502"
            // The shipped defaults for a call point (poll_ms, debounce_ms): what a site gets.
            ", devices: [{id: call, kind: call_button, zone: bath, "
            "points: [{table: discrete_inputs, address: 0, meaning: call}]}]}]\n",
        dir.file("x.yaml"));
    cfg.buses[0].port = 0;  // the simulator binds a port of the kernel's choosing
    devices::Simulator sim(cfg);
    sim.start();
    cfg.buses[0].port = sim.tcp_port("b1");
    SystemClock clock;
    Store store(dir.file("p.db"));
    Outbox outbox("b", "r");
    Bus bus;
    Metrics metrics;
    AlarmService alarms(store, clock, outbox, AlarmPolicy{600, 3600});
    Occupancy occ(store, clock, cfg);
    CheckinService checkins(store, clock, outbox, occ, 30, "bath");
    std::atomic<int64_t> stored_at{0}, mqtt_at{0};
    alarms.on_announce([&](const Alarm& a, const AlarmStep& s) {
        if (s.step == "raised") stored_at = Clk::now().time_since_epoch().count();
        bus.publish(AlarmChanged{a.id, a.kind, a.state, to_json(s).dump(), s.ts_ms});
    });
    RulesEngine rules(cfg, bus, store, clock, alarms, checkins, metrics);
    devices::MqttLinkOptions lo;
    lo.uri = broker.uri();
    lo.client_id = "bench-box";
    devices::MqttLink link(lo, nullptr);
    devices::MqttLinkOptions so;
    so.uri = broker.uri();
    so.client_id = "bench-listener";
    so.subscriptions = {"caregate/b/alarm/#"};
    devices::MqttLink listener(so, [&](const std::string&, const std::string& p) {
        if (p.find("\"raised\"") != std::string::npos) mqtt_at = Clk::now().time_since_epoch().count();
    });
    Announcer announcer(
        cfg, bus, occ, [&](const std::string& t, const std::string& p, bool r) { link.publish(t, p, 1, r); },
        nullptr);
    devices::ModbusBusPoller poller(cfg.buses[0], bus, clock);
    rules.start();
    announcer.start();
    link.start();
    listener.start();
    poller.start();
    std::this_thread::sleep_for(std::chrono::seconds(2));
    std::vector<double> to_store, to_mqtt;
    for (int i = 0; i < presses; ++i) {
        stored_at = 0;
        mqtt_at = 0;
        auto t0 = Clk::now();
        sim.press("call");
        while ((!stored_at || !mqtt_at) && Clk::now() - t0 < std::chrono::seconds(3))
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        if (stored_at) to_store.push_back((stored_at - t0.time_since_epoch().count()) / 1e6);
        if (mqtt_at) to_mqtt.push_back((mqtt_at - t0.time_since_epoch().count()) / 1e6);
        sim.release("call");
        auto open = alarms.find_open("call", "call");
        if (open) alarms.resolve(open->id, "bench", "bench");
        // Wait a random fraction of the poll period so presses land anywhere in the cycle.
        std::this_thread::sleep_for(std::chrono::milliseconds(250 + (i * 37) % 100));
    }
    poller.stop();
    announcer.stop();
    rules.stop();
    auto report = [](const char* what, std::vector<double> v, int n) {
        std::sort(v.begin(), v.end());
        auto p = [&](double q) { return v.empty() ? -1.0 : v[size_t(q * double(v.size() - 1))]; };
        std::printf("press -> %s: %zu/%d, p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", what, v.size(), n, p(0.5),
                    p(0.99), p(1.0));
    };
    report("alarm committed", to_store, presses);
    report("MQTT alarm message", to_mqtt, presses);
    return 0;
}
