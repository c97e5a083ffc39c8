// Fans committed events out to the kiosk's Server-Sent-Event streams. One thread reads the bus;
// each stream has a small bounded queue (a stalled phone drops its oldest updates, never blocks
// the feed), and the number of streams is capped.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "controller/core/bus.hpp"

namespace caregate {

class LiveStream {
public:
    // Next SSE frame ("event: x\ndata: {...}\n\n"), or nullopt after `timeout` (send a heartbeat).
    std::optional<std::string> next(std::chrono::milliseconds timeout);
    void push(const std::string& frame);
    void close();
    bool closed() const;

private:
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::string> frames_;
    bool closed_ = false;
};

class LiveFeed {
public:
    LiveFeed(Bus& bus, size_t max_streams);
    ~LiveFeed();
    void start();
    void stop();
    // nullptr when the cap is reached.
    std::shared_ptr<LiveStream> open();
    void close(const std::shared_ptr<LiveStream>& s);
    size_t streams() const;
    // Sends a frame to every stream (also used for kiosk-originated notices).
    void broadcast(const std::string& event, const std::string& json);
    static std::string frame(const std::string& event, const std::string& json);

private:
    void loop();
    std::shared_ptr<Subscription> sub_;
    size_t max_streams_;
    mutable std::mutex mu_;
    std::set<std::shared_ptr<LiveStream>> streams_;
    std::thread thread_;
    std::atomic<bool> running_{false};
};

}  // namespace caregate
