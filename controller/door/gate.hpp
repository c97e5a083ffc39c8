// The door (门禁): who is this, is the temperature normal, is there room inside — answered in one
// moment, with a reason, written down, and shown/spoken at the door. Staff can override (audited).
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "controller/alarms/alarms.hpp"
#include "controller/core/clock.hpp"
#include "controller/core/events.hpp"
#include "controller/people/checkins.hpp"
#include "controller/people/occupancy.hpp"
#include "controller/people/roster.hpp"

namespace caregate {

struct GateDecision {
    std::string decision;  // allow, refuse, wait, remeasure, visitor
    std::string reason;   // machine-readable: ok, fever, full, no_temperature, implausible, unknown_face, ...
    std::string message;  // what the door shows and says, zh-CN
    std::optional<int64_t> elder_id;
    std::string elder_name;
    std::optional<double> temperature;  // body temperature after offset
    bool unmeasured = false;            // 未测温 (thermometer offline, policy "flag")
    int64_t ts_ms = 0;
    int64_t seq = 0;
};

nlohmann::json to_json(const GateDecision& d);

// Honorific greeting: 张阿姨 / 李爷爷 …, from surname, gender and age.
std::string honorific(const Elder& e, int64_t now_ms);
std::string greeting_time(int64_t now_ms, const std::string& timezone);

class Gate {
public:
    Gate(const config::SiteConfig& cfg, Store& store, const Clock& clock, Roster& roster,
         CheckinService& checkins, Occupancy& occupancy, AlarmService& alarms);

    // Called for every decision (door page, speech, relay, metrics).
    void on_decision(std::function<void(const GateDecision&)> fn) { announce_ = std::move(fn); }

    // Events from the rules thread.
    std::optional<GateDecision> face(const FaceSeen& f);
    std::optional<GateDecision> temperature(const TemperatureReading& t);
    // The thermometer going offline decides for an elder waiting at it, by the offline policy.
    std::optional<GateDecision> device_health(const DeviceHealth& h);

    // Staff decides at the door (no face, refused elder let in after a check, …). Audited.
    GateDecision staff_override(int64_t elder_id, const std::string& decision, const std::string& reason,
                                std::optional<double> temperature, const std::string& actor);
    // Staff confirms today's signed 承诺书 for an elder (epidemic mode).
    void confirm_commitment(int64_t elder_id, const std::string& actor);

    std::optional<GateDecision> last() const;
    bool thermometer_online() const { return thermometer_online_; }
    const std::string& thermometer_id() const { return thermometer_; }

private:
    struct Pending {  // a recognised elder waiting for a temperature
        FaceSeen face;
        Elder elder;
        int attempts = 0;
        int64_t since_ms = 0;
    };
    GateDecision decide(const Elder& e, const FaceSeen& f, std::optional<double> body_c, bool unmeasured);
    std::optional<double> recent_reading(int64_t around_ms, int64_t elder_id);
    GateDecision finish(GateDecision d);
    // The elder is asked to do something (decision "wait" or "remeasure"): addressed by name, then
    // `after_name`.
    GateDecision ask(const Elder& e, const char* decision, const char* reason, const std::string& after_name);
    GateDecision thermometer_offline(const Elder& e, const FaceSeen& f);
    bool zone_full(const std::string& zone, int* count, int* cap);

    const config::SiteConfig& cfg_;
    Store& store_;
    const Clock& clock_;
    Roster& roster_;
    CheckinService& checkins_;
    Occupancy& occupancy_;
    AlarmService& alarms_;
    std::string thermometer_;
    std::atomic<bool> thermometer_online_{true};  // read by the kiosk thread
    mutable std::mutex mu_;
    std::deque<TemperatureReading> readings_;
    std::optional<Pending> pending_;
    std::map<int64_t, int64_t> commitments_;  // elder → day start when 承诺书 was confirmed
    std::optional<GateDecision> last_;
    int64_t seq_ = 0;
    std::function<void(const GateDecision&)> announce_;
};

}  // namespace caregate
