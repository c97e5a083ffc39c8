// The door end to end: the real daemon watching a video of an enrolled elder at the entrance, a
// real Modbus TCP thermometer (our simulator, driven by the test) or a radiometric thermal camera
// (16-bit frames written by the test), and the decisions the door shows, read back from the kiosk's
// door API and the store.
#include <gtest/gtest.h>
#include <httplib.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <atomic>
#include <functional>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <thread>

#include "config/config.hpp"
#include "controller/city/outbox.hpp"
#include "controller/people/checkins.hpp"
#include "controller/people/occupancy.hpp"
#include "devices/simulator.hpp"
#include "tests/controller/daemon_rig.hpp"
#include "tests/support/door_frames.hpp"
#include "tests/support/test_support.hpp"
#include "vision/face_engine.hpp"

using namespace caregate;
using namespace caregate::testing;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::string faces_dir() { return test_data_dir() + "/faces"; }
// The shipped default recognition model.
std::string model_path() { return models_dir() + "/mobilefacenet/MobileFaceNet.tflite"; }

struct Options {
    std::string extra_yaml;  // appended to the site config
    int capacity = 40;
    bool modbus_thermometer = true;
    std::string thermal_yaml;       // a `thermal:` block for the door camera
    std::string role = "entrance";  // the camera's role (canteen: a face takes a meal)
};

class Door {
public:
    explicit Door(const Options& o) : opt_(o) {
        write_file(dir_.file("face.key"), std::string(32, 'k'));
        ::chmod(dir_.file("face.key").c_str(), 0600);
        // The elder walks in: a clip of a photo the gallery has never seen (liveness is off here;
        // the blink check has its own tests).
        cv::Mat frame = door_frame("obama_2.jpg");
        cv::VideoWriter w(dir_.file("door.avi"), cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 5,
                          frame.size());
        EXPECT_TRUE(w.isOpened());
        for (int i = 0; i < 10; ++i) w.write(frame);
        w.release();
        write_file(dir_.file("site.yaml"), yaml());
        cfg_ = config::load_config(dir_.file("site.yaml"));
        elder_ = add_elder(R"({"name":"张桂英","gender":"女","birth_date":"1948-05-02"})");
        cli("elders --config " + dir_.file("site.yaml") + " consent " + std::to_string(elder_) +
            " --consent-by 李主任");
        cli("face enroll --config " + dir_.file("site.yaml") + " --elder " + std::to_string(elder_) +
            " --consent-by 李主任 " + faces_dir() + "/obama_1.jpg");
    }
    ~Door() {
        daemon_.reset();
        if (sim_) sim_->stop();
    }

    std::string yaml() const {
        std::string y =
            "site: {id: door-e2e, name: 测试中心}\n"
            "store: {path: " +
            dir_.file("cg.db") + "}\nkiosk: {port: " + std::to_string(kiosk_port_) +
            "}\n"
            "mqtt: {enabled: false}\n"
            "face: {enabled: true, liveness: false, key_file: " +
            dir_.file("face.key") + ", recognition_model: " + model_path() +
            "}\n"
            "zones: [{id: hall, name: 活动大厅, capacity: " +
            std::to_string(opt_.capacity) +
            "}]\n"
            "cameras:\n"
            "  - {id: door, source: " +
            dir_.file("door.avi") + ", zone: hall, role: " + opt_.role + ", faces: true, loop: true, fps: 5" +
            (opt_.thermal_yaml.empty() ? "" : ", thermal: " + opt_.thermal_yaml) + "}\n";
        if (opt_.modbus_thermometer)
            y += "buses:\n"
                 "  - id: door_bus\n"
                 "    type: tcp\n"
                 "    host: 127.0.0.1\n"
                 "    port: " +
                 std::to_string(modbus_port_) +
                 "\n"
                 "    response_timeout_ms: 200\n"
                 "    devices:\n"
                 "      - {id: thermo, kind: ir_thermometer, zone: hall, unit_id: 1, poll_ms: 100, "
                 "max_silence_s: "
                 "2,\n"
                 "         points: [{table: input_registers, address: 15, scale: 0.1, meaning: "
                 "temperature}]}\n";
        return y + opt_.extra_yaml;
    }

    int64_t add_elder(const std::string& j) {
        std::string out = cli("elders --config " + dir_.file("site.yaml") + " add '" + j + "'");
        return std::stoll(out);
    }

    std::string cli(const std::string& args) {
        std::string out;
        int rc = run(caregate_bin() + " " + args, &out);
        EXPECT_EQ(rc, 0) << args << "\n" << out;
        return out;
    }

    // The simulator binds a port of the kernel's choosing; the site config is then pointed at it.
    void start_simulator() {
        sim_cfg_ = cfg_;  // the simulator keeps a reference to it
        for (auto& b : sim_cfg_.buses) b.port = 0;
        sim_ = std::make_unique<devices::Simulator>(sim_cfg_);
        sim_->start();
        modbus_port_ = sim_->tcp_port("door_bus");
        write_file(dir_.file("site.yaml"), yaml());
    }
    void start_daemon() {
        daemon_ = std::make_unique<Process>(
            std::vector<std::string>{caregate_bin(), "run", "--config", dir_.file("site.yaml")},
            dir_.file("log"));
        kiosk_port_ = kiosk_port(dir_.file("log"));
        ASSERT_GT(kiosk_port_, 0) << read_file(dir_.file("log"));
        // The test reads the door as a paired door screen does.
        std::string code = cli("door pair --config " + dir_.file("site.yaml") + " --name 测试门口屏");
        code = code.substr(0, code.find('\n'));
        httplib::Client c("127.0.0.1", kiosk_port_);
        auto r = c.Post("/api/door/pair", json{{"code", code}}.dump(), "application/json");
        ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "no answer");
        std::string set = r->get_header_value("Set-Cookie");
        door_cookie_ = set.substr(0, set.find(';'));
    }

    // The box runs with the simulator's thermometer reading nobody; the elder walks in and the door,
    // having recognised them, asks for the forehead. Returns that "measure" decision.
    json elder_at_the_thermometer() {
        start_simulator();
        start_daemon();
        return wait_for(reason("measure"));
    }

    // The door's newest decision, as /door shows it.
    json last() {
        httplib::Client c("127.0.0.1", kiosk_port_);
        auto r = c.Get("/api/door/state", {{"Cookie", door_cookie_}});
        if (!r || r->status != 200) return nullptr;
        return json::parse(r->body)["last"];
    }
    // Waits for a decision that satisfies `want`; fails with the log when none comes.
    json wait_for(const std::function<bool(const json&)>& want, std::chrono::seconds limit = 30s) {
        auto until = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < until) {
            json l = last();
            if (!l.is_null() && want(l)) return l;
            std::this_thread::sleep_for(50ms);
        }
        ADD_FAILURE() << "no such door decision; last: " << last().dump() << "\n"
                      << read_file(dir_.file("log"));
        return nullptr;
    }
    static std::function<bool(const json&)> reason(const std::string& r) {
        return [r](const json& l) { return l["reason"] == r; };
    }

    // One-column, one-row answers from the store (read-only, beside the running daemon).
    std::string query(const std::string& sql) { return query_db(dir_.file("cg.db"), sql); }

    TempDir dir_;
    Options opt_;
    config::SiteConfig cfg_, sim_cfg_;
    int kiosk_port_ = 0;     // 0 in the config: the daemon binds any port and logs it
    int modbus_port_ = 502;  // until the simulator has bound one
    int64_t elder_ = 0;
    std::string door_cookie_;  // cg_door=… of the paired screen
    std::unique_ptr<devices::Simulator> sim_;
    std::unique_ptr<Process> daemon_;
};

}  // namespace

TEST(DoorEndToEnd, NormalTemperatureFromTheModbusThermometerLetsTheElderIn) {
    Door d({});
    // Nobody at the thermometer yet: the door greets the recognised elder and asks for the forehead.
    auto m = d.elder_at_the_thermometer();
    ASSERT_FALSE(m.is_null());
    EXPECT_NE(m["message"].get<std::string>().find("张"), std::string::npos) << m.dump();
    d.sim_->set_temperature("thermo", 36.6);
    auto a = d.wait_for([](const json& l) { return l["decision"] == "allow"; });
    ASSERT_FALSE(a.is_null());
    EXPECT_DOUBLE_EQ(a["temperature"].get<double>(), 36.6);
    EXPECT_NE(a["message"].get<std::string>().find("36.6℃，请进"), std::string::npos) << a.dump();
    EXPECT_EQ(d.query("SELECT temperature FROM checkins WHERE direction='in'"), "36.6");
    EXPECT_EQ(d.query("SELECT COUNT(*) FROM alarms"), "0");
}

TEST(DoorEndToEnd, FeverIsMeasuredTwiceThenRefusedWithAnAlarm) {
    Door d({});
    ASSERT_FALSE(d.elder_at_the_thermometer().is_null());
    d.sim_->set_temperature("thermo", 38.0);
    auto r = d.wait_for(Door::reason("fever_first"));
    ASSERT_FALSE(r.is_null());
    EXPECT_EQ(r["decision"], "remeasure");
    d.sim_->set_temperature("thermo", 38.1);  // the automatic second measurement
    auto f = d.wait_for(Door::reason("fever"));
    ASSERT_FALSE(f.is_null());
    EXPECT_EQ(f["decision"], "refuse");
    EXPECT_EQ(d.query("SELECT COUNT(*) FROM checkins"), "0");
    EXPECT_EQ(d.query("SELECT kind || ':' || state FROM alarms"), "fever:raised");
    EXPECT_NE(d.query("SELECT detail FROM alarms WHERE kind='fever'").find("38.1"), std::string::npos);
    EXPECT_EQ(
        d.query("SELECT group_concat(decision, '>') FROM (SELECT decision FROM door_events ORDER BY id)"),
        "wait>remeasure>refuse");
}

TEST(DoorEndToEnd, AHighFirstReadingThatIsNormalOnReMeasureLetsTheElderIn) {
    Door d({});
    ASSERT_FALSE(d.elder_at_the_thermometer().is_null());
    d.sim_->set_temperature("thermo", 37.6);
    ASSERT_FALSE(d.wait_for(Door::reason("fever_first")).is_null());
    d.sim_->set_temperature("thermo", 36.8);
    auto a = d.wait_for([](const json& l) { return l["decision"] == "allow"; });
    ASSERT_FALSE(a.is_null());
    EXPECT_DOUBLE_EQ(a["temperature"].get<double>(), 36.8);
    EXPECT_EQ(d.query("SELECT COUNT(*) FROM alarms WHERE kind='fever'"), "0");
}

TEST(DoorEndToEnd, AFullHallMakesTheElderWait) {
    Options o;
    o.capacity = 1;
    Door d(o);
    // Someone is already inside the one-place hall (checked in by staff before the door opens).
    int64_t other = d.add_elder(R"({"name":"李福生","gender":"男","card_no":"A1002"})");
    {
        Store store(d.dir_.file("cg.db"));
        SystemClock clock;
        Outbox outbox("door-e2e", "default");
        Occupancy occ(store, clock, d.cfg_);
        CheckinService checkins(store, clock, outbox, occ, 30, "hall");
        CheckIn c;
        c.elder_id = other;
        c.method = "staff";
        c.actor = "王护士";
        ASSERT_TRUE(checkins.record(c));
    }
    ASSERT_FALSE(d.elder_at_the_thermometer().is_null());
    d.sim_->set_temperature("thermo", 36.5);
    auto w = d.wait_for(Door::reason("full"));
    ASSERT_FALSE(w.is_null());
    EXPECT_EQ(w["decision"], "wait");
    EXPECT_NE(w["message"].get<std::string>().find("请稍候"), std::string::npos) << w.dump();
    EXPECT_EQ(d.query("SELECT COUNT(*) FROM checkins WHERE elder_id=" + std::to_string(d.elder_)), "0");
    EXPECT_EQ(d.query("SELECT kind FROM alarms"), "over_capacity");
}

TEST(DoorEndToEnd, ThermometerOfflineFlagsTheElderAsUnmeasured) {
    Door d({});
    d.start_simulator();
    d.sim_->set_offline("thermo", true);  // the thermometer stops answering
    d.start_daemon();
    auto a = d.wait_for([](const json& l) { return l["decision"] == "allow"; });
    ASSERT_FALSE(a.is_null());
    EXPECT_EQ(a["reason"], "unmeasured");
    EXPECT_TRUE(a["unmeasured"].get<bool>());
    EXPECT_NE(a["message"].get<std::string>().find("未测温"), std::string::npos) << a.dump();
    EXPECT_EQ(d.query("SELECT COUNT(*) FROM checkins WHERE direction='in' AND temperature IS NULL"), "1");
}

TEST(DoorEndToEnd, ThermometerOfflineWithTheStaffPolicyWaitsForStaff) {
    Options o;
    o.extra_yaml = "gate: {thermometer_offline_policy: staff}\n";
    Door d(o);
    d.start_simulator();
    d.sim_->set_offline("thermo", true);
    d.start_daemon();
    auto w = d.wait_for(Door::reason("thermometer_offline"));
    ASSERT_FALSE(w.is_null());
    EXPECT_EQ(w["decision"], "wait");
    EXPECT_EQ(d.query("SELECT COUNT(*) FROM checkins"), "0");
}

// The radiometric path: a thermal camera beside the door camera, 4× smaller and shifted, whose
// exporter writes a 16-bit centikelvin PNG five times a second; the face box is mapped by the
// homography.
namespace {
void write_thermal(const std::string& path, const cv::Rect& rgb_face, double face_c) {
    // RGB → thermal: x/4 + 6, y/4 + 3 (the homography in the config below).
    cv::Mat t(120, 160, CV_16UC1, cv::Scalar((22.0 + 273.15) * 100));
    cv::Rect tf(rgb_face.x / 4 + 6, rgb_face.y / 4 + 3, rgb_face.width / 4, rgb_face.height / 4);
    cv::ellipse(t, (tf.tl() + tf.br()) / 2, {tf.width / 2 + 2, tf.height / 2 + 4}, 0, 0, 360,
                cv::Scalar((face_c + 273.15) * 100), cv::FILLED);
    std::string tmp = path + ".tmp.png";
    ASSERT_TRUE(cv::imwrite(tmp, t));
    std::rename(tmp.c_str(), path.c_str());  // the camera never sees half a frame
}
cv::Rect face_box_in_door_frame() {
    vision::FaceEngineOptions o;
    o.embed = false;
    vision::FaceEngine engine(o);
    auto faces = engine.analyze(door_frame("obama_2.jpg"), false);
    EXPECT_EQ(faces.size(), 1u);
    return faces.empty() ? cv::Rect(280, 160, 100, 100) : faces[0].box;
}
// The thermal camera's frame exporter: a new frame every 200 ms until stopped.
class ThermalExporter {
public:
    ThermalExporter(std::string path, double face_c)
        : path_(std::move(path)), box_(face_box_in_door_frame()), face_c_(face_c) {
        write_thermal(path_, box_, face_c_);
        thread_ = std::thread([this] {
            while (running_) {
                std::this_thread::sleep_for(200ms);
                write_thermal(path_, box_, face_c_);
            }
        });
    }
    ~ThermalExporter() { stop(); }
    void stop() {
        running_ = false;
        if (thread_.joinable()) thread_.join();
    }

private:
    std::string path_;
    cv::Rect box_;
    std::atomic<double> face_c_;
    std::atomic<bool> running_{true};
    std::thread thread_;
};
// The door with a thermal camera (and no Modbus thermometer) reading frames from `frames`.
Options thermal_door(const TempDir& frames, const std::string& extra = "") {
    Options o;
    o.modbus_thermometer = false;
    o.thermal_yaml = "{source: " + frames.file("thermal.png") +
                     ", homography: [0.25, 0, 6, 0, 0.25, 3, 0, 0, 1]" + extra + "}";
    return o;
}
}  // namespace

TEST(DoorEndToEnd, ThermalCameraReadsTheForeheadAndLetsANormalElderIn) {
    TempDir frames;
    Door d(thermal_door(frames));
    ThermalExporter exporter(frames.file("thermal.png"), 36.6);
    d.start_daemon();
    auto a = d.wait_for([](const json& l) { return l["decision"] == "allow"; });
    ASSERT_FALSE(a.is_null());
    ASSERT_TRUE(a["temperature"].is_number()) << a.dump();
    EXPECT_NEAR(a["temperature"].get<double>(), 36.6, 0.15);
    EXPECT_EQ(
        d.query("SELECT COUNT(*) FROM checkins WHERE direction='in' AND temperature BETWEEN 36.4 AND 36.8"),
        "1");
}

TEST(DoorEndToEnd, ThermalCameraFeverIsReMeasuredThenRefused) {
    TempDir frames;
    Door d(thermal_door(frames));
    ThermalExporter exporter(frames.file("thermal.png"), 38.4);
    d.start_daemon();
    auto f = d.wait_for(Door::reason("fever"));
    ASSERT_FALSE(f.is_null());
    EXPECT_NEAR(f["temperature"].get<double>(), 38.4, 0.15);
    // (A first frame the thermal camera could not measure would show as a "wait" before.)
    auto seq =
        d.query("SELECT group_concat(decision, '>') FROM (SELECT decision FROM door_events ORDER BY id)");
    EXPECT_TRUE(seq == "remeasure>refuse" || seq == "wait>remeasure>refuse") << seq;
    EXPECT_EQ(d.query("SELECT kind FROM alarms"), "fever");
}

TEST(DoorEndToEnd, AThermalCameraWhoseExporterStoppedIsAnOfflineThermometer) {
    TempDir frames;
    Door d(thermal_door(frames, ", stall_s: 1"));
    ThermalExporter exporter(frames.file("thermal.png"), 36.6);
    exporter.stop();  // the last frame stays on disk, but nothing new comes
    std::this_thread::sleep_for(1500ms);
    d.start_daemon();
    auto a = d.wait_for([](const json& l) { return l["decision"] == "allow"; });
    ASSERT_FALSE(a.is_null());
    EXPECT_EQ(a["reason"], "unmeasured") << "an old picture is not a measurement";
    EXPECT_EQ(d.query("SELECT online FROM devices WHERE id='door.thermal'"), "0");
}

TEST(DoorEndToEnd, ThermalCameraWithoutFramesIsAnOfflineThermometer) {
    Options o;
    o.modbus_thermometer = false;
    TempDir frames;
    o.thermal_yaml = "{source: " + frames.file("missing.png") + ", stall_s: 1}";
    Door d(o);
    d.start_daemon();
    auto a = d.wait_for([](const json& l) { return l["decision"] == "allow"; });
    ASSERT_FALSE(a.is_null());
    EXPECT_EQ(a["reason"], "unmeasured");
    EXPECT_EQ(d.query("SELECT online FROM devices WHERE id='door.thermal'"), "0");
}

// The canteen camera (#17): the enrolled elder's face takes the session's meal once, however many
// frames show them; it is never a check-in; the meal is a 助餐 service record for the city.
TEST(DoorEndToEnd, AFaceAtTheCanteenCameraTakesTheMealOnceAndIsNoCheckIn) {
    Options o;
    o.role = "canteen";
    o.modbus_thermometer = false;
    o.extra_yaml = "meals: {sessions: [{id: lunch, name: 午餐, from: \"00:00\", to: \"24:00\"}]}\n";
    Door d(o);
    d.start_daemon();
    std::string meal_query = "SELECT elder_id || ' ' || session || ' ' || method || ' ' || actor FROM meals";
    EXPECT_TRUE(eventually([&] { return !d.query(meal_query).empty(); }, 30s))
        << read_file(d.dir_.file("log"));
    EXPECT_EQ(d.query(meal_query), std::to_string(d.elder_) + " lunch face 刷脸（door）");
    // The clip loops: the same face keeps being seen, and nothing more is written.
    EXPECT_TRUE(eventually(
        [&] { return d.query("SELECT COUNT(*) FROM cctv_events WHERE label='face'") != "0"; }, 10s));
    EXPECT_EQ(d.query("SELECT COUNT(*) FROM meals"), "1");
    EXPECT_EQ(d.query("SELECT COUNT(*) FROM checkins"), "0") << "a meal is not a check-in";
    EXPECT_EQ(d.query("SELECT COUNT(*) FROM service_records WHERE service='助餐'"), "1");
    EXPECT_EQ(d.query("SELECT COUNT(*) FROM outbox WHERE kind='service' AND json_extract(payload, "
                      "'$.data.meal.method')='face'"),
              "1");
}

// Forgetting a face from the command line reaches the running daemon (#15): within seconds the door
// no longer recognises the elder, their recognition events are gone and other events keep no id.
TEST(DoorEndToEnd, FaceForgottenFromTheCommandLineIsForgottenByTheRunningDaemon) {
    Options o;
    o.modbus_thermometer = false;
    Door d(o);
    d.start_daemon();
    auto seen = d.wait_for([&](const json& l) { return l["elder_name"] == "张桂英"; });
    ASSERT_FALSE(seen.is_null());
    ASSERT_TRUE(eventually(
        [&] {
            return d.query("SELECT COUNT(*) FROM cctv_events WHERE elder_id=" + std::to_string(d.elder_)) !=
                   "0";
        },
        10s));
    std::string out = d.cli("face forget --config " + d.dir_.file("site.yaml") + " --elder " +
                            std::to_string(d.elder_) + " --by 李主任");
    EXPECT_NE(out.find("deleted 1 templates"), std::string::npos) << out;
    EXPECT_EQ(d.query("SELECT COUNT(*) FROM face_templates"), "0");
    EXPECT_EQ(d.query("SELECT COUNT(*) FROM cctv_events WHERE elder_id IS NOT NULL"), "0");
    // The daemon reloads its gallery (its log says so a second time) and then sees a visitor.
    EXPECT_TRUE(eventually(
        [&] {
            std::string log = read_file(d.dir_.file("log"));
            size_t first = log.find("gallery loaded");
            return first != std::string::npos && log.find("gallery loaded", first + 1) != std::string::npos;
        },
        10s))
        << read_file(d.dir_.file("log"));
    int64_t after = seen.value("ts", int64_t(0));  // the decision that named her
    auto stranger = d.wait_for(
        [&](const json& l) { return l.value("ts", int64_t(0)) > after && l.value("elder_name", "") == ""; });
    EXPECT_FALSE(stranger.is_null()) << "the forgotten elder is a visitor now";
    EXPECT_EQ(d.query("SELECT COUNT(*) FROM cctv_events WHERE elder_id IS NOT NULL"), "0");
    EXPECT_EQ(d.query("SELECT COUNT(*) FROM audit_log WHERE action='face.forget' AND actor='李主任'"), "1");
}
