// One Modbus bus (RTU serial line or TCP gateway): one thread, one libmodbus context (contexts
// are not thread-safe). Polls each device on its own interval, turns debounced rising edges into
// events (a held button is one call), supervises silence, and recovers from a dropped gateway or
// an unplugged adapter itself: close → backoff → connect → flush, because libmodbus's own error
// recovery can spin or stay broken.
//
// Latency: a new input level is confirmed by one extra read debounce_ms after it was first seen
// (not at the next regular poll), so press → event is at most poll_ms + debounce_ms + one read.
// Supervision: a device is offline after 3 consecutive failed polls (then probed once a second, so a
// dead unit does not stall its neighbours); a lost link is one BusHealth event after 1 s.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "controller/core/bus.hpp"
#include "controller/core/clock.hpp"
#include "controller/core/heartbeat.hpp"

typedef struct _modbus modbus_t;

namespace caregate::devices {

struct ModbusDeviceStats {
    std::string id;
    uint64_t polls = 0;
    uint64_t errors = 0;
    uint64_t timeouts = 0;
    uint64_t invalid = 0;   // CRC errors, bad frames, Modbus exceptions, implausible values
    uint64_t glitches = 0;  // input changes that reverted within debounce_ms (not calls)
    int64_t last_ok_ms = 0;
    bool online = false;
};

class ModbusBusPoller {
public:
    ModbusBusPoller(const config::Bus& bus_cfg, Bus& bus, const Clock& clock);
    ~ModbusBusPoller();
    // Beaten once per loop; call before start(). A stalled worker fails /healthz and the watchdog.
    void set_heartbeat(std::shared_ptr<Heartbeat> hb) { heartbeat_ = std::move(hb); }
    void start();
    void stop();
    // Switches a do_module output (siren, lamp, door relay); done on the poller's thread.
    void set_output(const std::string& device_id, bool on);
    std::vector<ModbusDeviceStats> stats() const;
    const std::string& id() const { return cfg_.id; }
    bool has_device(const std::string& id) const;
    // One poll of every device over `ctx`, a context the caller made, connected and still owns: the
    // same requests and decoding as the poll thread, without the thread, connect or reconnect (for
    // fuzz/modbus_reply_fuzz.cpp; not used while start()ed). False on a transport error.
    bool poll_once(modbus_t* ctx, int64_t now);

private:
    struct PointState {
        const config::Point* point = nullptr;
        std::optional<bool> stable;  // debounced level
        bool candidate = false;
        int64_t candidate_since = 0;
        std::optional<double> last_value;
    };
    struct DeviceState {
        const config::ModbusDevice* cfg = nullptr;
        std::vector<PointState> points;
        int64_t next_poll = 0;
        int failures = 0;  // consecutive polls with a failed read
        std::optional<bool> online;
        ModbusDeviceStats stats;
    };

    void loop();
    bool connect();
    void disconnect();
    // One request of a cycle: a span of one table on one unit, serving points of one or more devices.
    struct Read {
        int unit = 0;
        std::string table;
        int first = 0;
        int count = 0;
        struct Target {
            DeviceState* d;
            size_t point;
            int offset;  // into the span
        };
        std::vector<Target> points;
    };
    std::vector<Read> plan(const std::vector<DeviceState*>& due) const;
    // Reads the due devices; false on a transport error that needs a reconnect.
    bool poll(const std::vector<DeviceState*>& due, int64_t now);
    void resync(int err);  // after a failed read (errno err): drop a late reply
    void apply(DeviceState& d, PointState& p, double value, int64_t now);
    void report_level(DeviceState& d, const std::string& meaning, bool on, int64_t now);
    void set_health(DeviceState& d, bool online, const std::string& reason, int64_t now);
    // The link itself (connection refused or reset, serial port gone): reported once for the bus
    // after a short grace, so a single quick reconnect is not an alarm.
    void link_lost(int64_t now, const std::string& why);
    void link_restored(int64_t now);
    void apply_outputs();
    void sleep_ms(int ms);

    config::Bus cfg_;
    Bus& bus_;
    const Clock& clock_;
    modbus_t* ctx_ = nullptr;
    std::vector<DeviceState> devices_;
    std::thread thread_;
    std::shared_ptr<Heartbeat> heartbeat_;
    std::atomic<bool> running_{false};
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::pair<std::string, bool>> outputs_;
    int64_t started_ms_ = 0;
    int64_t link_down_since_ = 0;  // 0: link up (or never tried)
    bool link_reported_down_ = false;
    std::set<std::pair<int, std::string>> unmerged_;  // (unit, table) read point by point
};

}  // namespace caregate::devices
