// CCTV: events from generated clips with known motion, masked snapshots, retention, search,
// camera supervision, and the real clip from tests/data/video.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <thread>

#include "config/config.hpp"
#include "controller/cctv/camera_worker.hpp"
#include "controller/cctv/cctv_index.hpp"
#include "controller/core/store.hpp"
#include "tests/support/test_support.hpp"
#include "vision/cctv/line_counter.hpp"
#include "vision/cctv/motion.hpp"
#include "vision/cctv/recorder.hpp"

using namespace caregate;
using caregate::testing::TempDir;
namespace fs = std::filesystem;

namespace {

// A static textured background with a white box crossing it between frames [from, to).
cv::Mat synthetic_frame(int i, int from, int to, cv::Size size = {640, 360}) {
    cv::Mat f(size, CV_8UC3);
    for (int y = 0; y < size.height; y += 40)
        for (int x = 0; x < size.width; x += 40)
            cv::rectangle(f, {x, y, 40, 40}, cv::Scalar((x * 3) % 200 + 30, (y * 5) % 200 + 30, 90),
                          cv::FILLED);
    if (i >= from && i < to) {
        int x = 20 + (i - from) * 25;
        cv::rectangle(f, {x, 60, 120, 200}, cv::Scalar(255, 255, 255), cv::FILLED);
    }
    return f;
}

struct CollectingSink : cctv::EventSink {
    std::vector<cctv::CctvEvent> events;
    int64_t event_started(const cctv::CctvEvent& e) override {
        events.push_back(e);
        events.back().id = static_cast<int64_t>(events.size());
        return events.back().id;
    }
    void event_updated(const cctv::CctvEvent& e) override { events.at(static_cast<size_t>(e.id - 1)) = e; }
};

TEST(Cctv, MotionEventStartsAndEndsWhereTheObjectMoves) {
    TempDir dir;
    cctv::MotionDetector motion({});
    CollectingSink sink;
    cctv::RecorderOptions ro;
    ro.camera_id = "corridor";
    ro.media_dir = dir.path();
    ro.end_gap_ms = 1000;
    ro.post_roll_s = 1;
    cctv::EventRecorder rec(ro, sink);
    const int64_t t0 = 1'790'000'000'000;
    for (int i = 0; i < 60; ++i) {  // 5 fps: motion from frame 20 (4 s) to 35 (7 s)
        auto f = synthetic_frame(i, 20, 35);
        rec.feed(f, motion.analyze(f), t0 + i * 200);
    }
    std::vector<cctv::CctvEvent> motions;
    for (auto& e : sink.events)
        if (e.label == "motion") motions.push_back(e);
    ASSERT_EQ(motions.size(), 1u);
    auto& e = motions[0];
    EXPECT_NEAR(double(e.start_ms - t0), 4000, 450);
    ASSERT_TRUE(e.end_ms);
    EXPECT_NEAR(double(*e.end_ms - t0), 6800, 450);
    cv::Mat snap = cv::imread(dir.path() + "/" + e.snapshot);
    ASSERT_FALSE(snap.empty()) << e.snapshot;
    EXPECT_EQ(snap.cols, 640);
    cv::Mat thumb = cv::imread(dir.path() + "/" + e.thumbnail);
    ASSERT_FALSE(thumb.empty());
    EXPECT_EQ(thumb.cols, 240);
}

TEST(Cctv, StaticSceneGivesNoEvent) {
    TempDir dir;
    cctv::MotionDetector motion({});
    CollectingSink sink;
    cctv::RecorderOptions ro;
    ro.camera_id = "c";
    ro.media_dir = dir.path();
    cctv::EventRecorder rec(ro, sink);
    for (int i = 0; i < 50; ++i) {
        auto f = synthetic_frame(i, -1, -1);
        rec.feed(f, motion.analyze(f), i * 200);
    }
    EXPECT_TRUE(sink.events.empty());
}

TEST(Cctv, PrivacyMaskIsBlankInWrittenSnapshotsAndIgnoredForMotion) {
    TempDir dir;
    std::vector<std::vector<cv::Point>> masks = {{{0, 0}, {640, 0}, {640, 180}, {0, 180}}};  // top half
    cctv::MotionOptions mo;
    mo.masks = masks;
    cctv::MotionDetector motion(mo);
    CollectingSink sink;
    cctv::RecorderOptions ro;
    ro.camera_id = "c";
    ro.media_dir = dir.path();
    ro.masks = masks;
    cctv::EventRecorder rec(ro, sink);
    // Motion in the lower half: an event, whose snapshot has a black top half.
    for (int i = 0; i < 40; ++i) {
        cv::Mat f = synthetic_frame(-1, -1, -1);
        if (i >= 10 && i < 25)
            cv::rectangle(f, {20 + (i - 10) * 25, 220, 100, 100}, cv::Scalar(255, 255, 255), -1);
        rec.feed(f, motion.analyze(f), i * 200);
    }
    rec.flush(40 * 200);
    ASSERT_FALSE(sink.events.empty());
    cv::Mat snap = cv::imread(dir.path() + "/" + sink.events[0].snapshot);
    ASSERT_FALSE(snap.empty());
    cv::Mat top = snap(cv::Rect(0, 0, 640, 176)), bottom = snap(cv::Rect(0, 190, 640, 170));
    EXPECT_LT(cv::mean(top)[0] + cv::mean(top)[1] + cv::mean(top)[2], 6.0) << "masked area must be blank";
    EXPECT_GT(cv::mean(bottom)[0], 40.0);

    // Motion only inside the mask: no event at all.
    cctv::MotionDetector motion2(mo);
    CollectingSink sink2;
    cctv::EventRecorder rec2(ro, sink2);
    for (int i = 0; i < 40; ++i) {
        cv::Mat f = synthetic_frame(-1, -1, -1);
        if (i >= 10 && i < 25)
            cv::rectangle(f, {20 + (i - 10) * 25, 20, 100, 100}, cv::Scalar(255, 255, 255), -1);
        rec2.feed(f, motion2.analyze(f), i * 200);
    }
    EXPECT_TRUE(sink2.events.empty());
}

struct IndexFixture {
    TempDir dir;
    ManualClock clock{1'790'000'000'000};
    Store store{dir.file("e.db")};
    config::Cctv policy;
    std::unique_ptr<EventIndex> index;
    IndexFixture() {
        policy.quota_mb = 10;
        index = std::make_unique<EventIndex>(store, clock, policy, dir.file("media"));
    }
    int64_t add(const std::string& cam, const std::string& label, int64_t ts, const std::string& file = "",
                size_t bytes = 0) {
        cctv::CctvEvent e;
        e.camera_id = cam;
        e.label = label;
        e.start_ms = ts;
        e.id = index->event_started(e);
        e.end_ms = ts + 1000;
        if (!file.empty()) {
            fs::create_directories(dir.file("media"));
            caregate::testing::write_file(dir.file("media/" + file), std::string(bytes, 'x'));
            e.snapshot = file;
        }
        index->event_updated(e);
        return e.id;
    }
    size_t count() {
        return static_cast<size_t>(store.read([](sqlite3* db) {
            Stmt s(db, "SELECT COUNT(*) FROM cctv_events");
            s.step();
            return s.i64(0);
        }));
    }
};

TEST(CctvIndex, QueryFiltersAndKeysetPagination) {
    IndexFixture f;
    int64_t t = f.clock.now_ms();
    for (int i = 0; i < 30; ++i)
        f.add(i % 2 ? "door" : "corridor", i % 3 ? "motion" : "person", t + i * 1000);
    EventQuery q;
    q.camera = "door";
    EXPECT_EQ(f.index->query(q).size(), 15u);
    q.label = "person";
    for (auto& e : f.index->query(q)) {
        EXPECT_EQ(e["camera_id"], "door");
        EXPECT_EQ(e["label"], "person");
    }
    EventQuery range;
    range.from_ms = t + 10'000;
    range.to_ms = t + 20'000;
    EXPECT_EQ(f.index->query(range).size(), 10u);
    EventQuery page;
    page.limit = 12;
    auto p1 = f.index->query(page);
    page.before_id = p1.back()["id"].get<int64_t>();
    auto p2 = f.index->query(page);
    ASSERT_EQ(p1.size(), 12u);
    ASSERT_EQ(p2.size(), 12u);
    EXPECT_LT(p2.front()["start_ts"].get<int64_t>(), p1.back()["start_ts"].get<int64_t>());
}

TEST(CctvIndex, RetentionByAgeKeepsAlarmLinkedEventsLongest) {
    IndexFixture f;
    int64_t now = f.clock.now_ms();
    const int64_t day = 86'400'000;
    auto old_motion = f.add("door", "motion", now - 8 * day, "a.jpg", 100);
    f.add("door", "motion", now - 6 * day, "b.jpg", 100);
    auto linked = f.add("door", "motion", now - 30 * day, "c.jpg", 100);
    f.add("door", "person", now - 15 * day);
    f.index->link_to_alarm(1, {linked});
    auto r = f.index->apply_retention();
    EXPECT_EQ(r.expired_events, 2);  // the 8-day motion and the 15-day person
    EXPECT_EQ(f.count(), 2u);
    EXPECT_FALSE(fs::exists(f.dir.file("media/a.jpg")));
    EXPECT_TRUE(fs::exists(f.dir.file("media/c.jpg")));
    (void)old_motion;
}

TEST(CctvIndex, QuotaDeletesOldestMediaFirstButKeepsTheIndex) {
    IndexFixture f;
    int64_t now = f.clock.now_ms();
    const size_t mb = 1024 * 1024;
    std::vector<int64_t> ids;
    for (int i = 0; i < 6; ++i)
        ids.push_back(
            f.add("door", "motion", now - (6 - i) * 3'600'000, "m" + std::to_string(i) + ".jpg", 3 * mb));
    f.index->link_to_alarm(7, {ids[0]});
    auto r = f.index->apply_retention();  // 18 MB against a 10 MB quota
    EXPECT_LE(r.media_bytes, int64_t(10 * mb));
    EXPECT_EQ(f.count(), 6u) << "quota removes media, not the index";
    EXPECT_TRUE(fs::exists(f.dir.file("media/m0.jpg"))) << "alarm-linked media go last";
    EXPECT_FALSE(fs::exists(f.dir.file("media/m1.jpg")));
    EXPECT_TRUE(fs::exists(f.dir.file("media/m5.jpg")));
}

TEST(CctvIndex, AlarmAndCheckinRecordsAreNeverTouchedByRetention) {
    IndexFixture f;
    f.store.write([&](sqlite3* db) {
        exec(db, "INSERT INTO alarms(uuid,kind,source,state,raised_at) VALUES('a','call','b','resolved',1)");
        exec(db, "INSERT INTO elders(uuid,name,created_at,updated_at) VALUES('e','x',1,1)");
        exec(db, "INSERT INTO checkins(uuid,elder_id,ts,direction,method) VALUES('c',1,1,'in','face')");
    });
    f.add("door", "motion", 1);
    f.index->apply_retention();
    auto n = f.store.read([](sqlite3* db) {
        Stmt s(db, "SELECT (SELECT COUNT(*) FROM alarms) + (SELECT COUNT(*) FROM checkins)");
        s.step();
        return s.i64(0);
    });
    EXPECT_EQ(n, 2);
    EXPECT_EQ(f.count(), 0u);
}

TEST(CctvIndex, EventsNearAnAlarmComeFromTheWholeSiteWhenTheZoneHasNoCamera) {
    IndexFixture f;
    auto cfg = config::parse_config(
        "site: {id: t, name: x}\nzones: [{id: corridor, name: 走廊}, {id: bath, name: 浴室, private: true}]\n"
        "cameras: [{id: corridor_cam, source: x.mp4, zone: corridor}]\n",
        "x.yaml");
    int64_t t = f.clock.now_ms();
    f.store.write([&](sqlite3* db) {
        Stmt s(db,
               "INSERT INTO alarms(uuid,kind,source,zone,state,raised_at) "
               "VALUES('a','call','b','bath','raised',?)");
        s.bind(1, t).run();
    });
    f.add("corridor_cam", "person", t - 60'000);
    f.add("corridor_cam", "motion", t + 30'000);
    f.add("corridor_cam", "motion", t - 3'600'000);  // an hour before: not near
    auto near = f.index->near_alarm(1, 5 * 60'000, cfg);
    EXPECT_EQ(near.size(), 2u);
}

void write_clip(const std::string& path, int frames, int from, int to, double fps = 10) {
    cv::VideoWriter w(path, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), fps, {640, 360});
    ASSERT_TRUE(w.isOpened()) << path;
    for (int i = 0; i < frames; ++i) w.write(synthetic_frame(i, from, to));
}

TEST(CameraWorker, FileCameraRecordsEventsAndRecoversFromAMissingSource) {
    TempDir dir;
    ManualClock clock{1};
    SystemClock sys;
    Store store(dir.file("w.db"));
    config::Cctv policy;
    policy.end_gap_ms = 500;
    policy.post_roll_s = 0;
    EventIndex index(store, sys, policy, dir.file("media"));
    Bus bus;
    auto sub = bus.subscribe("test");
    config::Camera cam;
    cam.id = "door";
    cam.zone = "hall";
    cam.source = dir.file("door.avi");  // does not exist yet: the camera is offline
    cam.fps = 10;
    cam.loop = true;
    CameraWorker worker(cam, policy, index, bus, nullptr, [] { return true; });
    worker.start();
    auto wait_health = [&](bool online) {
        auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (std::chrono::steady_clock::now() < end) {
            auto e = sub->next(std::chrono::milliseconds(200));
            if (e && std::holds_alternative<DeviceHealth>(*e) && std::get<DeviceHealth>(*e).online == online)
                return true;
        }
        return false;
    };
    EXPECT_TRUE(wait_health(false)) << "a missing source is camera_offline";
    write_clip(dir.file("door.tmp.avi"), 60, 15, 35);
    fs::rename(dir.file("door.tmp.avi"), dir.file("door.avi"));
    EXPECT_TRUE(wait_health(true)) << "the camera comes back when the source does";
    EventQuery q;
    q.camera = "door";
    // The clip's motion (frames 15-35) has been recorded as an event, past frame 20.
    EXPECT_TRUE(caregate::testing::eventually(
        [&] { return worker.stats().frames > 20u && !index.query(q).empty(); }, std::chrono::seconds(30)));
    worker.stop();
    auto events = index.query(q);
    EXPECT_FALSE(events.empty());
    EXPECT_GT(worker.stats().frames, 20u);
}

// What a camera worker records into: a store, the event index on it (default policy), a bus.
struct Recording {
    TempDir dir;
    SystemClock sys;
    Store store{dir.file("w.db")};
    config::Cctv policy;
    EventIndex index{store, sys, policy, dir.file("media")};
    Bus bus;
};

// The face pipeline throwing on a frame (the store busy, an OpenCV error) costs that frame: the
// camera's thread goes on, and the next frame reaches the face pipeline again. Escaping, the
// exception would have ended the whole daemon.
TEST(CameraWorker, AFaceCheckInFailureCostsTheFrameNotTheCamera) {
    Recording r;
    struct Failing : FrameConsumer {
        std::atomic<int> calls{0};
        void frame(const config::Camera&, const cv::Mat&, int64_t) override {
            ++calls;
            throw StoreError("database is locked");
        }
    } faces;
    config::Camera cam;
    cam.id = "door";
    cam.zone = "hall";
    cam.faces = true;
    cam.source = r.dir.file("door.avi");
    cam.fps = 10;
    cam.loop = true;
    write_clip(cam.source, 20, 5, 10);
    CameraWorker worker(cam, r.policy, r.index, r.bus, &faces, [] { return true; });
    worker.start();
    EXPECT_TRUE(caregate::testing::eventually([&] { return faces.calls >= 5; }, std::chrono::seconds(30)))
        << "the camera stopped after the face pipeline failed " << faces.calls << " times";
    worker.stop();
    EXPECT_GE(worker.stats().face_errors, 5u);
}

TEST(CameraWorker, RealClipFromSharedVideo) {
    std::string clip = caregate::testing::test_data_dir() + "/video/short_hamilton_clip.mp4";
    ASSERT_TRUE(fs::exists(clip)) << "missing test video " << clip;
    cv::VideoCapture cap(clip);
    ASSERT_TRUE(cap.isOpened());
    cctv::MotionDetector motion({});
    TempDir dir;
    CollectingSink sink;
    cctv::RecorderOptions ro;
    ro.camera_id = "hall";
    ro.media_dir = dir.path();
    cctv::EventRecorder rec(ro, sink);
    cv::Mat f;
    int64_t t = 0;
    int n = 0;
    while (cap.read(f) && n < 400) {
        if (n++ % 5) continue;  // ~5 fps analysis
        rec.feed(f, motion.analyze(f), t += 200);
    }
    rec.flush(t);
    ASSERT_FALSE(sink.events.empty()) << "people move in this clip";
    for (auto& e : sink.events) {
        ASSERT_FALSE(e.snapshot.empty());
        EXPECT_FALSE(cv::imread(dir.path() + "/" + e.snapshot).empty()) << e.snapshot;
        ASSERT_TRUE(e.end_ms);
        EXPECT_GE(*e.end_ms, e.start_ms);
    }
}

// A person-sized dark shape walks across a 640×360 picture along y = 200, from x0 to x1.
void write_walk(cv::VideoWriter& w, int x0, int x1, int frames) {
    for (int i = 0; i < frames; ++i) {
        cv::Mat f(360, 640, CV_8UC3, cv::Scalar(170, 170, 170));
        int x = x0 + (x1 - x0) * i / (frames - 1);
        cv::rectangle(f, {x - 25, 110, 50, 180}, cv::Scalar(40, 40, 40), cv::FILLED);
        cv::circle(f, {x, 95}, 18, cv::Scalar(60, 50, 45), cv::FILLED);
        w.write(f);
    }
}

TEST(LineCounter, CountsCrossingsOnceEachWayAndOnlyThroughTheDoor) {
    cctv::LineCounterOptions o;
    o.a = {320, 0};  // a vertical line drawn downwards: "in" is the right half of the picture
    o.b = {320, 300};
    cctv::LineCounter c(o);
    cv::Size frame(640, 360);
    std::vector<int> got;
    int64_t t = 0;
    auto step = [&](int x, int y) {
        for (int d : c.update({cv::Rect(x - 20, y - 40, 40, 80)}, frame, t += 200)) got.push_back(d);
    };
    for (int x = 100; x <= 540; x += 40) step(x, 150);  // walks in
    EXPECT_EQ(got, std::vector<int>{1});
    for (int x = 540; x >= 100; x -= 40) step(x, 150);  // walks out
    EXPECT_EQ(got, (std::vector<int>{1, -1}));
    got.clear();
    for (int x = 100; x <= 300; x += 40) step(x, 150);         // comes to the door
    for (int i = 0; i < 8; ++i) step(i % 2 ? 310 : 330, 150);  // lingers in the doorway, swaying
    EXPECT_TRUE(got.empty()) << "swaying on the line is not walking through";
    for (int x = 340; x <= 540; x += 40) step(x, 150);  // then goes in
    EXPECT_EQ(got, std::vector<int>{1});
    got.clear();
    c.reset();
    t += 5000;
    for (int x = 100; x <= 540; x += 40) step(x, 340);  // below the end of the line: beside the door
    EXPECT_TRUE(got.empty());
    // Two blobs of one body (head and legs split by the background model) are one person.
    got.clear();
    c.reset();
    t += 5000;
    for (int x = 100; x <= 540; x += 40)
        for (int d : c.update({cv::Rect(x - 20, 60, 40, 40), cv::Rect(x - 20, 130, 40, 90)}, frame, t += 200))
            got.push_back(d);
    EXPECT_EQ(got, std::vector<int>{1});
}

TEST(CameraWorker, DoorCameraLineCrossingCountsPeopleInAndOut) {
    Recording r;
    auto sub = r.bus.subscribe("test");
    {
        cv::VideoWriter w(r.dir.file("door.avi"), cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 10,
                          {640, 360});
        ASSERT_TRUE(w.isOpened());
        for (int i = 0; i < 10; ++i) write_walk(w, 60, 60, 2);    // background only, to learn from
        write_walk(w, 60, 580, 26);                               // someone walks in
        for (int i = 0; i < 10; ++i) write_walk(w, 700, 700, 2);  // (off picture) empty door
        write_walk(w, 580, 60, 26);                               // and out again
        for (int i = 0; i < 10; ++i) write_walk(w, 700, 700, 2);
    }
    config::Camera cam;
    cam.id = "door";
    cam.zone = "hall";
    cam.source = r.dir.file("door.avi");
    cam.fps = 10;
    cam.count_line = {320, 0, 320, 360};
    CameraWorker worker(cam, r.policy, r.index, r.bus, nullptr, [] { return true; });
    worker.start();
    // Every count until the file has played to its end: the worker (not looping) then reports the
    // camera offline, on the same bus after the last count, so no count can come later.
    std::vector<int> counts;
    bool played_to_end = false;
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(40);
    while (std::chrono::steady_clock::now() < end && !played_to_end) {
        auto e = sub->next(std::chrono::milliseconds(100));
        if (e && std::holds_alternative<OccupancyCount>(*e)) {
            EXPECT_EQ(std::get<OccupancyCount>(*e).device_id, "door");
            counts.push_back(std::get<OccupancyCount>(*e).delta);
        } else if (e && std::holds_alternative<DeviceHealth>(*e)) {
            auto& h = std::get<DeviceHealth>(*e);
            played_to_end =
                h.device_id == "door" && !h.online && h.reason.find("视频文件已放完") != std::string::npos;
        }
    }
    EXPECT_TRUE(played_to_end) << "the file plays to its end";
    worker.stop();
    EXPECT_EQ(counts, (std::vector<int>{1, -1}));
}

TEST(Cctv, ResolutionChangeMidStreamIsSurvived) {
    cctv::MotionDetector motion({});
    for (int i = 0; i < 10; ++i) motion.analyze(synthetic_frame(i, 3, 8));
    // The camera switches to 320×240 mid-stream: the detector starts over at the new size, still sees
    // the moving shape, and reports boxes inside the new picture.
    bool seen = false;
    const cv::Rect picture(0, 0, 320, 240);
    for (int i = 0; i < 10; ++i) {
        auto a = motion.analyze(synthetic_frame(i, 3, 8, {320, 240}));
        for (auto& r : a.moving) EXPECT_EQ(r & picture, r) << "box outside the new picture";
        seen = seen || a.motion;
    }
    EXPECT_TRUE(seen) << "motion is still found after the change";
    EXPECT_FALSE(motion.analyze(synthetic_frame(20, 3, 8, {320, 240})).motion)
        << "a still picture is no motion";
    EXPECT_FALSE(motion.analyze(cv::Mat()).motion) << "an empty frame is no motion";
}

}  // namespace
