// Shared pieces of the city tests: a Mosquitto with a config of the test's own (TLS listeners,
// unlimited queues), the reference receiver on a thread, outbox fixtures.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "controller/city/outbox.hpp"
#include "controller/city/receiver.hpp"
#include "controller/city/uplink.hpp"
#include "controller/core/store.hpp"
#include "tests/support/test_support.hpp"

namespace caregate::citytest {

// A Mosquitto whose config ends with `extra` (listeners for TLS, say). It keeps sessions and queued
// QoS 1 messages across a graceful restart (SIGTERM: the broker saves its database on the way out),
// with no cap on queued messages, as a city broker would be configured.
class Broker {
public:
    // second_listener: config text for a second listener on the port it is given (e.g. TLS).
    explicit Broker(std::string extra = "", std::function<std::string(int)> second_listener = {});
    ~Broker();
    int port() const { return port_; }
    int second_port() const { return second_port_; }
    std::string uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
    void start();
    void pause();   // SIGSTOP: connections stay open, nothing is answered
    void resume();  // SIGCONT
    void stop();    // graceful: waits until the broker has saved its state and exited
    std::string log() const;

private:
    testing::TempDir dir_;
    int port_ = 0, second_port_ = 0;
    std::string extra_;
    std::function<std::string(int)> second_listener_;
    std::unique_ptr<testing::Process> proc_;
};

// The reference receiver, running on its own thread until destroyed.
class Receiver {
public:
    explicit Receiver(city::ReceiverOptions o);
    Receiver(const std::string& uri, const std::string& db_path);
    ~Receiver();
    int64_t count(const std::string& where = "1");  // stored messages matching an SQL condition
    city::ReceiverStats stats;

private:
    std::atomic<bool> stop_{false};
    std::string db_;
    std::thread thread_;
};

city::UplinkOptions uplink_options(const std::string& uri, const std::string& client_id = "caregate-wz-t1");
// n device_health rows of normal priority with ids record-<start+i>.
void fill(Store& store, const Outbox& out, int n, int64_t start = 0);
int64_t count_rows(Store& store, const std::string& sql);
bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout);

}  // namespace caregate::citytest
