#include "vision/face_calibration.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <stdexcept>

#include "vision/face_net.hpp"
#include "vision/gallery.hpp"

namespace caregate::vision {

namespace {
// Impostor distances kept for the distribution; beyond this a regular sample (the count below the
// threshold and the closest pairs stay exact).
constexpr size_t kMaxKeptPairs = 5'000'000;

constexpr double kRefused = -std::numeric_limits<double>::infinity();

// One trial's scores under both rules, higher = more alike; kRefused when the runner-up is within
// the margin (the door names nobody then, whatever the rule).
struct Scored {
    double plain = kRefused, z = kRefused;
    size_t best = 0;
};

// nearest[e]: the probe's distance to elder e (their nearest template or their mean; infinity: none). `skip`:
// an elder left out of the gallery (the probe's own, for a stranger trial), or nearest.size().
Scored score(const std::vector<double>& nearest, size_t skip, double margin) {
    Scored r;
    double best = std::numeric_limits<double>::infinity(), second = best;
    for (size_t e = 0; e < nearest.size(); ++e) {
        if (e == skip) continue;
        if (nearest[e] < best) {
            second = best;
            best = nearest[e];
            r.best = e;
        } else if (nearest[e] < second) {
            second = nearest[e];
        }
    }
    if (!std::isfinite(best) || second - best < margin) return r;
    double sum = 0, sq = 0;
    size_t n = 0;
    for (size_t e = 0; e < nearest.size(); ++e) {
        if (e == skip || e == r.best || !std::isfinite(nearest[e])) continue;
        sum += nearest[e];
        sq += nearest[e] * nearest[e];
        n++;
    }
    if (n < 2) return r;
    double mean = sum / double(n), sd = std::sqrt(std::max(0.0, sq / double(n) - mean * mean));
    r.plain = -best;
    r.z = (mean - best) / std::max(sd, 1e-9);
    return r;
}

// The cut that accepts at most `allowed` of the stranger trials: accept a score above it.
double cut_for(std::vector<double> strangers, size_t allowed) {
    std::sort(strangers.begin(), strangers.end(), std::greater<>());
    if (allowed >= strangers.size() || strangers[allowed] == kRefused) return kRefused;
    return strangers[allowed];
}

std::optional<CohortNormalisation> measure_cohort(const std::vector<CalibrationTemplate>& t, double margin,
                                                  double target_far) {
    std::map<int64_t, size_t> index;
    for (auto& x : t) index.emplace(x.elder_id, index.size());
    // A stranger trial needs a best match and two more elders for the spread.
    if (index.size() < 4) return std::nullopt;
    std::vector<size_t> elder_of(t.size()), templates_of(index.size(), 0);
    for (size_t i = 0; i < t.size(); ++i) templates_of[elder_of[i] = index.at(t[i].elder_id)]++;

    CohortNormalisation c;
    c.probe_sample = std::max<size_t>(1, (t.size() + kMaxCohortProbes - 1) / kMaxCohortProbes);
    std::vector<Scored> genuine;
    std::vector<bool> genuine_own;
    std::vector<double> stranger_plain, stranger_z;
    // As the door's gallery: an elder with two or more templates is also compared by their mean.
    std::vector<std::vector<size_t>> rows_of(index.size());
    for (size_t i = 0; i < t.size(); ++i) rows_of[elder_of[i]].push_back(i);
    auto mean_of = [&](size_t elder, size_t leave_out) {
        std::vector<const Descriptor*> ts;
        for (size_t i : rows_of[elder])
            if (i != leave_out) ts.push_back(&t[i].descriptor);
        return ts.size() >= 2 ? mean_template(ts) : Descriptor{};
    };
    std::vector<Descriptor> means(index.size());
    for (size_t e = 0; e < index.size(); ++e) means[e] = mean_of(e, t.size());
    std::vector<double> nearest(index.size());
    for (size_t p = 0; p < t.size(); p += c.probe_sample) {
        std::fill(nearest.begin(), nearest.end(), std::numeric_limits<double>::infinity());
        for (size_t j = 0; j < t.size(); ++j)
            if (j != p)
                nearest[elder_of[j]] =
                    std::min(nearest[elder_of[j]], distance(t[p].descriptor, t[j].descriptor));
        const size_t own = elder_of[p];
        for (size_t e = 0; e < index.size(); ++e)
            if (e != own && !means[e].empty())
                nearest[e] = std::min(nearest[e], distance(t[p].descriptor, means[e]));
        // The probe's own elder: the mean of their other templates (a same-elder trial).
        if (auto m = mean_of(own, p); !m.empty())
            nearest[own] = std::min(nearest[own], distance(t[p].descriptor, m));
        Scored s = score(nearest, own, margin);
        stranger_plain.push_back(s.plain);
        stranger_z.push_back(s.z);
        if (templates_of[own] >= 2) {
            genuine.push_back(score(nearest, nearest.size(), margin));
            genuine_own.push_back(genuine.back().best == own);
        }
    }
    if (genuine.empty()) return std::nullopt;
    c.genuine_trials = genuine.size();
    c.stranger_trials = stranger_plain.size();
    c.strangers_allowed = size_t(double(c.stranger_trials) * target_far);
    const double plain_cut = cut_for(stranger_plain, c.strangers_allowed);
    const double z_cut = cut_for(stranger_z, c.strangers_allowed);
    for (size_t i = 0; i < genuine.size(); ++i) {
        if (genuine[i].plain > plain_cut) (genuine_own[i] ? c.plain_named : c.plain_wrong)++;
        if (genuine[i].z > z_cut) (genuine_own[i] ? c.tnorm_named : c.tnorm_wrong)++;
    }
    c.plain_threshold = -plain_cut;
    c.tnorm_min_z = z_cut;
    c.helps = c.tnorm_named >= c.plain_named + 2 && c.tnorm_wrong <= c.plain_wrong &&
              double(c.tnorm_named - c.plain_named) >= 0.01 * double(c.genuine_trials);
    return c;
}
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
    c.cohort = measure_cohort(t, margin, target_far);
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
    nlohmann::json cohort;  // null: not measured (fewer than 4 elders, or none with 2 templates)
    if (c.cohort) {
        const CohortNormalisation& n = *c.cohort;
        // No cut (null): the stranger trials are so few that every one the margin passes is allowed.
        auto cut = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); };
        cohort = {
            {"genuine_trials", n.genuine_trials},
            {"stranger_trials", n.stranger_trials},
            {"probe_sample_every", n.probe_sample},
            {"strangers_allowed", n.strangers_allowed},
            {"plain",
             {{"named", n.plain_named}, {"wrong", n.plain_wrong}, {"threshold", cut(n.plain_threshold)}}},
            {"tnorm", {{"named", n.tnorm_named}, {"wrong", n.tnorm_wrong}, {"min_z", cut(n.tnorm_min_z)}}},
            {"helps", n.helps}};
    }
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
        {"cohort_normalisation", cohort},
        {"pairs", pair_metrics_json(c.pairs)}};
}

}  // namespace caregate::vision
