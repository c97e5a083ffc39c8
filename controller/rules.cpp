#include "controller/rules.hpp"

#include "controller/core/log.hpp"
#include "controller/door/door_speaker.hpp"
#include "controller/people/occupancy.hpp"

namespace caregate {

using nlohmann::json;

RulesEngine::RulesEngine(const config::SiteConfig& cfg, Bus& bus, Store& store, const Clock& clock,
                         AlarmService& alarms, CheckinService& checkins, Metrics& metrics)
    : cfg_(cfg),
      bus_(bus),
      store_(store),
      clock_(clock),
      alarms_(alarms),
      checkins_(checkins),
      safety_(cfg, store, clock, alarms),
      rule_errors_(metrics.counter("caregate_rule_errors_total", "Events the rules engine could not apply")) {
    for (auto& b : cfg.buses)
        for (auto& d : b.devices) device_zone_[d.id] = d.zone;
    for (auto& d : cfg.mqtt_devices) device_zone_[d.id] = d.zone;
    for (auto& c : cfg.cameras) device_zone_[c.id] = c.zone;
    // Subscribe now, not in start(): events published before the thread runs must not be missed.
    sub_ = bus_.subscribe("rules", 65536);
}

RulesEngine::~RulesEngine() { stop(); }

void RulesEngine::start() {
    if (running_.exchange(true)) return;
    thread_ = std::thread([this] { loop(); });
}

void RulesEngine::stop() {
    if (!running_.exchange(false)) return;
    sub_->close();
    if (thread_.joinable()) thread_.join();
    try {
        safety_.flush(clock_.now_ms(), true);  // the minute being collected is kept too
    } catch (const std::exception& ex) {
        logger("rules")->error("could not keep the last readings: {}", ex.what());
    }
}

std::string RulesEngine::zone_of(const std::string& device_id) const {
    auto it = device_zone_.find(device_id);
    return it == device_zone_.end() ? "" : it->second;
}

void RulesEngine::loop() {
    int64_t last_tick = 0;
    while (running_) {
        auto e = sub_->next(std::chrono::milliseconds(200));
        if (e) handle(*e);
        int64_t now = clock_.now_ms();
        if (now - last_tick >= 500) {
            last_tick = now;
            tick();
        }
    }
}

void RulesEngine::tick() {
    try {
        alarms_.tick();
        check_long_occupancy(clock_.now_ms());
        safety_.flush(clock_.now_ms());
    } catch (const std::exception& ex) {
        rule_errors_++;
        logger("rules")->error("escalation tick failed: {}", ex.what());
    }
}

void RulesEngine::record_device_health(const DeviceHealth& h) {
    store_.write([&](sqlite3* db) {
        Stmt s(db,
               "INSERT INTO devices(id, kind, zone, online, reason, battery, last_seen, updated_at) "
               "VALUES(?1,?2,?3,?4,?5,?6,CASE WHEN ?4 THEN ?7 END,?7) ON CONFLICT(id) DO UPDATE SET "
               "kind=COALESCE(NULLIF(excluded.kind, ''), devices.kind), zone=excluded.zone, "
               "online=excluded.online, "
               "reason=excluded.reason, "
               "battery=COALESCE(excluded.battery, devices.battery), "
               "last_seen=COALESCE(excluded.last_seen, devices.last_seen), updated_at=excluded.updated_at, "
               "errors=devices.errors + (1 - excluded.online)");
        s.bind(1, h.device_id).bind(2, h.kind).bind(3, h.zone.empty() ? zone_of(h.device_id) : h.zone);
        s.bind(4, h.online ? 1 : 0)
            .bind(5, h.reason)
            .bind(6, h.battery)
            .bind(7, h.ts_ms ? h.ts_ms : clock_.now_ms());
        s.run();
    });
}

void RulesEngine::presence(const PresenceReported& p) {
    auto it = stays_.find(p.device_id);
    if (!p.occupied) {
        if (it != stays_.end()) {
            bool alarmed = it->second.alarmed;
            stays_.erase(it);
            if (alarmed) alarms_.clear("long_occupancy", p.device_id, "房间已无人");
        }
        return;
    }
    if (it == stays_.end())
        stays_[p.device_id] = {p.zone.empty() ? zone_of(p.device_id) : p.zone,
                               p.ts_ms ? p.ts_ms : clock_.now_ms()};
}

void RulesEngine::check_long_occupancy(int64_t now) {
    bool night = quiet_hours(now, local_offset_ms(cfg_.site.timezone), cfg_.gate.quiet_from_hour,
                             cfg_.gate.quiet_to_hour);
    for (auto& [device, stay] : stays_) {
        if (stay.alarmed) continue;
        const auto* z = cfg_.find_zone(stay.zone);
        int limit_min = z ? (night ? z->long_occupancy_night_min : z->long_occupancy_min) : 20;
        if (limit_min <= 0 || now - stay.since < int64_t(limit_min) * 60000) continue;
        stay.alarmed = true;
        alarms_.raise("long_occupancy", device, stay.zone, "device:" + device,
                      json{{"since", stay.since},
                           {"limit_min", limit_min},
                           {"reason", "已连续占用 " + std::to_string((now - stay.since) / 60000) + " 分钟"}});
    }
}

void RulesEngine::handle(const Event& ev) {
    try {
        std::visit(
            [&](auto&& e) {
                using T = std::decay_t<decltype(e)>;
                if constexpr (std::is_same_v<T, ButtonPressed>) {
                    std::string zone = e.zone.empty() ? zone_of(e.device_id) : e.zone;
                    alarms_.raise("call", e.device_id, zone, "device:" + e.device_id,
                                  json{{"cause", e.cause}});
                } else if constexpr (std::is_same_v<T, ButtonReset>) {
                    alarms_.cancel_from_device(e.device_id);
                } else if constexpr (std::is_same_v<T, FallDetected>) {
                    std::string zone = e.zone.empty() ? zone_of(e.device_id) : e.zone;
                    alarms_.raise("fall", e.device_id, zone, "device:" + e.device_id,
                                  json{{"certain", e.certain}});
                } else if constexpr (std::is_same_v<T, DeviceHealth>) {
                    record_device_health(e);
                    if (health_hook_) health_hook_(e);
                    std::string kind = e.kind == "camera"    ? "camera_offline"
                                       : e.kind == "storage" ? "storage"
                                                             : "device_offline";
                    if (!e.online) {
                        alarms_.raise(kind, e.device_id, e.zone.empty() ? zone_of(e.device_id) : e.zone,
                                      "system", json{{"reason", e.reason}, {"device_kind", e.kind}});
                    } else {
                        alarms_.clear(kind, e.device_id, "设备已恢复在线");
                        if (e.battery && *e.battery < cfg_.alarms.low_battery_percent) {
                            store_.write([&](sqlite3* db) {
                                Store::audit(db, "system", "device.low_battery", "device:" + e.device_id,
                                             json{{"battery", *e.battery}}.dump(), clock_.now_ms());
                            });
                            logger("devices")->warn("maintenance: device {} battery at {}%", e.device_id,
                                                    *e.battery);
                        }
                    }
                } else if constexpr (std::is_same_v<T, PresenceReported>) {
                    presence(e);
                } else if constexpr (std::is_same_v<T, DeviceCondition>) {
                    safety_.condition(e);
                } else if constexpr (std::is_same_v<T, Measurement>) {
                    safety_.measurement(e);
                } else if constexpr (std::is_same_v<T, BusHealth>) {
                    std::string source = "bus:" + e.bus_id;
                    if (!e.online) {
                        json devices = json::array();
                        for (auto& id : e.devices) {
                            record_device_health(
                                DeviceHealth{id, "", zone_of(id), false, e.reason, std::nullopt, e.ts_ms});
                            devices.push_back({{"id", id}, {"name", cfg_.device_name(id)}});
                        }
                        alarms_.raise(
                            "device_offline", source, "", "system",
                            json{{"reason", e.reason}, {"device_kind", "bus"}, {"devices", devices}});
                    } else {
                        alarms_.clear("device_offline", source, "总线连接已恢复");
                    }
                } else if constexpr (std::is_same_v<T, FaceSeen>) {
                    if (face_hook_) {
                        face_hook_(e);
                    } else if (e.elder_id && e.live && e.role != "cctv") {
                        CheckIn c;
                        c.elder_id = *e.elder_id;
                        c.direction = e.role == "exit" ? "out" : "in";
                        c.method = "face";
                        c.camera_id = e.camera_id;
                        c.zone = e.zone;
                        c.distance = e.distance;
                        c.ts_ms = e.ts_ms;
                        checkins_.record(c);
                    }
                } else if constexpr (std::is_same_v<T, OccupancyCount>) {
                    if (count_hook_) count_hook_(e);
                } else if constexpr (std::is_same_v<T, TemperatureReading>) {
                    if (temp_hook_) temp_hook_(e);
                }
            },
            ev);
    } catch (const std::exception& ex) {
        rule_errors_++;
        logger("rules")->error("could not apply {}: {}", event_name(ev), ex.what());
    }
}

}  // namespace caregate
