// Modbus with real parts: the simulator's libmodbus TCP server, and RTU over a socat pty pair.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <modbus/modbus.h>
#include <netinet/in.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <set>
#include <thread>

#include "config/config.hpp"
#include "devices/modbus_poller.hpp"
#include "devices/simulator.hpp"
#include "tests/support/test_support.hpp"

using namespace caregate;
using namespace caregate::devices;
using namespace caregate::testing;
namespace fs = std::filesystem;

namespace {

// Tests name port 502 in the YAML; the simulator then binds a port of the kernel's choosing
// (any_port) and the poller is pointed at the port it got (served_port).
config::SiteConfig any_port(config::SiteConfig cfg) {
    cfg.buses[0].port = 0;
    return cfg;
}
void served_port(config::SiteConfig& cfg, const Simulator& sim) {
    cfg.buses[0].port = sim.tcp_port(cfg.buses[0].id);
}

std::string tcp_site(int silence_s = 1) {
    return "site: {id: t, name: x}\nmqtt: {enabled: false}\nzones: [{id: bath, name: 浴室, private: true}]\n"
           "buses:\n  - id: b1\n    type: tcp\n    host: 127.0.0.1\n    port: 502"
           "\n    response_timeout_ms: 200\n    devices:\n"
           "      - {id: bath_call, kind: call_button, zone: bath, unit_id: 1, poll_ms: 50, debounce_ms: 60, "
           "max_silence_s: " +
           std::to_string(silence_s) +
           ", points: [{table: discrete_inputs, address: 0, meaning: call}, {table: discrete_inputs, "
           "address: 1, meaning: cancel}]}\n"
           "      - {id: thermo, kind: ir_thermometer, unit_id: 3, poll_ms: 50, max_silence_s: " +
           std::to_string(silence_s) +
           ", points: [{table: input_registers, address: 15, scale: 0.1, meaning: temperature}]}\n"
           "      - {id: siren, kind: do_module, unit_id: 4, poll_ms: 200, max_silence_s: 5, points: "
           "[{table: coils, address: 0, meaning: output}]}\n";
}

// Collects bus events of one type.
template <typename T>
std::vector<T> drain(Subscription& sub, std::chrono::milliseconds for_how_long) {
    std::vector<T> out;
    auto end = std::chrono::steady_clock::now() + for_how_long;
    while (std::chrono::steady_clock::now() < end) {
        auto e = sub.next(std::chrono::milliseconds(20));
        if (e && std::holds_alternative<T>(*e)) out.push_back(std::get<T>(*e));
    }
    return out;
}

template <typename T, typename Pred>
bool wait_for(Subscription& sub, Pred pred, std::chrono::milliseconds timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
        auto e = sub.next(std::chrono::milliseconds(20));
        if (e && std::holds_alternative<T>(*e) && pred(std::get<T>(*e))) return true;
    }
    return false;
}

// A site's first bus: our simulator serving it (prepared by `before_start`), and a poller reading
// it with its events on `bus`.
struct Rig {
    explicit Rig(const std::string& yaml, const std::function<void(Simulator&)>& before_start = {})
        : cfg(any_port(config::parse_config(yaml, "x.yaml"))), sim(cfg) {
        if (before_start) before_start(sim);
        sim.start();
        served_port(cfg, sim);
        poller = std::make_unique<ModbusBusPoller>(cfg.buses[0], bus, clock);
        poller->start();
    }
    config::SiteConfig cfg;
    Simulator sim;
    Bus bus;
    std::shared_ptr<Subscription> sub = bus.subscribe("t");
    SystemClock clock;
    std::unique_ptr<ModbusBusPoller> poller;
};

TEST(ModbusTcp, PressGivesOneCallAndHeldButtonStaysOne) {
    Rig r(tcp_site());
    Simulator& sim = r.sim;
    auto& sub = r.sub;
    ModbusBusPoller& poller = *r.poller;
    ASSERT_TRUE(wait_for<DeviceHealth>(
        *sub, [](auto& h) { return h.device_id == "bath_call" && h.online; }, std::chrono::seconds(5)));
    sim.press("bath_call");
    auto presses = drain<ButtonPressed>(*sub, std::chrono::milliseconds(1500));  // held for 1.5 s
    ASSERT_EQ(presses.size(), 1u);
    EXPECT_EQ(presses[0].device_id, "bath_call");
    EXPECT_EQ(presses[0].zone, "bath");
    sim.release("bath_call");
    EXPECT_TRUE(drain<ButtonPressed>(*sub, std::chrono::milliseconds(400)).empty())
        << "a release is not a call";
    sim.press("bath_call");
    EXPECT_EQ(drain<ButtonPressed>(*sub, std::chrono::milliseconds(500)).size(), 1u)
        << "a second press is a call";
    sim.release("bath_call");
    sim.press("bath_call", "cancel");
    EXPECT_TRUE(wait_for<ButtonReset>(
        *sub, [](auto& r) { return r.device_id == "bath_call"; }, std::chrono::seconds(2)));
    sim.release("bath_call", "cancel");
    poller.stop();
    sim.stop();
}

TEST(ModbusTcp, AGlitchShorterThanTheDebounceIsIgnored) {
    Rig r(tcp_site());
    Simulator& sim = r.sim;
    auto& sub = r.sub;
    ModbusBusPoller& poller = *r.poller;
    ASSERT_TRUE(wait_for<DeviceHealth>(
        *sub, [](auto& h) { return h.device_id == "bath_call" && h.online; }, std::chrono::seconds(5)));
    // 10 ms pulses against 50 ms polling and 60 ms debounce, until a poll has seen some of them
    // (a poll catches a pulse one time in five).
    auto glitches = [&] { return poller.stats()[0].glitches; };
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    int pulses = 0;
    while (glitches() < 2 && std::chrono::steady_clock::now() < until) {
        sim.press("bath_call");
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        sim.release("bath_call");
        std::this_thread::sleep_for(std::chrono::milliseconds(150));
        ++pulses;
    }
    EXPECT_GE(glitches(), 2u) << "pulses seen by a poll are counted as glitches (" << pulses << " sent)";
    EXPECT_TRUE(drain<ButtonPressed>(*sub, std::chrono::milliseconds(300)).empty()) << "and are not calls";
    poller.stop();
}

TEST(ModbusTcp, TemperatureAndOutputs) {
    Rig r(tcp_site());
    Simulator& sim = r.sim;
    auto& sub = r.sub;
    ModbusBusPoller& poller = *r.poller;
    sim.set_temperature("thermo", 36.6);
    EXPECT_TRUE(wait_for<TemperatureReading>(
        *sub, [](auto& t) { return t.device_id == "thermo" && std::abs(t.celsius - 36.6) < 0.01; },
        std::chrono::seconds(3)));
    EXPECT_FALSE(sim.coil("siren", 0));
    poller.set_output("siren", true);
    for (int i = 0; i < 100 && !sim.coil("siren", 0); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_TRUE(sim.coil("siren", 0));
    poller.set_output("siren", false);
    for (int i = 0; i < 100 && sim.coil("siren", 0); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_FALSE(sim.coil("siren", 0));
}

TEST(ModbusTcp, SilentDeviceGoesOfflineAndRecovers) {
    Rig r(tcp_site());
    Simulator& sim = r.sim;
    auto& sub = r.sub;
    ModbusBusPoller& poller = *r.poller;
    ASSERT_TRUE(wait_for<DeviceHealth>(
        *sub, [](auto& h) { return h.device_id == "thermo" && h.online; }, std::chrono::seconds(5)));
    sim.set_offline("thermo", true);
    EXPECT_TRUE(wait_for<DeviceHealth>(
        *sub, [](auto& h) { return h.device_id == "thermo" && !h.online; }, std::chrono::seconds(4)));
    sim.set_offline("thermo", false);
    EXPECT_TRUE(wait_for<DeviceHealth>(
        *sub, [](auto& h) { return h.device_id == "thermo" && h.online; }, std::chrono::seconds(4)));
    auto stats = poller.stats();
    EXPECT_GT(stats[1].timeouts, 0u);
}

// One unit stops answering while the bus works: offline after 3 failed polls (well under a second
// at 100 ms polling with the default 250 ms response timeout), and its timeouts do not hold up the
// calls of its neighbours.
TEST(ModbusTcp, ADeviceThatStopsAnsweringIsOfflineWithinThreePolls) {
    std::string site =
        "site: {id: t, name: x}\nmqtt: {enabled: false}\nzones: [{id: hall, name: 大厅}]\n"
        "buses:\n  - id: b1\n    type: tcp\n    host: 127.0.0.1\n    port: 502\n    devices:\n"
        "      - {id: room1, kind: call_button, zone: hall, unit_id: 1, "
        "points: [{table: discrete_inputs, address: 0, meaning: call}]}\n"
        "      - {id: room2, kind: call_button, zone: hall, unit_id: 2, "
        "points: [{table: discrete_inputs, address: 0, meaning: call}]}\n";
    Rig r(site);
    std::set<std::string> online;
    ASSERT_TRUE(wait_for<DeviceHealth>(
        *r.sub, [&](auto& h) { return h.online && online.insert(h.device_id).second && online.size() == 2; },
        std::chrono::seconds(5)));
    r.sim.set_offline("room2", true);
    auto silent_at = std::chrono::steady_clock::now();
    DeviceHealth off;
    ASSERT_TRUE(wait_for<DeviceHealth>(
        *r.sub, [&](auto& h) { return h.device_id == "room2" && !h.online && (off = h, true); },
        std::chrono::seconds(3)));
    EXPECT_LT(std::chrono::steady_clock::now() - silent_at, std::chrono::milliseconds(1300));
    EXPECT_NE(off.reason.find("连续 3 次轮询无应答"), std::string::npos) << off.reason;
    // The neighbour's press still arrives in about a poll period plus the debounce.
    r.sim.press("room1");
    auto pressed_at = std::chrono::steady_clock::now();
    ASSERT_TRUE(wait_for<ButtonPressed>(
        *r.sub, [](auto& p) { return p.device_id == "room1"; }, std::chrono::seconds(2)));
    EXPECT_LT(std::chrono::steady_clock::now() - pressed_at, std::chrono::milliseconds(1000));
    r.sim.set_offline("room2", false);
    EXPECT_TRUE(wait_for<DeviceHealth>(
        *r.sub, [](auto& h) { return h.device_id == "room2" && h.online; }, std::chrono::seconds(3)));
}

TEST(ModbusTcp, GatewayDroppedAndRestoredMidPoll) {
    auto cfg = any_port(config::parse_config(tcp_site(), "x.yaml"));
    Bus bus;
    auto sub = bus.subscribe("t");
    SystemClock clock;
    auto sim = std::make_unique<Simulator>(cfg);
    sim->start();
    served_port(cfg, *sim);  // the gateway comes back on the same address
    ModbusBusPoller poller(cfg.buses[0], bus, clock);
    poller.start();
    ASSERT_TRUE(wait_for<DeviceHealth>(
        *sub, [](auto& h) { return h.device_id == "bath_call" && h.online; }, std::chrono::seconds(5)));
    sim.reset();  // the gateway reboots
    auto lost_at = std::chrono::steady_clock::now();
    BusHealth down;
    EXPECT_TRUE(wait_for<BusHealth>(
        *sub, [&](auto& h) { return !h.online && (down = h, true); }, std::chrono::seconds(5)));
    // A dead call system is an alarm at once: within 3 s, one event naming every device.
    EXPECT_LT(std::chrono::steady_clock::now() - lost_at, std::chrono::seconds(3));
    EXPECT_EQ(down.bus_id, "b1");
    EXPECT_EQ(down.devices, (std::vector<std::string>{"bath_call", "thermo", "siren"}));
    EXPECT_NE(down.reason.find("总线断开"), std::string::npos) << down.reason;
    EXPECT_TRUE(drain<ButtonPressed>(*sub, std::chrono::milliseconds(200)).empty())
        << "errors are never calls";
    sim = std::make_unique<Simulator>(cfg);
    sim->start();
    EXPECT_TRUE(wait_for<BusHealth>(
        *sub, [](auto& h) { return h.online; }, std::chrono::seconds(8)))
        << "the restored link is recorded too";
    EXPECT_TRUE(wait_for<DeviceHealth>(
        *sub, [](auto& h) { return h.device_id == "bath_call" && h.online; }, std::chrono::seconds(8)));
    sim->press("bath_call");
    EXPECT_TRUE(wait_for<ButtonPressed>(
        *sub, [](auto&) { return true; }, std::chrono::seconds(2)))
        << "polling resumes after the reconnect";
}

// A unit that answers one read after the response timeout: its late reply must not be taken as the
// answer to the next request (libmodbus does not drop it), or every read after is one reply behind —
// the bus looks dead while every unit answers, and presses are never seen. Found by the modbus_reply
// fuzz seeds (fuzz/README.md).
TEST(ModbusTcp, ALateReplyDoesNotPutTheBusOutOfStep) {
    modbus_t* srv = modbus_new_tcp("127.0.0.1", 0);
    ASSERT_NE(srv, nullptr);
    int listener = modbus_tcp_listen(srv, 1);
    ASSERT_GE(listener, 0);
    sockaddr_in addr{};
    socklen_t len = sizeof addr;
    ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    modbus_mapping_t* map = modbus_mapping_new(0, 2, 0, 0);
    std::atomic<bool> run{true};
    std::atomic<int> requests{0};
    std::thread server([&] {
        fd_set rd;
        FD_ZERO(&rd);
        FD_SET(listener, &rd);
        timeval tv{5, 0};
        if (select(listener + 1, &rd, nullptr, nullptr, &tv) <= 0) return;
        int conn = modbus_tcp_accept(srv, &listener);
        if (conn < 0) return;
        modbus_set_indication_timeout(srv, 0, 100000);
        uint8_t q[MODBUS_TCP_MAX_ADU_LENGTH];
        while (run) {
            int n = modbus_receive(srv, q);
            if (n <= 0) {
                if (errno == ETIMEDOUT) continue;
                break;
            }
            int k = ++requests;
            if (k == 5) std::this_thread::sleep_for(std::chrono::milliseconds(350));  // past the 200 ms
            if (k == 12) map->tab_input_bits[0] = 1;  // the elder presses, well after the late reply
            modbus_reply(srv, q, n, map);
        }
    });
    auto cfg = config::parse_config(
        "site: {id: t, name: x}\nmqtt: {enabled: false}\nzones: [{id: bath, name: 浴室, private: true}]\n"
        "buses:\n  - id: b1\n    type: tcp\n    host: 127.0.0.1\n    port: " +
            std::to_string(ntohs(addr.sin_port)) +
            "\n    response_timeout_ms: 200\n    devices:\n"
            "      - {id: bath_call, kind: call_button, zone: bath, unit_id: 1, poll_ms: 50, debounce_ms: 0, "
            "max_silence_s: 5, points: [{table: discrete_inputs, address: 0, meaning: call}]}\n",
        "x.yaml");
    Bus bus;
    auto sub = bus.subscribe("t");
    SystemClock clock;
    ModbusBusPoller poller(cfg.buses[0], bus, clock);
    poller.start();
    bool pressed = false, went_offline = false;
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!pressed && std::chrono::steady_clock::now() < end) {
        auto e = sub->next(std::chrono::milliseconds(20));
        if (!e) continue;
        if (std::holds_alternative<ButtonPressed>(*e)) pressed = true;
        if (std::holds_alternative<DeviceHealth>(*e) && !std::get<DeviceHealth>(*e).online)
            went_offline = true;
    }
    poller.stop();
    run = false;
    server.join();
    EXPECT_GE(requests.load(), 12) << "the late reply was the 5th";
    EXPECT_TRUE(pressed) << "the press after a late reply is seen";
    EXPECT_FALSE(went_offline) << "one late reply is not an offline unit";
    auto stats = poller.stats();
    EXPECT_LE(stats[0].errors, 2u) << "the bus is back in step after the late reply";
    modbus_mapping_free(map);
    modbus_close(srv);
    modbus_free(srv);
}

TEST(ModbusTcp, ExceptionsAreCountedNotCalls) {
    auto site = tcp_site();
    // Address 300 is outside the simulator's register map: every read is an illegal-address exception.
    site +=
        "      - {id: broken, kind: call_button, unit_id: 5, poll_ms: 50, max_silence_s: 60, "
        "points: [{table: discrete_inputs, address: 300, meaning: call}]}\n";
    Rig r(site);
    EXPECT_TRUE(drain<ButtonPressed>(*r.sub, std::chrono::milliseconds(800)).empty());
    auto stats = r.poller->stats();
    EXPECT_GT(stats[3].errors, 3u);
    EXPECT_GT(stats[3].invalid, 3u);
    EXPECT_EQ(stats[0].errors, 0u) << "one broken device does not disturb the others";
}

// Eight rooms wired to one 8-input DI module (one unit id): one request per cycle serves all eight
// call points, each press is still its own room's call, and a ninth device misconfigured on the same
// module (an address it does not have) does not silence the other eight.
TEST(ModbusTcp, RoomsOnOneDiModuleAreReadWithOneRequestPerCycle) {
    std::string site =
        "site: {id: t, name: x}\nmqtt: {enabled: false}\nzones: [{id: hall, name: 大厅}]\n"
        "buses:\n  - id: b1\n    type: tcp\n    host: 127.0.0.1\n    port: 502\n"
        "    response_timeout_ms: 200\n    devices:\n";
    for (int i = 0; i < 8; ++i)
        site +=
            "      - {id: room" + std::to_string(i + 1) +
            ", kind: call_button, zone: hall, unit_id: 2, poll_ms: 100, debounce_ms: 0, max_silence_s: 5, "
            "points: [{table: discrete_inputs, address: 0, channel: " +
            std::to_string(i) + ", meaning: call}]}\n";
    auto cfg = any_port(config::parse_config(site, "x.yaml"));
    Simulator sim(cfg);
    sim.start();
    served_port(cfg, sim);
    Bus bus;
    auto sub = bus.subscribe("t");
    SystemClock clock;
    {
        ModbusBusPoller poller(cfg.buses[0], bus, clock);
        poller.start();
        std::this_thread::sleep_for(std::chrono::milliseconds(1500));
        poller.stop();
        auto stats = poller.stats();
        ASSERT_GT(stats[0].polls, 5u);
        for (auto& st : stats) EXPECT_TRUE(st.online) << st.id;
        // One FC02 request per cycle, not eight (a cycle may be cut short at stop).
        EXPECT_LE(sim.requests(), stats[0].polls + 1)
            << "requests " << sim.requests() << ", cycles " << stats[0].polls;
    }
    ModbusBusPoller poller(cfg.buses[0], bus, clock);
    poller.start();
    ASSERT_TRUE(wait_for<DeviceHealth>(
        *sub, [](auto& h) { return h.device_id == "room8" && h.online; }, std::chrono::seconds(5)));
    sim.press("room6");
    auto presses = drain<ButtonPressed>(*sub, std::chrono::milliseconds(800));
    ASSERT_EQ(presses.size(), 1u);
    EXPECT_EQ(presses[0].device_id, "room6");
}

TEST(ModbusTcp, AMisconfiguredPointOnASharedModuleDoesNotSilenceItsNeighbours) {
    std::string site =
        "site: {id: t, name: x}\nmqtt: {enabled: false}\nzones: [{id: hall, name: 大厅}]\n"
        "buses:\n  - id: b1\n    type: tcp\n    host: 127.0.0.1\n    port: 502"
        "\n    response_timeout_ms: 200\n    devices:\n"
        "      - {id: room1, kind: call_button, zone: hall, unit_id: 2, poll_ms: 50, debounce_ms: 0, "
        "max_silence_s: 2, points: [{table: discrete_inputs, address: 0, meaning: call}]}\n"
        "      - {id: typo, kind: call_button, zone: hall, unit_id: 2, poll_ms: 50, max_silence_s: 60, "
        "points: [{table: discrete_inputs, address: 30, meaning: call}]}\n";
    Rig r(site, [](Simulator& sim) {
        sim.resize_unit("b1", 2, 16, 16);
    });  // a 16-input module: the merged read 0..30 is refused
    Simulator& sim = r.sim;
    auto& sub = r.sub;
    ModbusBusPoller& poller = *r.poller;
    ASSERT_TRUE(wait_for<DeviceHealth>(
        *sub, [](auto& h) { return h.device_id == "room1" && h.online; }, std::chrono::seconds(5)));
    sim.press("room1");
    EXPECT_TRUE(wait_for<ButtonPressed>(
        *sub, [](auto& p) { return p.device_id == "room1"; }, std::chrono::seconds(2)));
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (poller.stats()[1].errors <= 2 && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto stats = poller.stats();
    EXPECT_GT(stats[1].errors, 2u);
    EXPECT_GT(stats[1].invalid, 2u);
    EXPECT_LE(stats[0].errors, 1u) << "only the first merged read may fail for the good neighbour";
}

// RTU over a socat pty pair: the simulator on one end, the poller on the other.
struct PtyPair {
    TempDir dir;
    std::unique_ptr<Process> socat;
    std::string a() const { return dir.file("sim"); }
    std::string b() const { return dir.file("poller"); }
    void start() {
        socat = std::make_unique<Process>(
            std::vector<std::string>{"socat", "pty,raw,echo=0,link=" + a(), "pty,raw,echo=0,link=" + b()},
            dir.file("socat.log"));
        for (int i = 0; i < 100 && !(fs::exists(a()) && fs::exists(b())); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        ASSERT_TRUE(fs::exists(a()) && fs::exists(b())) << read_file(dir.file("socat.log"));
    }
    void kill() { socat.reset(); }
};

std::string rtu_site(const std::string& device) {
    return "site: {id: t, name: x}\nmqtt: {enabled: false}\nzones: [{id: bath, name: 浴室, private: true}]\n"
           "buses:\n  - id: rs485\n    type: rtu\n    device: " +
           device +
           "\n    baud: 9600\n    response_timeout_ms: 200\n    byte_timeout_ms: 50\n    devices:\n"
           "      - {id: di1, kind: di_module, zone: bath, unit_id: 1, poll_ms: 50, debounce_ms: 0, "
           "max_silence_s: 1, "
           "points: [{table: discrete_inputs, address: 0, channel: 0, meaning: call}, "
           "{table: discrete_inputs, address: 0, channel: 1, meaning: cord_pulled}]}\n"
           "      - {id: di2, kind: di_module, zone: bath, unit_id: 2, poll_ms: 50, debounce_ms: 0, "
           "max_silence_s: 1, "
           "points: [{table: discrete_inputs, address: 0, channel: 0, meaning: fall}]}\n";
}

TEST(ModbusRtu, CallsOverASerialLineAndALineRemovedAndRestored) {
    PtyPair pty;
    pty.start();
    auto cfg = config::parse_config(rtu_site(pty.b()), "x.yaml");
    auto sim = std::make_unique<Simulator>(cfg, std::map<std::string, std::string>{{"rs485", pty.a()}});
    sim->start();
    Bus bus;
    auto sub = bus.subscribe("t");
    SystemClock clock;
    ModbusBusPoller poller(cfg.buses[0], bus, clock);
    poller.start();
    ASSERT_TRUE(wait_for<DeviceHealth>(
        *sub, [](auto& h) { return h.device_id == "di2" && h.online; }, std::chrono::seconds(5)));
    sim->press("di1", "cord_pulled");
    EXPECT_TRUE(wait_for<ButtonPressed>(
        *sub, [](auto& p) { return p.device_id == "di1" && p.cause == "cord_pulled"; },
        std::chrono::seconds(2)));
    sim->press("di2", "fall");
    EXPECT_TRUE(wait_for<FallDetected>(
        *sub, [](auto& f) { return f.device_id == "di2"; }, std::chrono::seconds(2)));

    // The adapter is unplugged: both ends of the line vanish.
    sim.reset();
    pty.kill();
    auto lost_at = std::chrono::steady_clock::now();
    EXPECT_TRUE(wait_for<BusHealth>(
        *sub, [](auto& h) { return !h.online && h.devices.size() == 2; }, std::chrono::seconds(5)));
    EXPECT_LT(std::chrono::steady_clock::now() - lost_at, std::chrono::seconds(3));
    pty.start();
    sim = std::make_unique<Simulator>(cfg, std::map<std::string, std::string>{{"rs485", pty.a()}});
    sim->start();
    EXPECT_TRUE(wait_for<DeviceHealth>(
        *sub, [](auto& h) { return h.device_id == "di1" && h.online; }, std::chrono::seconds(10)));
    sim->press("di1", "call");
    EXPECT_TRUE(wait_for<ButtonPressed>(
        *sub, [](auto& p) { return p.device_id == "di1" && p.cause == "call"; }, std::chrono::seconds(2)));
}

TEST(ModbusRtu, CorruptFramesAreCountedAndNeverRaiseAnAlarm) {
    PtyPair pty;
    pty.start();
    auto cfg = config::parse_config(rtu_site(pty.b()), "x.yaml");
    // A broken device on the line: it answers every request with the "input active" bit set but a
    // wrong CRC, or with half a frame.
    std::atomic<bool> run{true};
    std::thread noisy([&] {
        int fd = ::open(pty.a().c_str(), O_RDWR | O_NOCTTY);
        ASSERT_GE(fd, 0);
        termios t{};
        tcgetattr(fd, &t);
        cfmakeraw(&t);
        tcsetattr(fd, TCSANOW, &t);
        uint8_t req[256];
        int n = 0;
        while (run) {
            fd_set rd;
            FD_ZERO(&rd);
            FD_SET(fd, &rd);
            timeval tv{0, 50000};
            if (select(fd + 1, &rd, nullptr, nullptr, &tv) <= 0) continue;
            if (read(fd, req, sizeof req) < 2) continue;
            uint8_t bad[] = {req[0], 0x02, 0x01, 0xFF, 0x12, 0x34};  // wrong CRC
            uint8_t partial[] = {req[0], 0x02};
            if (n++ % 2)
                (void)!write(fd, bad, sizeof bad);
            else
                (void)!write(fd, partial, sizeof partial);
        }
        ::close(fd);
    });
    Bus bus;
    auto sub = bus.subscribe("t");
    SystemClock clock;
    ModbusBusPoller poller(cfg.buses[0], bus, clock);
    poller.start();
    EXPECT_TRUE(drain<ButtonPressed>(*sub, std::chrono::milliseconds(1500)).empty());
    EXPECT_TRUE(drain<FallDetected>(*sub, std::chrono::milliseconds(100)).empty());
    poller.stop();
    run = false;
    noisy.join();
    auto stats = poller.stats();
    EXPECT_GT(stats[0].errors, 2u);
    EXPECT_GT(stats[0].invalid + stats[0].timeouts, 2u);
}

TEST(Simulator, ScriptErrorsNameTheLine) {
    EXPECT_NO_THROW(parse_sim_script("# demo\nat 2 press bath_call_1\nat 2.5 temp door 36.6\n", "s.txt"));
    auto expect_error = [](const std::string& text, const std::string& msg) {
        try {
            parse_sim_script(text, "s.txt");
            FAIL() << text;
        } catch (const SimScriptError& e) {
            EXPECT_NE(std::string(e.what()).find(msg), std::string::npos) << e.what();
        }
    };
    expect_error("at 1 press a\nat 2 prss b\n", "s.txt:2: unknown action 'prss'");
    expect_error("press a\n", "s.txt:1: each line starts with 'at <seconds>'");
    expect_error("at soon press a\n", "s.txt:1: 'soon' is not a time");
    expect_error("\n\nat 3 temp thermo hot\n", "s.txt:3: temp needs a temperature");
    expect_error("at 1 press\n", "s.txt:1: missing device id");
}

}  // namespace
