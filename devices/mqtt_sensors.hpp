// MQTT sensors (zigbee2mqtt conventions and our generic JSON) → typed events on the bus.
// Messages are only queued by the MQTT callback; this component's own thread parses them with the
// per-model mapping in mqtt_models.cpp, supervises silence and availability, and counts every
// malformed or unexpected payload (never a crash, never a false alarm).
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "config/config.hpp"
#include "controller/core/bus.hpp"
#include "controller/core/clock.hpp"

namespace caregate::devices {

struct MqttSensorStats {
    uint64_t received = 0;
    uint64_t malformed = 0;  // not JSON, wrong types
    uint64_t unknown_topic = 0;
    uint64_t out_of_range = 0;
    uint64_t dropped = 0;  // queue full
    uint64_t events = 0;
};

// What one payload of a device model means (the table lives in mqtt_models.cpp).
struct ParsedPayload {
    bool call = false, reset = false, fall = false, fall_certain = true;
    std::optional<double> temperature;
    std::optional<double> battery;
    std::optional<bool> available;
    std::optional<bool> occupied;  // occupancy/presence sensors, door contacts (closed = occupied)
    bool malformed = false, out_of_range = false;
    std::string why;  // for the log when malformed / out of range
};
ParsedPayload parse_payload(const std::string& model, const std::string& payload);
ParsedPayload parse_availability(const std::string& payload);

class MqttSensorBridge {
public:
    MqttSensorBridge(const config::SiteConfig& cfg, Bus& bus, const Clock& clock,
                     size_t queue_capacity = 20000);
    ~MqttSensorBridge();
    // Topics to subscribe: every device topic and its /availability.
    std::vector<std::string> topics() const;
    // Called from the MQTT client's thread: enqueue only.
    void enqueue(const std::string& topic, const std::string& payload);
    void start();
    void stop();
    MqttSensorStats stats() const;
    size_t backlog() const;

private:
    struct DeviceState {
        const config::MqttDevice* cfg = nullptr;
        int64_t last_seen = 0;
        std::optional<bool> online;  // last published
        bool low_battery = false;
    };
    void loop();
    void handle(const std::string& topic, const std::string& payload);
    void health(DeviceState& d, bool online, const std::string& reason,
                std::optional<double> battery = std::nullopt);
    void supervise();

    const config::SiteConfig& cfg_;
    Bus& bus_;
    const Clock& clock_;
    size_t capacity_;
    static constexpr size_t kMaxPayloadBytes = 64 * 1024;
    std::map<std::string, DeviceState> by_topic_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::pair<std::string, std::string>> queue_;
    bool stop_ = false;
    std::thread thread_;
    MqttSensorStats stats_;
    int64_t started_ms_ = 0;
};

}  // namespace caregate::devices
