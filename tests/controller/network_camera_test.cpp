// Network cameras through OpenCV's FFmpeg backend — RTSP (a GStreamer rtsp-server stand-in) and an
// HTTP MJPEG stream, as IP cameras serve them: online while they stream, camera_offline when they go
// away or hang, back online by themselves when they return — and a hung camera never blocks shutdown.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <thread>

#include "controller/cctv/camera_worker.hpp"
#include "controller/cctv/cctv_index.hpp"
#include "tests/support/test_support.hpp"

using namespace caregate;
using namespace caregate::testing;
using namespace std::chrono_literals;

namespace {

// An IP camera on 127.0.0.1:port: multipart JPEG frames at 10 fps; `hang` makes it keep the
// connection open and stop sending (a camera that froze, or a cable pulled without a reset).
class MjpegCamera {
public:
    // Binds a port of the kernel's choosing; start() after stop() comes back on the same one, as a
    // camera that was switched off and on keeps its address.
    MjpegCamera() { start(); }
    ~MjpegCamera() { stop(); }
    void start() {
        server_ = std::make_unique<httplib::Server>();
        server_->Get("/stream.mjpg", [this](const httplib::Request&, httplib::Response& res) {
            res.set_chunked_content_provider(
                "multipart/x-mixed-replace;boundary=frame",
                [this, n = 0](size_t, httplib::DataSink& sink) mutable {
                    if (!running_) return false;
                    if (hang_) {
                        std::this_thread::sleep_for(100ms);
                        return true;
                    }
                    cv::Mat f(360, 640, CV_8UC3, cv::Scalar(120, 130, 140));
                    cv::putText(f, std::to_string(n++), {40, 200}, cv::FONT_HERSHEY_SIMPLEX, 3, {20, 20, 20},
                                5);
                    std::vector<uchar> jpg;
                    cv::imencode(".jpg", f, jpg);
                    std::string head = "--frame\r\nContent-Type: image/jpeg\r\nContent-Length: " +
                                       std::to_string(jpg.size()) + "\r\n\r\n";
                    sink.write(head.data(), head.size());
                    sink.write(reinterpret_cast<const char*>(jpg.data()), jpg.size());
                    sink.write("\r\n", 2);
                    std::this_thread::sleep_for(100ms);
                    return true;
                });
        });
        running_ = true;
        if (port_ == 0)
            port_ = server_->bind_to_any_port("127.0.0.1");
        else
            ASSERT_TRUE(server_->bind_to_port("127.0.0.1", port_)) << "port " << port_ << " taken meanwhile";
        ASSERT_GT(port_, 0);
        thread_ = std::thread([this] { server_->listen_after_bind(); });
    }
    void stop() {
        running_ = false;
        if (server_) server_->stop();
        if (thread_.joinable()) thread_.join();
        server_.reset();
    }
    void hang(bool h) { hang_ = h; }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/stream.mjpg"; }

private:
    int port_ = 0;
    std::unique_ptr<httplib::Server> server_;
    std::thread thread_;
    std::atomic<bool> running_{false}, hang_{false};
};

struct Rig {
    TempDir dir;
    SystemClock clock;
    Store store{dir.file("n.db")};
    config::Cctv policy;
    std::unique_ptr<EventIndex> index;
    Bus bus;
    std::shared_ptr<Subscription> sub = bus.subscribe("test");
    Rig() {
        policy.stall_s = 2;
        index = std::make_unique<EventIndex>(store, clock, policy, dir.file("media"));
    }
    // Waits for the camera's next health change to `online`.
    bool health(bool online, std::chrono::seconds limit) {
        auto end = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < end) {
            auto e = sub->next(100ms);
            if (e && std::holds_alternative<DeviceHealth>(*e) && std::get<DeviceHealth>(*e).online == online)
                return true;
        }
        return false;
    }
};

config::Camera network_camera(const std::string& url) {
    config::Camera cam;
    cam.id = "gate_cam";
    cam.zone = "hall";
    cam.source = url;
    cam.fps = 5;
    return cam;
}

}  // namespace

TEST(NetworkCamera, GoesOfflineWhenTheCameraDiesAndRecoversWhenItReturns) {
    Rig r;
    MjpegCamera ipcam;
    CameraWorker worker(network_camera(ipcam.url()), r.policy, *r.index, r.bus, nullptr, [] { return true; });
    worker.start();
    ASSERT_TRUE(r.health(true, 15s)) << "the stream is read";
    auto frames = worker.stats().frames;
    std::this_thread::sleep_for(1s);
    EXPECT_GT(worker.stats().frames, frames) << "frames keep coming";

    ipcam.stop();  // the camera is switched off
    ASSERT_TRUE(r.health(false, 15s)) << "a dead camera is camera_offline";
    EXPECT_FALSE(worker.stats().online);

    ipcam.start();  // and back on, same address
    ASSERT_TRUE(r.health(true, 45s)) << "reconnected by itself (backoff), state " << worker.stats().state;
    EXPECT_GT(worker.stats().reconnects, 0u);
    worker.stop();
}

TEST(NetworkCamera, RtspCameraSwitchedOffAndOnAgainIsOfflineThenBackByItself) {
    Rig r;
    // Port 0: the camera binds one of the kernel's choosing and prints it.
    auto camera = std::make_unique<Process>(std::vector<std::string>{CAREGATE_RTSP_CAMERA, "0"},
                                            r.dir.file("rtsp.log"));
    int port = wait_for_logged_port(r.dir.file("rtsp.log"), "rtsp_camera: listening on 127.0.0.1:", 10s);
    ASSERT_GT(port, 0) << read_file(r.dir.file("rtsp.log"));
    std::string url = "rtsp://127.0.0.1:" + std::to_string(port) + "/live";
    CameraWorker worker(network_camera(url), r.policy, *r.index, r.bus, nullptr, [] { return true; });
    worker.start();
    ASSERT_TRUE(r.health(true, 20s)) << "the RTSP stream is read, state " << worker.stats().state;
    auto frames = worker.stats().frames;
    std::this_thread::sleep_for(1s);
    EXPECT_GT(worker.stats().frames, frames);

    camera.reset();  // SIGTERM: the camera is gone
    ASSERT_TRUE(r.health(false, 20s)) << "a dead RTSP camera is camera_offline";
    // Back on at the same address.
    camera = std::make_unique<Process>(std::vector<std::string>{CAREGATE_RTSP_CAMERA, std::to_string(port)},
                                       r.dir.file("rtsp2.log"));
    ASSERT_GT(wait_for_logged_port(r.dir.file("rtsp2.log"), "rtsp_camera: listening on 127.0.0.1:", 10s), 0)
        << read_file(r.dir.file("rtsp2.log"));
    ASSERT_TRUE(r.health(true, 60s)) << "reconnected by itself, state " << worker.stats().state;
    EXPECT_GT(worker.stats().reconnects, 0u);
    auto t0 = std::chrono::steady_clock::now();
    worker.stop();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 8s);
}

TEST(NetworkCamera, AHungCameraIsOfflineAndDoesNotBlockShutdown) {
    Rig r;
    MjpegCamera ipcam;
    CameraWorker worker(network_camera(ipcam.url()), r.policy, *r.index, r.bus, nullptr, [] { return true; });
    worker.start();
    ASSERT_TRUE(r.health(true, 15s));
    ipcam.hang(true);  // connection stays open, no more pictures
    ASSERT_TRUE(r.health(false, 20s)) << "a frozen stream is camera_offline, state " << worker.stats().state;
    auto t0 = std::chrono::steady_clock::now();
    worker.stop();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 8s) << "stop() is not held hostage by a hung read";
    ipcam.hang(false);
}
