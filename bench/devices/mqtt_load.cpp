// Emergency calls over MQTT: does the sensor bridge keep up with a zigbee2mqtt-sized site, and how
// fast does a call-button press get through it meanwhile?
//
// A real Mosquitto on loopback (started and stopped here), the real bridge wired as the daemon wires
// it (devices/mqtt_link.* subscribing every device topic and handing messages to
// devices/mqtt_sensors.*'s queue and thread), and 200 zigbee2mqtt-style sensors published through ONE
// client, as one zigbee2mqtt instance would: even-numbered ones zigbee_occupancy reports, odd ones
// ts0215a_sos battery reports; neither raises an event per message. Each sensor publishes `rate`
// messages/s (2,000 msg/s in all by default) for `seconds`. Every second one line: messages sent and
// processed by the bridge (its `received` counter, counted by its own thread as it handles a
// message), the bridge's queue depth (backlog()), "in-flight" = sent - processed (all that is still
// in the publishing client, the broker, the bridge's Paho client or its queue), RSS of this process
// (bridge and publishers) and of the broker, and CPU (100% = one core).
// At the end: whether the backlog grows, and the latency of a call-button press under this load: a
// separate "pendant" client publishes {"action":"emergency"} on a ts0215a_sos topic once a second and
// the time until that device's ButtonPressed arrives on the bus is measured (p50/p99).
//
// Usage: bench_mqtt_load [sensors=200] [rate=10] [seconds=30] [qos=0] [press_qos=0] [queue=20000]
//   rate       messages per second per sensor
//   qos        QoS of the sensor messages (zigbee2mqtt publishes at 0 unless configured)
//   press_qos  QoS of the call-button presses
//   queue      the bridge's queue capacity (the daemon uses the default, 20000)
// Needs mosquitto (/usr/sbin/mosquitto or in PATH; Debian: apt-get install mosquitto). Exit status:
// 0 no growing backlog and nothing lost, 1 otherwise, 2 bad arguments or no mosquitto, 3 an error
// (the message says why), 130 interrupted.
#include <spdlog/spdlog.h>

#include <deque>
#include <memory>
#include <mutex>

#include "bench/bench_util.hpp"
#include "config/config.hpp"
#include "controller/core/bus.hpp"
#include "controller/core/clock.hpp"
#include "devices/mqtt_link.hpp"
#include "devices/mqtt_sensors.hpp"

using namespace caregate;
using namespace caregate::bench;
using namespace std::chrono_literals;

namespace {

const char* kUsage =
    "usage: bench_mqtt_load [sensors=200] [rate=10] [seconds=30] [qos=0] [press_qos=0] [queue=20000]\n"
    "  zigbee2mqtt-style sensors at `rate` msg/s each through a loopback Mosquitto into the MQTT sensor\n"
    "  bridge; throughput, backlog and RSS each second, and call-button press latency. Needs mosquitto.\n";

const char* kPressTopic = "zigbee2mqtt/bath_sos";

// Mosquitto on a free loopback port for the length of the run, configured like the site broker
// (systemd/caregate-broker.conf) minus accounts and persistence.
class Broker {
public:
    explicit Broker(const TempDir& dir) : log_(dir.file("mosquitto.log")) {
        std::string bin = find_program("mosquitto", {"/usr/sbin", "/usr/local/sbin", "/sbin"});
        if (bin.empty())
            throw std::runtime_error(
                "mosquitto not found in PATH or /usr/sbin (Debian: apt-get install mosquitto)");
        port_ = free_tcp_port();
        std::string conf = dir.file("mosquitto.conf");
        std::ofstream(conf)
            << "listener " << port_
            << " 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 10000\n"
               "log_dest stderr\nlog_type error\nlog_type warning\n";
        proc_ = std::make_unique<Child>(std::vector<std::string>{bin, "-c", conf}, log_);
        auto t0 = Clk::now();
        while (!port_open(port_)) {
            if (!proc_->running())
                throw std::runtime_error("mosquitto " + proc_->how_it_ended() + ": " + read_text(log_));
            if (seconds_since(t0) > 10)
                throw std::runtime_error("mosquitto did not listen on 127.0.0.1:" + std::to_string(port_) +
                                         " within 10 s: " + read_text(log_));
            std::this_thread::sleep_for(20ms);
        }
    }
    std::string uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
    std::string pid() const { return std::to_string(proc_->pid()); }
    std::string problem() {
        return proc_->running() ? "" : "mosquitto " + proc_->how_it_ended() + ": " + read_text(log_);
    }

private:
    std::string log_;
    int port_ = 0;
    std::unique_ptr<Child> proc_;
};

struct Options {
    int sensors = 200;
    double rate = 10;
    double seconds = 30;
    int qos = 0, press_qos = 0;
    size_t queue = 20000;
};

std::string sensor_topic(int i) {
    char t[64];
    std::snprintf(t, sizeof t, "zigbee2mqtt/room_%03d_%s", i, i % 2 ? "sos" : "occupancy");
    return t;
}

// What zigbee2mqtt would send for sensor i, report n (values move a little, batteries stay high).
std::string sensor_payload(int i, uint64_t n) {
    char p[200];
    int lq = 60 + int((n * 7 + uint64_t(i)) % 120);
    int battery = 60 + i % 40;
    if (i % 2 == 0)
        std::snprintf(
            p, sizeof p,
            R"({"battery":%d,"illuminance":%d,"illuminance_lux":%d,"linkquality":%d,"occupancy":%s,)"
            R"("voltage":%d})",
            battery, 200 + int(n % 50), 200 + int(n % 50), lq, (n / 20 + uint64_t(i)) % 2 ? "true" : "false",
            2900 + i % 100);
    else
        std::snprintf(p, sizeof p, R"({"battery":%d,"linkquality":%d,"voltage":%d})", battery, lq,
                      2800 + i % 100);
    return p;
}

std::unique_ptr<devices::MqttLink> client(const std::string& uri, const std::string& id) {
    devices::MqttLinkOptions o;
    o.uri = uri;
    o.client_id = id;
    return std::make_unique<devices::MqttLink>(o, nullptr);
}

int run(const Options& o) {
    TempDir dir("caregate-bench-mqtt");
    Broker broker(dir);

    std::string yaml =
        "site: {id: bench, name: bench}\nmqtt: {uri: '" + broker.uri() +
        "', client_id: caregate-bench}\n"
        "zones: [{id: rooms, name: 房间}, {id: bath, name: 浴室, private: true}]\nmqtt_devices:\n";
    for (int i = 0; i < o.sensors; ++i) {
        char line[300];
        std::snprintf(line, sizeof line,
                      "  - {id: sensor_%03d, topic: %s, model: %s, kind: %s, zone: rooms, max_silence_s: 60, "
                      "battery: true}\n",
                      i, sensor_topic(i).c_str(), i % 2 ? "ts0215a_sos" : "zigbee_occupancy",
                      i % 2 ? "call_button" : "occupancy");
        yaml += line;
    }
    // Last, so its availability topic is the last subscription: once that one delivers, all do.
    yaml += "  - {id: bath_sos, topic: " + std::string(kPressTopic) +
            ", model: ts0215a_sos, kind: call_button, zone: bath, battery: true}\n";
    config::SiteConfig cfg = config::parse_config(yaml, dir.file("bench.yaml"));

    // The bridge, wired as controller/daemon.cpp wires it.
    Bus bus;
    auto sub = bus.subscribe("bench", 65536);
    SystemClock clock;
    devices::MqttSensorBridge bridge(cfg, bus, clock, o.queue);
    devices::MqttLinkOptions mo;
    mo.uri = cfg.mqtt.uri;
    mo.client_id = cfg.mqtt.client_id;
    mo.keepalive_s = cfg.mqtt.keepalive_s;
    mo.status_topic = "caregate/" + cfg.site.id + "/status";
    mo.subscriptions = bridge.topics();
    devices::MqttLink link(mo,
                           [&bridge](const std::string& t, const std::string& m) { bridge.enqueue(t, m); });
    bridge.start();
    link.start();
    auto z2m = client(broker.uri(), "bench-zigbee2mqtt");
    auto pendant = client(broker.uri(), "bench-pendant");
    z2m->start();
    pendant->start();

    auto t0 = Clk::now();
    while (!(link.connected() && z2m->connected() && pendant->connected())) {
        if (g_stop) return 130;
        if (auto why = broker.problem(); !why.empty()) throw std::runtime_error(why);
        if (seconds_since(t0) > 10)
            throw std::runtime_error("MQTT clients did not connect to " + broker.uri() + " within 10 s");
        std::this_thread::sleep_for(20ms);
    }
    // Subscriptions are made after connect, in order: wait until the last one delivers.
    while (bridge.stats().received == 0) {
        if (g_stop) return 130;
        if (seconds_since(t0) > 15)
            throw std::runtime_error("the bridge received nothing on " + std::string(kPressTopic) +
                                     "/availability within 15 s");
        pendant->publish(std::string(kPressTopic) + "/availability", "online", 1, false);
        std::this_thread::sleep_for(200ms);
    }
    nap(300ms);
    uint64_t base = bridge.stats().received;
    for (int i = 0; i < o.sensors; ++i) z2m->publish(sensor_topic(i) + "/availability", "online", 1, false);
    while (bridge.stats().received < base + uint64_t(o.sensors)) {
        if (g_stop) return 130;
        if (seconds_since(t0) > 25)
            throw std::runtime_error("the bridge saw " + std::to_string(bridge.stats().received - base) +
                                     "/" + std::to_string(o.sensors) + " availability messages within 25 s");
        std::this_thread::sleep_for(20ms);
    }
    nap(300ms);
    while (sub->next(0ms)) {
    }  // DeviceHealth online per device

    // Bus consumer: press latencies (FIFO: one pendant, one topic, order kept end to end) and a
    // count of every other event (the load should raise none).
    std::mutex mu;
    std::deque<Clk::time_point> pending;
    std::vector<double> press_ms;
    std::map<std::string, uint64_t> other_events;
    std::atomic<bool> done{false};
    std::thread consumer([&] {
        while (!done) {
            auto e = sub->next(50ms);
            if (!e) continue;
            auto t = Clk::now();
            std::lock_guard<std::mutex> lock(mu);
            if (std::holds_alternative<ButtonPressed>(*e) &&
                std::get<ButtonPressed>(*e).device_id == "bath_sos" && !pending.empty()) {
                press_ms.push_back(ms_between(pending.front(), t));
                pending.pop_front();
            } else {
                other_events[event_name(*e)]++;
            }
        }
    });

    const double offered = o.sensors * o.rate;
    std::atomic<bool> loading{true};
    std::atomic<uint64_t> sent{0}, refused{0}, presses{0};
    auto l0 = Clk::now();
    uint64_t received0 = bridge.stats().received;
    std::thread loader([&] {
        std::vector<std::string> topics;
        for (int i = 0; i < o.sensors; ++i) topics.push_back(sensor_topic(i));
        uint64_t k = 0;
        while (loading && !g_stop) {
            auto due = uint64_t(seconds_since(l0) * offered);
            for (; k < due && loading; ++k) {
                int i = int(k % uint64_t(o.sensors));
                (z2m->publish(topics[size_t(i)], sensor_payload(i, k / uint64_t(o.sensors)), o.qos, false)
                     ? sent
                     : refused)++;
            }
            std::this_thread::sleep_for(2ms);
        }
    });
    std::thread presser([&] {
        auto next = l0 + 500ms;
        while (loading && !g_stop) {
            if (Clk::now() < next) {
                std::this_thread::sleep_for(std::min<Clk::duration>(next - Clk::now(), 20ms));
                continue;
            }
            {
                std::lock_guard<std::mutex> lock(mu);
                pending.push_back(Clk::now());
            }
            if (pendant->publish(kPressTopic, R"({"action":"emergency"})", o.press_qos, false)) {
                presses++;
            } else {
                std::lock_guard<std::mutex> lock(mu);
                pending.pop_back();
            }
            next += 1s;
        }
    });
    struct Stopper {
        std::atomic<bool>& loading;
        std::atomic<bool>& done;
        std::vector<std::thread*> threads;
        ~Stopper() {
            loading = false;
            done = true;
            for (auto* t : threads)
                if (t->joinable()) t->join();
        }
    } stopper{loading, done, {&loader, &presser, &consumer}};

    std::printf(
        "load: %d sensors x %.1f msg/s = %.0f msg/s at QoS %d for %.0f s, one press per second at QoS %d\n",
        o.sensors, o.rate, offered, o.qos, o.seconds, o.press_qos);
    std::printf("%5s %8s %12s %7s %10s %9s %12s %6s %11s\n", "t s", "sent/s", "processed/s", "queue",
                "in-flight", "RSS kB", "broker RSS", "cpu%", "broker cpu%");
    std::vector<double> ts, processed_s, queue, in_flight, rss;
    uint64_t prev_sent = 0, prev_recv = received0;
    double prev_cpu = cpu_seconds(), prev_bcpu = cpu_seconds(broker.pid());
    long broker_rss_first = -1, broker_rss_last = -1;
    for (int s = 1; s <= int(o.seconds) && !g_stop; ++s) {
        auto at = l0 + std::chrono::seconds(s);
        while (!g_stop && Clk::now() < at)
            std::this_thread::sleep_for(std::min<Clk::duration>(at - Clk::now(), 20ms));
        if (g_stop) break;
        if (auto why = broker.problem(); !why.empty()) throw std::runtime_error(why);
        auto st = bridge.stats();
        size_t q = bridge.backlog();
        uint64_t snt = sent, recv = st.received - received0;
        double flight = double(snt + presses) - double(recv);
        long r = rss_kb(), br = rss_kb(broker.pid());
        double cpu = cpu_seconds(), bcpu = cpu_seconds(broker.pid());
        std::printf("%5d %8llu %12llu %7zu %10.0f %9ld %12ld %6.0f %11.0f\n", s,
                    (unsigned long long)(snt - prev_sent), (unsigned long long)(st.received - prev_recv), q,
                    flight, r, br, 100 * (cpu - prev_cpu), 100 * (bcpu - prev_bcpu));
        std::fflush(stdout);
        ts.push_back(s);
        processed_s.push_back(double(st.received - prev_recv));
        queue.push_back(double(q));
        in_flight.push_back(flight);
        rss.push_back(double(r));
        if (broker_rss_first < 0) broker_rss_first = br;
        broker_rss_last = br;
        prev_sent = snt, prev_recv = st.received, prev_cpu = cpu, prev_bcpu = bcpu;
    }
    loading = false;
    loader.join();
    presser.join();
    if (g_stop) return 130;
    double load_s = seconds_since(l0);

    // Drain: everything sent should be processed within a few seconds.
    auto d0 = Clk::now();
    uint64_t expected = sent + presses;
    while (bridge.stats().received - received0 < expected && seconds_since(d0) < 10 && !g_stop)
        std::this_thread::sleep_for(10ms);
    double drain_s = seconds_since(d0);
    nap(200ms);  // the last press's event
    done = true;
    consumer.join();
    auto st = bridge.stats();
    uint64_t processed = st.received - received0;
    link.stop();
    z2m->stop();
    pendant->stop();
    bridge.stop();

    // Steady state: skip the first 3 s (connections warming up, allocator growth).
    size_t skip = std::min<size_t>(3, ts.size() / 3);
    auto tail = [&](const std::vector<double>& v) {
        return std::vector<double>(v.begin() + long(skip), v.end());
    };
    auto tts = tail(ts), tflight = tail(in_flight), trss = tail(rss), tproc = tail(processed_s),
         tq = tail(queue);
    double flight_slope = slope(tts, tflight);  // messages per second of growth
    double rss_slope = slope(tts, trss);        // kB per second
    double last_flight = in_flight.empty() ? 0 : in_flight.back();
    bool growing = flight_slope > 0.01 * offered || last_flight > offered;
    uint64_t lost = expected > processed ? expected - processed : 0;

    std::printf("\nsummary\n");
    std::printf(
        "  sent %llu sensor messages in %.1f s (%.0f msg/s; %llu refused by the client) + %llu presses\n",
        (unsigned long long)sent.load(), load_s, double(sent) / load_s, (unsigned long long)refused.load(),
        (unsigned long long)presses.load());
    std::printf(
        "  processed by the bridge: %llu (drained %.2f s after the load stopped); lost %llu; bridge "
        "counters: dropped (queue full) %llu, malformed %llu, out of range %llu, unknown topic %llu\n",
        (unsigned long long)processed, drain_s, (unsigned long long)lost, (unsigned long long)st.dropped,
        (unsigned long long)st.malformed, (unsigned long long)st.out_of_range,
        (unsigned long long)st.unknown_topic);
    std::printf("  processed per second (after %zu s): min %.0f, p50 %.0f, max %.0f msg/s (offered %.0f)\n",
                skip, percentile(tproc, 0), percentile(tproc, 0.5), percentile(tproc, 1), offered);
    std::printf(
        "  backlog: bridge queue max %.0f, p50 %.0f; sent - processed max %.0f, last %.0f, trend %+.2f "
        "msg/s -> %s\n",
        percentile(tq, 1), percentile(tq, 0.5), percentile(tflight, 1), last_flight, flight_slope,
        growing ? "GROWING BACKLOG" : "no growing backlog");
    std::printf(
        "  RSS (this process: bridge + publishers): %.1f MB at %zu s, %.1f MB at the end, trend %+.1f kB/s; "
        "peak %.1f MB; broker %.1f -> %.1f MB\n",
        trss.empty() ? 0 : trss.front() / 1024, skip + 1, rss.empty() ? 0 : rss.back() / 1024, rss_slope,
        percentile(rss, 1) / 1024, broker_rss_first / 1024.0, broker_rss_last / 1024.0);
    {
        std::lock_guard<std::mutex> lock(mu);
        std::string others;
        for (auto& [name, n] : other_events) others += " " + name + " " + std::to_string(n);
        std::printf("  other events on the bus during the load:%s\n",
                    others.empty() ? " none" : others.c_str());
        std::printf("  press -> ButtonPressed under load: %zu/%llu seen", press_ms.size(),
                    (unsigned long long)presses.load());
        if (!press_ms.empty())
            std::printf(", p50 %.2f ms, p99 %.2f ms, max %.2f ms", percentile(press_ms, 0.5),
                        percentile(press_ms, 0.99), percentile(press_ms, 1));
        std::printf("\n");
        if (press_ms.size() < presses) lost += presses - press_ms.size();
    }
    return growing || lost > 0 || st.dropped > 0 ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
    Args args(argc, argv,
              {{"sensors", "200"},
               {"rate", "10"},
               {"seconds", "30"},
               {"qos", "0"},
               {"press_qos", "0"},
               {"queue", "20000"}},
              kUsage);
    Options o;
    o.sensors = int(args.num("sensors", 1, 5000));
    o.rate = args.num("rate", 0.1, 1000);
    o.seconds = args.num("seconds", 5, 3600);
    o.qos = int(args.num("qos", 0, 1));
    o.press_qos = int(args.num("press_qos", 0, 1));
    o.queue = size_t(args.num("queue", 1, 1e7));
    if (find_program("mosquitto", {"/usr/sbin", "/usr/local/sbin", "/sbin"}).empty()) {
        std::fprintf(stderr,
                     "bench_mqtt_load: mosquitto not found in PATH or /usr/sbin (Debian: apt-get install "
                     "mosquitto)\n");
        return 2;
    }
    install_signal_handlers();
    spdlog::set_level(spdlog::level::warn);
    int rc = 3;
    try {
        rc = run(o);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_mqtt_load: %s\n", e.what());
        rc = 3;
    }
    if (g_stop) {
        std::fprintf(stderr, "bench_mqtt_load: interrupted\n");
        return 130;
    }
    return rc;
}
