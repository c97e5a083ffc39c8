#include "vision/face_calibration.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>

#include "vision/face_net.hpp"

namespace caregate::vision {

namespace {
// Impostor distances kept for the distribution; beyond this a regular sample (the count below the
// threshold and the closest pairs stay exact).
constexpr size_t kMaxKeptPairs = 5'000'000;
}  // namespace

SiteCalibration calibrate_site(const std::vector<CalibrationTemplate>& t, double configured, double margin,
                               double target_far) {
    if (!(target_far > 0 && target_far < 1)) throw std::invalid_argument("--far must lie between 0 and 1");
    SiteCalibration c;
    c.configured_threshold = configured;
    c.margin = margin;
    c.target_far = target_far;
    c.templates = t.size();
    std::map<int64_t, int> per_elder;
    for (auto& x : t) {
        if (x.descriptor.size() != t.front().descriptor.size())
            throw std::invalid_argument("templates of different sizes: one recognition model at a time");
        per_elder[x.elder_id]++;
    }
    c.elders = per_elder.size();
    size_t total_impostor = 0;
    for (auto& [id, n] : per_elder) total_impostor += size_t(n) * (t.size() - size_t(n));
    total_impostor /= 2;
    c.impostor_pairs = total_impostor;
    c.impostor_sample = std::max<size_t>(1, (total_impostor + kMaxKeptPairs - 1) / kMaxKeptPairs);

    std::vector<double> genuine, impostor;
    size_t seen = 0;
    for (size_t i = 0; i < t.size(); ++i)
        for (size_t j = i + 1; j < t.size(); ++j) {
            double d = distance(t[i].descriptor, t[j].descriptor);
            if (t[i].elder_id == t[j].elder_id) {
                genuine.push_back(d);
                continue;
            }
            if (seen++ % c.impostor_sample == 0) impostor.push_back(d);
            if (d <= configured) c.accepted_at_configured++;
            // The closest look-alikes, one entry per pair of elders.
            if (c.closest.size() == 10 && d >= c.closest.back().distance) continue;
            int64_t a = std::min(t[i].elder_id, t[j].elder_id), b = std::max(t[i].elder_id, t[j].elder_id);
            auto same = std::find_if(c.closest.begin(), c.closest.end(),
                                     [&](const LookAlike& l) { return l.elder_a == a && l.elder_b == b; });
            if (same != c.closest.end()) {
                same->distance = std::min(same->distance, d);
            } else {
                if (c.closest.size() == 10) c.closest.pop_back();
                c.closest.push_back({a, b, d});
            }
            std::sort(c.closest.begin(), c.closest.end(),
                      [](const LookAlike& x, const LookAlike& y) { return x.distance < y.distance; });
        }
    c.pairs = pair_metrics(genuine, impostor, configured);

    if (impostor.empty()) {
        c.basis = "fewer than two elders are enrolled: nothing to calibrate against";
        return c;
    }
    std::sort(impostor.begin(), impostor.end());
    if (genuine.size() >= kMinGenuineForFloor) {
        c.duplicate_floor = c.pairs.genuine.median;
        for (auto& l : c.closest) l.same_person_likely = l.distance < *c.duplicate_floor;
        auto from = std::lower_bound(impostor.begin(), impostor.end(), *c.duplicate_floor);
        c.below_floor = size_t(from - impostor.begin());
        impostor.erase(impostor.begin(), from);
    }
    if (impostor.empty()) {
        c.basis = "every pair of different elders is below the duplicate floor: check those records first";
        return c;
    }
    double pairs_needed = 1.0 / target_far;
    if (double(c.impostor_pairs) >= pairs_needed) {
        // Accept at most target_far of the pairs of different elders: stay below the first pair that
        // must be refused, by the margin (the runner-up rule needs that room too).
        size_t allowed = size_t(double(impostor.size()) * target_far);
        c.proposed_threshold = impostor[allowed] - margin;
        c.basis = "the distance at which " + std::to_string(allowed * c.impostor_sample) + " of " +
                  std::to_string(c.impostor_pairs) +
                  " pairs of different elders would be accepted, less the margin";
    } else {
        // Too few pairs to measure that rate: keep every pair of different elders apart.
        c.proposed_threshold = impostor.front() - margin;
        c.basis = "too few pairs (" + std::to_string(c.impostor_pairs) + ") to measure FAR " +
                  std::to_string(target_far) + "; below the closest pair of different elders by the margin";
    }
    // A site's own elders are not the strangers at its door: never propose more than configured.
    if (*c.proposed_threshold >= configured) {
        c.proposed_threshold = configured;
        c.basis += "; the configured threshold is already below it, keep it";
    }
    if (!genuine.empty()) {
        size_t refused = size_t(std::count_if(genuine.begin(), genuine.end(),
                                              [&](double d) { return d > *c.proposed_threshold; }));
        c.genuine_refused_at_proposal = double(refused) / double(genuine.size());
    }
    return c;
}

nlohmann::json to_json(const SiteCalibration& c) {
    nlohmann::json closest = nlohmann::json::array();
    for (auto& l : c.closest)
        closest.push_back({{"elder_a", l.elder_a},
                           {"elder_b", l.elder_b},
                           {"distance", l.distance},
                           {"same_person_likely", l.same_person_likely}});
    return {
        {"elders", c.elders},
        {"templates", c.templates},
        {"impostor_pairs", c.impostor_pairs},
        {"impostor_sample_every", c.impostor_sample},
        {"configured_threshold", c.configured_threshold},
        {"margin", c.margin},
        {"target_far", c.target_far},
        {"impostor_pairs_accepted_at_configured", c.accepted_at_configured},
        {"closest", closest},
        {"proposed_threshold",
         c.proposed_threshold ? nlohmann::json(*c.proposed_threshold) : nlohmann::json()},
        {"basis", c.basis},
        {"duplicate_floor", c.duplicate_floor ? nlohmann::json(*c.duplicate_floor) : nlohmann::json()},
        {"pairs_below_floor", c.below_floor},
        {"genuine_refused_at_proposal",
         c.genuine_refused_at_proposal ? nlohmann::json(*c.genuine_refused_at_proposal) : nlohmann::json()},
        {"pairs", pair_metrics_json(c.pairs)}};
}

}  // namespace caregate::vision
