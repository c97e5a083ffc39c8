// Blink liveness: the eye aspect ratio must drop (eyes closed) and recover within a short window.
// A printed photo held up to the camera never blinks, however long it is shown.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <opencv2/core.hpp>

namespace caregate::vision {

class BlinkDetector {
public:
    BlinkDetector() : BlinkDetector(0.75, 600, 8000) {}
    BlinkDetector(double closed_ratio, int64_t max_blink_ms, int64_t window_ms)
        : closed_ratio_(closed_ratio), max_blink_ms_(max_blink_ms), window_ms_(window_ms) {}
    // Feed one frame's EAR; returns true once a blink has been seen within the window.
    bool update(double ear, int64_t ts_ms);
    bool update(const std::array<cv::Point2f, 68>& landmarks, int64_t ts_ms);
    bool live() const { return live_; }
    void reset();

private:
    double closed_ratio_;
    int64_t max_blink_ms_, window_ms_;
    std::deque<std::pair<int64_t, double>> history_;
    int64_t closed_since_ = 0;
    bool live_ = false;
};

}  // namespace caregate::vision
