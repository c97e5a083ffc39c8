// One thread per camera: reads frames (file, V4L2, RTSP) with reconnect and backoff, runs motion
// and people detection, records events with snapshots, hands frames to the face pipeline, and
// supervises the camera (offline, stalled, black/covered → camera_offline; recovery recorded).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <opencv2/core.hpp>
#include <string>
#include <thread>

#include "config/config.hpp"
#include "controller/cctv/cctv_index.hpp"
#include "controller/core/bus.hpp"
#include "controller/core/heartbeat.hpp"

namespace caregate {

class LiveView;

// The face pipeline's view of a camera frame (implemented by the face service).
class FrameConsumer {
public:
    virtual ~FrameConsumer() = default;
    virtual void frame(const config::Camera& cam, const cv::Mat& bgr, int64_t ts_ms) = 0;
};

struct CameraStats {
    uint64_t frames = 0;
    uint64_t read_errors = 0;
    uint64_t reconnects = 0;  // times the source was opened again after it was lost
    uint64_t events = 0;
    uint64_t face_errors = 0;  // frames the face pipeline failed on (logged at most once a minute)
    bool online = false;
    std::string state;  // online, offline, stalled, covered
};

class CameraWorker {
public:
    CameraWorker(const config::Camera& cam, const config::Cctv& policy, EventIndex& index, Bus& bus,
                 FrameConsumer* faces, std::function<bool()> storage_ok);
    ~CameraWorker();
    // Beaten once per loop (frame, reconnect wait); call before start(). Without it nobody watches.
    void set_heartbeat(std::shared_ptr<Heartbeat> hb) { heartbeat_ = std::move(hb); }
    // The kiosk's live view, offered every decoded frame (it encodes only while someone watches);
    // call before start(). Without it there is no live view of this camera.
    void set_live_view(LiveView* live) { live_ = live; }
    void start();
    void stop();
    CameraStats stats() const;

private:
    void loop();
    void set_health(bool online, const std::string& state, const std::string& reason);

    config::Camera cam_;
    config::Cctv policy_;
    EventIndex& index_;
    Bus& bus_;
    FrameConsumer* faces_;
    std::function<bool()> storage_ok_;
    std::thread thread_;
    std::atomic<bool> running_{false};
    mutable std::mutex mu_;
    CameraStats stats_;
    std::string health_state_;  // last published state ("" = none yet)
    std::shared_ptr<Heartbeat> heartbeat_;
    LiveView* live_ = nullptr;
};

}  // namespace caregate
