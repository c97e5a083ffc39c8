#include "controller/cctv/camera_worker.hpp"

#include <chrono>
#include <opencv2/videoio.hpp>
#include <optional>

#include "controller/cctv/live_view.hpp"
#include "controller/core/clock.hpp"
#include "controller/core/log.hpp"
#include "vision/capture.hpp"
#include "vision/cctv/line_counter.hpp"
#include "vision/cctv/motion.hpp"
#include "vision/cctv/recorder.hpp"

namespace caregate {

namespace {
std::vector<std::vector<cv::Point>> polygons(const config::Camera& cam) {
    std::vector<std::vector<cv::Point>> out;
    for (auto& flat : cam.mask) {
        std::vector<cv::Point> p;
        for (size_t i = 0; i + 1 < flat.size(); i += 2) p.emplace_back(flat[i], flat[i + 1]);
        out.push_back(p);
    }
    return out;
}

}  // namespace

CameraWorker::CameraWorker(const config::Camera& cam, const config::Cctv& policy, EventIndex& index, Bus& bus,
                           FrameConsumer* faces, std::function<bool()> storage_ok)
    : cam_(cam),
      policy_(policy),
      index_(index),
      bus_(bus),
      faces_(faces),
      storage_ok_(std::move(storage_ok)) {}

CameraWorker::~CameraWorker() { stop(); }

void CameraWorker::start() {
    if (running_.exchange(true)) return;
    thread_ = std::thread([this] { loop(); });
}

void CameraWorker::stop() {
    if (!running_.exchange(false)) return;
    if (thread_.joinable()) thread_.join();
}

CameraStats CameraWorker::stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
}

void CameraWorker::set_health(bool online, const std::string& state, const std::string& reason) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stats_.online = online;
        stats_.state = state;
        bool changed = health_state_.empty() ? true : (health_state_ == "online") != online;
        health_state_ = state;
        if (!changed) return;
    }
    logger("camera")->log(online ? spdlog::level::info : spdlog::level::warn, "camera {} {}{}", cam_.id,
                          state, reason.empty() ? "" : ": " + reason);
    bus_.publish(DeviceHealth{cam_.id, "camera", cam_.zone, online, reason, std::nullopt, now_ms()});
}

void CameraWorker::loop() {
    auto log = logger("camera");
    cctv::MotionOptions mo;
    mo.masks = polygons(cam_);
    mo.min_area_fraction = policy_.min_area;
    mo.sensitivity = policy_.sensitivity;
    cctv::MotionDetector motion(mo);
    cctv::RecorderOptions ro;
    ro.camera_id = cam_.id;
    ro.zone = cam_.zone;
    ro.media_dir = index_.media_dir();
    ro.masks = mo.masks;
    ro.end_gap_ms = policy_.end_gap_ms;
    ro.clips = policy_.clips;
    ro.pre_roll_s = policy_.pre_roll_s;
    ro.post_roll_s = policy_.post_roll_s;
    ro.fps = cam_.fps;
    cctv::EventRecorder recorder(ro, index_);
    std::optional<cctv::LineCounter> counter;
    if (cam_.count_line.size() == 4) {
        cctv::LineCounterOptions lo;
        lo.a = cv::Point2f(float(cam_.count_line[0]), float(cam_.count_line[1]));
        lo.b = cv::Point2f(float(cam_.count_line[2]), float(cam_.count_line[3]));
        counter.emplace(lo);
    }

    const bool file = !vision::is_stream_source(cam_.source);
    const auto period = std::chrono::microseconds(static_cast<int64_t>(1e6 / cam_.fps));
    int backoff_ms = 500;
    bool opened_once = false;
    cv::VideoCapture cap;
    int64_t last_frame_ms = now_ms();
    int64_t last_face_error_log = 0;
    int64_t dark_since = 0;
    double src_fps = 0;
    int skip = 0;
    auto next = std::chrono::steady_clock::now();

    auto beat = [this] {
        if (heartbeat_) heartbeat_->beat();
    };
    while (running_) {
        beat();
        if (!cap.isOpened()) {
            bool ok = vision::open_capture(cap, cam_.source);
            if (!ok) {
                set_health(false, "offline", "无法打开视频源，请检查摄像头电源与网线");
                for (int waited = 0; running_ && waited < backoff_ms; waited += 50) {
                    beat();
                    std::this_thread::sleep_for(std::chrono::milliseconds(50));
                }
                backoff_ms = std::min(backoff_ms * 2, 30000);
                continue;
            }
            if (opened_once) {
                std::lock_guard<std::mutex> lock(mu_);
                stats_.reconnects++;  // the picture came back after it was lost
            }
            opened_once = true;
            backoff_ms = 500;
            src_fps = cap.get(cv::CAP_PROP_FPS);
            // Absurd or zero FPS from a stream header: don't trust it, read in real time instead.
            if (!(src_fps >= 1 && src_fps <= 240)) src_fps = 0;
            skip = file && src_fps > 0 ? std::max(0, int(src_fps / cam_.fps + 0.5) - 1) : 0;
            last_frame_ms = now_ms();
            motion.reset();
            if (counter) counter->reset();
        }
        cv::Mat frame;
        bool got = false;
        try {
            for (int i = 0; i < skip && cap.grab(); ++i) {
            }
            got = cap.read(frame) && !frame.empty();
        } catch (const std::exception& e) {
            got = false;  // a corrupt frame: count it and carry on
        }
        int64_t now = now_ms();
        if (!got) {
            {
                std::lock_guard<std::mutex> lock(mu_);
                stats_.read_errors++;
            }
            if (file && cam_.loop) {
                cap.set(cv::CAP_PROP_POS_FRAMES, 0);
                if (counter) counter->reset();  // the end of the clip does not walk into its start
                if (!cap.read(frame) || frame.empty())
                    cap.release();
                else
                    got = true;
            } else if (file) {
                recorder.flush(now);
                set_health(false, "offline", "视频文件已放完");
                cap.release();
                for (int waited = 0; running_ && waited < 1000; waited += 50)
                    std::this_thread::sleep_for(std::chrono::milliseconds(50));
                continue;
            }
            if (!got) {
                if (now - last_frame_ms > policy_.stall_s * 1000LL) {
                    set_health(false, "stalled",
                               std::to_string((now - last_frame_ms) / 1000) + " 秒没有画面");
                    cap.release();
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
                continue;
            }
        }
        last_frame_ms = now;
        {
            std::lock_guard<std::mutex> lock(mu_);
            stats_.frames++;
        }
        cctv::FrameAnalysis a;
        try {
            a = motion.analyze(frame);
        } catch (const cv::Exception& e) {
            log->warn("camera {}: frame analysis failed: {}", cam_.id, e.what());
            continue;
        }
        // A lens covered or painted over shows a dark, flat picture.
        bool dark = a.brightness < 12 && a.contrast < 6;
        if (dark) {
            if (!dark_since) dark_since = now;
            if (now - dark_since > policy_.black_s * 1000LL) set_health(false, "covered", "画面全黑或被遮挡");
        } else {
            dark_since = 0;
            set_health(true, "online", "");
        }
        size_t before = recorder.open_events();
        recorder.feed(frame, a, now, storage_ok_ ? storage_ok_() : true);
        if (recorder.open_events() != before)
            bus_.publish(MotionEvent{cam_.id, a.people.empty() ? "motion" : "person",
                                     recorder.open_events() > before, a.motion_score, now});
        if (counter)
            for (int delta : counter->update(a.moving, frame.size(), now))
                bus_.publish(OccupancyCount{cam_.id, cam_.zone, delta, now});
        if (live_) live_->offer(cam_, frame, now);  // the same decoded frame; masked and encoded there
        if (faces_ && cam_.faces) {
            // A failure in the face pipeline (the store busy, an OpenCV error) costs this frame, not
            // the camera's thread: escaping it would end the daemon, door, alarms and all.
            try {
                faces_->frame(cam_, frame, now);
            } catch (const std::exception& e) {
                uint64_t n;
                {
                    std::lock_guard<std::mutex> lock(mu_);
                    n = ++stats_.face_errors;
                }
                if (n == 1 || now - last_face_error_log >= 60'000) {
                    log->error("camera {}: face check-in failed on a frame ({} so far): {}", cam_.id, n,
                               e.what());
                    last_face_error_log = now;
                }
            }
        }

        next += period;
        auto steady_now = std::chrono::steady_clock::now();
        if (next > steady_now)
            std::this_thread::sleep_until(next);
        else
            next = steady_now;  // we are behind: don't try to catch up with a burst
    }
    recorder.flush(now_ms());
}

}  // namespace caregate
