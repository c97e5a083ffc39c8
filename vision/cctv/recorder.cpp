#include "vision/cctv/recorder.hpp"

#include <ctime>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace fs = std::filesystem;

namespace caregate::cctv {

EventRecorder::EventRecorder(RecorderOptions opts, EventSink& sink) : opts_(std::move(opts)), sink_(sink) {}

EventRecorder::~EventRecorder() = default;

std::string EventRecorder::rel_path(const CctvEvent& e, const std::string& suffix) const {
    time_t t = static_cast<time_t>((e.start_ms + opts_.tz_offset_ms) / 1000);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char day[16];
    std::strftime(day, sizeof day, "%Y-%m-%d", &tm);
    return std::string(day) + "/" + e.camera_id + "/" + std::to_string(e.id) + "-" + e.label + suffix;
}

bool EventRecorder::write_snapshot(Track& t) {
    if (t.best.empty()) return false;
    try {
        std::string snap = rel_path(t.event, ".jpg");
        std::string thumb = rel_path(t.event, "-thumb.jpg");
        fs::create_directories((fs::path(opts_.media_dir) / snap).parent_path());
        // Write to a temporary name and rename, so a reader never sees half a JPEG.
        std::string full = opts_.media_dir + "/" + snap;
        if (!cv::imwrite(full + ".tmp.jpg", t.best, {cv::IMWRITE_JPEG_QUALITY, 85}))
            throw std::runtime_error("imwrite");
        fs::rename(full + ".tmp.jpg", full);
        cv::Mat small;
        double s = 240.0 / t.best.cols;
        cv::resize(t.best, small, {}, s, s, cv::INTER_AREA);
        std::string tfull = opts_.media_dir + "/" + thumb;
        if (!cv::imwrite(tfull + ".tmp.jpg", small, {cv::IMWRITE_JPEG_QUALITY, 75}))
            throw std::runtime_error("imwrite");
        fs::rename(tfull + ".tmp.jpg", tfull);
        t.event.snapshot = snap;
        t.event.thumbnail = thumb;
        return true;
    } catch (const std::exception&) {
        write_errors_++;  // a disk error must not stop the camera; the event is still indexed
        return false;
    }
}

void EventRecorder::start(Track& t, const cv::Mat& masked, int64_t ts, bool media) {
    t.started = true;
    t.event.id = sink_.event_started(t.event);
    if (media) write_snapshot(t);
    if (media && opts_.clips) {
        try {
            std::string rel = rel_path(t.event, ".avi");
            fs::create_directories((fs::path(opts_.media_dir) / rel).parent_path());
            t.clip = std::make_unique<cv::VideoWriter>(opts_.media_dir + "/" + rel,
                                                       cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), opts_.fps,
                                                       masked.size());
            if (t.clip->isOpened()) {
                for (auto& [pts, f] : preroll_)
                    if (f.size() == masked.size()) t.clip->write(f);
                t.event.clip = rel;
            } else {
                t.clip.reset();
                write_errors_++;
            }
        } catch (const std::exception&) {
            t.clip.reset();
            write_errors_++;
        }
    }
    sink_.event_updated(t.event);
    (void)ts;
}

void EventRecorder::finish(Track& t, int64_t ts, bool media) {
    t.event.end_ms = ts;
    t.event.score = std::max(t.event.score, t.best_score);
    if (media) write_snapshot(t);  // the best frame of the whole event replaces the first one
    if (t.clip) t.clip->release();
    sink_.event_updated(t.event);
}

void EventRecorder::update(const std::string& label, bool active, double score, const cv::Mat& masked,
                           int64_t ts, bool media) {
    auto it = tracks_.find(label);
    if (it == tracks_.end()) {
        if (!active) return;
        Track t;
        t.event.camera_id = opts_.camera_id;
        t.event.zone = opts_.zone;
        t.event.label = label;
        t.event.start_ms = ts;
        it = tracks_.emplace(label, std::move(t)).first;
    }
    Track& t = it->second;
    if (active) {
        t.active_frames++;
        t.last_active_ms = ts;
        if (score > t.best_score) {
            t.best_score = score;
            t.best = masked.clone();
        }
        t.event.score = std::max(t.event.score, score);
        if (!t.started && t.active_frames >= opts_.start_frames) start(t, masked, ts, media);
    } else if (!t.started) {
        tracks_.erase(it);  // a flicker shorter than start_frames is not an event
        return;
    }
    if (t.started && t.clip) t.clip->write(masked);
    bool post_roll_over =
        ts - t.last_active_ms >= std::max<int64_t>(opts_.end_gap_ms, opts_.post_roll_s * 1000LL);
    if (t.started && !active && post_roll_over) {
        finish(t, t.last_active_ms, media);
        tracks_.erase(it);
    }
}

void EventRecorder::feed(const cv::Mat& bgr, const FrameAnalysis& a, int64_t ts, bool allow_media) {
    if (bgr.empty()) return;
    cv::Mat masked = bgr.clone();
    apply_privacy_masks(masked, opts_.masks);
    if (opts_.clips) {
        preroll_.emplace_back(ts, masked);
        while (!preroll_.empty() && preroll_.front().first < ts - opts_.pre_roll_s * 1000LL)
            preroll_.pop_front();
    }
    update("motion", a.motion, a.motion_score, masked, ts, allow_media);
    update("person", !a.people.empty(), a.person_score, masked, ts, allow_media);
}

void EventRecorder::flush(int64_t ts) {
    for (auto& [label, t] : tracks_)
        if (t.started) finish(t, ts, true);
    tracks_.clear();
}

}  // namespace caregate::cctv
