#include "controller/door/gate.hpp"

#include <cmath>
#include <cstdio>

#include "controller/core/log.hpp"

namespace caregate {

using nlohmann::json;

namespace {
const int64_t kPendingMs = 30'000;  // how long a recognised elder may take to reach the thermometer
const double kMinPlausible = 34.0, kMaxPlausible = 43.0;

std::string celsius(double c) {
    char b[16];
    std::snprintf(b, sizeof b, "%.1f℃", c);
    return b;
}
int local_hour(int64_t ms, const std::string& tz) {
    int64_t local = ms + local_offset_ms(tz);
    return static_cast<int>(((local / 3600000) % 24 + 24) % 24);
}
std::string surname(const std::string& name) {
    // Chinese names are UTF-8, 3 bytes per character; two-character compound surnames are rare
    // enough that the first character is the right guess.
    if (name.size() >= 3 && (static_cast<unsigned char>(name[0]) & 0xF0) == 0xE0) return name.substr(0, 3);
    return name;
}
}  // namespace

json to_json(const GateDecision& d) {
    return {{"decision", d.decision},
            {"reason", d.reason},
            {"message", d.message},
            {"elder_id", d.elder_id ? json(*d.elder_id) : json(nullptr)},
            {"elder_name", d.elder_name},
            {"temperature", d.temperature ? json(std::round(*d.temperature * 10) / 10) : json(nullptr)},
            {"unmeasured", d.unmeasured},
            {"ts", d.ts_ms},
            {"seq", d.seq}};
}

std::string greeting_time(int64_t now_ms, const std::string& tz) {
    int h = local_hour(now_ms, tz);
    if (h >= 5 && h < 11) return "上午好";
    if (h >= 11 && h < 13) return "中午好";
    if (h >= 13 && h < 18) return "下午好";
    return "晚上好";
}

std::string honorific(const Elder& e, int64_t now_ms) {
    if (e.gender.empty()) return e.name;
    int age = 0;
    int y = 0;
    if (std::sscanf(e.birth_date.c_str(), "%d", &y) == 1 && y > 1900)
        age = static_cast<int>(1970 + now_ms / (365.2425 * 86400000.0)) - y;
    bool older = age >= 70;
    std::string s = surname(e.name);
    if (e.gender == "女") return s + (older ? "奶奶" : "阿姨");
    return s + (older ? "爷爷" : "叔叔");
}

Gate::Gate(const config::SiteConfig& cfg, Store& store, const Clock& clock, Roster& roster,
           CheckinService& checkins, Occupancy& occupancy, AlarmService& alarms)
    : cfg_(cfg),
      store_(store),
      clock_(clock),
      roster_(roster),
      checkins_(checkins),
      occupancy_(occupancy),
      alarms_(alarms),
      thermometer_(cfg.gate.thermometer) {
    if (thermometer_.empty()) {
        for (auto& b : cfg.buses)
            for (auto& d : b.devices)
                if (d.kind == "ir_thermometer" && thermometer_.empty()) thermometer_ = d.id;
        for (auto& d : cfg.mqtt_devices)
            if (d.kind == "thermometer" && thermometer_.empty()) thermometer_ = d.id;
        for (auto& cam : cfg.cameras)
            if (cam.thermal && thermometer_.empty()) thermometer_ = cam.thermal_id();
    }
}

std::optional<GateDecision> Gate::last() const {
    std::lock_guard<std::mutex> lock(mu_);
    return last_;
}

bool Gate::zone_full(const std::string& zone, int* count, int* cap) {
    auto z = occupancy_.zone(zone);
    *count = z.count;
    *cap = z.capacity;
    return z.level == "full";
}

GateDecision Gate::ask(const Elder& e, const char* decision, const char* reason,
                       const std::string& after_name) {
    GateDecision d;
    d.decision = decision;
    d.reason = reason;
    d.elder_id = e.id;
    d.elder_name = e.name;
    d.message = honorific(e, clock_.now_ms()) + after_name;
    return finish(d);
}

GateDecision Gate::finish(GateDecision d) {
    d.ts_ms = clock_.now_ms();
    {
        std::lock_guard<std::mutex> lock(mu_);
        d.seq = ++seq_;
        last_ = d;
    }
    store_.write([&](sqlite3* db) {
        Stmt s(db,
               "INSERT INTO door_events(ts, elder_id, camera_id, decision, reason, temperature, unmeasured, "
               "actor) "
               "VALUES(?,?,?,?,?,?,?,?)");
        s.bind(1, d.ts_ms).bind(2, d.elder_id).bind(3, "").bind(4, d.decision).bind(5, d.reason);
        s.bind(6, d.temperature).bind(7, d.unmeasured ? 1 : 0).bind(8, "gate").run();
    });
    logger("gate")->info("{} ({}) elder={} temp={} : {}", d.decision, d.reason, d.elder_name,
                         d.temperature ? celsius(*d.temperature) : "-", d.message);
    if (announce_) announce_(d);
    return d;
}

std::optional<double> Gate::recent_reading(int64_t around_ms, int64_t elder_id) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = readings_.rbegin(); it != readings_.rend(); ++it)
        if (std::llabs(it->ts_ms - around_ms) <= cfg_.gate.pairing_window_ms &&
            (!it->elder_id || *it->elder_id == elder_id))  // another elder's forehead is not this one's
            return it->celsius + cfg_.gate.offset_c;
    return std::nullopt;
}

GateDecision Gate::decide(const Elder& e, const FaceSeen& f, std::optional<double> body, bool unmeasured) {
    GateDecision d;
    d.elder_id = e.id;
    d.elder_name = e.name;
    d.temperature = body;
    d.unmeasured = unmeasured;
    std::string who =
        honorific(e, clock_.now_ms()) + "，" + greeting_time(clock_.now_ms(), cfg_.site.timezone) + "！";

    if (body && *body >= cfg_.gate.fever_c) {
        bool second = false;
        {
            std::lock_guard<std::mutex> lock(mu_);
            if (pending_ && pending_->elder.id == e.id && pending_->attempts >= 1) second = true;
            if (!second) {
                if (!pending_ || pending_->elder.id != e.id) pending_ = Pending{f, e, 0, clock_.now_ms()};
                pending_->attempts++;
                pending_->since_ms = clock_.now_ms();
            } else {
                pending_.reset();
            }
        }
        if (!second) {
            d.decision = "remeasure";
            d.reason = "fever_first";
            d.message = who + "体温 " + celsius(*body) + " 偏高，请再测一次";
            return finish(d);
        }
        d.decision = "refuse";
        d.reason = "fever";
        d.message = who + "体温 " + celsius(*body) + "，请在门口稍候，工作人员马上过来";
        alarms_.raise("fever", thermometer_.empty() ? f.camera_id : thermometer_, f.zone, "gate",
                      json{{"temperature", std::round(*body * 10) / 10}, {"elder_name", e.name}}, e.id);
        return finish(d);
    }
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (pending_ && pending_->elder.id == e.id) pending_.reset();
    }
    if (cfg_.gate.epidemic_mode) {
        bool signed_today;
        {
            std::lock_guard<std::mutex> lock(mu_);
            auto it = commitments_.find(e.id);
            signed_today = it != commitments_.end() && it->second == occupancy_.day_start_ms();
        }
        if (!signed_today) {
            d.decision = "wait";
            d.reason = "commitment";
            d.message = who + "请先到前台签署今日健康承诺书";
            return finish(d);
        }
    }
    int count = 0, cap = 0;
    std::string zone = f.zone.empty() ? (cfg_.zones.empty() ? "" : cfg_.zones.front().id) : f.zone;
    if (!zone.empty() && !checkins_.is_inside(e.id) && zone_full(zone, &count, &cap)) {
        d.decision = "wait";
        d.reason = "full";
        auto* z = cfg_.find_zone(zone);
        d.message = who + (z ? z->name : zone) + "人已满（" + std::to_string(count) + "/" +
                    std::to_string(cap) + "），请稍候";
        alarms_.raise("over_capacity", zone, zone, "gate", json{{"count", count}, {"capacity", cap}});
        return finish(d);
    }
    CheckIn c;
    c.elder_id = e.id;
    c.direction = "in";
    c.method = "face";
    c.camera_id = f.camera_id;
    c.zone = zone;
    c.temperature = body;
    c.distance = f.distance;
    c.ts_ms = f.ts_ms ? f.ts_ms : clock_.now_ms();
    checkins_.record(c);  // a repeat inside the interval is not a new visit, but the door still greets
    alarms_.clear("over_capacity", zone, "人数已回到容量以内");
    d.decision = "allow";
    d.reason = unmeasured ? "unmeasured" : "ok";
    d.message = who + (body         ? "体温 " + celsius(*body) + "，请进"
                       : unmeasured ? "今天还未测温，请找工作人员补测，请进"
                                    : "欢迎光临，请进");
    return finish(d);
}

std::optional<GateDecision> Gate::face(const FaceSeen& f) {
    if (f.role != "entrance") return std::nullopt;
    if (!f.elder_id) {
        GateDecision d;
        d.decision = "visitor";
        d.reason = "unknown_face";
        d.message = "您好，欢迎光临！请到前台登记";
        return finish(d);
    }
    auto e = roster_.get(*f.elder_id);
    if (!e || !e->active) return std::nullopt;
    if (!f.live && !e->liveness_exempt) {
        return ask(*e, "wait", "liveness", "，请看着屏幕眨一眨眼");
    }
    bool have_thermometer = !thermometer_.empty();
    if (!have_thermometer) {
        if (cfg_.gate.require_temperature) {
            return ask(*e, "wait", "no_thermometer", "，请工作人员协助测温");
        }
        return decide(*e, f, std::nullopt, false);
    }
    if (!thermometer_online_) return thermometer_offline(*e, f);
    if (auto r = recent_reading(f.ts_ms ? f.ts_ms : clock_.now_ms(), e->id))
        if (*r >= kMinPlausible && *r <= kMaxPlausible) return decide(*e, f, r, false);
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (!pending_ || pending_->elder.id != e->id) pending_ = Pending{f, *e, 0, clock_.now_ms()};
    }
    return ask(*e, "wait", "measure",
               "，" + greeting_time(clock_.now_ms(), cfg_.site.timezone) + "！请把额头靠近测温仪");
}

std::optional<GateDecision> Gate::temperature(const TemperatureReading& t) {
    if (!thermometer_.empty() && t.device_id != thermometer_) return std::nullopt;
    double body = t.celsius + cfg_.gate.offset_c;
    std::optional<Pending> p;
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (body >= kMinPlausible && body <= kMaxPlausible) {
            readings_.push_back(t);
            while (!readings_.empty() && readings_.front().ts_ms < t.ts_ms - 30'000) readings_.pop_front();
        }
        if (pending_ && clock_.now_ms() - pending_->since_ms > kPendingMs) pending_.reset();
        p = pending_;
    }
    if (!p || (t.elder_id && *t.elder_id != p->elder.id)) return std::nullopt;
    if (body < kMinPlausible || body > kMaxPlausible) {
        return ask(p->elder, "remeasure", "implausible", "，没有测到体温，请再测一次");
    }
    return decide(p->elder, p->face, body, false);
}

GateDecision Gate::thermometer_offline(const Elder& e, const FaceSeen& f) {
    if (cfg_.gate.thermometer_offline_policy == "staff") {
        return ask(e, "wait", "thermometer_offline", "，测温仪暂不可用，请工作人员协助测温");
    }
    return decide(e, f, std::nullopt, true);
}

std::optional<GateDecision> Gate::device_health(const DeviceHealth& h) {
    if (h.device_id != thermometer_) return std::nullopt;
    thermometer_online_ = h.online;
    if (h.online) return std::nullopt;
    // An elder already waiting at the thermometer is not left waiting for one that went away.
    std::optional<Pending> p;
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (pending_ && clock_.now_ms() - pending_->since_ms <= kPendingMs) p = pending_;
        pending_.reset();
    }
    if (!p) return std::nullopt;
    return thermometer_offline(p->elder, p->face);
}

GateDecision Gate::staff_override(int64_t elder_id, const std::string& decision, const std::string& reason,
                                  std::optional<double> temperature, const std::string& actor) {
    if (decision != "allow" && decision != "refuse")
        throw std::invalid_argument("处理方式须为 放行 或 不放行");
    if (reason.empty()) throw std::invalid_argument("请填写原因");
    // As at the kiosk desk: a fever measured by hand (a body temperature) does not pass either.
    if (decision == "allow" && temperature && *temperature >= cfg_.gate.fever_c) {
        char t[32];
        std::snprintf(t, sizeof t, "%.1f", *temperature);
        throw std::invalid_argument(std::string("体温 ") + t + "℃ 发热，不能放行：请按发热流程处理");
    }
    auto e = roster_.get(elder_id);
    if (!e)
        throw std::invalid_argument("没有这位长者（档案编号 " + std::to_string(elder_id) +
                                    "），请刷新页面后重新选择");
    if (decision == "allow") {
        CheckIn c;
        c.elder_id = elder_id;
        c.method = "staff";
        c.temperature = temperature;
        c.actor = actor;
        checkins_.record(c);
    }
    store_.write([&](sqlite3* db) {
        Store::audit(db, actor, "gate.override", "elder:" + std::to_string(elder_id),
                     json{{"decision", decision}, {"reason", reason}}.dump(), clock_.now_ms());
    });
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (pending_ && pending_->elder.id == elder_id) pending_.reset();
    }
    GateDecision d;
    d.decision = decision;
    d.reason = "staff_override";
    d.elder_id = elder_id;
    d.elder_name = e->name;
    d.temperature = temperature;
    d.message = honorific(*e, clock_.now_ms()) + (decision == "allow" ? "，请进" : "，请跟随工作人员");
    return finish(d);
}

void Gate::confirm_commitment(int64_t elder_id, const std::string& actor) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        commitments_[elder_id] = occupancy_.day_start_ms();
    }
    store_.write([&](sqlite3* db) {
        Store::audit(db, actor, "gate.commitment", "elder:" + std::to_string(elder_id), "{}",
                     clock_.now_ms());
    });
}

}  // namespace caregate
