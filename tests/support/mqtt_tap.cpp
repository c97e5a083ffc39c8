#include "tests/support/mqtt_tap.hpp"

#include <mqtt/async_client.h>
#include <pwd.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <stdexcept>
#include <thread>

namespace caregate::testing {

namespace {
std::string client_id() {
    static std::atomic<int> n{0};
    return "test-tap-" + std::to_string(::getpid()) + "-" + std::to_string(n++);
}
}  // namespace

MqttTap::MqttTap(const std::string& uri, const std::string& filter, const std::string& ca_file) {
    client_ = std::make_unique<mqtt::async_client>(uri, client_id(), mqtt::create_options(MQTTVERSION_3_1_1));
    client_->set_message_callback([this](mqtt::const_message_ptr m) {
        std::lock_guard<std::mutex> lock(mu_);
        got_.push_back({m->get_topic(), m->get_payload_str(), m->is_retained()});
    });
    auto b =
        mqtt::connect_options_builder().clean_session(true).keep_alive_interval(std::chrono::seconds(30));
    if (uri.rfind("ssl://", 0) == 0 || uri.rfind("mqtts://", 0) == 0)
        b.ssl(mqtt::ssl_options_builder().trust_store(ca_file).enable_server_cert_auth(true).finalize());
    try {
        if (!client_->connect(b.finalize())->wait_for(std::chrono::seconds(10)))
            throw std::runtime_error("no CONNACK");
        if (!client_->subscribe(filter, 1)->wait_for(std::chrono::seconds(10)))
            throw std::runtime_error("no SUBACK");
    } catch (const mqtt::exception& e) {
        throw std::runtime_error("MQTT tap on " + uri + " failed: " + e.what());
    }
}

MqttTap::~MqttTap() {
    try {
        if (client_->is_connected()) client_->disconnect()->wait_for(std::chrono::seconds(2));
    } catch (const mqtt::exception&) {
    }
}

std::vector<MqttMessage> MqttTap::messages() const {
    std::lock_guard<std::mutex> lock(mu_);
    return got_;
}

std::unique_ptr<MqttMessage> MqttTap::wait_for(const std::function<bool(const MqttMessage&)>& pred,
                                               std::chrono::milliseconds timeout) const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        for (auto& m : messages())
            if (pred(m)) return std::make_unique<MqttMessage>(m);
        if (std::chrono::steady_clock::now() > deadline) return nullptr;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

void MqttTap::publish(const std::string& topic, const std::string& payload, bool retain) {
    client_->publish(topic, payload, 1, retain)->wait_for(std::chrono::seconds(5));
}

TestPki::TestPki(std::string d) : dir(std::move(d)) {
    auto sh = [&](const std::string& cmd) {
        std::string out;
        if (run("cd " + dir + " && " + cmd, &out) != 0) throw std::runtime_error(cmd + ":\n" + out);
    };
    sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
       "-subj /CN=caregate-test-ca -keyout ca.key -out ca.crt");
    write_file(dir + "/server.ext", "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    sh("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 "
       "-keyout server.key -out server.csr");
    sh("openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
       "-extfile server.ext -out server.crt");
}

TlsMosquitto::TlsMosquitto(const TestPki& pki) : pki_(pki) {
    start_on_candidate_ports(
        [this] {
            port_ = candidate_tcp_port();
            do tls_port_ = candidate_tcp_port();
            while (tls_port_ == port_);
        },
        [this] { start(); });
}

TlsMosquitto::~TlsMosquitto() { proc_.reset(); }

void TlsMosquitto::start() {
    std::string conf = dir_.file("mosquitto.conf");
    write_file(conf,
               "per_listener_settings false\nallow_anonymous true\nlog_type error\nlog_type warning\n"
               "log_type notice\npersistence false\n"
               // Started as root, mosquitto would switch to user mosquitto, which cannot read the
               // keys in our private temp folder.
               "user " +
                   std::string(getpwuid(geteuid())->pw_name) + "\nlistener " + std::to_string(port_) +
                   " 127.0.0.1\nlistener " + std::to_string(tls_port_) + " 127.0.0.1\ncafile " + pki_.ca() +
                   "\ncertfile " + pki_.server_cert() + "\nkeyfile " + pki_.server_key() +
                   "\ntls_version tlsv1.2\n");
    std::string bin = std::filesystem::exists("/usr/sbin/mosquitto") ? "/usr/sbin/mosquitto" : "mosquitto";
    proc_ = std::make_unique<Process>(std::vector<std::string>{bin, "-c", conf}, dir_.file("mosquitto.log"));
    if (!wait_until_listening(*proc_, port_, std::chrono::seconds(10)) ||
        !wait_until_listening(*proc_, tls_port_, std::chrono::seconds(10))) {
        proc_.reset();
        throw std::runtime_error("mosquitto did not start on " + std::to_string(port_) + "/" +
                                 std::to_string(tls_port_) + ": " + log());
    }
}

}  // namespace caregate::testing
