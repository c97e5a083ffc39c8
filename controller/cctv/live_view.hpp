// The kiosk's live look at the rooms: per camera, the newest picture as a small JPEG, made from the
// frames the camera worker already decodes (no second decode, no second open of the source). The
// privacy masks are painted black at full resolution before the picture is scaled and encoded, and a
// camera in a private zone is never encoded. Nothing is encoded unless someone asked for the camera
// within the last few seconds, so nobody watching costs one atomic read per frame. No threads of its
// own: offer() runs on the camera threads, wait_newer() on the HTTP pool threads.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <opencv2/core.hpp>
#include <optional>
#include <string>

#include "config/config.hpp"

namespace caregate {

struct LiveViewOptions {
    int max_width = 640;     // wider frames are scaled down (aspect kept)
    int quality = 70;        // JPEG quality
    double fps = 3;          // at most this many pictures a second per camera (2–5 is sensible)
    int64_t want_ms = 5000;  // a camera stays watched this long after the last request
    int max_streams = 4;     // concurrent MJPEG streams, all cameras together
};

class LiveView {
public:
    struct Frame {
        std::shared_ptr<const std::string> jpeg;  // shared: each stream copies the pointer, not the bytes
        uint64_t seq = 0;                         // 1, 2, … per camera
        int64_t ts_ms = 0;                        // when the camera took it (the worker's clock)
        int width = 0, height = 0;
    };
    enum class Access { ok, unknown, private_zone };

    explicit LiveView(const config::SiteConfig& cfg, LiveViewOptions opts = {});

    // Whether the camera may be shown: configured, and not in a private zone (the config loader
    // already refuses such a camera; this is checked again on every request and every frame).
    Access access(const std::string& camera_id) const;
    // Someone asked for the camera within want_ms.
    bool wanted(const std::string& camera_id) const;
    // Marks the camera as watched now (wait_newer does this too).
    void want(const std::string& camera_id);
    // Called by the camera worker for each frame it decoded; encodes only when wanted, at most fps
    // times a second (by the frames' own timestamps).
    void offer(const config::Camera& cam, const cv::Mat& bgr, int64_t ts_ms);
    // A picture newer than `seq` taken while the camera has been watched, waiting up to `timeout`;
    // nullopt at the timeout, for an unknown or private camera, or once closed.
    std::optional<Frame> wait_newer(const std::string& camera_id, uint64_t seq,
                                    std::chrono::milliseconds timeout);

    // A slot for one MJPEG stream (released when the last copy is dropped), or null at max_streams.
    std::shared_ptr<void> open_stream();
    int streams() const { return streams_.load(); }
    // True when `viewer` had not asked for this camera within the last minute: a new look, audited.
    bool first_look(const std::string& viewer, const std::string& camera_id);
    // Pictures encoded so far for the camera (tests, metrics).
    uint64_t encoded(const std::string& camera_id) const;
    // Wakes every waiter and ends the streams (before the HTTP server stops).
    void close();
    bool closed() const { return closed_.load(); }
    const LiveViewOptions& options() const { return opts_; }

private:
    struct Slot {
        bool is_private = false;
        std::atomic<int64_t> last_want{INT64_MIN / 2};  // steady ms of the last request
        std::mutex mu;
        std::condition_variable cv;
        int64_t watch_since = 0;  // steady ms when the current watching began
        int64_t encoded_at = 0;   // steady ms of `latest`
        int64_t next_due_ts = 0;  // frame ts at which the next picture is due
        std::optional<Frame> latest;
        uint64_t encoded = 0;
    };
    Slot* slot(const std::string& camera_id) const;
    bool current(const Slot& s, int64_t now) const;  // under s.mu

    const config::SiteConfig& cfg_;
    LiveViewOptions opts_;
    std::map<std::string, std::unique_ptr<Slot>> slots_;  // fixed after construction
    std::atomic<int> streams_{0};
    std::atomic<bool> closed_{false};
    std::mutex looks_mu_;
    std::map<std::pair<std::string, std::string>, int64_t> looks_;  // (viewer, camera) → steady ms
};

}  // namespace caregate
