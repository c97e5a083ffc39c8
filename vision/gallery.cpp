#include "vision/gallery.hpp"

#include <cmath>
#include <mutex>

namespace caregate::vision {

void Gallery::add(int64_t template_id, int64_t elder_id, const Descriptor& d) {
    std::unique_lock lock(mu_);
    data_.insert(data_.end(), d.begin(), d.end());
    template_ids_.push_back(template_id);
    elder_ids_.push_back(elder_id);
}

void Gallery::remove_elder(int64_t elder_id) {
    std::unique_lock lock(mu_);
    size_t w = 0;
    for (size_t r = 0; r < elder_ids_.size(); ++r) {
        if (elder_ids_[r] == elder_id) continue;
        if (w != r) {
            std::copy_n(data_.begin() + long(r * 128), 128, data_.begin() + long(w * 128));
            elder_ids_[w] = elder_ids_[r];
            template_ids_[w] = template_ids_[r];
        }
        ++w;
    }
    data_.resize(w * 128);
    elder_ids_.resize(w);
    template_ids_.resize(w);
}

void Gallery::clear() {
    std::unique_lock lock(mu_);
    data_.clear();
    elder_ids_.clear();
    template_ids_.clear();
}

size_t Gallery::size() const {
    std::shared_lock lock(mu_);
    return elder_ids_.size();
}

Match Gallery::match(const Descriptor& q, double threshold, double margin) const {
    std::shared_lock lock(mu_);
    Match m;
    const size_t n = elder_ids_.size();
    // One pass: the best template, and the best template of any *other* elder.
    float best = 1e30f, second = 1e30f;
    int64_t best_elder = -1;
    const float* row = data_.data();
    for (size_t i = 0; i < n; ++i, row += 128) {
        float s = 0;
        for (int k = 0; k < 128; ++k) {  // vectorized: this file is built with reassociation allowed
            float d = row[k] - q[size_t(k)];
            s += d * d;
        }
        int64_t e = elder_ids_[i];
        if (s < best) {
            if (e != best_elder) second = best;
            best = s;
            best_elder = e;
        } else if (e != best_elder && s < second) {
            second = s;
        }
    }
    if (best_elder < 0 && n == 0) return m;
    m.distance = std::sqrt(double(best));
    m.best_elder = best_elder;
    m.second_distance = second < 1e29f ? std::sqrt(double(second)) : 1e9;
    m.ambiguous = m.second_distance - m.distance < margin;
    if (m.distance <= threshold && !m.ambiguous) m.elder_id = m.best_elder;
    return m;
}

}  // namespace caregate::vision
