#include "controller/core/bus.hpp"

namespace caregate {

bool Subscription::offer(const Event& e) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (closed_) return false;
        if (queue_.size() >= capacity_) {
            dropped_++;
            return false;
        }
        queue_.push_back(e);
    }
    cv_.notify_one();
    return true;
}

std::optional<Event> Subscription::next(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return closed_ || !queue_.empty(); });
    if (queue_.empty()) return std::nullopt;
    Event e = std::move(queue_.front());
    queue_.pop_front();
    return e;
}

size_t Subscription::depth() const {
    std::lock_guard<std::mutex> lock(mu_);
    return queue_.size();
}

void Subscription::close() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        closed_ = true;
    }
    cv_.notify_all();
}

std::shared_ptr<Subscription> Bus::subscribe(const std::string& name, size_t capacity) {
    auto sub = std::make_shared<Subscription>(name, capacity);
    std::lock_guard<std::mutex> lock(mu_);
    subs_.push_back(sub);
    return sub;
}

void Bus::publish(const Event& e) {
    published_++;
    std::vector<std::shared_ptr<Subscription>> subs;
    {
        std::lock_guard<std::mutex> lock(mu_);
        subs = subs_;
    }
    for (auto& s : subs) s->offer(e);
}

uint64_t Bus::dropped() const {
    std::lock_guard<std::mutex> lock(mu_);
    uint64_t n = 0;
    for (auto& s : subs_) n += s->dropped();
    return n;
}

void Bus::close_all() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& s : subs_) s->close();
}

const char* event_name(const Event& e) {
    static const char* names[] = {
        "ButtonPressed",    "ButtonReset", "FallDetected",     "TemperatureReading", "OccupancyCount",
        "DeviceHealth",     "FaceSeen",    "MotionEvent",      "AlarmChanged",       "CheckInRecorded",
        "OccupancyChanged", "BusHealth",   "PresenceReported", "DeviceCondition",    "Measurement"};
    return names[e.index()];
}

}  // namespace caregate
