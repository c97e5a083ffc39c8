#include "devices/modbus_poller.hpp"

#include <modbus/modbus.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <set>
#include <tuple>
#include <utility>

#include "controller/core/log.hpp"

namespace caregate::devices {

namespace {
bool is_bit_table(const std::string& t) { return t == "coils" || t == "discrete_inputs"; }
bool is_edge_meaning(const std::string& m) {
    return m == "call" || m == "cancel" || m == "fall" || m == "cord_pulled";
}
// Conditions reported on both edges (a detector back to normal, a room free again), debounced too.
bool is_level_meaning(const std::string& m) {
    return m == "smoke" || m == "gas" || m == "water_leak" || m == "tamper" || m == "battery_low" ||
           m == "presence" || m == "motion" || m == "contact";
}
// A register value as its point's type says (legacy points: signed 16-bit, or signed 32-bit when
// count is 2, high word first), before scaling.
double decode(const config::Point& pt, const uint16_t* regs) {
    if (!pt.type.empty()) return devices::decode_registers(pt.type, pt.words_big_endian, regs);
    if (pt.count >= 2) return int32_t(uint32_t(regs[0]) << 16 | regs[1]);
    return int16_t(regs[0]);
}
// A device is offline after this many polls in a row failed (about 3 poll periods plus timeouts).
constexpr int kOfflineAfterFailures = 3;
// An offline device is probed this often, so its timeouts do not slow the devices that answer.
constexpr int kOfflineProbeMs = 1000;
// A link down for this long is reported (one quick reconnect is not an alarm).
constexpr int kLinkGraceMs = 1000;
// Errors after which the link itself is suspect (as opposed to one device not answering).
bool transport_error(int err) {
    return err == ECONNRESET || err == EPIPE || err == EBADF || err == ECONNREFUSED || err == ENOTCONN ||
           err == EIO || err == ENXIO || err == ENODEV;
}
}  // namespace

ModbusBusPoller::ModbusBusPoller(const config::Bus& bus_cfg, Bus& bus, const Clock& clock)
    : cfg_(bus_cfg), bus_(bus), clock_(clock) {
    for (auto& d : cfg_.devices) {
        DeviceState s;
        s.cfg = &d;
        s.stats.id = d.id;
        for (auto& p : d.points) {
            PointState ps;
            ps.point = &p;
            s.points.push_back(ps);
        }
        devices_.push_back(std::move(s));
    }
}

ModbusBusPoller::~ModbusBusPoller() { stop(); }

bool ModbusBusPoller::has_device(const std::string& id) const {
    for (auto& d : devices_)
        if (d.cfg->id == id) return true;
    return false;
}

void ModbusBusPoller::start() {
    if (running_.exchange(true)) return;
    started_ms_ = clock_.now_ms();
    thread_ = std::thread([this] { loop(); });
}

void ModbusBusPoller::stop() {
    if (!running_.exchange(false)) return;
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    disconnect();
}

void ModbusBusPoller::set_output(const std::string& device_id, bool on) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        outputs_.emplace_back(device_id, on);
    }
    cv_.notify_all();
}

std::vector<ModbusDeviceStats> ModbusBusPoller::stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<ModbusDeviceStats> out;
    for (auto& d : devices_) out.push_back(d.stats);
    return out;
}

void ModbusBusPoller::sleep_ms(int ms) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(ms), [&] { return !running_ || !outputs_.empty(); });
}

bool ModbusBusPoller::connect() {
    disconnect();
    if (cfg_.type == "tcp") {
        ctx_ = modbus_new_tcp(cfg_.host.c_str(), cfg_.port);
    } else {
        ctx_ = modbus_new_rtu(cfg_.device.c_str(), cfg_.baud, cfg_.parity[0], cfg_.data_bits, cfg_.stop_bits);
    }
    if (!ctx_) return false;
    modbus_set_response_timeout(ctx_, static_cast<uint32_t>(cfg_.response_timeout_ms / 1000),
                                static_cast<uint32_t>((cfg_.response_timeout_ms % 1000) * 1000));
    modbus_set_byte_timeout(ctx_, static_cast<uint32_t>(cfg_.byte_timeout_ms / 1000),
                            static_cast<uint32_t>((cfg_.byte_timeout_ms % 1000) * 1000));
    modbus_set_error_recovery(ctx_, MODBUS_ERROR_RECOVERY_NONE);  // we recover ourselves
    if (modbus_connect(ctx_) != 0) {
        disconnect();
        return false;
    }
    if (cfg_.type == "rtu" && cfg_.rs485) {
        // USB adapters do RS-485 themselves and answer "Inappropriate ioctl": that is fine.
        if (modbus_rtu_set_serial_mode(ctx_, MODBUS_RTU_RS485) != 0 && errno != ENOTTY)
            logger("modbus")->warn("bus {}: cannot set RS-485 mode: {}", cfg_.id, modbus_strerror(errno));
    }
    modbus_flush(ctx_);
    return true;
}

void ModbusBusPoller::disconnect() {
    if (!ctx_) return;
    modbus_close(ctx_);
    modbus_free(ctx_);
    ctx_ = nullptr;
}

void ModbusBusPoller::set_health(DeviceState& d, bool online, const std::string& reason, int64_t now) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        d.stats.online = online;
    }
    if (d.online && *d.online == online) return;
    d.online = online;
    logger("modbus")->log(online ? spdlog::level::info : spdlog::level::warn, "device {} on bus {} {}{}",
                          d.cfg->id, cfg_.id, online ? "online" : "offline",
                          reason.empty() ? "" : ": " + reason);
    bus_.publish(DeviceHealth{d.cfg->id, d.cfg->kind, d.cfg->zone, online, reason, std::nullopt, now});
}

void ModbusBusPoller::apply(DeviceState& d, PointState& p, double value, int64_t now) {
    const auto& m = p.point->meaning;
    bool level_meaning = is_level_meaning(m);
    if (is_edge_meaning(m) || level_meaning) {
        bool level = value != 0;
        if (!p.stable) {  // first reading: a call already active at start-up is still a call
            p.stable = level;
            p.candidate = level;
            p.candidate_since = now;
            if (level_meaning) return report_level(d, m, level, now);  // the first state is news too
            if (!level || m == "cancel") return;
        } else {
            if (level != p.candidate) {
                if (p.candidate != *p.stable) {  // a pending change reverted before debounce_ms
                    std::lock_guard<std::mutex> lock(mu_);
                    d.stats.glitches++;
                }
                p.candidate = level;
                p.candidate_since = now;
                // Confirm with one read as soon as the debounce time has passed, not a poll later.
                if (level != *p.stable) d.next_poll = std::min(d.next_poll, now + d.cfg->debounce_ms);
            }
            if (p.candidate == *p.stable || now - p.candidate_since < d.cfg->debounce_ms) return;
            p.stable = p.candidate;
            if (level_meaning) return report_level(d, m, *p.stable, now);
            if (!*p.stable) return;  // release: nothing to report
        }
        if (m == "call")
            bus_.publish(ButtonPressed{d.cfg->id, d.cfg->zone, "call", now, p.candidate_since});
        else if (m == "cord_pulled")
            bus_.publish(ButtonPressed{d.cfg->id, d.cfg->zone, "cord_pulled", now, p.candidate_since});
        else if (m == "cancel")
            bus_.publish(ButtonReset{d.cfg->id, now});
        else if (m == "fall")
            bus_.publish(FallDetected{d.cfg->id, d.cfg->zone, true, now});
    } else if (m == "temperature") {
        if (value < -40 || value > 125) {
            std::lock_guard<std::mutex> lock(mu_);
            d.stats.invalid++;
            return;
        }
        // Only a reading that changed, and warm enough to be a person at the sensor, is news.
        bool changed = !p.last_value || std::fabs(*p.last_value - value) >= 0.05;
        p.last_value = value;
        if (changed && value >= 30) bus_.publish(TemperatureReading{d.cfg->id, value, now, std::nullopt});
    } else if (devices::is_numeric_state(m)) {
        const auto& pt = *p.point;
        if (!std::isfinite(value) || (pt.min && value < *pt.min) || (pt.max && value > *pt.max)) {
            std::lock_guard<std::mutex> lock(mu_);
            d.stats.invalid++;
            return;
        }
        p.last_value = value;
        // Every read is sent: the rules keep the per-minute series and judge thresholds at once.
        bus_.publish(Measurement{d.cfg->id, d.cfg->zone, m, value, pt.alarm_above, pt.clear_below, now});
    } else if (m == "counter_in" || m == "counter_out") {
        if (p.last_value) {
            double delta = value - *p.last_value;
            if (delta < 0) delta += 65536;  // 16-bit wrap
            if (delta > 0 && delta < 1000)
                bus_.publish(
                    OccupancyCount{d.cfg->id, d.cfg->zone, int(m == "counter_in" ? delta : -delta), now});
        }
        p.last_value = value;
    }
}

void ModbusBusPoller::report_level(DeviceState& d, const std::string& meaning, bool on, int64_t now) {
    if (meaning == "presence" || meaning == "motion" || meaning == "contact")
        bus_.publish(PresenceReported{d.cfg->id, d.cfg->zone, on, now});
    else
        bus_.publish(DeviceCondition{d.cfg->id, d.cfg->zone, meaning, on, now});
}

std::vector<ModbusBusPoller::Read> ModbusBusPoller::plan(const std::vector<DeviceState*>& due) const {
    // Points of one unit and table that lie close together are read with one request: an 8-input
    // DI module serving 8 call points (8 devices, or one device with 8 points) costs one FC02 read
    // per cycle, not eight. On a 9600-baud line that is the difference between 175 ms and 1.4 s.
    struct Want {
        int address;
        int count;
        DeviceState* d;
        size_t point;
    };
    std::map<std::pair<int, std::string>, std::vector<Want>> by_unit;
    for (auto* d : due)
        for (size_t i = 0; i < d->points.size(); ++i) {
            const auto& pt = *d->points[i].point;
            // Outputs are read back too: that read is how a siren or door relay module proves it is
            // alive (its value is not an event).
            bool bits = is_bit_table(pt.table);
            int addr = bits ? pt.address + std::max(pt.channel, 0) : pt.address;
            int count = bits ? 1 : std::clamp(pt.count, 1, 2);
            by_unit[{d->cfg->unit_id, pt.table}].push_back({addr, count, d, i});
        }
    std::vector<Read> reads;
    for (auto& [key, wants] : by_unit) {
        std::stable_sort(wants.begin(), wants.end(), [](auto& a, auto& b) { return a.address < b.address; });
        bool merge = !unmerged_.count(key);
        int max_span = is_bit_table(key.second) ? 64 : 16;
        for (auto& w : wants) {
            Read* r = reads.empty() ? nullptr : &reads.back();
            bool fits = r && merge && r->unit == key.first && r->table == key.second &&
                        w.address + w.count - r->first <= max_span;
            if (!fits) {
                reads.push_back({key.first, key.second, w.address, 0, {}});
                r = &reads.back();
            }
            r->count = std::max(r->count, w.address + w.count - r->first);
            r->points.push_back({w.d, w.point, w.address - r->first});
        }
    }
    return reads;
}

bool ModbusBusPoller::poll(const std::vector<DeviceState*>& due, int64_t now) {
    auto log = logger("modbus");
    std::map<DeviceState*, bool> failed;  // device → any read failed this cycle (devices read at all)
    auto reads = plan(due);
    for (auto& r : reads)
        for (auto& p : r.points) failed[p.d] = false;
    for (auto& r : reads) {
        modbus_set_slave(ctx_, r.unit);
        uint8_t bits[MODBUS_MAX_READ_BITS] = {0};
        uint16_t regs[MODBUS_MAX_READ_REGISTERS] = {0};
        int rc = r.table == "coils"               ? modbus_read_bits(ctx_, r.first, r.count, bits)
                 : r.table == "discrete_inputs"   ? modbus_read_input_bits(ctx_, r.first, r.count, bits)
                 : r.table == "holding_registers" ? modbus_read_registers(ctx_, r.first, r.count, regs)
                                                  : modbus_read_input_registers(ctx_, r.first, r.count, regs);
        int err = rc < 0 ? errno : 0;
        std::set<DeviceState*> devices;
        for (auto& p : r.points) devices.insert(p.d);
        // A Modbus exception is an answer: the unit is alive (and misconfigured), not offline.
        // (A gateway's "target failed to respond" is not: the unit behind it is silent.)
        bool exception = rc < 0 && err >= EMBXILFUN && err <= EMBXMEMPAR;
        if (rc < 0) {
            std::lock_guard<std::mutex> lock(mu_);
            for (auto* d : devices) {
                if (!exception) failed[d] = true;
                d->stats.errors++;
                if (err == ETIMEDOUT)
                    d->stats.timeouts++;
                else if (err == EMBBADCRC || err == EMBBADDATA || err == EMBBADSLAVE || err >= MODBUS_ENOBASE)
                    d->stats.invalid++;
                if (d->stats.errors % 50 == 1)
                    log->warn("device {} (bus {}, unit {}) {} {}..{}: {}", d->cfg->id, cfg_.id, r.unit,
                              r.table, r.first, r.first + r.count - 1, modbus_strerror(err));
            }
        }
        if (rc < 0) {
            if (transport_error(err)) return false;
            if (!exception) resync(err);
            // A unit that refuses the merged span (e.g. an address it does not have) is read point by
            // point from now on, so one misconfigured device does not silence its neighbours.
            if ((err == EMBXILADD || err == EMBXILVAL || err == EMBXILFUN) && r.points.size() > 1 &&
                unmerged_.insert({r.unit, r.table}).second)
                log->info("bus {} unit {}: {} refused a read of {}..{}; reading its points one by one",
                          cfg_.id, r.unit, r.table, r.first, r.first + r.count - 1);
            continue;
        }
        // Applied as soon as its read is back (not at the end of a long cycle), stamped with that time.
        int64_t at = clock_.now_ms();
        for (auto& p : r.points) {
            const auto& pt = *p.d->points[p.point].point;
            if (pt.meaning == "output") continue;
            double value;
            if (is_bit_table(r.table))
                value = bits[p.offset];
            else if (pt.channel >= 0)
                value = (regs[p.offset] >> pt.channel) & 1;
            else
                value = decode(pt, &regs[p.offset]) * pt.scale;
            // Values are applied only from successful reads: an error never looks like an edge.
            apply(*p.d, p.d->points[p.point], value, at);
        }
    }
    for (auto& [d, bad] : failed) {
        {
            std::lock_guard<std::mutex> lock(mu_);
            d->stats.polls++;
            if (!bad) d->stats.last_ok_ms = now;
        }
        d->failures = bad ? d->failures + 1 : 0;
        if (!bad)
            set_health(*d, true, "", now);
        else if (d->failures >= kOfflineAfterFailures && d->online.value_or(true))
            set_health(*d, false, "连续 " + std::to_string(d->failures) + " 次轮询无应答", now);
        if (d->online == false) d->next_poll = std::max(d->next_poll, now + kOfflineProbeMs);
    }
    return true;
}

// A reply that came too late may still be arriving: the next request would read it as its own
// answer, and every read after would be one reply behind (on RTU a stale reply of the same shape is
// even accepted). After a timeout the unit is most likely just silent: drop what is on the line (on
// RTU after a short wait for a slow unit's tail) without holding up its neighbours. A reply that
// does not fit the request (wrong transaction, unit, CRC, length) means our answer is in flight
// behind it: wait out the response time, then drop it. libmodbus's MODBUS_ERROR_RECOVERY_PROTOCOL is
// not used: its link recovery reconnects behind our back, and link loss must be seen here.
void ModbusBusPoller::resync(int err) {
    uint32_t s = 0, us = 0;
    modbus_get_response_timeout(ctx_, &s, &us);
    int timeout_ms = int(std::min<uint64_t>(uint64_t(s) * 1000 + us / 1000, 1000));
    int ms = err != ETIMEDOUT ? timeout_ms : cfg_.type == "rtu" ? std::min(timeout_ms / 4, 50) : 0;
    if (ms > 0) {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait_for(lock, std::chrono::milliseconds(ms), [&] { return !running_; });
    }
    modbus_flush(ctx_);
}

bool ModbusBusPoller::poll_once(modbus_t* ctx, int64_t now) {
    std::vector<DeviceState*> all;
    for (auto& d : devices_) all.push_back(&d);
    modbus_t* own = std::exchange(ctx_, ctx);
    bool ok = poll(all, now);
    ctx_ = own;
    return ok;
}

void ModbusBusPoller::apply_outputs() {
    std::deque<std::pair<std::string, bool>> pending;
    {
        std::lock_guard<std::mutex> lock(mu_);
        pending.swap(outputs_);
    }
    for (auto& [id, on] : pending) {
        for (auto& d : devices_) {
            if (d.cfg->id != id) continue;
            for (auto& p : d.points) {
                if (p.point->meaning != "output" || !ctx_) continue;
                modbus_set_slave(ctx_, d.cfg->unit_id);
                int rc = p.point->table == "coils"
                             ? modbus_write_bit(ctx_, p.point->address, on ? 1 : 0)
                             : modbus_write_register(ctx_, p.point->address, on ? 1 : 0);
                if (rc < 0)
                    logger("modbus")->error("device {}: cannot switch output {}: {}", id, on ? "on" : "off",
                                            modbus_strerror(errno));
                else
                    logger("modbus")->info("device {}: output {}", id, on ? "on" : "off");
            }
        }
    }
}

void ModbusBusPoller::link_lost(int64_t now, const std::string& why) {
    if (!link_down_since_) link_down_since_ = now;
    if (link_reported_down_ || now - link_down_since_ < kLinkGraceMs) return;
    link_reported_down_ = true;
    std::vector<std::string> ids;
    {
        std::lock_guard<std::mutex> lock(mu_);
        for (auto& d : devices_) {
            ids.push_back(d.cfg->id);
            d.stats.online = false;
            d.online = false;  // each comes back on its own first good read
            d.failures = 0;
        }
    }
    std::string reason =
        "总线断开 " + std::to_string((now - link_down_since_ + 999) / 1000) + " 秒（" + why + "）";
    logger("modbus")->error("bus {}: {}; {} devices cannot be reached", cfg_.id, reason, ids.size());
    bus_.publish(BusHealth{cfg_.id, false, reason, std::move(ids), now});
}

void ModbusBusPoller::link_restored(int64_t now) {
    link_down_since_ = 0;
    if (!link_reported_down_) return;
    link_reported_down_ = false;
    std::vector<std::string> ids;
    for (auto& d : devices_) ids.push_back(d.cfg->id);
    bus_.publish(BusHealth{cfg_.id, true, "link restored", std::move(ids), now});
}

void ModbusBusPoller::loop() {
    auto log = logger("modbus");
    int backoff_ms = 100;
    while (running_) {
        if (heartbeat_) heartbeat_->beat();
        int64_t now = clock_.now_ms();
        // Supervision runs whether or not the bus is connected. While the link is reported down the
        // bus event stands for every device.
        if (!link_down_since_)
            for (auto& d : devices_) {
                int64_t last = d.stats.last_ok_ms ? d.stats.last_ok_ms : started_ms_;
                if (now - last > int64_t(d.cfg->max_silence_s) * 1000)
                    set_health(d, false, std::to_string((now - last) / 1000) + " 秒无应答", now);
            }
        if (!ctx_) {
            if (!connect()) {
                log->debug("bus {}: connect failed: {}; retry in {} ms", cfg_.id, modbus_strerror(errno),
                           backoff_ms);
                link_lost(clock_.now_ms(), modbus_strerror(errno));
                // While the grace runs, the next try is no later than its end: then it is reported.
                int64_t wait = backoff_ms;
                if (!link_reported_down_)
                    wait = std::clamp<int64_t>(link_down_since_ + kLinkGraceMs - clock_.now_ms(), 10, wait);
                sleep_ms(int(wait));
                backoff_ms = std::min(backoff_ms * 2, 5000);
                continue;
            }
            log->info("bus {} connected ({})", cfg_.id,
                      cfg_.type == "tcp" ? cfg_.host + ":" + std::to_string(cfg_.port) : cfg_.device);
            backoff_ms = 100;
            link_restored(clock_.now_ms());
        }
        apply_outputs();
        int64_t next_due = now + 1000;
        std::vector<DeviceState*> due;
        for (auto& d : devices_) {
            if (d.next_poll <= now) {
                d.next_poll = now + d.cfg->poll_ms;
                due.push_back(&d);
            }
        }
        if (!due.empty() && !poll(due, clock_.now_ms())) {
            std::string why = modbus_strerror(errno);
            log->warn("bus {}: link error ({}); reconnecting", cfg_.id, why);
            disconnect();
            link_lost(clock_.now_ms(), why);
            continue;
        }
        // After the reads: a new input level moves its device's next read forward (debounce).
        for (auto& d : devices_) next_due = std::min(next_due, d.next_poll);
        int wait = int(next_due - clock_.now_ms());
        if (wait > 0) sleep_ms(wait);
    }
}

}  // namespace caregate::devices
