// Alarm lifecycle and the rescue record (紧急救援全过程记录):
// raised → acknowledged → dispatched → resolved, or cancelled at the call point.
// Every step is appended to alarm_steps (never edited) and committed before it is announced.
// Escalation deadlines live in the alarms row, so open alarms keep their timers across restarts.
#pragma once

#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "controller/city/outbox.hpp"
#include "controller/core/clock.hpp"
#include "controller/core/events.hpp"
#include "controller/core/store.hpp"

namespace caregate {

// A request the state machine refuses (unknown alarm, wrong state, bad target); the message says why.
class AlarmError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct AlarmStep {
    int64_t id = 0;
    std::string uuid;
    int64_t ts_ms = 0;
    std::string step;  // raised, repeated, acknowledged, dispatched, escalated, resolved, cancelled, note
    std::string actor;
    std::string target;
    std::string note;
    int level = 0;
};

struct Alarm {
    int64_t id = 0;
    std::string uuid;
    std::string kind;
    std::string source;
    std::string zone;
    std::optional<int64_t> elder_id;
    std::string state;
    int level = 0;
    int presses = 1;
    nlohmann::json detail = nlohmann::json::object();
    int64_t raised_at = 0;
    std::optional<int64_t> acked_at, dispatched_at, closed_at, next_deadline;
    std::vector<AlarmStep> steps;  // filled by get()
    bool open() const { return state != "resolved" && state != "cancelled"; }
};

// Calls and falls: a person needs help (as opposed to a device or the building reporting a fault).
bool is_call_from_a_person(const std::string& kind);
// The kind as staff and families read it (紧急呼叫, 跌倒, …): never the code in a text that leaves the box.
std::string alarm_kind_name(const std::string& kind);

nlohmann::json to_json(const Alarm& a);
nlohmann::json to_json(const AlarmStep& s);

// Told inside the alarm's write transaction, so what it plans commits (or not) with the step.
class AlarmFollowUp {
public:
    virtual ~AlarmFollowUp() = default;
    // A new alarm: plan who is told. Returns notes for the rescue record (e.g. nobody on duty).
    virtual std::vector<std::string> raised(sqlite3* db, const Alarm& a) = 0;
    // Acknowledged, dispatched, resolved or cancelled: nobody further needs telling.
    virtual void answered(sqlite3* db, const Alarm& a) = 0;
};

struct AlarmPolicy {
    int ack_timeout_s = 60;
    int resolve_timeout_s = 900;
};

class AlarmService {
public:
    using Announce = std::function<void(const Alarm&, const AlarmStep&)>;
    using Escalate = std::function<void(const Alarm&, int level)>;

    AlarmService(Store& store, const Clock& clock, const Outbox& outbox, AlarmPolicy policy);

    // Called after each committed step (bus, MQTT, kiosk) and on escalation (siren, lamp).
    void on_announce(Announce fn) { announce_ = std::move(fn); }
    void on_escalate(Escalate fn) { escalate_ = std::move(fn); }
    // Not owned; set before any alarm is raised and outlives this service.
    void set_follow_up(AlarmFollowUp* f) { follow_up_ = f; }

    // Records something done about an open or closed alarm without changing its state (a
    // notification attempt), together with `also` in one transaction. Announced like every step.
    AlarmStep record(int64_t id, const std::string& step, const std::string& actor, const std::string& target,
                     const std::string& note, const std::function<void(sqlite3*)>& also = {});

    // Raises an alarm, or joins the open alarm of the same kind and source while nobody has answered
    // it (repeated presses). A call or fall after the earlier one was acknowledged is a new alarm
    // whose detail.follows names the earlier one.
    Alarm raise(const std::string& kind, const std::string& source, const std::string& zone,
                const std::string& actor, const nlohmann::json& detail = nlohmann::json::object(),
                std::optional<int64_t> elder_id = std::nullopt);
    Alarm acknowledge(int64_t id, const std::string& actor, const std::string& note = "");
    // target: 110 120 119 family city_hotline staff
    Alarm dispatch(int64_t id, const std::string& target, const std::string& actor,
                   const std::string& note = "");
    // false_alarm: nothing had happened (误报: a press by mistake, a test, a sensor fault); the outcome
    // is the reason, and the monthly figures count it apart.
    Alarm resolve(int64_t id, const std::string& outcome, const std::string& actor,
                  const std::string& note = "", bool false_alarm = false);
    // The call point's own reset: cancels that device's alarm while nobody has answered it; after
    // that it is only noted in the rescue record (staff close it).
    std::optional<Alarm> cancel_from_device(const std::string& device_id, const std::string& kind = "call");
    // Closes an open alarm of kind+source because its cause went away (device back online).
    std::optional<Alarm> clear(const std::string& kind, const std::string& source,
                               const std::string& outcome);

    // Applies every escalation whose deadline has passed; returns how many.
    int tick();

    std::optional<Alarm> get(int64_t id);
    std::optional<Alarm> find_open(const std::string& kind, const std::string& source);
    std::vector<Alarm> list(bool open_only, int limit = 200);

    static const std::vector<std::string>& dispatch_targets();

private:
    Alarm load(sqlite3* db, int64_t id);
    AlarmStep append(sqlite3* db, Alarm& a, const std::string& step, const std::string& actor,
                     const std::string& target, const std::string& note);
    void publish(const Alarm& a, const std::vector<AlarmStep>& steps);
    std::optional<int64_t> deadline_for(const Alarm& a) const;

    Store& store_;
    const Clock& clock_;
    const Outbox& outbox_;
    AlarmPolicy policy_;
    Announce announce_;
    Escalate escalate_;
    AlarmFollowUp* follow_up_ = nullptr;
    std::mutex mu_;  // one decision at a time: join-or-raise must not race
};

}  // namespace caregate
