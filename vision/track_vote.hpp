// The door's identity decision over a tracked face: every embedding of the track votes with its 1:N
// match, and the track names an elder only when several frames agree. One frame never decides: a
// single lucky angle of a stranger, or of the elder's neighbour, is not enough to greet anyone.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>

#include "vision/gallery.hpp"

namespace caregate::vision {

class TrackVote {
public:
    // One embedding's result (the gallery's decision with threshold and margin already applied).
    void add(const Match& m);
    // The elder matched by at least `frames` of the last 2·frames − 1 embeddings (consistent frames,
    // not a few lucky ones scattered over a long stay), with every other elder together at most a
    // third as many votes over the whole track; nullopt while undecided.
    std::optional<int64_t> elder(int frames) const;
    // A visitor: `frames` embeddings without a decision, for 1.5 s when no frame matched anyone, or
    // 4 s when some did or was too close to call between two elders (a known face at a bad angle,
    // or an elder with an enrolled look-alike, gets longer before being called a stranger).
    bool visitor(int frames, int64_t track_age_ms) const;
    int embeddings() const { return embeddings_; }
    // Embeddings of this track that matched this elder.
    int votes(int64_t elder_id) const;
    // Whether every elder this track's embeddings matched passes `keep` (none matched: true).
    template <class Pred>
    bool all_voted(Pred keep) const {
        for (auto& [elder, v] : votes_)
            if (v.n > 0 && !keep(elder)) return false;
        return true;
    }
    // Mean distance of the frames that voted for this elder (1e9 when none did).
    double mean_distance(int64_t elder_id) const;
    // The best distance of any embedding to any elder (what an unknown face came closest to).
    double best_distance() const { return best_distance_; }

private:
    struct Votes {
        int n = 0;
        double distance_sum = 0;
    };
    std::map<int64_t, Votes> votes_;
    std::deque<std::optional<int64_t>> recent_;  // the last kRecent embeddings' elders, newest last
    static constexpr size_t kRecent = 64;
    int embeddings_ = 0;
    double best_distance_ = 1e9;
    bool known_face_ = false;  // some embedding matched an elder or was ambiguous between two
};

}  // namespace caregate::vision
