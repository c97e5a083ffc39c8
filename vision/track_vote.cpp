#include "vision/track_vote.hpp"

#include <algorithm>

namespace caregate::vision {

void TrackVote::add(const Match& m) {
    ++embeddings_;
    best_distance_ = std::min(best_distance_, m.distance);
    known_face_ |= m.elder_id.has_value() || m.ambiguous;
    recent_.push_back(m.elder_id);
    if (recent_.size() > kRecent) recent_.pop_front();
    if (!m.elder_id) return;
    auto& v = votes_[*m.elder_id];
    ++v.n;
    v.distance_sum += m.distance;
}

std::optional<int64_t> TrackVote::elder(int frames) const {
    int total = 0;
    for (auto& [id, v] : votes_) total += v.n;
    const size_t window = std::min(kRecent, size_t(2 * std::max(frames, 1) - 1));
    for (auto& [id, v] : votes_) {
        if (v.n < frames || 3 * (total - v.n) > v.n) continue;
        auto from = recent_.end() - std::ptrdiff_t(std::min(window, recent_.size()));
        if (std::count(from, recent_.end(), std::optional<int64_t>(id)) >= frames) return id;
    }
    return std::nullopt;
}

bool TrackVote::visitor(int frames, int64_t track_age_ms) const {
    if (embeddings_ < frames || elder(frames)) return false;
    return track_age_ms >= (known_face_ ? 4000 : 1500);
}

int TrackVote::votes(int64_t elder_id) const {
    auto it = votes_.find(elder_id);
    return it == votes_.end() ? 0 : it->second.n;
}

double TrackVote::mean_distance(int64_t elder_id) const {
    auto it = votes_.find(elder_id);
    return it == votes_.end() || it->second.n == 0 ? 1e9 : it->second.distance_sum / it->second.n;
}

}  // namespace caregate::vision
