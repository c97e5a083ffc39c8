#include "devices/mqtt_sensors.hpp"

#include "controller/core/log.hpp"

namespace caregate::devices {

MqttSensorBridge::MqttSensorBridge(const config::SiteConfig& cfg, Bus& bus, const Clock& clock,
                                   size_t capacity)
    : cfg_(cfg), bus_(bus), clock_(clock), capacity_(capacity), library_(cfg.models) {
    for (auto& d : cfg_.mqtt_devices) by_topic_[d.topic].cfg = &d;
}

void MqttSensorBridge::set_library(std::shared_ptr<const DeviceLibrary> lib) {
    std::lock_guard<std::mutex> lock(mu_);
    library_ = std::move(lib);
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
        if (heartbeat_) heartbeat_->beat();
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
    std::shared_ptr<const DeviceLibrary> lib;
    {
        std::lock_guard<std::mutex> lock(mu_);
        stats_.received++;
        lib = library_;
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
    int64_t now = clock_.now_ms();
    if (is_avail) {
        auto a = parse_availability(payload);
        if (!a.available) {
            {
                std::lock_guard<std::mutex> lock(mu_);
                stats_.malformed++;
            }
            log->warn("device {} on {}: malformed payload ignored ({}): {}", d.cfg->id, topic, a.why,
                      payload.substr(0, 200));
            return;
        }
        health(d, *a.available, *a.available ? "" : "availability offline");
        if (*a.available) d.last_seen = now;
        return;
    }
    const DeviceModel* model = lib ? lib->find(d.cfg->model) : nullptr;
    if (!model) {  // only if a reload dropped the model the site names: nothing can be read
        std::lock_guard<std::mutex> lock(mu_);
        stats_.malformed++;
        return;
    }
    Reading p = read_payload(*model, payload);
    // The message itself proves the device is alive, whatever its content.
    d.last_seen = now;
    if (p.malformed || p.out_of_range) {
        {
            std::lock_guard<std::mutex> lock(mu_);
            (p.malformed ? stats_.malformed : stats_.out_of_range)++;
        }
        // Every rejection is counted; the log names the first ones and then every 100th, so a device
        // (or anyone) flooding garbage cannot flood the log.
        if (++d.rejected <= 10 || d.rejected % 100 == 0)
            log->warn("device {} on {}: {} payload ({}){} [{} rejected from this device]: {}", d.cfg->id,
                      topic, p.malformed ? "malformed" : "out-of-range", p.why,
                      p.states.empty() ? " ignored" : ", its other fields applied", d.rejected,
                      payload.substr(0, 200));
    }
    std::optional<double> battery = p.get("battery_pct");
    if (auto avail_state = p.get("availability")) {
        health(d, *avail_state != 0, *avail_state != 0 ? "" : "availability offline", battery);
        if (*avail_state == 0) return;
    } else if (!d.online || !*d.online || battery) {
        health(d, true, "", battery);
    }
    for (auto& v : p.states) dispatch(d, *model, v, now);
}

void MqttSensorBridge::dispatch(DeviceState& d, const DeviceModel& model, const StateValue& v, int64_t now) {
    auto emit = [&](const Event& e) {
        bus_.publish(e);
        std::lock_guard<std::mutex> lock(mu_);
        stats_.events++;
    };
    const auto& id = d.cfg->id;
    const auto& zone = d.cfg->zone;
    bool on = v.value != 0;
    const std::string& s = v.state;
    if (s == "call") {
        if (on) emit(ButtonPressed{id, zone, "call", now});
    } else if (s == "cancel") {
        if (on) emit(ButtonReset{id, now});
    } else if (s == "fall") {
        if (on) emit(FallDetected{id, zone, v.certain, now});
    } else if (s == "presence" || s == "motion" || s == "contact") {
        emit(PresenceReported{id, zone, on, now});  // contact: a closed door = occupied
    } else if (s == "smoke" || s == "gas" || s == "water_leak" || s == "tamper" || s == "battery_low") {
        auto [it, fresh] = d.conditions.emplace(s, on);
        if (!fresh && it->second == on) return;  // only changes are news
        it->second = on;
        emit(DeviceCondition{id, zone, s, on, now});
    } else if (s == "temperature_c") {
        emit(TemperatureReading{id, v.value, now, std::nullopt});
    } else if (s == "battery_pct" || s == "availability") {
        // handled as device health
    } else if (is_numeric_state(s)) {
        Measurement m{id, zone, s, v.value, std::nullopt, std::nullopt, now};
        if (auto t = d.cfg->thresholds.find(s); t != d.cfg->thresholds.end()) {
            m.alarm_above = t->second;
            m.clear_below = t->second * 0.9;
        } else if (const auto* src = model.find(s)) {
            m.alarm_above = src->alarm_above;
            m.clear_below = src->clear_below;
        }
        emit(m);
    }
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
