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
    float best = 1e30f;
    size_t best_i = n;
    const float* row = data_.data();
    std::vector<float> dist(n);
    for (size_t i = 0; i < n; ++i, row += 128) {
        float s = 0;
        for (int k = 0; k < 128; ++k) {  // plain loop: vectorized by the compiler
            float d = row[k] - q[size_t(k)];
            s += d * d;
        }
        dist[i] = s;
        if (s < best) best = s, best_i = i;
    }
    if (best_i == n) return m;
    float second = 1e30f;
    for (size_t i = 0; i < n; ++i)
        if (elder_ids_[i] != elder_ids_[best_i] && dist[i] < second) second = dist[i];
    m.distance = std::sqrt(double(best));
    m.best_elder = elder_ids_[best_i];
    m.second_distance = second < 1e29f ? std::sqrt(double(second)) : 1e9;
    m.ambiguous = m.second_distance - m.distance < margin;
    if (m.distance <= threshold && !m.ambiguous) m.elder_id = m.best_elder;
    return m;
}

}  // namespace caregate::vision
