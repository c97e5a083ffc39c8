// Typed events that components exchange through the Bus. Times are UTC epoch milliseconds.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace caregate {

// A call point was activated (button pressed, cord pulled).
struct ButtonPressed {
    std::string device_id;
    std::string zone;
    std::string cause = "call";  // call, cord_pulled
    int64_t ts_ms = 0;
    int64_t first_seen_ms = 0;  // polled inputs: the read that first showed it (before debounce)
};
// The call point's own reset button: cancels the open alarm for that device.
struct ButtonReset {
    std::string device_id;
    int64_t ts_ms = 0;
};
struct FallDetected {
    std::string device_id;
    std::string zone;
    bool certain = true;  // false for "maybe_fall"
    int64_t ts_ms = 0;
};
struct TemperatureReading {
    std::string device_id;
    double celsius = 0;
    int64_t ts_ms = 0;
    // Set when the reading was taken of a recognised face (thermal camera): it belongs to that elder
    // only. Point thermometers (IR, MQTT) measure whoever stands at them: unset.
    std::optional<int64_t> elder_id;
};
struct OccupancyCount {  // door counters
    std::string device_id;
    std::string zone;
    int delta = 0;  // +in, -out
    int64_t ts_ms = 0;
};
// Device supervision: emitted on every change of a device's health.
struct DeviceHealth {
    std::string device_id;
    std::string kind;  // call_button, fall_sensor, camera, ...
    std::string zone;
    bool online = true;
    std::string reason;  // "no answer for 31 s", "availability offline", ...
    std::optional<double> battery;
    int64_t ts_ms = 0;
};
// A presence/occupancy sensor or a door contact reported whether its room is occupied (a closed
// bathroom door counts as occupied). Sent on every report; the rules track the changes.
struct PresenceReported {
    std::string device_id;
    std::string zone;
    bool occupied = false;
    int64_t ts_ms = 0;
};
// A true/false condition a device reports about itself or its room, sent when it changes (and on the
// first report): smoke, gas, water_leak (safety alarms), tamper, battery_low (device page).
struct DeviceCondition {
    std::string device_id;
    std::string zone;
    std::string state;  // smoke, gas, water_leak, tamper, battery_low
    bool active = false;
    int64_t ts_ms = 0;
};
// A numeric reading (electrical detectors, meters, link quality, radar distance), sent on every read.
// The thresholds come from the device model or the site's override; unset: no alarm for this state.
struct Measurement {
    std::string device_id;
    std::string zone;
    std::string state;  // residual_current_ma, cable_temp_c, voltage_v, current_a, power_w, energy_kwh, ...
    double value = 0;
    std::optional<double> alarm_above, clear_below;
    int64_t ts_ms = 0;
};
// A Modbus bus (serial line or TCP gateway) lost or regained its link: every device on it is
// silent together, so this is one alarm naming them all, not one per device.
struct BusHealth {
    std::string bus_id;
    bool online = true;
    std::string reason;
    std::vector<std::string> devices;  // ids of the devices on the bus
    int64_t ts_ms = 0;
};
// A recognised (elder_id set) or unknown face at a camera.
struct FaceSeen {
    std::string camera_id;
    std::string zone;
    std::string role;  // entrance, exit, cctv
    std::optional<int64_t> elder_id;
    double distance = 1.0;
    int left = 0, top = 0, right = 0, bottom = 0;
    bool live = true;
    int64_t ts_ms = 0;
};
struct MotionEvent {
    std::string camera_id;
    std::string label;  // motion, person
    bool started = true;
    double score = 0;
    int64_t ts_ms = 0;
};

// Announcements made after a decision was committed to the store.
struct AlarmChanged {
    int64_t alarm_id = 0;
    std::string kind;
    std::string state;
    std::string step_json;  // the appended step, as published
    int64_t ts_ms = 0;
};
struct CheckInRecorded {
    int64_t checkin_id = 0;
    int64_t elder_id = 0;
    std::string elder_name;
    std::string direction;  // in, out
    std::string method;     // face, staff, card
    int64_t ts_ms = 0;
};

// A zone's head count after a door counter moved it (committed).
struct OccupancyChanged {
    std::string zone;
    int count = 0;
    int capacity = 0;
    std::string level;  // ok, near, full
    int64_t ts_ms = 0;
};

using Event = std::variant<ButtonPressed, ButtonReset, FallDetected, TemperatureReading, OccupancyCount,
                           DeviceHealth, FaceSeen, MotionEvent, AlarmChanged, CheckInRecorded,
                           OccupancyChanged, BusHealth, PresenceReported, DeviceCondition, Measurement>;

const char* event_name(const Event& e);

}  // namespace caregate
