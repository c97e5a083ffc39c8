// MQTT sensors (zigbee2mqtt conventions and our generic JSON) → typed events on the bus.
// Messages are only queued by the MQTT callback; this component's own thread reads them through the
// device's model in the device-model library (devices/model_library.hpp), supervises silence and
// availability, and counts every malformed or unexpected payload (never a crash, never a false
// alarm). A field that is wrong never hides a valid one in the same message: a pendant's call with a
// garbled battery field is still a call.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "config/config.hpp"
#include "controller/core/bus.hpp"
#include "controller/core/clock.hpp"
#include "controller/core/heartbeat.hpp"
#include "devices/model_library.hpp"

namespace caregate::devices {

struct MqttSensorStats {
    uint64_t received = 0;
    uint64_t malformed = 0;  // not JSON, wrong types
    uint64_t unknown_topic = 0;
    uint64_t out_of_range = 0;
    uint64_t dropped = 0;  // queue full
    uint64_t events = 0;
};

class MqttSensorBridge {
public:
    MqttSensorBridge(const config::SiteConfig& cfg, Bus& bus, const Clock& clock,
                     size_t queue_capacity = 20000);
    ~MqttSensorBridge();
    // Topics to subscribe: every device topic and its /availability.
    std::vector<std::string> topics() const;
    // Called from the MQTT client's thread: enqueue only.
    void enqueue(const std::string& topic, const std::string& payload);
    // Beaten once per loop; call before start(). A stalled worker fails /healthz and the watchdog.
    void set_heartbeat(std::shared_ptr<Heartbeat> hb) { heartbeat_ = std::move(hb); }
    void start();
    void stop();
    MqttSensorStats stats() const;
    size_t backlog() const;
    // A library read again (SIGHUP): payload mappings change at the next message.
    void set_library(std::shared_ptr<const DeviceLibrary> lib);

private:
    struct DeviceState {
        const config::MqttDevice* cfg = nullptr;
        int64_t last_seen = 0;
        std::optional<bool> online;  // last published
        bool low_battery = false;
        std::map<std::string, bool> conditions;  // last reported smoke, tamper, battery_low, ...
        uint64_t rejected = 0;                   // malformed or out-of-range payloads
    };
    void loop();
    void handle(const std::string& topic, const std::string& payload);
    void health(DeviceState& d, bool online, const std::string& reason,
                std::optional<double> battery = std::nullopt);
    void supervise();
    void dispatch(DeviceState& d, const DeviceModel& model, const StateValue& v, int64_t now);

    const config::SiteConfig& cfg_;
    Bus& bus_;
    const Clock& clock_;
    size_t capacity_;
    static constexpr size_t kMaxPayloadBytes = 64 * 1024;
    std::map<std::string, DeviceState> by_topic_;
    std::shared_ptr<const DeviceLibrary> library_;  // guarded by mu_
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::pair<std::string, std::string>> queue_;
    bool stop_ = false;
    std::thread thread_;
    std::shared_ptr<Heartbeat> heartbeat_;
    MqttSensorStats stats_;
    int64_t started_ms_ = 0;
};

}  // namespace caregate::devices
