// Faces with real parts: the daemon watching a video of an enrolled elder at an exit camera (check-out)
// and at the entrance with a Modbus thermometer (the gate's offset, and a required temperature); the
// face service's size and sharpness gates on real photos; and a whole door check-in plus an enrollment
// through the kiosk with every MQTT message on the broker (site topics and the city uplink) watched:
// no face template or descriptor ever leaves the box.
#include <gtest/gtest.h>
#include <sodium.h>
#include <sys/stat.h>

#include <cmath>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "config/config.hpp"
#include "controller/city/outbox.hpp"
#include "controller/door/face_service.hpp"
#include "controller/people/checkins.hpp"
#include "controller/people/occupancy.hpp"
#include "controller/people/roster.hpp"
#include "devices/simulator.hpp"
#include "tests/controller/daemon_rig.hpp"
#include "tests/support/door_frames.hpp"
#include "tests/support/mqtt_tap.hpp"
#include "vision/face_engine.hpp"

using namespace caregate;
using namespace caregate::testing;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::string faces_dir() { return test_data_dir() + "/faces"; }
std::string model_path() { return models_dir() + "/mobilefacenet/MobileFaceNet.tflite"; }

// A site whose camera `role` watches a looping clip of obama_2 (never enrolled as such); the elder
// 张桂英 is enrolled from obama_1 with consent. `extra` is appended to the config.
struct FaceSite {
    DaemonRig d;
    int64_t elder = 0;
    std::string extra;
    FaceSite(const std::string& role, std::string extra_yaml) : extra(std::move(extra_yaml)) {
        write_file(d.dir.file("face.key"), std::string(32, 'k'));
        ::chmod(d.dir.file("face.key").c_str(), 0600);
        cv::Mat frame = door_frame("obama_2.jpg");
        cv::VideoWriter w(d.dir.file("cam.avi"), cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 5,
                          frame.size());
        EXPECT_TRUE(w.isOpened());
        for (int i = 0; i < 10; ++i) w.write(frame);
        w.release();
        d.write_config(
            "face: {enabled: true, liveness: false, key_file: " + d.dir.file("face.key") +
            ", recognition_model: " + model_path() +
            "}\nzones: [{id: hall, name: 活动大厅, capacity: 40}]\ncameras:\n  - {id: cam, source: " +
            d.dir.file("cam.avi") + ", zone: hall, role: " + role + ", faces: true, loop: true, fps: 5}\n" +
            extra);
        elder = d.add_elder(R"({"name":"张桂英","gender":"女","birth_date":"1948-05-02"})");
        d.cli("face enroll --config " + d.config_path() + " --elder " + std::to_string(elder) +
              " --consent-by 李主任 " + faces_dir() + "/obama_1.jpg");
    }
};

}  // namespace

// A recognised elder at an `exit` camera is checked out (no gate decision); the head count goes down
// with it.
TEST(ExitCamera, ARecognisedElderIsCheckedOutAndTheHeadCountFalls) {
    FaceSite s("exit", "mqtt: {enabled: false}\n");
    {  // checked in at the front desk this morning
        Store store(s.d.db_path());
        SystemClock clock;
        Outbox outbox("rig", "default");
        auto cfg = config::load_config(s.d.config_path());
        Occupancy occ(store, clock, cfg);
        CheckinService checkins(store, clock, outbox, occ, 30, "hall");
        CheckIn c;
        c.elder_id = s.elder;
        c.method = "staff";
        c.actor = "王护士";
        ASSERT_TRUE(checkins.record(c));
    }
    s.d.start();
    ASSERT_TRUE(eventually(
        [&] { return s.d.query("SELECT COUNT(*) FROM checkins WHERE direction='out'") == "1"; }, 30s))
        << s.d.log();
    EXPECT_EQ(
        s.d.query("SELECT elder_id || ' ' || method || ' ' || camera_id FROM checkins WHERE direction='out'"),
        std::to_string(s.elder) + " face cam");
    EXPECT_EQ(s.d.query("SELECT COUNT(*) FROM door_events"), "0") << "an exit is not a door decision";
    httplib::Client c("127.0.0.1", s.d.port());
    EXPECT_TRUE(eventually([&] {
        auto m = c.Get("/metrics");
        return m && m->body.find("caregate_zone_occupancy{zone=\"hall\"} 0") != std::string::npos;
    })) << "the elder who left is no longer counted";
    EXPECT_EQ(s.d.stop(), 0);
}

namespace {
// The entrance with a Modbus IR thermometer served by the simulator.
struct ThermoDoor {
    config::SiteConfig sim_cfg;
    std::unique_ptr<devices::Simulator> sim;
    std::unique_ptr<FaceSite> site;
    explicit ThermoDoor(const std::string& gate_yaml) {
        const std::string bus =
            "    response_timeout_ms: 200\n    devices:\n      - {id: thermo, kind: ir_thermometer, zone: "
            "hall, "
            "unit_id: 1, poll_ms: 100, points: [{table: input_registers, address: 15, scale: 0.1, meaning: "
            "temperature}]}\n";
        sim_cfg = config::parse_config(
            "site: {id: rig, name: x}\nmqtt: {enabled: false}\nzones: [{id: hall, "
            "name: h}]\nbuses:\n  - id: b1\n    type: tcp\n    host: 127.0.0.1\n"
            "    port: 502\n" +
                bus,
            "sim.yaml");
        sim_cfg.buses[0].port = 0;
        sim = std::make_unique<devices::Simulator>(sim_cfg);
        sim->start();
        site = std::make_unique<FaceSite>("entrance", "mqtt: {enabled: false}\n" + gate_yaml +
                                                          "buses:\n  - id: b1\n    type: tcp\n    host: "
                                                          "127.0.0.1\n    port: " +
                                                          std::to_string(sim->tcp_port("b1")) + "\n" + bus);
    }
    ~ThermoDoor() {
        site.reset();
        sim->stop();
    }
    std::string decisions() {
        return site->d.query(
            "SELECT group_concat(decision || ':' || reason, '>') FROM (SELECT decision, reason FROM "
            "door_events "
            "ORDER BY id)");
    }
};
}  // namespace

// gate.offset_c is added to every reading: 36.9 on the forehead is 37.4 with +0.5 (a fever: measured
// again), and 36.4 is 36.9, let in and stored as such.
TEST(GateOffset, TheSkinToBodyOffsetIsAddedToEveryReading) {
    ThermoDoor door("gate: {offset_c: 0.5}\n");
    auto& d = door.site->d;
    d.start();
    ASSERT_TRUE(eventually([&] { return door.decisions() == "wait:measure"; }, 30s)) << d.log();
    door.sim->set_temperature("thermo", 36.9);
    ASSERT_TRUE(eventually([&] { return door.decisions() == "wait:measure>remeasure:fever_first"; }, 10s))
        << door.decisions() << "\n"
        << d.log();
    door.sim->set_temperature("thermo", 36.4);
    ASSERT_TRUE(
        eventually([&] { return door.decisions() == "wait:measure>remeasure:fever_first>allow:ok"; }, 10s))
        << door.decisions() << "\n"
        << d.log();
    EXPECT_EQ(d.query("SELECT temperature FROM checkins WHERE direction='in'"), "36.9");
    EXPECT_EQ(d.query("SELECT COUNT(*) FROM alarms WHERE kind='fever'"), "0");
    EXPECT_EQ(d.stop(), 0);
}

// gate.require_temperature with no thermometer at all: nobody is let in by face alone; the door asks
// staff to measure. (The default, without it, decides without a reading.)
TEST(GateRequireTemperature, WithoutAThermometerTheDoorWaitsForStaff) {
    FaceSite s("entrance", "mqtt: {enabled: false}\ngate: {require_temperature: true}\n");
    s.d.start();
    ASSERT_TRUE(eventually([&] { return s.d.query("SELECT COUNT(*) FROM door_events") != "0"; }, 30s))
        << s.d.log();
    EXPECT_EQ(s.d.query("SELECT DISTINCT decision || ':' || reason FROM door_events"), "wait:no_thermometer");
    EXPECT_EQ(s.d.query("SELECT COUNT(*) FROM checkins"), "0");
    EXPECT_EQ(s.d.stop(), 0);

    FaceSite plain("entrance", "mqtt: {enabled: false}\n");
    plain.d.start();
    EXPECT_TRUE(eventually([&] { return plain.d.query("SELECT COUNT(*) FROM checkins") == "1"; }, 30s))
        << "without require_temperature the same door lets her in\n"
        << plain.d.log();
    EXPECT_EQ(plain.d.stop(), 0);
}

namespace {
// The face service as a camera thread drives it, on a bus the test reads.
struct Faces {
    TempDir dir;
    config::SiteConfig cfg;
    std::unique_ptr<Store> store;
    SystemClock clock;
    std::unique_ptr<Roster> roster;
    Bus bus;
    std::shared_ptr<Subscription> sub = bus.subscribe("test");
    std::unique_ptr<FaceService> faces;
    int64_t elder = 0;
    explicit Faces(const std::string& face_extra) {
        FaceKey::create(dir.file("face.key"));
        write_file(dir.file("site.yaml"), "site: {id: t, name: x}\nstore: {path: " + dir.file("f.db") +
                                              "}\nmqtt: {enabled: false}\nface: {liveness: false, "
                                              "recognition_model: " +
                                              model_path() + ", key_file: " + dir.file("face.key") +
                                              face_extra + "}\nzones: [{id: hall, name: 大厅}]\n");
        cfg = config::load_config(dir.file("site.yaml"));
        store = std::make_unique<Store>(cfg.store.path);
        roster = std::make_unique<Roster>(*store, clock);
        faces = std::make_unique<FaceService>(cfg, *store, clock, *roster, &bus);
        Elder e;
        e.name = "张桂英";
        elder = roster->save(e, "t").id;
        roster->record_consent(elder, "李主任", "t");
        EXPECT_EQ(faces->enroll_mats(
                      elder, {{"obama_1.jpg", vision::load_image(faces_dir() + "/obama_1.jpg")}}, "t"),
                  1);
    }
    // Five seconds of the same picture at 5 fps; every FaceSeen published.
    std::vector<FaceSeen> watch(const cv::Mat& frame) {
        config::Camera cam;
        cam.id = "door";
        cam.zone = "hall";
        cam.role = "entrance";
        cam.faces = true;
        for (int64_t ts = 1000; ts <= 6000; ts += 200) faces->frame(cam, frame, ts);
        std::vector<FaceSeen> seen;
        while (auto e = sub->next(std::chrono::milliseconds(0)))
            if (std::holds_alternative<FaceSeen>(*e)) seen.push_back(std::get<FaceSeen>(*e));
        return seen;
    }
};
// What the detector makes of a picture, without the quality gate's verdict being embedded.
std::vector<vision::DetectedFace> detect(const cv::Mat& frame, int min_face_px = 60) {
    vision::FaceEngineOptions o;
    o.embed = false;
    o.min_face_px = min_face_px;
    vision::FaceEngine engine(o);
    return engine.analyze(frame, false);
}
}  // namespace

// face.min_face_px: a face narrower than it is never embedded — no elder, and no visitor either —
// while one pixel less lets the same picture through.
TEST(FaceQualityGates, AFaceNarrowerThanMinFacePxIsNeitherRecognisedNorAVisitor) {
    cv::Mat frame = door_frame("obama_2.jpg");
    auto found = detect(frame);
    ASSERT_EQ(found.size(), 1u);
    int width = found[0].box.width;
    ASSERT_GT(width, 60);
    {
        Faces f(", min_face_px: " + std::to_string(width));
        auto seen = f.watch(frame);
        ASSERT_EQ(seen.size(), 1u) << "a face exactly min_face_px wide is used";
        ASSERT_TRUE(seen[0].elder_id);
        EXPECT_EQ(*seen[0].elder_id, f.elder);
    }
    {
        Faces f(", min_face_px: " + std::to_string(width + 1));
        EXPECT_EQ(detect(frame, width + 1)[0].reject_reason,
                  "face too small (" + std::to_string(width) + " px)");
        EXPECT_TRUE(f.watch(frame).empty()) << "a face below min_face_px is not even a visitor";
    }
}

// face.min_sharpness: a blurred picture of the same elder is found by the detector but refused as
// too blurred, so it is never matched; the sharp picture is.
TEST(FaceQualityGates, ABlurredFaceBelowMinSharpnessIsNeverMatched) {
    cv::Mat sharp = door_frame("obama_2.jpg"), blurred;
    cv::GaussianBlur(sharp, blurred, {0, 0}, 2.5);
    auto found = detect(blurred);
    ASSERT_EQ(found.size(), 1u) << "the blurred face is still found";
    EXPECT_EQ(found[0].reject_reason, "too blurred");
    ASSERT_EQ(detect(sharp).size(), 1u);
    EXPECT_EQ(detect(sharp)[0].reject_reason, "");
    Faces f("");
    EXPECT_TRUE(f.watch(blurred).empty()) << "a blurred face is not matched, nor taken for a visitor";
    auto seen = f.watch(sharp);
    ASSERT_EQ(seen.size(), 1u);
    ASSERT_TRUE(seen[0].elder_id);
    EXPECT_EQ(*seen[0].elder_id, f.elder);
}

namespace {
// Every key of a JSON value, at any depth.
void keys(const json& j, std::vector<std::string>& out) {
    if (j.is_object())
        for (auto& [k, v] : j.items()) out.push_back(k), keys(v, out);
    else if (j.is_array())
        for (auto& v : j) keys(v, out);
}
// Every number of a JSON value, and the longest array of numbers.
void numbers(const json& j, std::vector<double>& out, size_t& longest) {
    if (j.is_number()) out.push_back(j.get<double>());
    if (j.is_array()) {
        size_t n = 0;
        for (auto& v : j) n += v.is_number() ? 1 : 0;
        longest = std::max(longest, n);
    }
    if (j.is_structured())
        for (auto& v : j) numbers(v, out, longest);
}
std::string b64(const std::string& bytes) {
    std::string out(sodium_base64_encoded_len(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
    sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                      bytes.size(), sodium_base64_VARIANT_ORIGINAL);
    out.resize(out.size() - 1);
    return out;
}
std::string hex(const std::string& bytes) {
    static const char* d = "0123456789abcdef";
    std::string out;
    for (unsigned char c : bytes) out += d[c >> 4], out += d[c & 15];
    return out;
}
}  // namespace

// Face data never leaves the box: during a door check-in and an enrollment through the kiosk, every
// message on the broker (the site topics and the city uplink, which share it here) is read. None has a
// key like descriptor/template/embedding, none carries the stored templates (base64 or hex), the
// photo, a descriptor's bytes, or any of its values, nor an array of numbers as long as a descriptor.
TEST(FacePrivacy, NoTemplateOrDescriptorIsEverPublishedOnMqttOrToTheCity) {
    Mosquitto broker;
    FaceSite s("entrance",
               "mqtt: {uri: '" + broker.uri() + "'}\ncity: {enabled: true, uri: '" + broker.uri() + "'}\n");
    MqttTap tap(broker.uri(), "#");
    s.d.start();
    auto admin = s.d.login("boss", "admin");
    int64_t other = s.d.add_elder(R"({"name":"李福生","gender":"男","birth_date":"1944-01-09"})");
    std::string photo = read_file(faces_dir() + "/biden_1.jpg");
    {
        httplib::Client c("127.0.0.1", s.d.port());
        httplib::MultipartFormDataItems items{{"photo", photo, "biden_1.jpg", "image/jpeg"}};
        auto r = c.Post("/api/elders/" + std::to_string(other) + "/enroll",
                        {{"Cookie", admin.cookie}, {"X-CSRF-Token", admin.csrf}}, items);
        ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "no answer");
    }
    // The door lets 张桂英 in (no thermometer here), and everything queued for the city is acknowledged.
    ASSERT_TRUE(eventually(
        [&] { return s.d.query("SELECT COUNT(*) FROM checkins WHERE method='face'") == "1"; }, 30s))
        << s.d.log();
    ASSERT_TRUE(eventually(
        [&] { return s.d.query("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL") == "0"; }, 15s))
        << s.d.log();
    ASSERT_TRUE(tap.wait_for([](const MqttMessage& m) { return m.topic == "caregate/rig/checkin"; }));
    ASSERT_TRUE(tap.wait_for([](const MqttMessage& m) { return m.topic == "city/default/rig/checkin"; }));
    EXPECT_EQ(s.d.stop(), 0);
    auto messages = tap.messages();

    // What must not appear: the stored templates, the photo, and the descriptors of every face seen.
    std::vector<std::string> secrets;
    for (auto& t : {s.d.query("SELECT hex(ciphertext) FROM face_templates"),
                    s.d.query("SELECT hex(nonce) FROM face_templates")}) {
        std::istringstream in(t);
        for (std::string h; std::getline(in, h, ',');) {
            std::string bytes;
            for (size_t i = 0; i + 1 < h.size(); i += 2)
                bytes += char(std::stoi(h.substr(i, 2), nullptr, 16));
            secrets.push_back(b64(bytes).substr(0, 24));
            secrets.push_back(hex(bytes).substr(0, 32));
        }
    }
    ASSERT_EQ(secrets.size(), 8u) << "two templates, each a nonce and a ciphertext";
    secrets.push_back(b64(photo.substr(0, 300)).substr(0, 40));
    vision::FaceEngineOptions o;
    o.recognition_model = model_path();
    vision::FaceEngine engine(o);
    std::vector<float> values;
    size_t dim = 0;
    for (auto& img : {vision::load_image(faces_dir() + "/obama_1.jpg"),
                      vision::load_image(faces_dir() + "/biden_1.jpg"), door_frame("obama_2.jpg")}) {
        auto f = engine.analyze(img);
        ASSERT_EQ(f.size(), 1u);
        ASSERT_TRUE(f[0].descriptor);
        auto& v = *f[0].descriptor;
        dim = v.size();
        std::string bytes(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
        secrets.push_back(b64(bytes).substr(0, 24));
        secrets.push_back(hex(bytes).substr(0, 32));
        values.insert(values.end(), v.begin(), v.end());
    }
    ASSERT_GE(messages.size(), 4u);
    for (auto& m : messages) {
        for (auto& secret : secrets)
            EXPECT_EQ(m.payload.find(secret), std::string::npos) << m.topic << " " << m.payload;
        auto j = json::parse(m.payload, nullptr, false);
        if (j.is_discarded()) continue;  // "online"/"offline"
        std::vector<std::string> ks;
        keys(j, ks);
        for (auto k : ks) {
            for (auto& c : k) c = char(std::tolower(static_cast<unsigned char>(c)));
            for (const char* bad : {"descriptor", "template", "embedding", "feature", "vector"})
                EXPECT_EQ(k.find(bad), std::string::npos) << m.topic << " has key " << k;
        }
        std::vector<double> nums;
        size_t longest = 0;
        numbers(j, nums, longest);
        EXPECT_LT(longest, dim) << m.topic << " carries an array of " << longest << " numbers";
        for (double x : nums)
            for (float v : values)
                EXPECT_FALSE(std::abs(v) > 1e-4f && float(x) == v)
                    << m.topic << " carries descriptor value " << v;
    }
}
