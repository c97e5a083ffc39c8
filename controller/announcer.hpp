// Publishes committed facts on the site broker (caregate/<site>/alarm/<id>, …/checkin,
// …/occupancy/<zone>, …/device/<id>/status) and drives the outputs that follow from them:
// the siren/lamp while an escalated alarm is open, the door relay pulse on an allowed entry.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <thread>

#include "config/config.hpp"
#include "controller/core/bus.hpp"
#include "controller/people/occupancy.hpp"

namespace caregate {

class Announcer {
public:
    using Publish = std::function<void(const std::string& topic, const std::string& payload, bool retain)>;
    using Output = std::function<void(const std::string& device_id, bool on)>;
    Announcer(const config::SiteConfig& cfg, Bus& bus, Occupancy& occupancy, Publish publish, Output output);
    ~Announcer();
    void start();
    void stop();
    // Escalation level changed for an alarm (from the alarm service): sirens on.
    void escalated(int level);
    // Open escalated alarms remain? (checked after every close) → sirens off when none.
    void set_escalated_open(std::function<bool()> fn) { escalated_open_ = std::move(fn); }
    void door_allowed();

private:
    void loop();
    const config::SiteConfig& cfg_;
    std::shared_ptr<Subscription> sub_;
    Occupancy& occupancy_;
    Publish publish_;
    Output output_;
    std::function<bool()> escalated_open_;
    std::vector<std::string> sirens_;
    std::thread thread_;
    std::atomic<bool> running_{false};
    std::atomic<int64_t> relay_off_at_{0};
};

}  // namespace caregate
