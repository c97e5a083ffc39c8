// The rules thread: turns device and camera events into decisions (alarms, check-ins, device
// health records) and runs the escalation timers. The only consumer that writes decisions.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <thread>

#include "config/config.hpp"
#include "controller/alarms/alarms.hpp"
#include "controller/alarms/safety.hpp"
#include "controller/core/bus.hpp"
#include "controller/core/metrics.hpp"
#include "controller/people/checkins.hpp"

namespace caregate {

class RulesEngine {
public:
    RulesEngine(const config::SiteConfig& cfg, Bus& bus, Store& store, const Clock& clock,
                AlarmService& alarms, CheckinService& checkins, Metrics& metrics);
    ~RulesEngine();
    void start();
    void stop();
    // Handles one event synchronously (the thread calls this; tests may too).
    void handle(const Event& e);
    // Timers: alarm escalation and long occupancy (the thread calls this twice a second; tests may too).
    void tick();
    // Hook for the door / gate logic, which needs faces and temperatures too.
    void on_face(std::function<void(const FaceSeen&)> fn) { face_hook_ = std::move(fn); }
    void on_temperature(std::function<void(const TemperatureReading&)> fn) { temp_hook_ = std::move(fn); }
    void on_health(std::function<void(const DeviceHealth&)> fn) { health_hook_ = std::move(fn); }
    // Door counters (Modbus counters, camera line crossing) for the occupancy of the zones they drive.
    void on_count(std::function<void(const OccupancyCount&)> fn) { count_hook_ = std::move(fn); }

private:
    void loop();
    void record_device_health(const DeviceHealth& h);
    // long_occupancy: a room reported occupied, without a break, for longer than its zone's limit.
    void presence(const PresenceReported& p);
    void check_long_occupancy(int64_t now);
    std::string zone_of(const std::string& device_id) const;

    const config::SiteConfig& cfg_;
    Bus& bus_;
    Store& store_;
    const Clock& clock_;
    AlarmService& alarms_;
    CheckinService& checkins_;
    std::shared_ptr<Subscription> sub_;
    std::thread thread_;
    std::atomic<bool> running_{false};
    std::function<void(const FaceSeen&)> face_hook_;
    std::function<void(const TemperatureReading&)> temp_hook_;
    std::function<void(const DeviceHealth&)> health_hook_;
    std::function<void(const OccupancyCount&)> count_hook_;
    std::map<std::string, std::string> device_zone_;
    struct Stay {
        std::string zone;
        int64_t since = 0;
        bool alarmed = false;
    };
    std::map<std::string, Stay> stays_;  // device → the current occupied stretch (rules thread only)
    SafetyMonitor safety_;  // smoke/gas/leak, electrical thresholds, readings (rules thread only)
    std::atomic<uint64_t>& rule_errors_;
};

}  // namespace caregate
