// MQTT from the outside: a subscriber that keeps every message it sees (e.g. on "#"), a Mosquitto
// with a plain and a TLS listener, and a throw-away test CA made with the openssl CLI.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tests/support/test_support.hpp"

namespace mqtt {
class async_client;
}

namespace caregate::testing {

struct MqttMessage {
    std::string topic, payload;
    bool retained = false;
};

// Connects, subscribes to `filter` at QoS 1 and waits for the SUBACK before returning (throws when
// it cannot). ssl:// URIs trust `ca_file`.
class MqttTap {
public:
    explicit MqttTap(const std::string& uri, const std::string& filter = "#",
                     const std::string& ca_file = "");
    ~MqttTap();
    MqttTap(const MqttTap&) = delete;
    MqttTap& operator=(const MqttTap&) = delete;
    std::vector<MqttMessage> messages() const;
    // The first message (received so far or within the timeout) that satisfies `pred`.
    std::unique_ptr<MqttMessage> wait_for(const std::function<bool(const MqttMessage&)>& pred,
                                          std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;
    void publish(const std::string& topic, const std::string& payload, bool retain = false);

private:
    std::unique_ptr<mqtt::async_client> client_;
    mutable std::mutex mu_;
    std::vector<MqttMessage> got_;
};

// A CA, and a server certificate for 127.0.0.1/localhost signed by it (ECDSA P-256), in `dir`.
struct TestPki {
    explicit TestPki(std::string dir);  // makes them with openssl; throws with its output on failure
    std::string dir;
    std::string ca() const { return dir + "/ca.crt"; }
    std::string server_cert() const { return dir + "/server.crt"; }
    std::string server_key() const { return dir + "/server.key"; }
};

// Mosquitto with a plain listener (port()) and a TLS listener (tls_port()) on 127.0.0.1 using the
// PKI's server certificate; anonymous clients allowed, no persistence.
class TlsMosquitto {
public:
    explicit TlsMosquitto(const TestPki& pki);
    ~TlsMosquitto();
    int port() const { return port_; }
    int tls_port() const { return tls_port_; }
    std::string uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
    std::string tls_uri() const { return "ssl://127.0.0.1:" + std::to_string(tls_port_); }
    std::string log() const { return read_file(dir_.file("mosquitto.log")); }

private:
    void start();
    TempDir dir_;
    const TestPki& pki_;
    int port_ = 0, tls_port_ = 0;
    std::unique_ptr<Process> proc_;
};

}  // namespace caregate::testing
