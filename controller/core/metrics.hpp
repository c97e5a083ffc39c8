// Prometheus text-format metrics: counters owned here, gauges read through callbacks from the
// components that own the numbers (queues, pollers), so nothing is copied twice.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace caregate {

class Metrics {
public:
    // A counter identified by name and label set, e.g. counter("caregate_mqtt_malformed_total", "...",
    // "device=\"x\""). The reference stays valid for the registry's life.
    std::atomic<uint64_t>& counter(const std::string& name, const std::string& help,
                                   const std::string& labels = "");
    // A sample source called at scrape time: returns (labels, value) pairs.
    using Sampler = std::function<std::vector<std::pair<std::string, double>>()>;
    void gauge(const std::string& name, const std::string& help, Sampler fn,
               const std::string& type = "gauge");
    std::string render() const;

private:
    struct Family {
        std::string help;
        std::string type;
        std::map<std::string, std::unique_ptr<std::atomic<uint64_t>>> counters;
        std::vector<Sampler> samplers;
    };
    mutable std::mutex mu_;
    std::map<std::string, Family> families_;
};

}  // namespace caregate
