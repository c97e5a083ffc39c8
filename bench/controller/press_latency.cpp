// End-to-end at the shipped defaults, against an independent peer: 24 call-point units behind one
// Modbus TCP gateway served by pymodbus (bench/peers/callpoint_gateway.py) → our poller (poll and
// debounce at the defaults) → the alarm row committed → its MQTT message on the site broker, seen
// by a separate subscriber. Prints the budget: poll wait (input set → first read showing it),
// debounce (→ confirming read), commit (→ row committed), publish (→ MQTT message received).
// Usage: bench_press_latency [presses=100]   (needs /usr/sbin/mosquitto and python3-pymodbus)
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <thread>

#include "config/config.hpp"
#include "controller/alarms/alarms.hpp"
#include "controller/announcer.hpp"
#include "controller/core/metrics.hpp"
#include "controller/people/checkins.hpp"
#include "controller/rules.hpp"
#include "devices/modbus_poller.hpp"
#include "devices/mqtt_link.hpp"
#include "tests/support/test_support.hpp"

using namespace caregate;

extern char** environ;

namespace {
constexpr int kUnits = 24;

int64_t wall_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// The peer as a child process: commands on its stdin, answers on its stdout.
class Gateway {
public:
    explicit Gateway(int units) {
        int in[2], out[2];
        if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC)) throw std::runtime_error("pipe");
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, in[0], 0);
        posix_spawn_file_actions_adddup2(&fa, out[1], 1);
        std::string script = std::string(CAREGATE_SOURCE_DIR) + "/bench/peers/callpoint_gateway.py";
        std::string n = std::to_string(units);
        const char* argv[] = {"/usr/bin/python3", script.c_str(), n.c_str(), nullptr};
        if (posix_spawn(&pid_, argv[0], &fa, nullptr, const_cast<char**>(argv), environ) != 0)
            throw std::runtime_error("cannot start " + script);
        posix_spawn_file_actions_destroy(&fa);
        ::close(in[0]);
        ::close(out[1]);
        to_ = in[1];
        from_ = out[0];
        auto words = line(std::chrono::seconds(10));
        if (words.size() != 2 || words[0] != "port")
            throw std::runtime_error("the gateway did not start (python3-pymodbus installed?)");
        port_ = std::stoi(words[1]);
    }
    ~Gateway() {
        ::close(to_);
        ::close(from_);
        kill(pid_, SIGTERM);
        waitpid(pid_, nullptr, 0);
    }
    int port() const { return port_; }
    // Sets the unit's input; returns the peer's CLOCK_REALTIME in µs just after it did.
    int64_t press(int unit) {
        command("press " + std::to_string(unit));
        auto w = line(std::chrono::seconds(2));
        if (w.size() != 3 || w[0] != "pressed") throw std::runtime_error("gateway: no answer to press");
        return std::stoll(w[2]) / 1000;
    }
    void release(int unit) {
        command("release " + std::to_string(unit));
        line(std::chrono::seconds(2));
    }

private:
    void command(const std::string& c) {
        std::string l = c + "\n";
        if (write(to_, l.data(), l.size()) != ssize_t(l.size())) throw std::runtime_error("gateway gone");
    }
    std::vector<std::string> line(std::chrono::milliseconds timeout) {
        auto end = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            auto nl = buf_.find('\n');
            if (nl != std::string::npos) {
                std::istringstream in(buf_.substr(0, nl));
                buf_.erase(0, nl + 1);
                std::vector<std::string> words;
                for (std::string w; in >> w;) words.push_back(w);
                return words;
            }
            auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
            pollfd p{from_, POLLIN, 0};
            if (left.count() <= 0 || poll(&p, 1, int(left.count())) <= 0) return {};
            char b[512];
            ssize_t n = read(from_, b, sizeof b);
            if (n <= 0) return {};
            buf_.append(b, size_t(n));
        }
    }
    pid_t pid_ = -1;
    int to_ = -1, from_ = -1, port_ = 0;
    std::string buf_;
};

void report(const char* what, std::vector<double> v, int n) {
    std::sort(v.begin(), v.end());
    auto p = [&](double q) { return v.empty() ? -1.0 : v[size_t(q * double(v.size() - 1) + 0.5)]; };
    std::printf("%s: %zu/%d, p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", what, v.size(), n, p(0.5), p(0.99),
                p(1.0));
}
}  // namespace

int main(int argc, char** argv) {
    spdlog::set_level(spdlog::level::err);
    int presses = argc > 1 ? std::atoi(argv[1]) : 100;
    testing::TempDir dir;
    testing::Mosquitto broker;
    Gateway gateway(kUnits);
    std::string devices;
    for (int u = 1; u <= kUnits; ++u)
        // The shipped defaults for a call point (poll_ms, debounce_ms, timeouts): what a site gets.
        devices += std::string(u > 1 ? ", " : "") + "{id: call" + std::to_string(u) +
                   ", kind: call_button, zone: bath, unit_id: " + std::to_string(u) +
                   ", points: [{table: discrete_inputs, address: 0, meaning: call}]}";
    auto cfg = config::parse_config("site: {id: b, name: x}\nmqtt: {uri: '" + broker.uri() +
                                        "'}\nzones: [{id: bath, name: b, private: true}]\n"
                                        "buses: [{id: b1, type: tcp, host: 127.0.0.1, port: " +
                                        std::to_string(gateway.port()) + ", devices: [" + devices + "]}]\n",
                                    dir.file("x.yaml"));
    SystemClock clock;
    Store store(dir.file("p.db"));
    Outbox outbox("b", "r");
    Bus bus;
    Metrics metrics;
    AlarmService alarms(store, clock, outbox, AlarmPolicy{600, 3600});
    Occupancy occ(store, clock, cfg);
    CheckinService checkins(store, clock, outbox, occ, 30, "bath");
    std::atomic<int64_t> stored_at{0}, mqtt_at{0}, first_seen_ms{0}, confirmed_ms{0};
    alarms.on_announce([&](const Alarm& a, const AlarmStep& s) {
        if (s.step == "raised") stored_at = wall_us();
        bus.publish(AlarmChanged{a.id, a.kind, a.state, to_json(s).dump(), s.ts_ms});
    });
    RulesEngine rules(cfg, bus, store, clock, alarms, checkins, metrics);
    auto presses_seen = bus.subscribe("bench");
    devices::MqttLinkOptions lo;
    lo.uri = broker.uri();
    lo.client_id = "bench-box";
    devices::MqttLink link(lo, nullptr);
    devices::MqttLinkOptions so;
    so.uri = broker.uri();
    so.client_id = "bench-listener";
    so.subscriptions = {"caregate/b/alarm/#"};
    devices::MqttLink listener(so, [&](const std::string&, const std::string& p) {
        if (p.find("\"raised\"") != std::string::npos) mqtt_at = wall_us();
    });
    Announcer announcer(
        cfg, bus, occ, [&](const std::string& t, const std::string& p, bool r) { link.publish(t, p, 1, r); },
        nullptr);
    devices::ModbusBusPoller poller(cfg.buses[0], bus, clock);
    std::atomic<bool> watching{true};
    std::thread watch([&] {
        while (watching) {
            auto e = presses_seen->next(std::chrono::milliseconds(50));
            if (e && std::holds_alternative<ButtonPressed>(*e)) {
                first_seen_ms = std::get<ButtonPressed>(*e).first_seen_ms;
                confirmed_ms = std::get<ButtonPressed>(*e).ts_ms;
            }
        }
    });
    rules.start();
    announcer.start();
    link.start();
    listener.start();
    poller.start();
    std::this_thread::sleep_for(std::chrono::seconds(2));
    std::vector<double> total, to_mqtt, wait, debounce, commit, publish;
    for (int i = 0; i < presses; ++i) {
        int unit = 1 + (i * 7) % kUnits;
        stored_at = mqtt_at = first_seen_ms = confirmed_ms = 0;
        int64_t set_us = gateway.press(unit);
        auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
        while ((!stored_at || !mqtt_at || !confirmed_ms) && std::chrono::steady_clock::now() < until)
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        if (stored_at) total.push_back((stored_at - set_us) / 1e3);
        if (mqtt_at) to_mqtt.push_back((mqtt_at - set_us) / 1e3);
        if (stored_at && mqtt_at && confirmed_ms) {
            wait.push_back(double(first_seen_ms) - set_us / 1e3);
            debounce.push_back(double(confirmed_ms - first_seen_ms));
            commit.push_back(stored_at / 1e3 - double(confirmed_ms));
            publish.push_back((mqtt_at - stored_at) / 1e3);
        }
        gateway.release(unit);
        auto open = alarms.find_open("call", "call" + std::to_string(unit));
        if (open) alarms.resolve(open->id, "bench", "bench");
        // A pause of a varying fraction of the poll period, so presses land anywhere in the cycle.
        std::this_thread::sleep_for(std::chrono::milliseconds(250 + (i * 37) % 100));
    }
    poller.stop();
    watching = false;
    watch.join();
    announcer.stop();
    rules.stop();
    std::printf(
        "%d units on one Modbus TCP gateway (pymodbus peer), poll_ms %d, debounce_ms %d, "
        "response_timeout_ms %d (shipped defaults)\n",
        kUnits, cfg.buses[0].devices[0].poll_ms, cfg.buses[0].devices[0].debounce_ms,
        cfg.buses[0].response_timeout_ms);
    report("press -> alarm committed", total, presses);
    report("press -> MQTT alarm message", to_mqtt, presses);
    std::printf("budget (ms resolution for the poller's stamps):\n");
    report("  poll wait (set -> first read showing it)", wait, presses);
    report("  debounce (-> confirming read)", debounce, presses);
    report("  commit (-> alarm row committed)", commit, presses);
    report("  publish (-> MQTT message at a subscriber)", publish, presses);
    return 0;
}
