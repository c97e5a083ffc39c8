// The city uplink: sends the outbox to the city broker with QoS 1 on a persistent session, and marks
// a row sent only when the broker's PUBACK for it arrives. Nothing is kept only in Paho's memory:
// after a reconnect or a restart every unacknowledged row is sent again (the city dedupes by id).
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "controller/core/clock.hpp"
#include "controller/core/store.hpp"

namespace mqtt {
class async_client;
}

namespace caregate::city {

struct UplinkOptions {
    std::string uri;
    std::string client_id;
    std::string region;
    std::string site;
    std::string ca_file, cert_file, key_file;
    int inflight = 64;
    int64_t max_rows = 2'000'000;  // storage cap: beyond it low-priority rows go, oldest first
};

struct UplinkStats {
    uint64_t sent = 0;       // acknowledged by the broker
    uint64_t published = 0;  // handed to the client (including resends)
    uint64_t resent = 0;
    uint64_t dropped_low_priority = 0;
    bool connected = false;
};

std::string topic_for(const std::string& region, const std::string& site, const std::string& kind);

class CityUplink {
public:
    CityUplink(Store& store, const Clock& clock, UplinkOptions opts);
    ~CityUplink();
    void start();
    void stop();
    UplinkStats stats() const;
    int64_t pending();
    // Applies the storage cap; returns rows dropped (also done by the worker every minute).
    int64_t enforce_cap();
    void on_cap_exceeded(std::function<void(int64_t dropped)> fn) { cap_alert_ = std::move(fn); }
    // Downlink: called (from Paho's thread: must not block long) for city/<region>/<site>/cmd/#.
    void on_command(std::function<void(const std::string& payload)> fn) { command_ = std::move(fn); }
    // Housekeeping: delete rows acknowledged longer ago than this.
    int purge_sent(int64_t older_than_ms);

private:
    void loop();
    void acked(int64_t seq);
    void connect();

    Store& store_;
    const Clock& clock_;
    UplinkOptions opts_;
    std::unique_ptr<mqtt::async_client> client_;
    std::thread thread_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false;
    // Paho's threads only touch this queue (under ack_mu_, never held while calling Paho), so a
    // callback can never wait on a lock the worker holds while it is inside Paho.
    std::mutex ack_mu_;
    std::deque<std::pair<int64_t, bool>> acks_;  // seq, acknowledged (false: delivery failed)
    std::set<int64_t> inflight_;
    int64_t cursor_ = 0;  // highest seq handed to the client since the last (re)connect
    std::atomic<bool> connected_{false};
    std::atomic<bool> reconnected_{false};
    UplinkStats stats_;
    std::function<void(int64_t)> cap_alert_;
    std::function<void(const std::string&)> command_;
    struct Listener;
    std::unique_ptr<Listener> listener_;
};

}  // namespace caregate::city
