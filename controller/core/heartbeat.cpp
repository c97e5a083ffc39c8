#include "controller/core/heartbeat.hpp"

namespace caregate {

std::shared_ptr<Heartbeat> Heartbeats::add(const std::string& name, const std::string& label,
                                           int64_t max_silence_ms) {
    auto hb = std::make_shared<Heartbeat>();
    std::lock_guard<std::mutex> lock(mu_);
    entries_[name] = Entry{hb, label, max_silence_ms};
    return hb;
}

std::vector<StalledWorker> Heartbeats::stalled(int64_t now) const {
    std::vector<StalledWorker> out;
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [name, e] : entries_) {
        int64_t silent = now - e.beat->last_ms();
        if (silent > e.max_silence_ms) out.push_back({name, e.label, silent});
    }
    return out;
}

}  // namespace caregate
