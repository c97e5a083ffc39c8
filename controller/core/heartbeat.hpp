// Worker liveness: each long-running worker thread (camera + face, Modbus bus, …) beats once per
// loop; one that has not beaten within its limit is stalled — stuck in a library call, a blocked
// read, a spinning BLAS pool. /healthz names it, the overview shows it, and the systemd watchdog is
// no longer fed, so a stuck box restarts instead of looking healthy.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace caregate {

// One worker's heartbeat: cheap to beat from its own thread (one relaxed atomic store).
class Heartbeat {
public:
    void beat() { last_ms_.store(steady_ms(), std::memory_order_relaxed); }
    int64_t last_ms() const { return last_ms_.load(std::memory_order_relaxed); }
    static int64_t steady_ms() {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now().time_since_epoch())
            .count();
    }

private:
    std::atomic<int64_t> last_ms_{steady_ms()};
};

struct StalledWorker {
    std::string name;   // e.g. "camera:door"
    std::string label;  // what staff read, e.g. "人脸识别与监控（大门）"
    int64_t silent_ms = 0;
};

class Heartbeats {
public:
    // A worker's heartbeat, stalled after max_silence_ms without a beat. Registering a name again
    // replaces the earlier one.
    std::shared_ptr<Heartbeat> add(const std::string& name, const std::string& label, int64_t max_silence_ms);
    std::vector<StalledWorker> stalled(int64_t now_steady_ms = Heartbeat::steady_ms()) const;

private:
    struct Entry {
        std::shared_ptr<Heartbeat> beat;
        std::string label;
        int64_t max_silence_ms;
    };
    mutable std::mutex mu_;
    std::map<std::string, Entry> entries_;
};

}  // namespace caregate
