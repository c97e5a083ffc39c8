// Turns per-frame analysis into events with a start, an end, a best snapshot and a thumbnail
// (privacy masks blanked before anything is written), and optionally a clip with pre/post-roll.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <opencv2/core.hpp>
#include <opencv2/videoio.hpp>
#include <optional>
#include <string>
#include <vector>

#include "vision/cctv/motion.hpp"

namespace caregate::cctv {

struct CctvEvent {
    int64_t id = 0;  // assigned by the index on start
    std::string camera_id;
    std::string zone;
    std::string label;  // motion, person
    int64_t start_ms = 0;
    std::optional<int64_t> end_ms;
    double score = 0;
    std::string snapshot;  // relative to the media dir
    std::string thumbnail;
    std::string clip;
};

// Where events go: the index assigns ids and stores updates.
class EventSink {
public:
    virtual ~EventSink() = default;
    virtual int64_t event_started(const CctvEvent& e) = 0;
    virtual void event_updated(const CctvEvent& e) = 0;
};

struct RecorderOptions {
    std::string camera_id;
    std::string zone;
    std::string media_dir;
    std::vector<std::vector<cv::Point>> masks;
    int start_frames = 2;  // consecutive active frames before an event starts
    int end_gap_ms = 3000;
    bool clips = false;
    int pre_roll_s = 2;
    int post_roll_s = 3;
    double fps = 5;
    int64_t tz_offset_ms = 8LL * 3600 * 1000;  // folders by local date
};

class EventRecorder {
public:
    EventRecorder(RecorderOptions opts, EventSink& sink);
    ~EventRecorder();
    // One analysed frame at ts_ms. `allow_media=false` (disk nearly full) records events without files.
    void feed(const cv::Mat& bgr, const FrameAnalysis& a, int64_t ts_ms, bool allow_media = true);
    // Ends open events (camera stopped).
    void flush(int64_t ts_ms);
    size_t open_events() const { return tracks_.size(); }
    uint64_t write_errors() const { return write_errors_; }

private:
    struct Track {
        CctvEvent event;
        int active_frames = 0;
        bool started = false;
        int64_t last_active_ms = 0;
        double best_score = -1;
        cv::Mat best;  // masked copy of the best frame
        std::unique_ptr<cv::VideoWriter> clip;
    };
    void update(const std::string& label, bool active, double score, const cv::Mat& bgr, int64_t ts,
                bool media);
    void start(Track& t, const cv::Mat& masked, int64_t ts, bool media);
    void finish(Track& t, int64_t ts, bool media);
    bool write_snapshot(Track& t);
    std::string rel_path(const CctvEvent& e, const std::string& suffix) const;

    RecorderOptions opts_;
    EventSink& sink_;
    std::map<std::string, Track> tracks_;
    std::deque<std::pair<int64_t, cv::Mat>> preroll_;
    uint64_t write_errors_ = 0;
};

}  // namespace caregate::cctv
