#include "controller/core/metrics.hpp"

#include <sstream>

namespace caregate {

std::atomic<uint64_t>& Metrics::counter(const std::string& name, const std::string& help,
                                        const std::string& labels) {
    std::lock_guard<std::mutex> lock(mu_);
    auto& f = families_[name];
    if (f.help.empty()) f.help = help, f.type = "counter";
    auto& c = f.counters[labels];
    if (!c) c = std::make_unique<std::atomic<uint64_t>>(0);
    return *c;
}

void Metrics::gauge(const std::string& name, const std::string& help, Sampler fn, const std::string& type) {
    std::lock_guard<std::mutex> lock(mu_);
    auto& f = families_[name];
    f.help = help;
    f.type = type;
    f.samplers.push_back(std::move(fn));
}

std::string Metrics::render() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::ostringstream o;
    for (auto& [name, f] : families_) {
        o << "# HELP " << name << " " << f.help << "\n# TYPE " << name << " " << f.type << "\n";
        for (auto& [labels, v] : f.counters)
            o << name << (labels.empty() ? "" : "{" + labels + "}") << " " << v->load() << "\n";
        for (auto& s : f.samplers)
            for (auto& [labels, v] : s())
                o << name << (labels.empty() ? "" : "{" + labels + "}") << " " << v << "\n";
    }
    return o.str();
}

}  // namespace caregate
