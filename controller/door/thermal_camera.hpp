// A radiometric thermal camera beside an entrance camera: one thread keeps the newest 16-bit frame
// (a file re-read when an exporter rewrites it, the newest file of a folder, or a V4L2/URL stream in
// Y16) and supervises it (no new frame for stall_s → the thermometer is offline, so the gate applies
// its thermometer-offline policy). The face pipeline asks it for the skin temperature of a face box.
#pragma once

#include <array>
#include <atomic>
#include <mutex>
#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <thread>

#include "config/config.hpp"
#include "controller/core/bus.hpp"
#include "controller/core/clock.hpp"
#include "vision/thermal.hpp"

namespace caregate {

class ThermalCamera {
public:
    ThermalCamera(const config::Camera& cam, Bus& bus, const Clock& clock);
    ~ThermalCamera();
    void start();
    void stop();

    const std::string& id() const { return id_; }
    bool online() const { return online_; }

    // Skin temperature of the face at `rgb_box` (entrance-camera pixels) in the newest frame, when
    // that frame is at most max_age_ms old; otherwise nullopt with the reason.
    std::optional<vision::ThermalMeasurement> measure(const cv::Rect& rgb_box,
                                                      const std::array<cv::Point2f, 68>* landmarks,
                                                      int64_t now_ms, std::string* why_not);

private:
    void loop();
    bool poll_file(const std::string& path);
    void set_online(bool online, const std::string& reason);

    config::Camera cam_;
    config::ThermalSource src_;
    vision::ThermalOptions opts_;
    std::string id_;
    Bus& bus_;
    const Clock& clock_;
    std::thread thread_;
    std::atomic<bool> running_{false};
    std::atomic<bool> online_{false};
    bool announced_ = false;  // a health state was published at least once
    std::mutex mu_;
    cv::Mat frame_;         // CV_16UC1
    int64_t frame_ms_ = 0;  // when the frame was taken (a file's mtime, a stream's arrival)
    std::string file_sig_;  // path + mtime + size of the file the frame came from
};

}  // namespace caregate
