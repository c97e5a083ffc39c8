#include "tests/city/city_test_support.hpp"

#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <stdexcept>

namespace caregate::citytest {

using nlohmann::json;

Broker::Broker(std::string extra, std::function<std::string(int)> second_listener)
    : extra_(std::move(extra)), second_listener_(std::move(second_listener)) {
    // Mosquitto cannot bind port 0 and report it.
    testing::start_on_candidate_ports(
        [this] {
            port_ = testing::candidate_tcp_port();
            if (second_listener_) second_port_ = testing::candidate_tcp_port();
        },
        [this] { start(); });
}
Broker::~Broker() { stop(); }

void Broker::start() {
    std::string conf = dir_.file("mosquitto.conf");
    testing::write_file(conf,
                        "per_listener_settings false\nallow_anonymous true\nlog_type error\nlog_type "
                        "warning\nlog_type notice\nlog_type information\n"
                        // Started as root, mosquitto would switch to user mosquitto, which cannot
                        // write its database or read the keys in our private temp folder.
                        "user " +
                            std::string(getpwuid(geteuid())->pw_name) +
                            "\n"
                            "persistence true\npersistence_location " +
                            dir_.path() +
                            "/\nautosave_interval 1\nmax_queued_messages 0\nmax_inflight_messages 100\n"
                            "listener " +
                            std::to_string(port_) + " 127.0.0.1\n" + extra_ +
                            (second_listener_ ? second_listener_(second_port_) : std::string()));
    proc_ = std::make_unique<testing::Process>(std::vector<std::string>{"/usr/sbin/mosquitto", "-c", conf},
                                               dir_.file("mosquitto.log"));
    if (!testing::wait_until_listening(*proc_, port_, std::chrono::seconds(10)) ||
        (second_port_ && !testing::wait_until_listening(*proc_, second_port_, std::chrono::seconds(10))))
        throw std::runtime_error("mosquitto did not start: " + log());
}

void Broker::stop() {
    if (!proc_) return;
    proc_->signal(SIGTERM);
    if (proc_->wait(std::chrono::seconds(20)) < 0) throw std::runtime_error("mosquitto did not stop");
    proc_.reset();
}

void Broker::pause() { proc_->signal(SIGSTOP); }
void Broker::resume() { proc_->signal(SIGCONT); }

std::string Broker::log() const { return testing::read_file(dir_.file("mosquitto.log")); }

Receiver::Receiver(city::ReceiverOptions o) : db_(o.db_path) {
    thread_ = std::thread([this, o] { city::run_city_receiver(o, stop_, &stats); });
    if (!wait_until([&] { return stats.subscribed.load(); }, std::chrono::seconds(15)))
        throw std::runtime_error("receiver did not subscribe");
}

Receiver::Receiver(const std::string& uri, const std::string& db_path)
    : Receiver(city::ReceiverOptions{uri, "wz", db_path, CAREGATE_SCHEMAS_DIR, "", "", "", ""}) {}

Receiver::~Receiver() {
    stop_ = true;
    thread_.join();
}

int64_t Receiver::count(const std::string& where) {
    Store s(db_, 5000, false);
    return count_rows(s, "SELECT COUNT(*) FROM messages WHERE " + where);
}

city::UplinkOptions uplink_options(const std::string& uri, const std::string& client_id) {
    city::UplinkOptions o;
    o.uri = uri;
    o.client_id = client_id;
    o.region = "wz";
    o.site = "t1";
    o.inflight = 64;
    o.backoff_max_ms = 2000;  // a test broker comes back within seconds
    return o;
}

void fill(Store& store, const Outbox& out, int n, int64_t start) {
    store.write([&](sqlite3* db) {
        for (int i = 0; i < n; ++i) {
            int64_t ts = 1'790'000'000'000 + start + i;
            out.put(db, "device_health", "record-" + std::to_string(1'000'000 + start + i), ts,
                    json{{"device_id", "d" + std::to_string(i)},
                         {"kind", "call_button"},
                         {"zone", "hall"},
                         {"online", true},
                         {"reason", ""},
                         {"battery", nullptr},
                         {"ts", ts}},
                    Priority::normal);
        }
    });
}

int64_t count_rows(Store& store, const std::string& sql) {
    return store.read([&](sqlite3* d) {
        Stmt q(d, sql);
        q.step();
        return q.i64(0);
    });
}

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return pred();
}

}  // namespace caregate::citytest
