// Behaviours of the running daemon with real parts around it: a real Mosquitto (plain, and with TLS
// and a test CA), our Modbus TCP simulator, the kiosk over HTTP; and the `events` and
// `city-receiver` commands on real stores.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>

#include "config/config.hpp"
#include "controller/alarms/alarms.hpp"
#include "controller/cctv/cctv_index.hpp"
#include "controller/core/store.hpp"
#include "devices/simulator.hpp"
#include "tests/controller/daemon_rig.hpp"
#include "tests/support/mqtt_tap.hpp"

using namespace caregate;
using namespace caregate::testing;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// A Modbus TCP bus for the site, on `port`.
std::string bus_yaml(int port, const std::string& devices) {
    return "buses:\n  - id: b1\n    type: tcp\n    host: 127.0.0.1\n    port: " + std::to_string(port) +
           "\n    response_timeout_ms: 200\n    devices:\n" + devices;
}

// The simulator serving the bus of a site whose config it keeps (port 0: the kernel's choice).
struct Sim {
    explicit Sim(const std::string& zones, const std::string& devices)
        : cfg(config::parse_config(
              "site: {id: rig, name: x}\nmqtt: {enabled: false}\n" + zones + bus_yaml(502, devices),
              "sim.yaml")) {
        cfg.buses[0].port = 0;
        sim = std::make_unique<devices::Simulator>(cfg);
        sim->start();
    }
    ~Sim() { sim->stop(); }
    int port() const { return sim->tcp_port("b1"); }
    config::SiteConfig cfg;
    std::unique_ptr<devices::Simulator> sim;
};

json payload(const MqttMessage& m) { return json::parse(m.payload, nullptr, false); }

}  // namespace

// Raising an alarm sounds nothing; when nobody acknowledges it within ack_timeout_s it escalates and
// every do_module but the door relay is switched on; the call point's reset cancels it and the sirens
// go off. Each step is on the site broker under caregate/<site>/alarm/<id>.
TEST(Sirens, AnUnansweredCallEscalatesToTheSirensAndItsResetSilencesThem) {
    const std::string zones = "zones: [{id: hall, name: 大厅}]\n";
    const std::string devices =
        "      - {id: bath_call, kind: call_button, zone: hall, unit_id: 1, poll_ms: 50, points: [{table: "
        "discrete_inputs, address: 0, meaning: call}, {table: discrete_inputs, address: 1, meaning: "
        "cancel}]}\n"
        "      - {id: siren, kind: do_module, unit_id: 4, poll_ms: 100, points: [{table: coils, address: 0, "
        "meaning: output}]}\n"
        "      - {id: door_relay, kind: do_module, unit_id: 5, poll_ms: 100, points: [{table: coils, "
        "address: "
        "0, meaning: output}]}\n";
    Mosquitto broker;
    Sim sim(zones, devices);
    DaemonRig d;
    d.write_config(
        "mqtt: {uri: '" + broker.uri() +
        "'}\nface: {enabled: false}\nalarms: {ack_timeout_s: 5}\ngate: {door_relay: door_relay}\n" + zones +
        bus_yaml(sim.port(), devices));
    MqttTap tap(broker.uri(), "caregate/rig/#");
    d.start();
    ASSERT_TRUE(tap.wait_for([](const MqttMessage& m) { return m.topic == "caregate/rig/status"; }, 10s))
        << d.log();

    sim.sim->press("bath_call");
    auto raised = tap.wait_for([](const MqttMessage& m) {
        return m.topic.rfind("caregate/rig/alarm/", 0) == 0 && payload(m).value("state", "") == "raised";
    });
    ASSERT_TRUE(raised) << d.log();
    EXPECT_EQ(payload(*raised)["kind"], "call");
    EXPECT_FALSE(sim.sim->coil("siren", 0)) << "a raised alarm alone sounds no siren";
    const std::string topic = raised->topic;

    // Nobody acknowledges: escalated after 5 s, the siren on, the door relay untouched.
    ASSERT_TRUE(eventually([&] { return sim.sim->coil("siren", 0); }, 15s)) << d.log();
    EXPECT_EQ(d.query("SELECT step FROM alarm_steps WHERE step='escalated'"), "escalated");
    EXPECT_FALSE(sim.sim->coil("door_relay", 0)) << "the door relay is not a siren";
    EXPECT_TRUE(tap.wait_for([&](const MqttMessage& m) {
        return m.topic == topic && payload(m)["step"].value("step", "") == "escalated";
    })) << "the escalation is announced";

    // The call point is reset (nobody had answered): cancelled, and with no escalated alarm left open
    // the sirens go off.
    sim.sim->release("bath_call");
    sim.sim->press("bath_call", "cancel");
    EXPECT_TRUE(tap.wait_for([&](const MqttMessage& m) {
        return m.topic == topic && payload(m).value("state", "") == "cancelled";
    })) << d.log();
    EXPECT_TRUE(eventually([&] { return !sim.sim->coil("siren", 0); }, 5s)) << "siren still on";
    EXPECT_EQ(d.query("SELECT state FROM alarms WHERE kind='call'"), "cancelled");
    EXPECT_EQ(d.stop(), 0);
}

// A Modbus door counter (16-bit in/out counters, wrapping) drives the hall's head count: over the
// capacity is an over_capacity alarm, back under clears it; each count is on the site broker as the
// retained caregate/<site>/occupancy/<zone>, and in /metrics.
TEST(DoorCounter, ModbusCountsMoveTheHeadCountTheAlarmAndTheRetainedMqttTopic) {
    const std::string zones = "zones: [{id: hall, name: 大厅, capacity: 2, counter: door_cnt}]\n";
    const std::string devices =
        "      - {id: door_cnt, kind: door_counter, zone: hall, unit_id: 2, poll_ms: 50, points: [{table: "
        "input_registers, address: 0, meaning: counter_in, type: u16}, {table: input_registers, address: 1, "
        "meaning: counter_out, type: u16}]}\n";
    Mosquitto broker;
    Sim sim(zones, devices);
    sim.sim->set_register("door_cnt", 0, 65534);  // the counter is about to wrap
    sim.sim->set_register("door_cnt", 1, 0);
    DaemonRig d;
    d.write_config("mqtt: {uri: '" + broker.uri() + "'}\nface: {enabled: false}\n" + zones +
                   bus_yaml(sim.port(), devices));
    MqttTap tap(broker.uri(), "caregate/rig/occupancy/#");
    d.start();
    // The first read is the reference, not people walking in.
    ASSERT_TRUE(
        eventually([&] { return d.query("SELECT online FROM devices WHERE id='door_cnt'") == "1"; }, 10s))
        << d.log();
    auto count_is = [&](int n) {
        return tap.wait_for([n](const MqttMessage& m) {
            return m.topic == "caregate/rig/occupancy/hall" &&
                   m.payload.find("\"count\":" + std::to_string(n) + ",") != std::string::npos;
        });
    };
    sim.sim->set_register("door_cnt", 0, 1);  // 65534 → 1: three people in
    ASSERT_TRUE(count_is(3)) << d.log();
    EXPECT_TRUE(eventually(
        [&] {
            return d.query("SELECT state FROM alarms WHERE kind='over_capacity' AND source='hall'") ==
                   "raised";
        },
        5s));
    sim.sim->set_register("door_cnt", 1, 2);  // two out
    ASSERT_TRUE(count_is(1)) << d.log();
    EXPECT_TRUE(eventually(
        [&] { return d.query("SELECT state FROM alarms WHERE kind='over_capacity'") == "resolved"; }, 5s));
    httplib::Client c("127.0.0.1", d.port());
    auto m = c.Get("/metrics");
    ASSERT_TRUE(m);
    EXPECT_NE(m->body.find("caregate_zone_occupancy{zone=\"hall\"} 1"), std::string::npos) << m->body;
    // A screen that subscribes later gets the retained count at once.
    MqttTap late(broker.uri(), "caregate/rig/occupancy/hall");
    auto r = late.wait_for([](const MqttMessage&) { return true; }, 5s);
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->retained);
    EXPECT_EQ(payload(*r)["count"], 1) << r->payload;
    EXPECT_EQ(d.stop(), 0);
}

namespace {
// An SSE client on a raw socket: sends the request, keeps the connection open.
class RawStream {
public:
    RawStream(int port, const std::string& cookie) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(uint16_t(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return;
        std::string req = "GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: " + cookie + "\r\n\r\n";
        (void)!::send(fd_, req.data(), req.size(), MSG_NOSIGNAL);
    }
    ~RawStream() { close(); }
    void close() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }
    // Everything read until `marker` shows up (or the deadline, or the server closes).
    const std::string& read_until(const std::string& marker, std::chrono::milliseconds timeout = 5s) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        while (got_.find(marker) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) continue;
            char buf[4096];
            ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n <= 0) break;
            got_.append(buf, size_t(n));
        }
        return got_;
    }

private:
    int fd_ = -1;
    std::string got_;
};
}  // namespace

// kiosk.max_sse_clients bounds the live streams: one more is answered 503 with the reason; a client
// that went away gives its place back once the feed notices (at its next frame).
TEST(KioskLiveFeed, StreamsBeyondMaxSseAreAnswered503AndAPlaceIsGivenBack) {
    DaemonRig d;
    d.write_config("mqtt: {enabled: false}\nface: {enabled: false}\nzones: [{id: hall, name: 大厅}]\n", "",
                   ", max_sse_clients: 2");
    d.start();
    auto nurse = d.login();
    RawStream one(d.port(), nurse.cookie), two(d.port(), nurse.cookie);
    EXPECT_NE(one.read_until("event: hello").find("event: hello"), std::string::npos) << one.read_until("");
    EXPECT_NE(two.read_until("event: hello").find("event: hello"), std::string::npos);
    RawStream three(d.port(), nurse.cookie);
    const std::string& refused = three.read_until("实时连接过多");
    EXPECT_EQ(refused.rfind("HTTP/1.1 503", 0), 0u) << refused;
    EXPECT_NE(refused.find("实时连接过多"), std::string::npos) << "the reason is given: " << refused;
    // The first client leaves; a head-count correction is the next frame for every stream, and the
    // write to the closed one ends it.
    one.close();
    bool again = false;
    for (int attempt = 0; attempt < 20 && !again; ++attempt) {
        auto r = d.post(nurse, "/api/occupancy/hall", json{{"count", attempt % 2}, {"reason", "清点"}});
        ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "no answer");
        RawStream next(d.port(), nurse.cookie);
        again = next.read_until("\r\n\r\n").rfind("HTTP/1.1 200", 0) == 0;
    }
    EXPECT_TRUE(again) << "the departed client's place was never given back";
    // (An idle keep-alive connection, like the refused one, holds a server thread for up to 5 s and
    // makes SIGTERM miss its 4 s deadline: closed first.)
    two.close();
    three.close();
    EXPECT_EQ(d.stop(), 0) << d.log();
}

// The site broker over TLS (ssl://, a CA made for the test): the daemon connects only to the TLS
// listener, trusting mqtt.ca_file; its status and alarms are published there, and a wireless
// button's press published by a device reaches it.
TEST(SiteMqttTls, TheDaemonTalksToTheSiteBrokerOverTlsWithTheSitesCa) {
    TempDir pki_dir;
    TestPki pki(pki_dir.path());
    TlsMosquitto broker(pki);
    DaemonRig d;
    d.write_config(
        "mqtt: {uri: '" + broker.tls_uri() + "', ca_file: " + pki.ca() +
        "}\nface: {enabled: false}\nzones: [{id: hall, name: 大厅}]\n"
        "mqtt_devices: [{id: hall_btn, topic: zigbee2mqtt/hall_btn, model: zigbee_button, zone: hall}]\n");
    MqttTap tls_tap(broker.tls_uri(), "caregate/rig/#", pki.ca());  // the test's own TLS client
    MqttTap device(broker.uri(), "zigbee2mqtt/#");
    d.start();
    auto online = tls_tap.wait_for(
        [](const MqttMessage& m) { return m.topic == "caregate/rig/status" && m.payload == "online"; }, 15s);
    ASSERT_TRUE(online) << d.log() << "\n" << broker.log();
    EXPECT_NE(d.log().find("connected to " + broker.tls_uri()), std::string::npos) << d.log();
    // The daemon subscribed on connect; a press is published until its alarm shows (the subscription
    // may still be on its way when the status arrives).
    bool raised = false;
    for (int i = 0; i < 50 && !raised; ++i) {
        device.publish("zigbee2mqtt/hall_btn", R"({"action":"emergency","battery":90})");
        raised = eventually([&] { return d.query("SELECT COUNT(*) FROM alarms WHERE kind='call'") == "1"; },
                            200ms);
    }
    ASSERT_TRUE(raised) << d.log();
    EXPECT_EQ(d.query("SELECT source FROM alarms WHERE kind='call'"), "hall_btn");
    EXPECT_TRUE(tls_tap.wait_for([](const MqttMessage& m) { return m.topic == "caregate/rig/alarm/1"; }))
        << "the alarm announced over TLS";
    EXPECT_EQ(d.stop(), 0);
}

// `caregate events list` on the CCTV index: filters by camera, label, local time and count; one JSON
// object a line with --json, else one line per event with its local time and snapshot.
TEST(EventsCli, ListsTheIndexNewestFirstWithItsFilters) {
    DaemonRig d;
    d.write_config("mqtt: {enabled: false}\nface: {enabled: false}\nzones: [{id: hall, name: 大厅}]\n");
    const int64_t t0 = 1'795'500'000'000;  // 2026-11-24 14:00:00 Beijing time (06:00 UTC)
    {
        Store store(d.db_path());
        SystemClock clock;
        config::Cctv policy;
        EventIndex index(store, clock, policy, d.dir.file("media"));
        auto ev = [](const std::string& cam, const std::string& label, int64_t start) {
            cctv::CctvEvent e;
            e.camera_id = cam;
            e.zone = "hall";
            e.label = label;
            e.start_ms = start;
            e.end_ms = start + 4000;
            e.score = 0.5;
            e.snapshot = "snap/" + cam + "-" + label + ".jpg";
            return e;
        };
        index.ingest({ev("door", "motion", t0), ev("door", "person", t0 + 600'000),
                      ev("yard", "motion", t0 + 1'200'000)});
    }
    std::string cfg = " --config " + d.config_path() + " list";
    auto lines = [&](const std::string& args) {
        std::vector<json> out;
        std::istringstream in(d.cli("events" + cfg + " --json " + args));
        for (std::string l; std::getline(in, l);) out.push_back(json::parse(l));
        return out;
    };
    auto all = lines("");
    ASSERT_EQ(all.size(), 3u);
    EXPECT_EQ(all[0]["camera_id"], "yard") << "newest first";
    EXPECT_EQ(all[2]["start_ts"], t0);
    auto door = lines("--camera door");
    ASSERT_EQ(door.size(), 2u);
    EXPECT_EQ(door[0]["label"], "person");
    auto motion = lines("--label motion");
    ASSERT_EQ(motion.size(), 2u);
    EXPECT_EQ(motion[1]["camera_id"], "door");
    auto window = lines("--from '2026-11-24 14:05' --to '2026-11-24 14:15'");
    ASSERT_EQ(window.size(), 1u) << "local time, Beijing";
    EXPECT_EQ(window[0]["label"], "person");
    EXPECT_EQ(lines("--limit 2").size(), 2u);
    std::string text = d.cli("events" + cfg + " --camera yard");
    EXPECT_NE(text.find("2026-11-24 14:20:00  yard  motion  snap/yard-motion.jpg"), std::string::npos)
        << text;
}

// `caregate city-receiver`: subscribed to the city broker, it validates each message against the
// schemas, stores it once by its envelope id (a duplicate is not stored twice), keeps what it refuses
// with the reason, and stops on SIGTERM. Fed here by the running daemon's uplink.
TEST(CityReceiverCli, StoresTheBoxsUplinkOnceAndKeepsWhatItRefuses) {
    Mosquitto broker;
    DaemonRig d;
    d.write_config(
        "mqtt: {enabled: false}\nface: {enabled: false}\nzones: [{id: hall, name: 大厅}]\n"
        "city: {enabled: true, uri: '" +
        broker.uri() + "'}\n");
    std::string rdb = d.dir.file("receiver.db");
    Process receiver({caregate_bin(), "city-receiver", "--config", d.config_path(), "--db", rdb},
                     d.dir.file("receiver.log"));
    auto count = [&](const std::string& where) {
        std::string n = query_db(rdb, "SELECT COUNT(*) FROM " + where);
        return n.empty() || !std::isdigit(static_cast<unsigned char>(n[0])) ? -1 : std::stol(n);
    };
    // Subscribed once a refused message shows in its database (a message published before its
    // subscription would go nowhere).
    MqttTap city(broker.uri(), "city/#");
    bool subscribed = false;
    for (int i = 0; i < 50 && !subscribed; ++i) {
        city.publish("city/default/rig/checkin", "{not json");
        subscribed = eventually([&] { return count("rejected WHERE reason='not JSON'") >= 1; }, 200ms);
    }
    ASSERT_TRUE(subscribed) << query_db(rdb, "SELECT COUNT(*) FROM rejected") << "\n"
                            << read_file(d.dir.file("receiver.log"));
    int64_t elder = d.add_elder(R"({"name":"张桂英","gender":"女","birth_date":"1948-05-02"})");
    d.start();
    auto nurse = d.login();
    auto r = d.post(nurse, "/api/checkins", json{{"elder_id", elder}});
    ASSERT_TRUE(r && r->status == 201) << (r ? r->body : "no answer");
    std::string uuid = json::parse(r->body).value("id", "");
    ASSERT_TRUE(eventually([&] { return count("messages WHERE kind='checkin'") == 1; }, 15s))
        << d.log() << read_file(d.dir.file("receiver.log"));
    EXPECT_TRUE(eventually([&] {
        return d.query("SELECT COUNT(*) FROM outbox WHERE kind='checkin' AND sent_at IS NOT NULL") == "1";
    })) << "the box marks it sent once the broker has it";
    EXPECT_EQ(query_db(rdb, "SELECT site FROM messages WHERE kind='checkin'"), "rig");
    ASSERT_FALSE(uuid.empty()) << r->body;
    EXPECT_NE(query_db(rdb, "SELECT payload FROM messages WHERE kind='checkin'").find(uuid),
              std::string::npos);
    // The same envelope again (a resend after a lost PUBACK): still one row.
    std::string again = query_db(rdb, "SELECT payload FROM messages WHERE kind='checkin'");
    long rejected = count("rejected");
    city.publish("city/default/rig/checkin", again);
    city.publish("city/default/rig/checkin", "{not json");  // behind it: once stored, the resend was seen
    ASSERT_TRUE(eventually([&] { return count("rejected") == rejected + 1; }, 10s));
    EXPECT_EQ(query_db(rdb, "SELECT COUNT(*) FROM messages WHERE kind='checkin'"), "1");
    // A message that is JSON but not an envelope is refused with the schema's reason.
    city.publish("city/default/rig/alarm", R"({"schema":"caregate.alarm/1"})");
    EXPECT_TRUE(eventually(
        [&] {
            return query_db(rdb, "SELECT COUNT(*) FROM rejected WHERE topic='city/default/rig/alarm'") == "1";
        },
        10s));
    receiver.signal(SIGTERM);
    EXPECT_EQ(receiver.wait(5s), 0) << read_file(d.dir.file("receiver.log"));
    EXPECT_EQ(d.stop(), 0);
}
