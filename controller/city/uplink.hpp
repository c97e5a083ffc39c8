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
#include "controller/core/heartbeat.hpp"
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
    int inflight = 64;             // unacknowledged messages at most (the broker's window is ~20-100)
    int64_t max_rows = 2'000'000;  // storage cap on unsent rows: beyond it low-priority rows go, oldest first
    int64_t purge_sent_after_ms = 7LL * 86'400'000;  // acknowledged rows are kept this long, then deleted
    int backoff_max_ms = 60'000;                     // reconnect backoff doubles from 500 ms up to this
};

struct UplinkStats {
    uint64_t sent = 0;       // rows marked sent (acknowledged by the broker)
    uint64_t published = 0;  // handed to the client (including resends)
    uint64_t resent = 0;     // published again after a reconnect or a missing PUBACK
    uint64_t dropped_low_priority = 0;
    uint64_t cap_alerts = 0;  // times the storage cap was exceeded
    uint64_t commands = 0;    // downlink messages handed to on_command
    uint64_t commands_dropped = 0;
    int64_t pending = -1;  // unsent rows as last counted by the worker (-1: not counted yet)
    bool connected = false;
};

std::string topic_for(const std::string& region, const std::string& site, const std::string& kind);

class CityUplink {
public:
    CityUplink(Store& store, const Clock& clock, UplinkOptions opts);
    ~CityUplink();
    // Beaten once per loop; call before start(). A stalled worker fails /healthz and the watchdog.
    void set_heartbeat(std::shared_ptr<Heartbeat> hb) { heartbeat_ = std::move(hb); }
    void start();
    void stop();  // joins the worker, disconnects; the uplink cannot be started again
    UplinkStats stats() const;
    int64_t pending();
    // Applies the storage cap; returns rows dropped (also done by the worker every minute).
    int64_t enforce_cap();
    // Called (on the worker thread, or the caller of enforce_cap) when the backlog goes over the cap:
    // once per excursion, with the rows dropped then. Wire it to a `storage` alarm. Set before start().
    void on_cap_exceeded(std::function<void(int64_t dropped)> fn) { cap_alert_ = std::move(fn); }
    // Downlink: called for each message on city/<region>/<site>/cmd/# from the uplink's worker thread
    // (Paho's callback only queues it), so the handler may write to the store. Set before start().
    void on_command(std::function<void(const std::string& payload)> fn) { command_ = std::move(fn); }
    // Housekeeping: delete rows acknowledged longer ago than this.
    int purge_sent(int64_t older_than_ms);

private:
    void loop();
    void acked(int64_t seq);
    void connect();
    void make_client();
    void drop_client();
    void mark_acknowledged();
    void fill_window();
    void run_commands();
    void count_pending();

    Store& store_;
    const Clock& clock_;
    UplinkOptions opts_;
    std::unique_ptr<mqtt::async_client> client_;
    std::thread thread_;
    std::shared_ptr<Heartbeat> heartbeat_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false;
    // Paho's threads only touch this queue (under ack_mu_, never held while calling Paho), so a
    // callback can never wait on a lock the worker holds while it is inside Paho.
    std::mutex ack_mu_;
    std::deque<std::pair<int64_t, bool>> acks_;  // seq, acknowledged (false: delivery failed)
    std::deque<std::string> commands_;           // downlink payloads, bounded (kMaxQueuedCommands)
    std::set<int64_t> inflight_;
    int64_t cursor_ = 0;  // highest seq handed to the client since the last (re)connect
    std::atomic<bool> connected_{false};
    std::atomic<bool> reconnected_{false};
    std::atomic<bool> over_cap_{false};
    bool used_client_ = false;  // worker thread only
    std::atomic<uint64_t> queued_commands_{0}, dropped_commands_{0};
    UplinkStats stats_;
    std::function<void(int64_t)> cap_alert_;
    std::function<void(const std::string&)> command_;
    struct Listener;
    std::unique_ptr<Listener> listener_;
};

}  // namespace caregate::city
