// The live look at the rooms: LiveView on its own (masks black in the served JPEG, the picture scaled
// down, nothing encoded unless someone watches, at most fps pictures a second, a camera in a private
// zone never encoded), the kiosk's camera routes in-process with a camera the loader would have refused
// (defence in depth), and the real daemon playing the test clip: a login, an MJPEG stream with moving
// pictures within 2 s, the audit row, the stream cap, and a site config with a private-zone camera
// refused.
#include "controller/cctv/live_view.hpp"

#include <gtest/gtest.h>
#include <httplib.h>
#include <sqlite3.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>
#include <thread>

#include "config/config.hpp"
#include "controller/kiosk/http_server.hpp"
#include "controller/kiosk/kiosk.hpp"
#include "controller/kiosk/live_feed.hpp"
#include "controller/people/checkins.hpp"
#include "controller/people/records.hpp"
#include "controller/people/roster.hpp"
#include "controller/people/staff.hpp"
#include "tests/controller/daemon_rig.hpp"
#include "tests/support/test_support.hpp"

using namespace caregate;
using namespace caregate::testing;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// A 1280×720 camera whose left half (x < 640) is masked.
const char* kSite =
    "site: {id: lv, name: x}\n"
    "zones: [{id: hall, name: 活动大厅}, {id: bath, name: 助浴间, private: true}]\n"
    "kiosk: {port: 0}\n"
    "cameras:\n"
    "  - {id: hall_cam, name: 大厅摄像头, source: /dev/null, zone: hall, mask: "
    "[[0,0,640,0,640,720,0,720]]}\n";

// A bright, textured picture (so that JPEG has something to keep), shifted by `phase`.
cv::Mat picture(int phase = 0) {
    cv::Mat m(720, 1280, CV_8UC3);
    for (int y = 0; y < m.rows; ++y)
        for (int x = 0; x < m.cols; ++x)
            m.at<cv::Vec3b>(y, x) = cv::Vec3b(uchar(150 + (x + phase) % 100), uchar(160 + (y + phase) % 90),
                                              uchar(200 + ((x + y) / 8) % 50));
    return m;
}

cv::Mat decode(const std::string& jpeg) {
    return cv::imdecode(cv::Mat(1, int(jpeg.size()), CV_8UC1, const_cast<char*>(jpeg.data())),
                        cv::IMREAD_COLOR);
}

// The masked left half (clear of the edge, where JPEG blocks may blend) and the open right half.
void expect_left_black_right_not(const cv::Mat& img) {
    ASSERT_FALSE(img.empty());
    int half = img.cols / 2;
    cv::Mat left = img(cv::Rect(0, 0, half - 16, img.rows)),
            right = img(cv::Rect(half + 16, 0, half - 16, img.rows));
    double lmax = 0;
    cv::minMaxLoc(left.reshape(1), nullptr, &lmax);
    EXPECT_LE(lmax, 12) << "a masked pixel shows through";
    EXPECT_GT(cv::mean(right)[0], 100) << "the open half is not the picture";
}

const config::Camera& camera(const config::SiteConfig& cfg, const std::string& id) {
    for (auto& c : cfg.cameras)
        if (c.id == id) return c;
    throw std::runtime_error("no camera " + id);
}

}  // namespace

TEST(LiveView, MasksAreBlackInTheServedPictureWhichIsScaledTo640) {
    auto cfg = config::parse_config(kSite, "x.yaml");
    LiveView lv(cfg);
    const auto& cam = camera(cfg, "hall_cam");
    lv.want("hall_cam");
    lv.offer(cam, picture(), 1000);
    auto f = lv.wait_newer("hall_cam", 0, 0ms);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->seq, 1u);
    EXPECT_EQ(f->ts_ms, 1000);
    cv::Mat img = decode(*f->jpeg);
    EXPECT_EQ(img.cols, 640);
    EXPECT_EQ(img.rows, 360);
    expect_left_black_right_not(img);
}

TEST(LiveView, EncodesOnlyWhileSomeoneWatchesAndAtMostFpsAPicturesASecond) {
    auto cfg = config::parse_config(kSite, "x.yaml");
    LiveViewOptions o;
    o.fps = 3;
    o.want_ms = 300;
    LiveView lv(cfg, o);
    const auto& cam = camera(cfg, "hall_cam");
    cv::Mat pic = picture();
    int64_t ts = 1'000'000;
    EXPECT_FALSE(lv.wanted("hall_cam"));
    for (int i = 0; i < 20; ++i) lv.offer(cam, pic, ts += 100);
    EXPECT_EQ(lv.encoded("hall_cam"), 0u) << "nobody asked: nothing encoded";

    lv.want("hall_cam");
    EXPECT_TRUE(lv.wanted("hall_cam"));
    // Two seconds of a 10 fps camera: 6 pictures at 3 fps (the first at once).
    for (int i = 0; i < 20; ++i) lv.offer(cam, pic, ts += 100);
    EXPECT_GE(lv.encoded("hall_cam"), 6u);
    EXPECT_LE(lv.encoded("hall_cam"), 7u);
    auto f = lv.wait_newer("hall_cam", 0, 0ms);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->seq, lv.encoded("hall_cam"));
    EXPECT_FALSE(lv.wait_newer("hall_cam", f->seq, 0ms)) << "nothing newer yet";

    // Nobody asks any more: after want_ms the frames cost nothing again, and the old picture is not
    // served as the current one when someone looks again.
    ASSERT_TRUE(eventually([&] { return !lv.wanted("hall_cam"); }, 5s));
    uint64_t before = lv.encoded("hall_cam");
    for (int i = 0; i < 20; ++i) lv.offer(cam, pic, ts += 100);
    EXPECT_EQ(lv.encoded("hall_cam"), before);
    EXPECT_FALSE(lv.wait_newer("hall_cam", 0, 0ms)) << "a picture from before this look is stale";
    lv.offer(cam, pic, ts += 100);
    EXPECT_EQ(lv.encoded("hall_cam"), before + 1);

    // A waiter is woken by the next picture; close() wakes it with nothing.
    auto last = lv.wait_newer("hall_cam", 0, 0ms);
    ASSERT_TRUE(last);
    std::optional<LiveView::Frame> got;
    std::thread waiter([&] { got = lv.wait_newer("hall_cam", last->seq, 10s); });
    ASSERT_TRUE(eventually([&] {
        lv.offer(cam, pic, ts += 400);
        return lv.encoded("hall_cam") > before + 1;
    }));
    waiter.join();
    ASSERT_TRUE(got);
    EXPECT_GT(got->seq, last->seq);
    lv.close();
    EXPECT_FALSE(lv.wait_newer("hall_cam", 0, 10s));
}

TEST(LiveView, StreamsAreCappedAndGivenBack) {
    auto cfg = config::parse_config(kSite, "x.yaml");
    LiveViewOptions o;
    o.max_streams = 2;
    LiveView lv(cfg, o);
    auto a = lv.open_stream(), b = lv.open_stream();
    EXPECT_TRUE(a && b);
    EXPECT_FALSE(lv.open_stream());
    a.reset();
    EXPECT_EQ(lv.streams(), 1);
    EXPECT_TRUE(lv.open_stream());
    EXPECT_TRUE(lv.first_look("s1", "hall_cam"));
    EXPECT_FALSE(lv.first_look("s1", "hall_cam")) << "the same look goes on";
    EXPECT_TRUE(lv.first_look("s2", "hall_cam"));
}

// The loader refuses a camera in a private zone; here one is put in behind its back, as a bug or a
// future code path might: LiveView never encodes it and the kiosk never serves it.
struct PrivateRig {
    TempDir dir;
    config::SiteConfig cfg = [] {
        auto c = config::parse_config(kSite, "x.yaml");
        config::Camera bath = c.cameras[0];
        bath.id = "bath_cam";
        bath.zone = "bath";
        bath.mask.clear();
        c.cameras.push_back(bath);
        return c;
    }();
    ManualClock clock{1'796'191'401'000};
    Store store{dir.file("s.db")};
    Outbox outbox{"lv", "r"};
    Bus bus;
    AlarmService alarms{store, clock, outbox, AlarmPolicy{60, 900}};
    Occupancy occ{store, clock, cfg};
    CheckinService checkins{store, clock, outbox, occ, 30, "hall"};
    Roster roster{store, clock};
    StaffAccounts staff{store, clock};
    Records records{store, clock, outbox};
    LiveFeed feed{bus, 8};
    LiveView live{cfg};
    HttpServer http{HttpOptions{"127.0.0.1", 0, 8, "", "", ""}};
    std::unique_ptr<Kiosk> kiosk;
    std::string cookie;
    PrivateRig() {
        KioskParts kp{cfg,  store,   clock,   alarms,  checkins, occ, roster, staff,   records,
                      feed, nullptr, nullptr, nullptr, {},       "",  {},     nullptr, {}};
        kp.live_view = &live;
        kiosk = std::make_unique<Kiosk>(kp, http.routes());
        staff.add("nurse", "王护士", "staff", "nurse-password", "test");
        http.start();
        httplib::Client cli("127.0.0.1", http.port());
        auto r = cli.Post("/api/login", json{{"username", "nurse"}, {"password", "nurse-password"}}.dump(),
                          "application/json");
        if (r && r->status == 200) {
            std::string set = r->get_header_value("Set-Cookie");
            cookie = set.substr(0, set.find(';'));
        }
    }
    ~PrivateRig() {
        live.close();
        http.stop();
    }
    httplib::Result get(const std::string& path) {
        httplib::Client cli("127.0.0.1", http.port());
        cli.set_read_timeout(5, 0);
        return cli.Get(path, {{"Cookie", cookie}});
    }
};

TEST(LiveView, ACameraInAPrivateZoneIsNeverEncodedNorServed) {
    PrivateRig r;
    ASSERT_FALSE(r.cookie.empty());
    EXPECT_EQ(r.live.access("bath_cam"), LiveView::Access::private_zone);
    EXPECT_EQ(r.live.access("nope"), LiveView::Access::unknown);
    const auto& bath = camera(r.cfg, "bath_cam");
    r.live.want("bath_cam");
    EXPECT_FALSE(r.live.wanted("bath_cam"));
    for (int i = 0; i < 5; ++i) r.live.offer(bath, picture(i), 1000 + i * 400);
    EXPECT_EQ(r.live.encoded("bath_cam"), 0u);
    EXPECT_FALSE(r.live.wait_newer("bath_cam", 0, 0ms));

    for (auto path : {"/api/cameras/bath_cam/live", "/api/cameras/bath_cam/frame.jpg"}) {
        auto res = r.get(path);
        ASSERT_TRUE(res) << path;
        EXPECT_EQ(res->status, 403) << path;
        EXPECT_NE(res->body.find("隐私区域"), std::string::npos) << res->body;
        EXPECT_EQ(res->get_header_value("Content-Type").find("image"), std::string::npos);
    }
    auto list = r.get("/api/cameras");
    ASSERT_TRUE(list);
    ASSERT_EQ(list->status, 200);
    auto cams = json::parse(list->body)["cameras"];
    ASSERT_EQ(cams.size(), 2u);
    EXPECT_EQ(cams[0]["id"], "hall_cam");
    EXPECT_EQ(cams[0]["live"], true);
    EXPECT_EQ(cams[0]["zone_name"], "活动大厅");
    EXPECT_EQ(cams[1]["id"], "bath_cam");
    EXPECT_EQ(cams[1]["live"], false);

    // The open camera is served from what its worker offers (here: the test, until the request has
    // made it wanted and a picture was encoded; offering an unwanted camera costs nothing).
    std::thread offering([&] {
        const auto& hall = camera(r.cfg, "hall_cam");
        cv::Mat pic = picture();
        auto deadline = std::chrono::steady_clock::now() + 10s;
        for (int64_t ts = 10'000;
             r.live.encoded("hall_cam") == 0 && std::chrono::steady_clock::now() < deadline; ts += 400) {
            r.live.offer(hall, pic, ts);
            std::this_thread::yield();
        }
    });
    auto frame = r.get("/api/cameras/hall_cam/frame.jpg");
    offering.join();
    ASSERT_TRUE(frame);
    ASSERT_EQ(frame->status, 200) << frame->body;
    EXPECT_EQ(frame->get_header_value("Content-Type"), "image/jpeg");
    expect_left_black_right_not(decode(frame->body));
}

// ---------- the real daemon ----------

namespace {

// The parts of a multipart/x-mixed-replace body, as they arrive.
struct MjpegReader {
    std::string buf;
    std::vector<std::string> frames;
    void feed(const char* data, size_t n) {
        buf.append(data, n);
        for (;;) {
            size_t head_end = buf.find("\r\n\r\n");
            if (head_end == std::string::npos) return;
            std::string head = buf.substr(0, head_end);
            size_t cl = head.find("Content-Length: ");
            if (cl == std::string::npos) throw std::runtime_error("a part without Content-Length: " + head);
            size_t len = std::stoul(head.substr(cl + 16));
            if (buf.size() < head_end + 4 + len + 2) return;
            frames.push_back(buf.substr(head_end + 4, len));
            buf.erase(0, head_end + 4 + len + 2);
        }
    }
};

class LiveDaemon {
public:
    explicit LiveDaemon(const std::string& extra_camera_yaml = "") {
        write_file(dir_.file("site.yaml"),
                   "site: {id: live-e2e, name: 测试中心}\n"
                   "store: {path: " +
                       dir_.file("cg.db") + ", media_dir: " + dir_.file("media") +
                       "}\n"
                       "kiosk: {port: 0}\n"
                       "mqtt: {enabled: false}\n"
                       "face: {enabled: false}\n"
                       "zones: [{id: hall, name: 活动大厅}, {id: bath, name: 助浴间, private: true}]\n"
                       "cameras:\n"
                       "  - {id: hall_cam, name: 大厅摄像头, source: " +
                       test_data_dir() +
                       "/video/short_hamilton_clip.mp4, zone: hall, loop: true, fps: 5,\n"
                       "     mask: [[0,0,100,0,100,100,0,100]]}\n" +
                       extra_camera_yaml);
    }
    ~LiveDaemon() { stop(); }
    std::string config() const { return dir_.file("site.yaml"); }
    std::string log() const { return read_file(dir_.file("log")); }

    void start() {
        std::string out;
        int rc = run("printf 'nurse-pass-1\\n' | " + caregate_bin() +
                         " staff add nurse --name 王护士 --role staff --password-stdin --config " + config(),
                     &out);
        ASSERT_EQ(rc, 0) << out;
        proc_ = std::make_unique<Process>(
            std::vector<std::string>{caregate_bin(), "run", "--config", config()}, dir_.file("log"));
        port_ = kiosk_port(dir_.file("log"));
        ASSERT_GT(port_, 0) << log();
        httplib::Client cli("127.0.0.1", port_);
        auto r = cli.Post("/api/login", json{{"username", "nurse"}, {"password", "nurse-pass-1"}}.dump(),
                          "application/json");
        ASSERT_TRUE(r);
        ASSERT_EQ(r->status, 200) << r->body;
        std::string set = r->get_header_value("Set-Cookie");
        cookie_ = set.substr(0, set.find(';'));
    }
    void stop() {
        if (!proc_) return;
        proc_->signal(SIGTERM);
        EXPECT_EQ(proc_->wait(10s), 0) << "the daemon stops promptly with live views open\n" << log();
        proc_.reset();
    }
    int port() const { return port_; }
    const std::string& cookie() const { return cookie_; }
    httplib::Result get(const std::string& path, bool logged_in = true) {
        httplib::Client cli("127.0.0.1", port_);
        cli.set_read_timeout(5, 0);
        if (!logged_in) return cli.Get(path);
        return cli.Get(path, {{"Cookie", cookie_}});
    }
    std::string query(const std::string& sql) { return query_db(dir_.file("cg.db"), sql); }

private:
    TempDir dir_;
    std::unique_ptr<Process> proc_;
    int port_ = -1;
    std::string cookie_;
};

// Reads the camera's MJPEG stream until `enough` says so or `deadline`; returns the JPEGs and the status.
struct StreamResult {
    int status = 0;
    std::string content_type;
    std::vector<std::string> frames;
};
StreamResult read_stream(int port, const std::string& cookie, const std::string& path,
                         std::chrono::steady_clock::time_point deadline,
                         const std::function<bool(const std::vector<std::string>&)>& enough) {
    StreamResult out;
    MjpegReader reader;
    httplib::Client cli("127.0.0.1", port);
    cli.set_read_timeout(3, 0);
    httplib::Headers h;
    if (!cookie.empty()) h.emplace("Cookie", cookie);
    auto res = cli.Get(
        path, h,
        [&](const httplib::Response& r) {
            out.status = r.status;
            out.content_type = r.get_header_value("Content-Type");
            return r.status == 200;
        },
        [&](const char* data, size_t n) {
            reader.feed(data, n);
            return !enough(reader.frames) && std::chrono::steady_clock::now() < deadline;
        });
    if (res && !out.status) out.status = res->status;
    out.frames = reader.frames;
    return out;
}

double difference(const cv::Mat& a, const cv::Mat& b) {
    if (a.size() != b.size()) return 255;
    cv::Mat d;
    cv::absdiff(a, b, d);
    return cv::mean(d.reshape(1))[0];
}

}  // namespace

TEST(LiveViewDaemon, StaffSeeAMovingMaskedPictureWithinTwoSecondsAndItIsAudited) {
    LiveDaemon d;
    ASSERT_NO_FATAL_FAILURE(d.start());
    // The worker has the clip open (logged once it has a picture); nobody watches yet.
    ASSERT_TRUE(eventually([&] { return d.log().find("camera hall_cam online") != std::string::npos; }, 20s))
        << d.log();

    EXPECT_EQ(d.get("/api/cameras/hall_cam/live", false)->status, 401);
    EXPECT_EQ(d.get("/api/cameras/hall_cam/frame.jpg", false)->status, 401);
    EXPECT_EQ(d.get("/api/cameras", false)->status, 401);
    auto unknown = d.get("/api/cameras/no_such_cam/live");
    EXPECT_EQ(unknown->status, 404);
    EXPECT_NE(unknown->body.find("没有这个摄像头"), std::string::npos) << unknown->body;
    EXPECT_EQ(json::parse(unknown->body)["error"].get<std::string>().find("no_such_cam"), std::string::npos)
        << "no config id on a staff screen";
    auto list = d.get("/api/cameras");
    ASSERT_EQ(list->status, 200);
    EXPECT_EQ(json::parse(list->body)["cameras"][0]["live"], true);

    // Two different pictures within 2 s of asking, from a cold start.
    auto t0 = std::chrono::steady_clock::now();
    auto moving = [](const std::vector<std::string>& f) {
        if (f.size() < 2) return false;
        cv::Mat a = decode(f.front()), b = decode(f.back());
        return !a.empty() && !b.empty() && difference(a, b) > 0.5;
    };
    auto s = read_stream(d.port(), d.cookie(), "/api/cameras/hall_cam/live", t0 + 2s, moving);
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    ASSERT_EQ(s.status, 200);
    EXPECT_EQ(s.content_type, "multipart/x-mixed-replace; boundary=cgframe");
    ASSERT_GE(s.frames.size(), 2u) << "in " << took.count() << " ms";
    EXPECT_TRUE(moving(s.frames)) << s.frames.size() << " pictures, all the same";
    EXPECT_LE(took.count(), 2000);
    cv::Mat first = decode(s.frames.front());
    ASSERT_FALSE(first.empty());
    cv::VideoCapture clip(test_data_dir() + "/video/short_hamilton_clip.mp4");
    double clip_width = clip.get(cv::CAP_PROP_FRAME_WIDTH);
    ASSERT_GT(clip_width, 0);
    EXPECT_EQ(first.cols, int(std::min(640.0, clip_width))) << "scaled down to 640 px at most";
    // The mask (the clip's top-left 100×100 px) is black; the rest of the picture is not.
    int m = int(100 * first.cols / clip_width) - 8;
    double mmax = 0;
    cv::minMaxLoc(first(cv::Rect(0, 0, m, m)).reshape(1), nullptr, &mmax);
    EXPECT_LE(mmax, 12) << "the privacy mask shows through";
    EXPECT_GT(cv::mean(first(cv::Rect(first.cols / 2, 0, first.cols / 2, first.rows)).reshape(1))[0], 10);

    // Who looked at which camera, and when.
    EXPECT_TRUE(eventually([&] {
        return d.query(
                   "SELECT COUNT(*) FROM audit_log WHERE actor='nurse' AND action='camera.live_view' AND "
                   "subject='camera:hall_cam' AND json_extract(detail,'$.via')='mjpeg'") == "1";
    })) << d.query("SELECT actor||' '||action||' '||subject||' '||detail FROM audit_log");
    // A poller's first picture is a look too, audited once, not once per picture.
    auto one = d.get("/api/cameras/hall_cam/frame.jpg");
    ASSERT_EQ(one->status, 200) << one->body;
    EXPECT_EQ(one->get_header_value("Content-Type"), "image/jpeg");
    auto next = d.get("/api/cameras/hall_cam/frame.jpg?after=" + one->get_header_value("X-Frame-Seq"));
    ASSERT_EQ(next->status, 200) << next->body;
    EXPECT_GT(std::stoull(next->get_header_value("X-Frame-Seq")),
              std::stoull(one->get_header_value("X-Frame-Seq")));
    EXPECT_EQ(d.query("SELECT COUNT(*) FROM audit_log WHERE action='camera.live_view' AND "
                      "json_extract(detail,'$.via')='jpeg'"),
              "1");
}

TEST(LiveViewDaemon, AtMostFourStreamsAndTheFifthIsToldWhy) {
    LiveDaemon d;
    ASSERT_NO_FATAL_FAILURE(d.start());
    std::atomic<bool> stop{false};
    std::atomic<int> streaming{0};
    std::vector<std::thread> viewers;
    for (int i = 0; i < 4; ++i)
        viewers.emplace_back([&] {
            bool counted = false;
            read_stream(d.port(), d.cookie(), "/api/cameras/hall_cam/live",
                        std::chrono::steady_clock::now() + 30s, [&](const std::vector<std::string>& f) {
                            if (!f.empty() && !counted) {
                                counted = true;
                                streaming++;
                            }
                            return stop.load();
                        });
        });
    bool all = eventually([&] { return streaming.load() == 4; }, 20s);
    auto fifth = d.get("/api/cameras/hall_cam/live");
    stop = true;
    for (auto& t : viewers) t.join();
    ASSERT_TRUE(all) << streaming.load() << " streams\n" << d.log();
    ASSERT_TRUE(fifth);
    EXPECT_EQ(fifth->status, 503);
    EXPECT_NE(fifth->body.find("实时画面连接数已满"), std::string::npos) << fifth->body;
    EXPECT_NE(fifth->body.find("\"code\":\"live_view_full\""), std::string::npos) << fifth->body;
    // The viewers left: their slots come back (the next write to a closed socket ends each stream).
    EXPECT_TRUE(eventually(
        [&] {
            auto r = read_stream(d.port(), d.cookie(), "/api/cameras/hall_cam/live",
                                 std::chrono::steady_clock::now() + 3s,
                                 [](const std::vector<std::string>& f) { return !f.empty(); });
            return r.status == 200 && !r.frames.empty();
        },
        15s));
}

TEST(LiveViewDaemon, ASiteWithACameraInAPrivateZoneIsRefused) {
    LiveDaemon d("  - {id: bath_cam, source: " + test_data_dir() +
                 "/video/short_hamilton_clip.mp4, zone: bath, loop: true}\n");
    std::string out;
    EXPECT_NE(run(caregate_bin() + " check-config " + d.config(), &out), 0) << out;
    EXPECT_NE(out.find("private"), std::string::npos) << out;
    Process daemon({caregate_bin(), "run", "--config", d.config()}, "");
    int rc = daemon.wait(20s);
    EXPECT_NE(rc, 0) << "the daemon must not run, let alone serve bath_cam";
    EXPECT_NE(rc, -1) << "it must exit, not keep running";
}
