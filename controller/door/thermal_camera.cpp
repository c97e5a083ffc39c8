#include "controller/door/thermal_camera.hpp"

#include <sys/stat.h>

#include <chrono>
#include <filesystem>

#include "controller/core/log.hpp"
#include "vision/capture.hpp"

namespace caregate {

namespace fs = std::filesystem;

namespace {
// The newest regular file of a folder (thermal cameras that drop frames as files), or "" if none.
std::string newest_file(const std::string& dir) {
    std::string best;
    fs::file_time_type best_t{};
    std::error_code ec;
    for (auto& e : fs::directory_iterator(dir, ec)) {
        if (!e.is_regular_file(ec)) continue;
        auto t = e.last_write_time(ec);
        if (ec) continue;
        if (best.empty() || t > best_t || (t == best_t && e.path().string() > best))
            best = e.path().string(), best_t = t;
    }
    return best;
}
}  // namespace

ThermalCamera::ThermalCamera(const config::Camera& cam, Bus& bus, const Clock& clock)
    : cam_(cam), src_(*cam.thermal), id_(cam.thermal_id()), bus_(bus), clock_(clock) {
    opts_.cal.gain = src_.gain;
    opts_.cal.offset = src_.offset;
    for (int i = 0; i < 9; ++i) opts_.homography.val[i] = src_.homography[size_t(i)];
    opts_.percentile = src_.percentile;
    opts_.ambient_coeff = src_.ambient_coeff;
    opts_.ambient_ref_c = src_.ambient_ref_c;
}

ThermalCamera::~ThermalCamera() { stop(); }

void ThermalCamera::start() {
    if (running_.exchange(true)) return;
    thread_ = std::thread([this] { loop(); });
}

void ThermalCamera::stop() {
    if (!running_.exchange(false)) return;
    if (thread_.joinable()) thread_.join();
}

void ThermalCamera::set_online(bool online, const std::string& reason) {
    if (announced_ && online_ == online) return;
    announced_ = true;
    online_ = online;
    logger("thermal")->log(online ? spdlog::level::info : spdlog::level::warn, "thermal camera {} {}{}", id_,
                           online ? "online" : "offline", reason.empty() ? "" : ": " + reason);
    bus_.publish(DeviceHealth{id_, "thermometer", cam_.zone, online, reason, std::nullopt, clock_.now_ms()});
}

// Files: re-read only when they change. A frame is as old as its file: an exporter that stopped
// leaves an old file behind, which must not pass for a live picture.
bool ThermalCamera::poll_file(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return false;
    int64_t mtime_ms = int64_t(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
    std::string sig = path + "|" + std::to_string(st.st_mtim.tv_sec) + "." +
                      std::to_string(st.st_mtim.tv_nsec) + "|" + std::to_string(st.st_size);
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (sig == file_sig_) return true;
    }
    cv::Mat f;
    try {
        f = vision::load_thermal_frame(path);
    } catch (const std::exception& e) {
        logger("thermal")->warn("{}: {}", id_, e.what());
        return false;
    }
    std::lock_guard<std::mutex> lock(mu_);
    frame_ = f;
    frame_ms_ = mtime_ms;
    file_sig_ = sig;
    return true;
}

void ThermalCamera::loop() {
    const int64_t stall_ms = int64_t(src_.stall_s) * 1000;
    const bool stream = vision::is_stream_source(src_.source);
    const int64_t started = clock_.now_ms();  // a camera still starting up is not offline yet
    std::string why = "no frame yet";
    cv::VideoCapture cap;
    int backoff_ms = 500;
    auto pause = [&](int ms) {  // in slices, so stop() is never kept waiting
        for (int waited = 0; running_ && waited < ms; waited += 50)
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
    };
    while (running_) {
        if (!stream) {
            std::error_code ec;
            std::string path = fs::is_directory(src_.source, ec) ? newest_file(src_.source) : src_.source;
            if (path.empty())
                why = "no frame file in " + src_.source;
            else if (!poll_file(path))
                why = "cannot read " + path;
            else
                why = "no new frame";
            pause(100);
        } else if (!cap.isOpened() && !vision::open_capture(cap, src_.source, true)) {
            why = "cannot open " + src_.source;
            pause(backoff_ms);
            backoff_ms = std::min(backoff_ms * 2, 10000);
        } else {
            cv::Mat f;
            if (cap.read(f) && f.type() == CV_16UC1) {
                std::lock_guard<std::mutex> lock(mu_);
                frame_ = f.clone();
                frame_ms_ = clock_.now_ms();
                backoff_ms = 500;
            } else {
                why = f.empty() ? "read failed"
                                : "stream gives " + std::to_string(f.channels()) +
                                      "-channel 8-bit frames, not 16-bit radiometric (set the camera to Y16)";
                cap.release();
                pause(backoff_ms);
                backoff_ms = std::min(backoff_ms * 2, 10000);
            }
        }
        int64_t now = clock_.now_ms(), last;
        {
            std::lock_guard<std::mutex> lock(mu_);
            last = frame_ms_;
        }
        if (last && now - last < stall_ms)
            set_online(true, "");
        else if (now - (last ? last : started) >= stall_ms)
            set_online(false, why + " for " + std::to_string((now - (last ? last : started)) / 1000) + " s");
    }
}

std::optional<vision::ThermalMeasurement> ThermalCamera::measure(const cv::Rect& rgb_box,
                                                                 const std::array<cv::Point2f, 68>* landmarks,
                                                                 int64_t now_ms, std::string* why_not) {
    cv::Mat f;
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (frame_.empty() || now_ms - frame_ms_ > src_.max_age_ms) {
            if (why_not) *why_not = frame_.empty() ? "no thermal frame yet" : "thermal frame too old";
            return std::nullopt;
        }
        f = frame_;  // shared, read-only: the loop replaces frame_ rather than writing into it
    }
    return vision::measure_face(f, rgb_box, landmarks, opts_, why_not);
}

}  // namespace caregate
