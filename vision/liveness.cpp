#include "vision/liveness.hpp"

#include <algorithm>
#include <vector>

#include "vision/face_engine.hpp"

namespace caregate::vision {

void BlinkDetector::reset() {
    history_.clear();
    closed_since_ = 0;
    live_ = false;
}

bool BlinkDetector::update(const std::array<cv::Point2f, 68>& l, int64_t ts) {
    return update(eye_aspect_ratio(l), ts);
}

bool BlinkDetector::update(double ear, int64_t ts) {
    history_.emplace_back(ts, ear);
    while (!history_.empty() && history_.front().first < ts - window_ms_) history_.pop_front();
    if (history_.size() < 3) return live_;
    // The open-eye baseline is a high percentile of the window, so the blink itself does not lower it.
    std::vector<double> v;
    for (auto& h : history_) v.push_back(h.second);
    std::sort(v.begin(), v.end());
    double open = v[v.size() * 3 / 4];
    bool closed = open > 0.12 && ear < open * closed_ratio_;
    if (closed) {
        if (!closed_since_) closed_since_ = ts;
    } else if (closed_since_) {
        // Reopened: a blink if the eyes were closed briefly (not a look down or a squint).
        if (ts - closed_since_ <= max_blink_ms_) live_ = true;
        closed_since_ = 0;
    }
    return live_;
}

}  // namespace caregate::vision
