#include "devices/mqtt_sensors.hpp"

#include "controller/core/log.hpp"

namespace caregate::devices {

MqttSensorBridge::MqttSensorBridge(const config::SiteConfig& cfg, Bus& bus, const Clock& clock,
                                   size_t capacity)
    : cfg_(cfg), bus_(bus), clock_(clock), capacity_(capacity) {
    for (auto& d : cfg_.mqtt_devices) by_topic_[d.topic].cfg = &d;
}

MqttSensorBridge::~MqttSensorBridge() { stop(); }

std::vector<std::string> MqttSensorBridge::topics() const {
    std::vector<std::string> t;
    for (auto& d : cfg_.mqtt_devices) {
        t.push_back(d.topic);
        t.push_back(d.topic + "/availability");
    }
    return t;
}

void MqttSensorBridge::enqueue(const std::string& topic, const std::string& payload) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        // Refused before it is queued or copied again: a 100 MB payload must not stall the bridge.
        if (payload.size() > kMaxPayloadBytes) {
            stats_.malformed++;
            if (stats_.malformed % 100 == 1)
                logger("mqtt")->warn("payload of {} bytes on {} refused (over {} bytes)", payload.size(),
                                     topic.substr(0, 200), kMaxPayloadBytes);
            return;
        }
        if (queue_.size() >= capacity_) {
            stats_.dropped++;
            return;
        }
        queue_.emplace_back(topic, payload);
    }
    cv_.notify_one();
}

void MqttSensorBridge::start() {
    started_ms_ = clock_.now_ms();
    thread_ = std::thread([this] { loop(); });
}

void MqttSensorBridge::stop() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

MqttSensorStats MqttSensorBridge::stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
}

size_t MqttSensorBridge::backlog() const {
    std::lock_guard<std::mutex> lock(mu_);
    return queue_.size();
}

void MqttSensorBridge::loop() {
    int64_t last_supervise = 0;
    for (;;) {
        std::deque<std::pair<std::string, std::string>> batch;
        {
            std::unique_lock<std::mutex> lock(mu_);
            cv_.wait_for(lock, std::chrono::milliseconds(500), [&] { return stop_ || !queue_.empty(); });
            if (stop_) return;
            batch.swap(queue_);
        }
        for (auto& [topic, payload] : batch) handle(topic, payload);
        int64_t now = clock_.now_ms();
        if (now - last_supervise >= 1000) {
            last_supervise = now;
            supervise();
        }
    }
}

void MqttSensorBridge::health(DeviceState& d, bool online, const std::string& reason,
                              std::optional<double> battery) {
    bool changed = !d.online || *d.online != online;
    bool battery_news = battery && (*battery < cfg_.alarms.low_battery_percent) != d.low_battery;
    if (battery) d.low_battery = *battery < cfg_.alarms.low_battery_percent;
    if (!changed && !battery_news) return;
    d.online = online;
    bus_.publish(DeviceHealth{d.cfg->id, d.cfg->kind, d.cfg->zone, online, reason, battery, clock_.now_ms()});
    std::lock_guard<std::mutex> lock(mu_);
    stats_.events++;
}

void MqttSensorBridge::handle(const std::string& topic, const std::string& payload) {
    auto log = logger("mqtt");
    {
        std::lock_guard<std::mutex> lock(mu_);
        stats_.received++;
    }
    const std::string avail = "/availability";
    bool is_avail =
        topic.size() > avail.size() && topic.compare(topic.size() - avail.size(), avail.size(), avail) == 0;
    auto it = by_topic_.find(is_avail ? topic.substr(0, topic.size() - avail.size()) : topic);
    if (it == by_topic_.end()) {
        std::lock_guard<std::mutex> lock(mu_);
        stats_.unknown_topic++;
        return;
    }
    DeviceState& d = it->second;
    ParsedPayload p = is_avail ? parse_availability(payload) : parse_payload(d.cfg->model, payload);
    if (p.malformed || p.out_of_range) {
        {
            std::lock_guard<std::mutex> lock(mu_);
            (p.malformed ? stats_.malformed : stats_.out_of_range)++;
        }
        log->warn("device {} on {}: {} payload ignored ({}): {}", d.cfg->id, topic,
                  p.malformed ? "malformed" : "out-of-range", p.why, payload.substr(0, 200));
        // The message itself still proves the device is alive; its content raises nothing.
        if (!is_avail) d.last_seen = clock_.now_ms();
        return;
    }
    int64_t now = clock_.now_ms();
    if (is_avail) {
        health(d, *p.available, *p.available ? "" : "availability offline");
        if (*p.available) d.last_seen = now;
        return;
    }
    d.last_seen = now;
    if (!d.online || !*d.online || p.battery) health(d, true, "", p.battery);
    auto emit = [&](const Event& e) {
        bus_.publish(e);
        std::lock_guard<std::mutex> lock(mu_);
        stats_.events++;
    };
    if (p.call) emit(ButtonPressed{d.cfg->id, d.cfg->zone, "call", now});
    if (p.reset) emit(ButtonReset{d.cfg->id, now});
    if (p.fall) emit(FallDetected{d.cfg->id, d.cfg->zone, p.fall_certain, now});
    if (p.temperature) emit(TemperatureReading{d.cfg->id, *p.temperature, now, std::nullopt});
    if (p.occupied) emit(PresenceReported{d.cfg->id, d.cfg->zone, *p.occupied, now});
}

void MqttSensorBridge::supervise() {
    int64_t now = clock_.now_ms();
    for (auto& [topic, d] : by_topic_) {
        if (d.cfg->max_silence_s <= 0) continue;
        int64_t since = d.last_seen ? d.last_seen : started_ms_;
        if (now - since > int64_t(d.cfg->max_silence_s) * 1000 && (!d.online || *d.online))
            health(d, false, "no message for " + std::to_string((now - since) / 1000) + " s");
    }
}

}  // namespace caregate::devices
