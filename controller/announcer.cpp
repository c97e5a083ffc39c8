#include "controller/announcer.hpp"

#include <nlohmann/json.hpp>

#include "controller/core/clock.hpp"

namespace caregate {

using nlohmann::json;

Announcer::Announcer(const config::SiteConfig& cfg, Bus& bus, Occupancy& occupancy, Publish publish,
                     Output output)
    : cfg_(cfg),
      sub_(bus.subscribe("announcer", 16384)),
      occupancy_(occupancy),
      publish_(std::move(publish)),
      output_(std::move(output)) {
    for (auto& b : cfg.buses)
        for (auto& d : b.devices)
            if (d.kind == "do_module" && d.id != cfg.gate.door_relay) sirens_.push_back(d.id);
}

Announcer::~Announcer() { stop(); }

void Announcer::start() {
    if (running_.exchange(true)) return;
    thread_ = std::thread([this] { loop(); });
}

void Announcer::stop() {
    if (!running_.exchange(false)) return;
    sub_->close();
    if (thread_.joinable()) thread_.join();
}

void Announcer::escalated(int level) {
    if (level >= 1 && output_)
        for (auto& s : sirens_) output_(s, true);
}

void Announcer::door_allowed() {
    if (cfg_.gate.door_relay.empty() || !output_) return;
    output_(cfg_.gate.door_relay, true);
    relay_off_at_ = now_ms() + 3000;
}

void Announcer::loop() {
    const std::string base = "caregate/" + cfg_.site.id + "/";
    while (running_) {
        auto e = sub_->next(std::chrono::milliseconds(250));
        if (relay_off_at_ && now_ms() >= relay_off_at_) {
            relay_off_at_ = 0;
            if (output_) output_(cfg_.gate.door_relay, false);
        }
        if (!e || !publish_) continue;
        std::visit(
            [&](auto&& ev) {
                using T = std::decay_t<decltype(ev)>;
                if constexpr (std::is_same_v<T, AlarmChanged>) {
                    json j = {{"alarm_id", ev.alarm_id},
                              {"kind", ev.kind},
                              {"state", ev.state},
                              {"ts", ev.ts_ms},
                              {"step", json::parse(ev.step_json, nullptr, false)}};
                    publish_(base + "alarm/" + std::to_string(ev.alarm_id), j.dump(), false);
                    if ((ev.state == "resolved" || ev.state == "cancelled") && escalated_open_ &&
                        !escalated_open_() && output_)
                        for (auto& s : sirens_) output_(s, false);
                } else if constexpr (std::is_same_v<T, CheckInRecorded>) {
                    json j = {{"elder_id", ev.elder_id},
                              {"direction", ev.direction},
                              {"method", ev.method},
                              {"ts", ev.ts_ms}};  // no name: the site broker is shared with devices
                    publish_(base + "checkin", j.dump(), false);
                    for (auto& z : occupancy_.all())
                        publish_(
                            base + "occupancy/" + z.zone,
                            json{{"count", z.count}, {"capacity", z.capacity}, {"level", z.level}}.dump(),
                            true);
                } else if constexpr (std::is_same_v<T, OccupancyChanged>) {
                    publish_(base + "occupancy/" + ev.zone,
                             json{{"count", ev.count}, {"capacity", ev.capacity}, {"level", ev.level}}.dump(),
                             true);
                } else if constexpr (std::is_same_v<T, DeviceHealth>) {
                    json j = {
                        {"online", ev.online}, {"reason", ev.reason}, {"kind", ev.kind}, {"ts", ev.ts_ms}};
                    if (ev.battery) j["battery"] = *ev.battery;
                    publish_(base + "device/" + ev.device_id + "/status", j.dump(), true);
                }
            },
            *e);
    }
}

}  // namespace caregate
