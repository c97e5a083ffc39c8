// The CCTV camera worker on real encoded video (MPEG-4 written by OpenCV, played back at its frame
// rate): with cctv.clips an event gets a clip of its own, pre-roll included and privacy masks black in
// every frame; a black (covered) picture longer than cctv.black_s makes the camera offline, a shorter
// one does not, and the picture coming back makes it online again.
#include <gtest/gtest.h>

#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "config/config.hpp"
#include "controller/cctv/camera_worker.hpp"
#include "controller/cctv/cctv_index.hpp"
#include "tests/support/test_support.hpp"

using namespace caregate;
using caregate::testing::TempDir;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// A textured background; a white box crosses it when `box` is true.
cv::Mat scene(int i, bool box) {
    cv::Mat f(360, 640, CV_8UC3);
    for (int y = 0; y < 360; y += 40)
        for (int x = 0; x < 640; x += 40)
            cv::rectangle(f, {x, y, 40, 40}, cv::Scalar((x * 3) % 200 + 30, (y * 5) % 200 + 30, 90),
                          cv::FILLED);
    if (box) cv::rectangle(f, {150 + i * 20, 120, 100, 180}, cv::Scalar(255, 255, 255), cv::FILLED);
    return f;
}

// Writes `frames` as an MPEG-4 file at 10 fps.
void write_mp4(const std::string& path, const std::vector<cv::Mat>& frames) {
    cv::VideoWriter w(path, cv::VideoWriter::fourcc('m', 'p', '4', 'v'), 10, frames[0].size());
    ASSERT_TRUE(w.isOpened()) << "cannot write " << path;
    for (auto& f : frames) w.write(f);
}

struct Rig {
    TempDir dir;
    SystemClock sys;
    Store store{dir.file("w.db")};
    config::Cctv policy;
    Bus bus;
    std::shared_ptr<Subscription> sub = bus.subscribe("test");
    config::Camera cam;
    Rig() {
        cam.id = "hall_cam";
        cam.zone = "hall";
        cam.source = dir.file("cam.mp4");
        cam.fps = 10;
    }
    // Runs the worker over the whole file; the camera's health changes, in order, until its end.
    std::vector<DeviceHealth> play(EventIndex& index) {
        CameraWorker worker(cam, policy, index, bus, nullptr, [] { return true; });
        worker.start();
        std::vector<DeviceHealth> health;
        auto end = std::chrono::steady_clock::now() + 30s;
        while (std::chrono::steady_clock::now() < end) {
            auto e = sub->next(100ms);
            if (!e || !std::holds_alternative<DeviceHealth>(*e)) continue;
            health.push_back(std::get<DeviceHealth>(*e));
            if (health.back().reason.find("视频文件已放完") != std::string::npos) break;
        }
        worker.stop();
        return health;
    }
};

}  // namespace

TEST(CctvClips, AnEventGetsItsClipWithPreRollAndTheMaskBlackInEveryFrame) {
    Rig r;
    r.policy.clips = true;
    r.policy.pre_roll_s = 1;
    r.policy.post_roll_s = 1;
    r.policy.end_gap_ms = 500;
    r.cam.mask = {{0, 0, 120, 0, 120, 100, 0, 100}};  // the top-left corner is private
    std::vector<cv::Mat> frames;
    for (int i = 0; i < 20; ++i) frames.push_back(scene(i, false));
    for (int i = 0; i < 15; ++i) frames.push_back(scene(i, true));
    for (int i = 0; i < 25; ++i) frames.push_back(scene(i, false));
    ASSERT_NO_FATAL_FAILURE(write_mp4(r.cam.source, frames));
    EventIndex index(r.store, r.sys, r.policy, r.dir.file("media"));
    auto health = r.play(index);
    ASSERT_FALSE(health.empty());
    EXPECT_NE(health.back().reason.find("视频文件已放完"), std::string::npos) << "the file played to its end";

    EventQuery q;
    q.camera = "hall_cam";
    q.label = "motion";
    auto events = index.query(q);
    ASSERT_EQ(events.size(), 1u);
    ASSERT_TRUE(events[0]["clip"].is_string()) << events[0].dump();
    std::string clip = r.dir.file("media") + "/" + events[0]["clip"].get<std::string>();
    ASSERT_TRUE(fs::exists(clip)) << clip;
    EXPECT_FALSE(cv::imread(r.dir.file("media") + "/" + events[0]["snapshot"].get<std::string>()).empty());
    cv::VideoCapture cap(clip);
    ASSERT_TRUE(cap.isOpened()) << clip;
    std::vector<cv::Mat> got;
    for (cv::Mat f; cap.read(f);) got.push_back(f.clone());
    // Pre-roll (up to 1 s = 10 frames before the start), the motion itself, and the post-roll.
    EXPECT_GE(got.size(), 25u) << "pre-roll + motion + post-roll";
    EXPECT_LE(got.size(), 60u);
    auto white = [](const cv::Mat& f) {
        cv::Mat g;
        cv::cvtColor(f, g, cv::COLOR_BGR2GRAY);
        return cv::countNonZero(g > 240);
    };
    EXPECT_LT(white(got.front()), 500) << "the clip starts before the box came in (pre-roll)";
    bool box_seen = false;
    for (auto& f : got) {
        box_seen = box_seen || white(f) > 10000;
        EXPECT_LT(cv::mean(f(cv::Rect(0, 0, 120, 100)))[0], 8) << "the private corner is not black";
    }
    EXPECT_TRUE(box_seen) << "the moving box is in the clip";
}

TEST(CctvCovered, ABlackPictureLongerThanBlackSIsOfflineAShorterOneIsNot) {
    Rig r;
    r.policy.black_s = 1;
    cv::Mat black(360, 640, CV_8UC3, cv::Scalar(0, 0, 0));
    std::vector<cv::Mat> frames;
    for (int i = 0; i < 10; ++i) frames.push_back(scene(i, false));
    for (int i = 0; i < 3; ++i) frames.push_back(black);  // 0.3 s: a hand passing the lens
    for (int i = 0; i < 10; ++i) frames.push_back(scene(i, false));
    for (int i = 0; i < 25; ++i) frames.push_back(black);  // 2.5 s: covered
    for (int i = 0; i < 15; ++i) frames.push_back(scene(i, false));
    ASSERT_NO_FATAL_FAILURE(write_mp4(r.cam.source, frames));
    EventIndex index(r.store, r.sys, r.policy, r.dir.file("media"));
    auto health = r.play(index);
    std::vector<std::string> seen;
    for (auto& h : health) {
        EXPECT_EQ(h.device_id, "hall_cam");
        EXPECT_EQ(h.kind, "camera");
        seen.push_back(h.online ? "online" : h.reason);
    }
    EXPECT_EQ(seen, (std::vector<std::string>{"online", "画面全黑或被遮挡", "online", "视频文件已放完"}));
}
