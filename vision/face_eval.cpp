#include "vision/face_eval.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <set>
#include <stdexcept>

#include "vision/gallery.hpp"
#include "vision/track_vote.hpp"

namespace caregate::vision {

std::vector<std::string> report_groups(const std::string& group) {
    std::vector<std::string> out{group};
    if (group.find('|') == std::string::npos) return out;
    for (size_t from = 0;;) {
        size_t bar = group.find('|', from);
        std::string part = group.substr(from, bar == std::string::npos ? std::string::npos : bar - from);
        if (!part.empty() && std::find(out.begin(), out.end(), part) == out.end()) out.push_back(part);
        if (bar == std::string::npos) break;
        from = bar + 1;
    }
    return out;
}

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
constexpr double kInf = std::numeric_limits<double>::infinity();

__attribute__((format(printf, 1, 2))) std::string fmt(const char* f, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, f);
    std::vsnprintf(buf, sizeof buf, f, ap);
    va_end(ap);
    return buf;
}

// The usable descriptors as one row-major matrix: the pair loops stream through it.
struct Matrix {
    size_t dim = 0;
    std::vector<float> data;
    const float* row(size_t r) const { return data.data() + r * dim; }
};

// Accumulated in double so that tests can assert exact distances on exactly representable inputs.
double distance(const float* a, const float* b, size_t dim) {
    double s = 0;
    for (size_t k = 0; k < dim; ++k) {
        double d = double(a[k]) - double(b[k]);
        s += d * d;
    }
    return std::sqrt(s);
}

// Digit runs compare as numbers, so "zhang_wei_2.jpg" comes before "zhang_wei_10.jpg": the photos a
// person would call the first ones are the ones enrolled.
bool natural_less(const std::string& a, const std::string& b) {
    auto digit = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
    size_t i = 0, j = 0;
    while (i < a.size() && j < b.size()) {
        if (digit(a[i]) && digit(b[j])) {
            while (i + 1 < a.size() && a[i] == '0' && digit(a[i + 1])) ++i;
            while (j + 1 < b.size() && b[j] == '0' && digit(b[j + 1])) ++j;
            size_t ie = i, je = j;
            while (ie < a.size() && digit(a[ie])) ++ie;
            while (je < b.size() && digit(b[je])) ++je;
            if (ie - i != je - j) return ie - i < je - j;
            int c = a.compare(i, ie - i, b, j, je - j);
            if (c != 0) return c < 0;
            i = ie, j = je;
        } else {
            if (a[i] != b[j]) return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[j]);
            ++i, ++j;
        }
    }
    if (a.size() - i != b.size() - j) return a.size() - i < b.size() - j;
    return a < b;  // numerically equal ("x_01" vs "x_1"): still a strict order
}

// Stranger choice depends only on (seed, name): adding a person to the set does not reshuffle the
// others, and the result is the same on every platform (std::shuffle is not).
uint64_t identity_key(uint64_t seed, const std::string& name) {
    uint64_t h = 1469598103934665603ull;  // FNV-1a
    for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
    uint64_t z = h + seed * 0x9e3779b97f4a7c15ull;  // splitmix64 finaliser
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

DistanceStats stats(const std::vector<double>& v) {  // v sorted
    DistanceStats s;
    s.count = v.size();
    if (v.empty()) return s;
    auto pct = [&](double p) {
        double pos = p * double(v.size() - 1);
        size_t lo = size_t(pos), hi = std::min(lo + 1, v.size() - 1);
        return v[lo] + (pos - double(lo)) * (v[hi] - v[lo]);
    };
    s.min = v.front(), s.p5 = pct(0.05), s.median = pct(0.5), s.p95 = pct(0.95), s.max = v.back();
    return s;
}

// Accepting at most `allowed` impostors means accepting everything strictly below impostor[allowed].
TarAtFar tar_at(const std::vector<double>& gen, const std::vector<double>& imp, double far, size_t denom) {
    TarAtFar t;
    t.far = far;
    if (imp.empty()) {
        t.note = "no impostor pairs";
    } else if (gen.empty()) {
        t.note = "no genuine pairs";
    } else if (denom > imp.size()) {
        t.note = fmt("not enough impostor pairs (need %zu, have %zu)", denom, imp.size());
    } else {
        size_t allowed = denom ? imp.size() / denom : 0;
        double limit = imp[allowed];
        size_t ga = size_t(std::lower_bound(gen.begin(), gen.end(), limit) - gen.begin());
        size_t ia = size_t(std::lower_bound(imp.begin(), imp.end(), limit) - imp.begin());
        t.tar = double(ga) / double(gen.size());
        if (ga) t.threshold = gen[ga - 1];
        if (ia) t.threshold = std::max(t.threshold.value_or(-kInf), imp[ia - 1]);
    }
    return t;
}

struct Identity {
    std::string name, group;     // group of its first usable photo
    std::vector<size_t> usable;  // matrix rows, photos in natural file-name order
};

enum class Outcome { correct, wrong, unknown, ambiguous, stranger_rejected, stranger_accepted };

struct Probe {
    size_t sample;
    Outcome outcome;
};

void count(OpenSetCounts& c, Outcome o) {
    switch (o) {
        case Outcome::correct:
            ++c.genuine_probes, ++c.correct;
            break;
        case Outcome::wrong:
            ++c.genuine_probes, ++c.wrong_identity;
            break;
        case Outcome::unknown:
            ++c.genuine_probes, ++c.rejected, ++c.rejected_unknown;
            break;
        case Outcome::ambiguous:
            ++c.genuine_probes, ++c.rejected, ++c.rejected_ambiguous;
            break;
        case Outcome::stranger_rejected:
            ++c.stranger_probes, ++c.strangers_rejected;
            break;
        case Outcome::stranger_accepted:
            ++c.stranger_probes, ++c.strangers_accepted;
            break;
    }
}

// Strangers per group, in proportion (largest remainder), so that every group has some when it can
// and the total is still round(fraction × identities).
std::set<std::string> pick_strangers(const std::vector<Identity>& ids, const EvalOptions& o) {
    if (!o.strangers.empty()) return {o.strangers.begin(), o.strangers.end()};
    std::map<std::string, std::vector<std::pair<uint64_t, std::string>>> by_group;
    size_t n = 0;
    for (auto& id : ids)
        if (!id.usable.empty()) by_group[id.group].emplace_back(identity_key(o.seed, id.name), id.name), ++n;
    size_t total = size_t(std::llround(o.stranger_fraction * double(n))), given = 0;
    struct Share {
        std::string group;
        size_t n;
        double frac;
    };
    std::vector<Share> shares;
    std::map<std::string, size_t> quota;
    for (auto& [g, v] : by_group) {
        double exact = o.stranger_fraction * double(v.size());
        size_t base = std::min(v.size(), size_t(std::floor(exact + 1e-9)));
        quota[g] = base, given += base;
        shares.push_back({g, v.size(), exact - double(base)});
    }
    std::stable_sort(shares.begin(), shares.end(), [](auto& a, auto& b) { return a.frac > b.frac; });
    for (auto& s : shares) {
        if (given >= total) break;
        if (quota[s.group] < s.n) ++quota[s.group], ++given;
    }
    std::set<std::string> out;
    for (auto& [g, v] : by_group) {
        std::sort(v.begin(), v.end());
        for (size_t i = 0; i < quota[g]; ++i) out.insert(v[i].second);
    }
    return out;
}

// Consecutive points closer than this (log10 FAR, TAR) are merged: a few thousand points at most,
// whatever the pair count, and still finer than a plot pixel.
constexpr double kRocStepLogFar = 0.01, kRocStepTar = 0.002;

}  // namespace

PairMetrics pair_metrics(std::vector<double> gen, std::vector<double> imp, double threshold) {
    PairMetrics m;
    m.threshold = threshold;
    std::sort(gen.begin(), gen.end());
    std::sort(imp.begin(), imp.end());
    m.genuine = stats(gen), m.impostor = stats(imp);
    const size_t G = gen.size(), I = imp.size();
    if (I) {
        m.false_accepts = size_t(std::upper_bound(imp.begin(), imp.end(), threshold) - imp.begin());
        m.far_at_threshold = double(m.false_accepts) / double(I);
    }
    if (G) {
        m.false_rejects = G - size_t(std::upper_bound(gen.begin(), gen.end(), threshold) - gen.begin());
        m.frr_at_threshold = double(m.false_rejects) / double(G);
    }
    for (size_t denom : {100, 1000, 10000})
        m.tar_at_far.push_back(tar_at(gen, imp, 1.0 / double(denom), denom));
    m.tar_at_zero_far = tar_at(gen, imp, 0, 0);
    if (!G || !I) return m;

    // One sweep over the distinct distances: each is an operating point (accept d <= t).
    auto logfar = [](double far) { return std::log10(std::max(far, 1e-6)); };
    double prev_far = 0, prev_frr = 1, prev_t = -kInf;  // before the first distance: accept nothing
    std::optional<RocPoint> pending;                    // last point not yet emitted
    size_t gi = 0, ii = 0;
    while (gi < G || ii < I) {
        double t = std::min(gi < G ? gen[gi] : kInf, ii < I ? imp[ii] : kInf);
        while (gi < G && gen[gi] <= t) ++gi;
        while (ii < I && imp[ii] <= t) ++ii;
        double far = double(ii) / double(I), tar = double(gi) / double(G), frr = 1 - tar;
        // EER where the segment between two operating points crosses FAR = FRR.
        if (!m.eer && far >= frr) {
            double s = (prev_frr - prev_far) / ((prev_frr - prev_far) - (frr - far));
            m.eer = prev_far + s * (far - prev_far);
            m.eer_threshold = std::isfinite(prev_t) ? prev_t + s * (t - prev_t) : t;
        }
        // Thinning keeps the point before a long jump, so the drawn lines follow the staircase.
        RocPoint p{far, tar, t};
        if (m.roc.empty()) {
            m.roc.push_back(p);
        } else {
            const RocPoint& last = m.roc.back();
            if (std::abs(logfar(far) - logfar(last.far)) >= kRocStepLogFar ||
                std::abs(tar - last.tar) >= kRocStepTar) {
                if (pending) m.roc.push_back(*pending);
                m.roc.push_back(p);
                pending.reset();
            } else {
                pending = p;
            }
        }
        prev_far = far, prev_frr = frr, prev_t = t;
    }
    if (pending) m.roc.push_back(*pending);
    return m;
}

namespace {
// with_pairs false: the open set only (the pair metrics do not depend on which identities are
// strangers, so evaluate_splits need not measure them once a split).
EvalReport evaluate_impl(const std::vector<EvalSample>& samples, const EvalOptions& o, bool with_pairs) {
    if (o.enroll_per_identity < 1) throw std::invalid_argument("enroll_per_identity must be at least 1");
    if (!(o.stranger_fraction >= 0 && o.stranger_fraction <= 1))
        throw std::invalid_argument("stranger_fraction must be within 0..1");
    if (!(o.threshold >= 0) || !(o.margin >= 0))
        throw std::invalid_argument("threshold and margin must be non-negative");

    EvalReport r;
    r.options = o;
    r.samples = samples.size();

    // Matrix rows for the usable photos, identities by name.
    Matrix mx, probe_mx;             // probe_mx: the same rows as probes see them
    std::vector<size_t> row_sample;  // row → sample
    std::vector<int> row_id;         // row → identity index
    std::map<std::string, int> id_index;
    std::vector<Identity> ids;
    for (auto& s : samples) {
        if (s.identity.empty()) throw std::invalid_argument("no identity for " + s.file);
        if (!id_index.count(s.identity)) id_index[s.identity] = 0;
    }
    for (auto& [name, idx] : id_index) idx = int(ids.size()), ids.push_back({name, "", {}});
    for (size_t i = 0; i < samples.size(); ++i) {
        auto& s = samples[i];
        if (!s.descriptor) {
            if (s.probe_descriptor)
                throw std::invalid_argument(s.file + ": a probe descriptor without a photo descriptor");
            ++r.failures[s.reject_reason.empty() ? "unknown" : s.reject_reason];
            continue;
        }
        const auto& d = *s.descriptor;
        if (d.empty() || (mx.dim && d.size() != mx.dim))
            throw std::invalid_argument(fmt("descriptor of %s has %zu values, expected %zu", s.file.c_str(),
                                            d.size(), mx.dim ? mx.dim : size_t(1)));
        mx.dim = d.size();
        mx.data.insert(mx.data.end(), d.begin(), d.end());
        const auto& pd = s.probe_descriptor ? *s.probe_descriptor : d;
        if (pd.size() != d.size())
            throw std::invalid_argument(fmt("probe descriptor of %s has %zu values, expected %zu",
                                            s.file.c_str(), pd.size(), d.size()));
        r.probes_as_frames |= s.probe_descriptor.has_value();
        probe_mx.data.insert(probe_mx.data.end(), pd.begin(), pd.end());
        row_sample.push_back(i);
        row_id.push_back(id_index[s.identity]);
    }
    probe_mx.dim = mx.dim;
    r.with_descriptor = row_sample.size();
    r.identities = ids.size();
    for (size_t row = 0; row < row_sample.size(); ++row) ids[size_t(row_id[row])].usable.push_back(row);
    for (auto& id : ids) {
        std::stable_sort(id.usable.begin(), id.usable.end(), [&](size_t a, size_t b) {
            return natural_less(samples[row_sample[a]].file, samples[row_sample[b]].file);
        });
        if (!id.usable.empty()) id.group = samples[row_sample[id.usable.front()]].group;
    }

    // Pairs among a set of rows; reserved up front so millions of pairs never reallocate.
    auto pairs_among = [&](const std::vector<size_t>& rows) {
        std::map<int, size_t> per_id;
        for (size_t row : rows) ++per_id[row_id[row]];
        size_t total = rows.size() * (rows.size() - (rows.empty() ? 0 : 1)) / 2, same = 0;
        for (auto& [id, n] : per_id) same += n * (n - 1) / 2;
        std::vector<double> gen, imp;
        gen.reserve(same), imp.reserve(total - same);
        for (size_t a = 0; a < rows.size(); ++a)
            for (size_t b = a + 1; b < rows.size(); ++b) {
                double d = distance(mx.row(rows[a]), mx.row(rows[b]), mx.dim);
                (row_id[rows[a]] == row_id[rows[b]] ? gen : imp).push_back(d);
            }
        return pair_metrics(std::move(gen), std::move(imp), o.threshold);
    };
    std::vector<size_t> all_rows(row_sample.size());
    for (size_t row = 0; row < all_rows.size(); ++row) all_rows[row] = row;
    if (with_pairs) r.pairs = pairs_among(all_rows);

    // Open set: enroll the first photos of every non-stranger, probe with the rest and all strangers.
    std::set<std::string> strangers = pick_strangers(ids, o);
    std::vector<size_t> tmpl_rows;
    std::vector<int> tmpl_id;
    std::vector<std::pair<size_t, bool>> probes;  // row, is a stranger
    std::map<std::string, OpenSetCounts> group_counts;
    // Each count goes to every group the sample reports under (report_groups).
    auto each_group = [](const std::string& g, auto&& fn) {
        for (auto& name : report_groups(g)) fn(name);
    };
    for (auto& id : ids) {
        bool stranger = strangers.count(id.name) > 0;
        if (id.usable.empty()) {
            if (!stranger) r.open_set.not_enrollable.push_back(id.name);
            continue;
        }
        (stranger ? r.open_set.strangers : r.open_set.enrolled).push_back(id.name);
        each_group(id.group, [&](const std::string& g) {
            auto& gc = group_counts[g];
            ++(stranger ? gc.stranger_identities : gc.enrolled_identities);
        });
        for (size_t k = 0; k < id.usable.size(); ++k) {
            if (!stranger && k < size_t(o.enroll_per_identity)) {
                tmpl_rows.push_back(id.usable[k]);
                tmpl_id.push_back(row_id[id.usable[k]]);
            } else {
                probes.emplace_back(id.usable[k], stranger);
            }
        }
    }
    r.open_set.templates = tmpl_rows.size();
    r.open_set.counts.enrolled_identities = r.open_set.enrolled.size();
    r.open_set.counts.stranger_identities = r.open_set.strangers.size();

    // As the gallery holds them: an identity with two or more templates also by their mean.
    std::vector<Descriptor> means;
    std::vector<int> mean_id;
    if (o.mean_templates) {
        std::map<int, std::vector<Descriptor>> of;
        for (size_t t = 0; t < tmpl_rows.size(); ++t)
            of[tmpl_id[t]].emplace_back(mx.row(tmpl_rows[t]), mx.row(tmpl_rows[t]) + mx.dim);
        for (auto& [id, ts] : of) {
            if (ts.size() < 2) continue;
            std::vector<const Descriptor*> ptrs;
            for (auto& d : ts) ptrs.push_back(&d);
            if (auto m = mean_template(ptrs); !m.empty())
                means.push_back(std::move(m)), mean_id.push_back(id);
        }
    }

    std::vector<double> dist(tmpl_rows.size()), mean_dist(means.size());
    std::map<int, std::vector<Match>> track;  // identity → its probes' matches, in probe order
    for (auto [row, stranger] : probes) {
        // Gallery::match: best template or mean overall, best of any *other* identity.
        double best = kInf, second = kInf;
        int best_id = -1;
        for (size_t t = 0; t < tmpl_rows.size(); ++t) {
            dist[t] = distance(probe_mx.row(row), mx.row(tmpl_rows[t]), mx.dim);
            if (dist[t] < best) best = dist[t], best_id = tmpl_id[t];
        }
        for (size_t m = 0; m < means.size(); ++m) {
            mean_dist[m] = distance(probe_mx.row(row), means[m].data(), mx.dim);
            if (mean_dist[m] < best) best = mean_dist[m], best_id = mean_id[m];
        }
        double sum = 0, sumsq = 0;
        size_t others = 0;
        for (size_t t = 0; t < tmpl_rows.size(); ++t)
            if (tmpl_id[t] != best_id) {
                second = std::min(second, dist[t]);
                sum += dist[t], sumsq += dist[t] * dist[t], ++others;
            }
        for (size_t m = 0; m < means.size(); ++m)
            if (mean_id[m] != best_id) second = std::min(second, mean_dist[m]);
        bool ambiguous = second - best < o.margin;
        bool accepted = best_id >= 0 && best <= o.threshold && !ambiguous;
        Match m;
        m.distance = best;
        m.second_distance = second;
        m.ambiguous = ambiguous;
        if (best_id >= 0) m.best_elder = best_id;
        if (accepted) m.elder_id = best_id;
        track[row_id[row]].push_back(m);
        Outcome out;
        if (stranger)
            out = accepted ? Outcome::stranger_accepted : Outcome::stranger_rejected;
        else if (accepted)
            out = best_id == row_id[row] ? Outcome::correct : Outcome::wrong;
        else
            out = best > o.threshold ? Outcome::unknown : Outcome::ambiguous;
        const EvalSample& s = samples[row_sample[row]];
        double mean = others ? sum / double(others) : 0;
        double sd =
            others > 1 ? std::sqrt(std::max(0.0, (sumsq - double(others) * mean * mean) / double(others - 1)))
                       : 0;
        r.open_set.probes.push_back({s.file, s.identity, best_id >= 0 ? ids[size_t(best_id)].name : "",
                                     stranger, best, second, mean, sd});
        count(r.open_set.counts, out);
        each_group(s.group, [&](const std::string& g) { count(group_counts[g], out); });
        if (out == Outcome::wrong || out == Outcome::stranger_accepted)
            (stranger ? r.open_set.stranger_accepted : r.open_set.wrong_identity)
                .push_back({s.file, s.identity, s.group, ids[size_t(best_id)].name, best, second});
    }

    // Over a track: the door's vote, photo by photo, stopping at the first decision.
    const int frames = std::max(1, o.track_frames);
    for (auto& [id, matches] : track) {
        bool stranger = strangers.count(ids[size_t(id)].name) > 0;
        TrackVote vote;
        std::optional<int64_t> decided;
        for (auto& m : matches) {
            vote.add(m);
            if ((decided = vote.elder(frames))) break;
        }
        TrackCounts& t = r.open_set.tracks;
        if (stranger) {
            ++t.stranger_tracks;
            if (matches.size() < size_t(frames)) ++t.stranger_short_tracks;
            ++(decided ? t.strangers_accepted : t.strangers_undecided);
        } else {
            ++t.tracks;
            if (matches.size() < size_t(frames)) ++t.short_tracks;
            if (!decided)
                ++t.undecided;
            else
                ++(*decided == id ? t.correct : t.wrong_identity);
        }
        if (decided && (stranger || *decided != id))
            r.open_set.track_errors.emplace_back(ids[size_t(id)].name, ids[size_t(*decided)].name);
    }

    // Per group: only when the photos carry groups at all.
    std::map<std::string, GroupReport> groups;
    bool any_group = false;
    for (auto& s : samples) any_group |= !s.group.empty();
    if (any_group) {
        std::map<std::string, std::set<std::string>> group_ids;
        for (auto& s : samples)
            each_group(s.group, [&](const std::string& name) {
                auto& g = groups[name];
                ++g.samples;
                if (!s.descriptor) ++g.failures;
                group_ids[name].insert(s.identity);
            });
        std::map<std::string, std::vector<size_t>> group_rows;
        for (size_t row = 0; row < row_sample.size(); ++row)
            each_group(samples[row_sample[row]].group,
                       [&](const std::string& name) { group_rows[name].push_back(row); });
        for (auto& [name, g] : groups) {
            g.group = name;
            g.identities = group_ids[name].size();
            if (with_pairs) g.pairs = pairs_among(group_rows[name]);
            g.open_set = group_counts[name];
            r.groups.push_back(std::move(g));
        }
    }
    return r;
}

}  // namespace

EvalReport evaluate(const std::vector<EvalSample>& samples, const EvalOptions& o) {
    return evaluate_impl(samples, o, true);
}

namespace {

json opt(const std::optional<double>& v) { return v && std::isfinite(*v) ? json(*v) : json(nullptr); }

json to_json(const DistanceStats& s) {
    if (!s.count) return {{"count", 0}};
    return {{"count", s.count},   {"min", s.min}, {"p5", s.p5},
            {"median", s.median}, {"p95", s.p95}, {"max", s.max}};
}

json to_json(const TarAtFar& t) {
    json j = {{"far", t.far}, {"tar", opt(t.tar)}, {"threshold", opt(t.threshold)}};
    if (!t.note.empty()) j["note"] = t.note;
    return j;
}

json to_json(const PairMetrics& m) {
    json tars = json::array(), roc = json::array();
    for (auto& t : m.tar_at_far) tars.push_back(to_json(t));
    for (auto& p : m.roc) roc.push_back({{"far", p.far}, {"tar", p.tar}, {"threshold", p.threshold}});
    return {{"genuine", to_json(m.genuine)},
            {"impostor", to_json(m.impostor)},
            {"eer", opt(m.eer)},
            {"eer_threshold", opt(m.eer_threshold)},
            {"tar_at_far", tars},
            {"tar_at_zero_far", to_json(m.tar_at_zero_far)},
            {"at_threshold",
             {{"threshold", m.threshold},
              {"far", opt(m.far_at_threshold)},
              {"frr", opt(m.frr_at_threshold)},
              {"false_accepts", m.false_accepts},
              {"false_rejects", m.false_rejects}}},
            {"roc", roc}};
}

json to_json(const OpenSetCounts& c) {
    return {{"enrolled_identities", c.enrolled_identities}, {"stranger_identities", c.stranger_identities},
            {"genuine_probes", c.genuine_probes},           {"correct", c.correct},
            {"wrong_identity", c.wrong_identity},           {"rejected", c.rejected},
            {"rejected_unknown", c.rejected_unknown},       {"rejected_ambiguous", c.rejected_ambiguous},
            {"stranger_probes", c.stranger_probes},         {"strangers_rejected", c.strangers_rejected},
            {"strangers_accepted", c.strangers_accepted}};
}

json to_json(const std::vector<OpenSetError>& v) {
    json a = json::array();
    for (auto& e : v)
        a.push_back({{"file", e.file},
                     {"identity", e.identity},
                     {"group", e.group},
                     {"accepted_as", e.accepted_as},
                     {"distance", e.distance},
                     {"second_distance", opt(e.second_distance)}});
    return a;
}

json probes_json(const std::vector<ProbeRecord>& v) {
    json a = json::array();
    for (auto& p : v)
        a.push_back({{"file", p.file},
                     {"identity", p.identity},
                     {"stranger", p.stranger},
                     {"best_identity", p.best_identity},
                     {"distance", opt(p.distance)},
                     {"second_distance", opt(p.second_distance)},
                     {"cohort_mean", p.cohort_mean},
                     {"cohort_sd", p.cohort_sd}});
    return a;
}

std::string pct(const std::optional<double>& v) { return v ? fmt("%.2f %%", *v * 100) : "-"; }
std::string num(const std::optional<double>& v) { return v && std::isfinite(*v) ? fmt("%.4f", *v) : "-"; }

std::string far_label(double far) {
    return far >= 1 ? "1" : far >= 0.1 ? "0.1" : fmt("1e%d", int(std::lround(std::log10(far))));
}

std::string tar_line(const std::string& label, const TarAtFar& t) {
    if (!t.tar) return fmt("  TAR @ %-22s %s\n", label.c_str(), t.note.c_str());
    return fmt("  TAR @ %-22s %s  (threshold %s)\n", label.c_str(), pct(t.tar).c_str(),
               num(t.threshold).c_str());
}

std::string list(const std::vector<std::string>& v) {  // the JSON has them all
    std::string s;
    for (size_t i = 0; i < v.size() && i < 20; ++i) s += (i ? ", " : "") + v[i];
    return v.size() > 20 ? s + fmt(" ... %zu more", v.size() - 20) : s;
}

}  // namespace

nlohmann::json pair_metrics_json(const PairMetrics& m) { return to_json(m); }

nlohmann::json to_json(const EvalReport& r) {
    json failures = json::object();
    size_t failed = 0;
    for (auto& [reason, n] : r.failures) failures[reason] = n, failed += n;
    json groups = json::array();
    for (auto& g : r.groups)
        groups.push_back({{"group", g.group},
                          {"samples", g.samples},
                          {"failures", g.failures},
                          {"identities", g.identities},
                          {"pairs", to_json(g.pairs)},
                          {"open_set", to_json(g.open_set)}});
    const auto& os = r.open_set;
    return {{"samples", r.samples},
            {"with_descriptor", r.with_descriptor},
            {"identities", r.identities},
            {"options",
             {{"enroll_per_identity", r.options.enroll_per_identity},
              {"threshold", r.options.threshold},
              {"margin", r.options.margin},
              {"stranger_fraction", r.options.stranger_fraction},
              {"seed", r.options.seed},
              {"mean_templates", r.options.mean_templates},
              {"track_frames", r.options.track_frames},
              {"probes_as_frames", r.probes_as_frames}}},
            {"failures", {{"count", failed}, {"by_reason", failures}}},
            {"pairs", to_json(r.pairs)},
            {"open_set",
             {{"counts", to_json(os.counts)},
              {"templates", os.templates},
              {"enrolled", os.enrolled},
              {"strangers", os.strangers},
              {"not_enrollable", os.not_enrollable},
              {"wrong_identity", to_json(os.wrong_identity)},
              {"stranger_accepted", to_json(os.stranger_accepted)},
              {"probes", probes_json(os.probes)},
              {"tracks",
               {{"frames", r.options.track_frames},
                {"tracks", os.tracks.tracks},
                {"correct", os.tracks.correct},
                {"wrong_identity", os.tracks.wrong_identity},
                {"undecided", os.tracks.undecided},
                {"short_tracks", os.tracks.short_tracks},
                {"stranger_tracks", os.tracks.stranger_tracks},
                {"strangers_accepted", os.tracks.strangers_accepted},
                {"strangers_undecided", os.tracks.strangers_undecided},
                {"stranger_short_tracks", os.tracks.stranger_short_tracks},
                {"errors", os.track_errors}}}}},
            {"groups", groups}};
}

OpenSetCounts& OpenSetCounts::operator+=(const OpenSetCounts& o) {
    enrolled_identities += o.enrolled_identities;
    stranger_identities += o.stranger_identities;
    genuine_probes += o.genuine_probes;
    correct += o.correct;
    wrong_identity += o.wrong_identity;
    rejected += o.rejected;
    rejected_unknown += o.rejected_unknown;
    rejected_ambiguous += o.rejected_ambiguous;
    stranger_probes += o.stranger_probes;
    strangers_rejected += o.strangers_rejected;
    strangers_accepted += o.strangers_accepted;
    return *this;
}

TrackCounts& TrackCounts::operator+=(const TrackCounts& o) {
    tracks += o.tracks;
    correct += o.correct;
    wrong_identity += o.wrong_identity;
    undecided += o.undecided;
    short_tracks += o.short_tracks;
    stranger_tracks += o.stranger_tracks;
    strangers_accepted += o.strangers_accepted;
    strangers_undecided += o.strangers_undecided;
    stranger_short_tracks += o.stranger_short_tracks;
    return *this;
}

SplitsSummary evaluate_splits(const std::vector<EvalSample>& samples, const EvalOptions& o, size_t splits) {
    if (splits < 1) throw std::invalid_argument("--splits must be 1 or more");
    if (!o.strangers.empty()) throw std::invalid_argument("--splits chooses the strangers: give no list");
    SplitsSummary sum;
    sum.splits = splits;
    for (size_t i = 0; i < splits; ++i) {
        EvalOptions one = o;
        one.seed = o.seed + i;
        const OpenSetResult r = evaluate_impl(samples, one, false).open_set;
        sum.counts += r.counts;
        sum.tracks += r.tracks;
        for (auto& e : r.stranger_accepted) ++sum.stranger_accepted[{e.identity, e.accepted_as}];
        for (auto& e : r.wrong_identity) ++sum.wrong_identity[{e.identity, e.accepted_as}];
    }
    return sum;
}

nlohmann::json to_json(const SplitsSummary& s) {
    auto named = [](const std::map<std::pair<std::string, std::string>, size_t>& m) {
        nlohmann::json a = nlohmann::json::array();
        for (auto& [k, n] : m) a.push_back({{"identity", k.first}, {"accepted_as", k.second}, {"photos", n}});
        return a;
    };
    const auto& c = s.counts;
    const auto& t = s.tracks;
    return {{"splits", s.splits},
            {"genuine_probes", c.genuine_probes},
            {"correct", c.correct},
            {"wrong_identity", c.wrong_identity},
            {"rejected", c.rejected},
            {"stranger_probes", c.stranger_probes},
            {"strangers_accepted", c.strangers_accepted},
            {"tracks",
             {{"tracks", t.tracks},
              {"correct", t.correct},
              {"wrong_identity", t.wrong_identity},
              {"undecided", t.undecided},
              {"short", t.short_tracks},
              {"stranger_tracks", t.stranger_tracks},
              {"strangers_accepted", t.strangers_accepted},
              {"stranger_short", t.stranger_short_tracks}}},
            {"stranger_accepted", named(s.stranger_accepted)},
            {"wrong", named(s.wrong_identity)}};
}

std::string to_table(const SplitsSummary& s) {
    std::string out;
    const auto& c = s.counts;
    const auto& t = s.tracks;
    auto pct = [](size_t a, size_t b) { return b ? 100.0 * double(a) / double(b) : 0.0; };
    out += fmt("\nOver %zu choices of strangers (seeds from the first), summed\n", s.splits);
    out += fmt("  genuine probes %6zu: correct %zu (%.2f %%), wrong identity %zu, rejected %zu\n",
               c.genuine_probes, c.correct, pct(c.correct, c.genuine_probes), c.wrong_identity, c.rejected);
    out += fmt("  stranger probes %5zu: accepted as someone %zu (%.3f %%)\n", c.stranger_probes,
               c.strangers_accepted, pct(c.strangers_accepted, c.stranger_probes));
    out +=
        fmt("  tracks %zu: correct %zu, wrong %zu, undecided %zu; stranger tracks %zu (%zu of 3 or more "
            "photos): accepted %zu\n",
            t.tracks, t.correct, t.wrong_identity, t.undecided, t.stranger_tracks,
            t.stranger_tracks - t.stranger_short_tracks, t.strangers_accepted);
    for (auto& [k, n] : s.stranger_accepted)
        out +=
            fmt("  stranger %s -> %s: %zu photo(s) over the splits\n", k.first.c_str(), k.second.c_str(), n);
    for (auto& [k, n] : s.wrong_identity)
        out += fmt("  wrong: %s -> %s: %zu photo(s) over the splits\n", k.first.c_str(), k.second.c_str(), n);
    return out;
}

std::string to_table(const EvalReport& r) {
    std::string t = fmt("Face evaluation: %zu photos, %zu with a descriptor, %zu identities\n", r.samples,
                        r.with_descriptor, r.identities);
    size_t failed = r.samples - r.with_descriptor;
    t += fmt("\nNo usable face: %zu\n", failed);
    for (auto& [reason, n] : r.failures) t += fmt("  %-40s %6zu\n", reason.c_str(), n);

    const PairMetrics& p = r.pairs;
    t += fmt("\nPairs (distance)   %10s %10s\n", "genuine", "impostor");
    t += fmt("  %-16s %10zu %10zu\n", "count", p.genuine.count, p.impostor.count);
    auto row = [&](const char* name, double DistanceStats::*f) {
        auto cell = [&](const DistanceStats& s) { return s.count ? fmt("%.4f", s.*f) : std::string("-"); };
        t += fmt("  %-16s %10s %10s\n", name, cell(p.genuine).c_str(), cell(p.impostor).c_str());
    };
    row("min", &DistanceStats::min);
    row("p5", &DistanceStats::p5);
    row("median", &DistanceStats::median);
    row("p95", &DistanceStats::p95);
    row("max", &DistanceStats::max);
    t += fmt("  EER %s at distance %s\n", pct(p.eer).c_str(), num(p.eer_threshold).c_str());
    for (auto& x : p.tar_at_far) t += tar_line("FAR " + far_label(x.far) + ":", x);
    t += tar_line("no impostor accepted:", p.tar_at_zero_far);
    t += fmt("  At threshold %.4f: FAR %s (%zu of %zu), FRR %s (%zu of %zu)\n", p.threshold,
             pct(p.far_at_threshold).c_str(), p.false_accepts, p.impostor.count,
             pct(p.frr_at_threshold).c_str(), p.false_rejects, p.genuine.count);

    const OpenSetResult& os = r.open_set;
    const OpenSetCounts& c = os.counts;
    t += fmt(
        "\nOpen set 1:N (threshold %.4f, margin %.4f): %zu enrolled identities (%zu templates), %zu "
        "strangers\n",
        r.options.threshold, r.options.margin, c.enrolled_identities, os.templates, c.stranger_identities);
    if (r.probes_as_frames)
        t += "  probes embedded as the door embeds camera frames (once, no mirror image)\n";
    t += fmt(
        "  genuine probes  %6zu: correct %zu, wrong identity %zu, rejected %zu (unknown %zu, ambiguous "
        "%zu)\n",
        c.genuine_probes, c.correct, c.wrong_identity, c.rejected, c.rejected_unknown, c.rejected_ambiguous);
    t += fmt("  stranger probes %6zu: rejected %zu, accepted as someone %zu\n", c.stranger_probes,
             c.strangers_rejected, c.strangers_accepted);
    const size_t shown = 20;  // the JSON has them all
    auto errors = [&](const char* title, const std::vector<OpenSetError>& v) {
        if (v.empty()) return;
        t += fmt("  %s:\n", title);
        for (size_t i = 0; i < v.size() && i < shown; ++i)
            t += fmt("    %s (%s) -> %s at %.4f\n", v[i].file.c_str(), v[i].identity.c_str(),
                     v[i].accepted_as.c_str(), v[i].distance);
        if (v.size() > shown) t += fmt("    ... %zu more\n", v.size() - shown);
    };
    errors("wrong identity", os.wrong_identity);
    errors("stranger accepted", os.stranger_accepted);
    if (!os.strangers.empty()) t += "  strangers: " + list(os.strangers) + "\n";
    if (!os.not_enrollable.empty()) t += "  no enrollable photo: " + list(os.not_enrollable) + "\n";
    const TrackCounts& tc = os.tracks;
    t += fmt("\nOver a door track (%d agreeing photos decide; each identity's probes in file order)\n",
             r.options.track_frames);
    t +=
        fmt("  genuine tracks  %6zu: correct %zu, wrong identity %zu, undecided %zu (%zu with fewer than %d "
            "photos)\n",
            tc.tracks, tc.correct, tc.wrong_identity, tc.undecided, tc.short_tracks, r.options.track_frames);
    t +=
        fmt("  stranger tracks %6zu: undecided %zu, accepted as someone %zu (%zu with fewer than %d photos, "
            "which cannot be accepted)\n",
            tc.stranger_tracks, tc.strangers_undecided, tc.strangers_accepted, tc.stranger_short_tracks,
            r.options.track_frames);
    for (size_t i = 0; i < os.track_errors.size() && i < shown; ++i)
        t += fmt("    track of %s decided as %s\n", os.track_errors[i].first.c_str(),
                 os.track_errors[i].second.c_str());

    if (!r.groups.empty()) {
        t += fmt("\nPer group (pairs within the group; probes against the whole gallery)\n");
        t += fmt("  %-14s %6s %5s %4s %8s %9s %8s %9s %8s %8s %6s %5s %5s %5s %5s %5s\n", "group", "photos",
                 "fail", "ids", "gen.pr", "imp.pr", "EER", "TAR@1e-3", "FAR@thr", "FRR@thr", "probes", "ok",
                 "wrong", "rej", "strng", "acc");
        for (auto& g : r.groups) {
            const auto& gp = g.pairs;
            const auto& gc = g.open_set;
            t += fmt("  %-14s %6zu %5zu %4zu %8zu %9zu %8s %9s %8s %8s %6zu %5zu %5zu %5zu %5zu %5zu\n",
                     g.group.empty() ? "(none)" : g.group.c_str(), g.samples, g.failures, g.identities,
                     gp.genuine.count, gp.impostor.count, pct(gp.eer).c_str(),
                     pct(gp.tar_at_far[1].tar).c_str(), pct(gp.far_at_threshold).c_str(),
                     pct(gp.frr_at_threshold).c_str(), gc.genuine_probes, gc.correct, gc.wrong_identity,
                     gc.rejected, gc.stranger_probes, gc.strangers_accepted);
        }
    }
    return t;
}

void write_roc_png(const EvalReport& r, const std::string& path) {
    const int W = 1000, H = 680, left = 90, top = 60, right = W - 270, bottom = H - 80;
    cv::Mat img(H, W, CV_8UC3, cv::Scalar(255, 255, 255));
    const auto font = cv::FONT_HERSHEY_SIMPLEX;
    const cv::Scalar black(0, 0, 0), grid(225, 225, 225), minor(242, 242, 242);
    auto x_of = [&](double far) {
        double lf = std::log10(std::clamp(far, 1e-5, 1.0));
        return int(std::lround(left + (lf + 5) / 5 * (right - left)));
    };
    auto y_of = [&](double tar) {
        return int(std::lround(bottom - std::clamp(tar, 0.0, 1.0) * (bottom - top)));
    };
    auto text = [&](const std::string& s, cv::Point at, double scale, const cv::Scalar& col, int align = -1) {
        int base = 0;
        cv::Size sz = cv::getTextSize(s, font, scale, 1, &base);
        int x = align < 0 ? at.x : align == 0 ? at.x - sz.width / 2 : at.x - sz.width;
        cv::putText(img, s, {x, at.y}, font, scale, col, 1, cv::LINE_AA);
    };

    // Grid: decades and their 2..9 subdivisions on FAR, tenths on TAR.
    for (int e = -5; e < 0; ++e)
        for (int k = 2; k < 10; ++k) {
            int x = x_of(k * std::pow(10.0, e));
            cv::line(img, {x, top}, {x, bottom}, minor);
        }
    for (int e = -5; e <= 0; ++e) {
        int x = x_of(std::pow(10.0, e));
        cv::line(img, {x, top}, {x, bottom}, grid);
        text(far_label(std::pow(10.0, e)), {x, bottom + 22}, 0.5, black, 0);
    }
    for (int k = 0; k <= 10; ++k) {
        int y = y_of(k / 10.0);
        cv::line(img, {left, y}, {right, y}, grid);
        text(fmt("%.1f", k / 10.0), {left - 8, y + 5}, 0.5, black, 1);
    }
    cv::rectangle(img, {left, top}, {right, bottom}, black, 1);
    text("FAR: impostor pairs accepted (log scale)", {(left + right) / 2, bottom + 52}, 0.55, black, 0);
    {  // Hershey text cannot be drawn vertically: draw it flat and rotate it into place.
        std::string s = "TAR: genuine pairs accepted";
        int base = 0;
        cv::Size sz = cv::getTextSize(s, font, 0.55, 1, &base);
        cv::Mat flat(sz.height + base + 4, sz.width + 4, CV_8UC3, cv::Scalar(255, 255, 255)), up;
        cv::putText(flat, s, {2, sz.height + 2}, font, 0.55, black, 1, cv::LINE_AA);
        cv::rotate(flat, up, cv::ROTATE_90_COUNTERCLOCKWISE);
        int y0 = std::max(0, (top + bottom) / 2 - up.rows / 2);
        up.copyTo(img(cv::Rect(18, y0, up.cols, std::min(up.rows, H - y0))));
    }
    text(fmt("ROC: %zu photos, %zu genuine / %zu impostor pairs", r.with_descriptor, r.pairs.genuine.count,
             r.pairs.impostor.count),
         {left, top - 25}, 0.6, black);
    text("FAR < 1e-5 (and 0) drawn at the left edge", {left, H - 8}, 0.4, cv::Scalar(110, 110, 110));

    // Curves: overall thick black, groups in a cycling palette; legend on the right.
    static const cv::Scalar palette[] = {{200, 80, 0},   {0, 140, 255}, {40, 160, 40}, {40, 40, 220},
                                         {180, 60, 180}, {140, 110, 0}, {0, 200, 200}, {120, 120, 120}};
    int ly = top + 10;
    auto curve = [&](const PairMetrics& m, const std::string& name, const cv::Scalar& col, int thick) {
        std::vector<cv::Point> pts;
        for (auto& p : m.roc) pts.emplace_back(x_of(p.far), y_of(p.tar));
        if (pts.size() == 1) cv::circle(img, pts[0], 3, col, cv::FILLED, cv::LINE_AA);
        if (pts.size() > 1) cv::polylines(img, pts, false, col, thick, cv::LINE_AA);
        if (ly > H - 40) return;
        std::string label = name.size() > 18 ? name.substr(0, 17) + "~" : name;
        label += m.eer ? fmt("  EER %.2f%%", *m.eer * 100) : std::string("  (no pairs)");
        // Not anti-aliased: the legend shows each group's exact colour even when a later group's
        // identical curve covers this one.
        cv::line(img, {right + 15, ly - 5}, {right + 40, ly - 5}, col, thick, cv::LINE_8);
        text(label, {right + 48, ly}, 0.45, black);
        ly += 22;
    };
    for (size_t i = 0; i < r.groups.size(); ++i)
        curve(r.groups[i].pairs, r.groups[i].group.empty() ? "(none)" : r.groups[i].group,
              palette[i % (sizeof palette / sizeof palette[0])], 1);
    curve(r.pairs, "overall", black, 2);
    if (r.pairs.far_at_threshold && r.pairs.frr_at_threshold) {  // the configured operating point
        cv::Point at(x_of(*r.pairs.far_at_threshold), y_of(1 - *r.pairs.frr_at_threshold));
        cv::circle(img, at, 6, cv::Scalar(0, 0, 230), 2, cv::LINE_AA);
        cv::circle(img, {right + 27, ly - 5}, 6, cv::Scalar(0, 0, 230), 2, cv::LINE_AA);
        text(fmt("threshold %.3f", r.pairs.threshold), {right + 48, ly}, 0.45, black);
    }
    if (!cv::imwrite(path, img)) throw std::runtime_error("cannot write ROC plot " + path);
}

std::string identity_from_filename(const std::string& path, const std::string& root) {
    fs::path p(path);
    if (!root.empty()) {
        fs::path rel =
            fs::absolute(p).lexically_normal().lexically_relative(fs::absolute(root).lexically_normal());
        auto it = rel.begin();
        if (!rel.empty() && *it != ".." && *it != "." && std::next(it) != rel.end()) return it->string();
    }
    // The last "_<digits>" part that ends the stem or is followed by "_".
    std::string stem = p.stem().string();
    for (size_t end = stem.size(); end > 0;) {
        size_t us = stem.rfind('_', end - 1);
        if (us == std::string::npos) break;
        size_t n = end - us - 1;
        bool digits = n > 0 && std::all_of(stem.begin() + long(us) + 1, stem.begin() + long(end), [](char c) {
                          return std::isdigit(static_cast<unsigned char>(c));
                      });
        if (digits && us > 0) return stem.substr(0, us);
        end = us;
    }
    return stem;
}

}  // namespace caregate::vision
