#include "vision/cctv/line_counter.hpp"

#include <algorithm>
#include <cmath>

namespace caregate::cctv {

namespace {
double cross(const cv::Point2f& o, const cv::Point2f& a, const cv::Point2f& b) {
    return double(a.x - o.x) * double(b.y - o.y) - double(a.y - o.y) * double(b.x - o.x);
}
// Rectangles closer than `gap` pixels are merged (one body split into head, torso and legs).
std::vector<cv::Rect> merge(std::vector<cv::Rect> r, double gap) {
    bool merged = true;
    while (merged) {
        merged = false;
        for (size_t i = 0; i < r.size() && !merged; ++i)
            for (size_t j = i + 1; j < r.size() && !merged; ++j) {
                cv::Rect grown(r[i].x - int(gap), r[i].y - int(gap), r[i].width + 2 * int(gap),
                               r[i].height + 2 * int(gap));
                if ((grown & r[j]).area() > 0) {
                    r[i] |= r[j];
                    r.erase(r.begin() + long(j));
                    merged = true;
                }
            }
    }
    return r;
}
}  // namespace

int LineCounter::side_of(const cv::Point2f& p) const {
    double len = cv::norm(o_.b - o_.a);
    if (len <= 0) return 0;
    double dist = cross(o_.a, o_.b, p) / len;  // signed distance from the line
    double band = std::max(8.0, o_.band_fraction * len);
    // Image y grows downwards, so a positive cross product is to the right of A→B on screen.
    return dist < -band ? 1 : dist > band ? -1 : 0;
}

// Whether the step p→q crosses the line between A and B (not its extension beyond the door).
bool LineCounter::within_segment(const cv::Point2f& p, const cv::Point2f& q) const {
    double d1 = cross(p, q, o_.a), d2 = cross(p, q, o_.b);
    return (d1 <= 0 && d2 >= 0) || (d1 >= 0 && d2 <= 0);
}

std::vector<int> LineCounter::update(const std::vector<cv::Rect>& moving, const cv::Size& frame,
                                     int64_t ts_ms) {
    std::vector<int> out;
    tracks_.erase(std::remove_if(tracks_.begin(), tracks_.end(),
                                 [&](const Track& t) { return ts_ms - t.seen > o_.forget_ms; }),
                  tracks_.end());
    double max_jump = o_.max_jump_fraction * std::hypot(double(frame.width), double(frame.height));
    std::vector<bool> taken(tracks_.size(), false);
    std::vector<Track> fresh;
    for (auto& r : merge(moving, o_.merge_px)) {
        cv::Point2f c(float(r.x + r.width / 2.0), float(r.y + r.height / 2.0));
        // Nearest unclaimed track within reach.
        long best = -1;
        double best_d = max_jump;
        for (size_t i = 0; i < tracks_.size(); ++i) {
            double d = cv::norm(tracks_[i].c - c);
            if (!taken[i] && d < best_d) best = long(i), best_d = d;
        }
        int side = side_of(c);
        if (best < 0) {
            fresh.push_back({c, side, ts_ms});
            continue;
        }
        Track& t = tracks_[size_t(best)];
        taken[size_t(best)] = true;
        if (side != 0 && t.side != 0 && side != t.side && within_segment(t.c, c)) out.push_back(side);
        if (side != 0) t.side = side;
        t.c = c;
        t.seen = ts_ms;
    }
    for (auto& f : fresh) tracks_.push_back(f);
    return out;
}

}  // namespace caregate::cctv
