// In-process publish/subscribe with bounded per-subscriber queues. A full queue drops the newest
// event and counts it: producers never block. Safety events are persisted by the rules engine
// before they are announced, so they never depend on a queue not dropping.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "controller/core/events.hpp"

namespace caregate {

class Subscription {
public:
    Subscription(std::string name, size_t capacity) : name_(std::move(name)), capacity_(capacity) {}
    // Waits up to `timeout` for the next event; nullopt on timeout or after close().
    std::optional<Event> next(std::chrono::milliseconds timeout);
    const std::string& name() const { return name_; }
    uint64_t dropped() const { return dropped_.load(); }
    size_t depth() const;
    void close();

private:
    friend class Bus;
    bool offer(const Event& e);

    std::string name_;
    size_t capacity_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Event> queue_;
    bool closed_ = false;
    std::atomic<uint64_t> dropped_{0};
};

class Bus {
public:
    std::shared_ptr<Subscription> subscribe(const std::string& name, size_t capacity = 4096);
    void publish(const Event& e);
    uint64_t published() const { return published_.load(); }
    uint64_t dropped() const;
    void close_all();

private:
    mutable std::mutex mu_;
    std::vector<std::shared_ptr<Subscription>> subs_;
    std::atomic<uint64_t> published_{0};
};

}  // namespace caregate
