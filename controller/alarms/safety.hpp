// What building-safety devices say, turned into decisions: smoke, gas and water-leak detectors raise
// alarms of their own kind; electrical-fire detectors and meters send readings that are judged
// against their thresholds (electrical_fault, with the value and the threshold in the rescue record)
// and kept per minute for the kiosk's circuit view and the daily energy in the city statistics.
// Runs on the rules thread (RulesEngine owns it); not thread-safe by itself.
#pragma once

#include <map>
#include <string>
#include <utility>

#include "config/config.hpp"
#include "controller/alarms/alarms.hpp"
#include "controller/core/events.hpp"
#include "controller/core/store.hpp"

namespace caregate {

class SafetyMonitor {
public:
    SafetyMonitor(const config::SiteConfig& cfg, Store& store, const Clock& clock, AlarmService& alarms);
    void condition(const DeviceCondition& c);
    void measurement(const Measurement& m);
    // Writes the minutes that are over (all of them when `everything`) in one transaction.
    void flush(int64_t now, bool everything = false);

    // How staff read a state: "剩余电流", and its unit.
    static std::string state_name(const std::string& state);
    static std::string unit_of(const std::string& state);

private:
    struct Minute {
        int64_t start = 0;
        int n = 0;
        double min = 0, max = 0, sum = 0, last = 0;
    };
    void set_device_flag(const std::string& device_id, const std::string& zone, const char* column, bool on);
    std::string kind_of(const std::string& device_id) const;

    const config::SiteConfig& cfg_;
    Store& store_;
    const Clock& clock_;
    AlarmService& alarms_;
    std::map<std::pair<std::string, std::string>, bool> over_;       // (device, state) above its threshold
    std::map<std::pair<std::string, std::string>, Minute> minutes_;  // the minute being collected
};

}  // namespace caregate
