// People counting at a door by line crossing: moving blobs from the motion detector are tracked
// frame to frame (nearest centroid), and a track whose centroid crosses the counting line inside
// the segment counts once: +1 crossing to the left of the line's direction (A→B), −1 to the right.
// A band either side of the line counts as "on it": a track keeps the side it came from until it
// leaves the band on the other side, so someone lingering in the doorway counts once.
#pragma once

#include <cstdint>
#include <opencv2/core.hpp>
#include <vector>

namespace caregate::cctv {

struct LineCounterOptions {
    cv::Point2f a, b;                // the counting line, full-frame pixels; "in" is to the left of A→B
    double max_jump_fraction = 0.2;  // of the frame diagonal: farther than this is another blob
    double merge_px = 40;            // blobs closer than this are one person (MOG2 splits bodies)
    int64_t forget_ms = 1500;        // a track unseen this long is dropped
    double band_fraction = 0.05;     // of the line's length (at least 8 px): "on the line", no side
};

class LineCounter {
public:
    explicit LineCounter(LineCounterOptions o) : o_(o) {}
    // Moving regions of one frame (full-frame pixels); returns the crossings it completes, +1 or −1.
    std::vector<int> update(const std::vector<cv::Rect>& moving, const cv::Size& frame, int64_t ts_ms);
    void reset() { tracks_.clear(); }

private:
    struct Track {
        cv::Point2f c;
        int side = 0;  // −1, 0 (on the line), +1: the side last seen on
        int64_t seen = 0;
    };
    int side_of(const cv::Point2f& p) const;
    bool within_segment(const cv::Point2f& p, const cv::Point2f& q) const;

    LineCounterOptions o_;
    std::vector<Track> tracks_;
};

}  // namespace caregate::cctv
