// Face recognition on real photos (tests/data/faces): separation, identification, enrollment,
// bad input, liveness and the CLI contracts.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

#include "config/config.hpp"
#include "controller/core/heartbeat.hpp"
#include "controller/core/log.hpp"
#include "controller/door/face_service.hpp"
#include "tests/support/door_frames.hpp"
#include "tests/support/staff_words.hpp"
#include "tests/support/test_support.hpp"
#include "tests/vision/tflite_reference.hpp"
#include "vision/face_engine.hpp"
#include "vision/gallery.hpp"
#include "vision/liveness.hpp"
#include "vision/tflite_net.hpp"
#include "vision/track_vote.hpp"

using namespace caregate;
using namespace caregate::testing;
namespace fs = std::filesystem;

namespace {

std::string model_path() {
    std::string dat = models_dir() + "/dlib_face_recognition_resnet_model_v1.dat";
    if (!fs::exists(dat)) {
        std::string src = models_dir() + "/face-api";
        if (!fs::exists(src + "/face_recognition_model-weights_manifest.json"))
            throw std::runtime_error("face weights missing in " + src +
                                     ": run scripts/setup (scripts/fetch-models)");
        vision::import_face_weights(src, dat);
    }
    return dat;
}

// The shipped default recognition model (scripts/fetch-models).
std::string mobilefacenet_path() {
    std::string f = models_dir() + "/mobilefacenet/MobileFaceNet.tflite";
    if (!fs::exists(f)) throw std::runtime_error(f + " missing: run scripts/setup (scripts/fetch-models)");
    return f;
}

std::string faces_dir() { return test_data_dir() + "/faces"; }
std::string identity(const std::string& file) {
    std::string stem = fs::path(file).stem().string();
    std::smatch m;
    std::regex re("^(.*)_[0-9]+(_.*)?$");
    return std::regex_match(stem, m, re) ? m[1].str() : stem;
}

// Every photo analysed once per test binary.
const std::map<std::string, std::vector<vision::DetectedFace>>& analysed() {
    static std::map<std::string, std::vector<vision::DetectedFace>> all = [] {
        vision::FaceEngineOptions o;
        o.recognition_model = model_path();
        vision::FaceEngine engine(o);
        std::map<std::string, std::vector<vision::DetectedFace>> m;
        for (auto& f : fs::directory_iterator(faces_dir())) {
            auto ext = f.path().extension().string();
            if (ext != ".jpg" && ext != ".png") continue;
            m[f.path().filename().string()] = engine.analyze(vision::load_image(f.path().string()));
        }
        return m;
    }();
    return all;
}

// Measured here: same-person pairs 0.06–0.42 except alex_lacamoire_1/2 at 0.52 — dlib's own float
// model gives that pair 0.52 too (see ConvertedWeightsAgreeWithDlibsOfficialModel), so it is the
// photos, not the conversion; different-person pairs ≥ 0.73. The match threshold is 0.6.
TEST(Faces, SamePersonBelowThresholdDifferentAbovePoint65) {
    ASSERT_TRUE(fs::exists(faces_dir())) << "missing test photos in " << faces_dir();
    std::vector<std::pair<std::string, vision::Descriptor>> singles;
    for (auto& [file, faces] : analysed()) {
        if (file.rfind("group", 0) == 0) continue;
        ASSERT_EQ(faces.size(), 1u) << file;
        ASSERT_TRUE(faces[0].descriptor) << file;
        singles.emplace_back(file, *faces[0].descriptor);
    }
    ASSERT_GE(singles.size(), 10u);
    int same = 0, diff = 0;
    for (size_t i = 0; i < singles.size(); ++i)
        for (size_t j = i + 1; j < singles.size(); ++j) {
            double d = vision::distance(singles[i].second, singles[j].second);
            if (identity(singles[i].first) == identity(singles[j].first)) {
                EXPECT_LT(d, 0.55) << singles[i].first << " vs " << singles[j].first;
                same++;
            } else {
                EXPECT_GT(d, 0.65) << singles[i].first << " vs " << singles[j].first;
                diff++;
            }
        }
    EXPECT_GT(same, 4);
    EXPECT_GT(diff, 20);
}

// MobileFaceNet, the default model: the OpenCV DNN net built from the TFLite file computes what a
// plain-loop interpreter of the same file computes, on a real aligned face.
TEST(MobileFaceNet, ConvertedNetAgreesWithAPlainReferenceInterpreter) {
    auto img = vision::load_image(faces_dir() + "/obama_1.jpg");
    auto& face = analysed().at("obama_1.jpg").at(0);
    cv::Mat chip = vision::align_arcface_112(img, vision::five_points_from_68(face.landmarks));
    ASSERT_EQ(chip.size(), cv::Size(112, 112));
    vision::TfliteEmbedder net(mobilefacenet_path());
    ASSERT_EQ(net.dim(), 192);
    auto ours = net.embed({chip}).at(0);
    std::vector<float> input;
    for (int y = 0; y < 112; ++y)
        for (int x = 0; x < 112; ++x)
            for (int c = 0; c < 3; ++c)
                input.push_back((float(chip.at<cv::Vec3b>(y, x)[c]) - 127.5f) / 128.f);
    auto ref = vision::tflite_reference::run(vision::tflite::read_model(mobilefacenet_path()), input, 1);
    ASSERT_EQ(ref.size(), 192u);
    double n = 0;
    for (float v : ref) n += double(v) * v;
    n = std::sqrt(n);
    ASSERT_GT(n, 0);
    double worst = 0;
    for (size_t i = 0; i < 192; ++i) worst = std::max(worst, std::abs(double(ours[i]) - ref[i] / n));
    EXPECT_LT(worst, 1e-4) << "largest difference from the reference interpreter";
}

// MobileFaceNet against TensorFlow Lite itself. The test above shares our flatbuffer reader with the
// net it checks, so a misreading of the file would agree with itself; here TFLite's own runtime
// (its WebAssembly build from npm @tensorflow/tfjs-tflite, pinned in tests/vision/tflite-runtime)
// runs the same file on every aligned test face, as an Android phone would.
TEST(MobileFaceNet, ConvertedNetAgreesWithTheTfliteRuntime) {
    TempDir dir;
    vision::TfliteEmbedder net(mobilefacenet_path());
    std::vector<std::string> files;
    std::vector<std::vector<float>> ours;
    std::vector<float> input;
    for (auto& [file, faces] : analysed()) {
        if (file.rfind("group", 0) == 0 || faces.size() != 1) continue;
        cv::Mat chip = vision::align_arcface_112(vision::load_image(faces_dir() + "/" + file),
                                                 vision::five_points_from_68(faces[0].landmarks));
        ASSERT_EQ(chip.size(), cv::Size(112, 112)) << file;
        files.push_back(file);
        ours.push_back(net.embed({chip}).at(0));
        for (int y = 0; y < 112; ++y)
            for (int x = 0; x < 112; ++x)
                for (int c = 0; c < 3; ++c)
                    input.push_back((float(chip.at<cv::Vec3b>(y, x)[c]) - 127.5f) / 128.f);
    }
    ASSERT_GE(files.size(), 10u);
    {
        std::ofstream in(dir.file("in.f32"), std::ios::binary);
        in.write(reinterpret_cast<const char*>(input.data()), std::streamsize(input.size() * sizeof(float)));
    }
    std::string log;
    int rc =
        run(std::string(CAREGATE_NODE) + " " + source_dir() + "/tests/vision/tflite-runtime/run-model.cjs " +
                mobilefacenet_path() + " " + dir.file("in.f32") + " " + dir.file("out.f32"),
            &log);
    ASSERT_EQ(rc, 0) << log;
    std::ifstream out(dir.file("out.f32"), std::ios::binary);
    std::vector<float> theirs(files.size() * 192);
    out.read(reinterpret_cast<char*>(theirs.data()), std::streamsize(theirs.size() * sizeof(float)));
    ASSERT_EQ(size_t(out.gcount()), theirs.size() * sizeof(float)) << "TFLite wrote too few outputs\n" << log;
    for (size_t f = 0; f < files.size(); ++f) {
        const float* t = theirs.data() + f * 192;
        double n = 0;
        for (size_t i = 0; i < 192; ++i) n += double(t[i]) * t[i];
        n = std::sqrt(n);
        ASSERT_GT(n, 0) << files[f];
        double worst = 0;
        for (size_t i = 0; i < 192; ++i) worst = std::max(worst, std::abs(double(ours[f][i]) - t[i] / n));
        EXPECT_LT(worst, 1e-4) << files[f] << ": largest difference from TFLite's own output";
    }
}

// Same person below the model's calibrated threshold, different people clearly above it.
TEST(MobileFaceNet, SamePersonBelowTheThresholdDifferentPeopleWellAbove) {
    vision::FaceEngineOptions o;
    o.recognition_model = mobilefacenet_path();
    vision::FaceEngine engine(o);
    EXPECT_EQ(engine.model_id(), "mobilefacenet/192");
    std::vector<std::pair<std::string, vision::Descriptor>> singles;
    for (auto& [file, faces] : analysed()) {
        if (file.rfind("group", 0) == 0 || !faces[0].reject_reason.empty()) continue;
        auto d = engine.embed(vision::load_image(faces_dir() + "/" + file), faces[0]);
        ASSERT_EQ(d.size(), 192u);
        singles.emplace_back(file, d);
    }
    ASSERT_GE(singles.size(), 10u);
    double t = engine.default_threshold();
    int same = 0, diff = 0;
    for (size_t i = 0; i < singles.size(); ++i)
        for (size_t j = i + 1; j < singles.size(); ++j) {
            double d = vision::distance(singles[i].second, singles[j].second);
            bool one = identity(singles[i].first) == identity(singles[j].first);
            if (one)
                EXPECT_LT(d, t) << singles[i].first << " vs " << singles[j].first;
            else
                EXPECT_GT(d, t + 0.15) << singles[i].first << " vs " << singles[j].first;
            (one ? same : diff)++;
        }
    EXPECT_GT(same, 4);
    EXPECT_GT(diff, 20);
}

TEST(Faces, GroupPhotoHasTwoFacesMatchingTheirPortraits) {
    auto& all = analysed();
    auto& group = all.at("group_two_people.jpg");
    ASSERT_EQ(group.size(), 2u);
    auto& obama = *all.at("obama_1.jpg")[0].descriptor;
    auto& biden = *all.at("biden_1.jpg")[0].descriptor;
    int matched_obama = 0, matched_biden = 0;
    for (auto& f : group) {
        matched_obama += vision::distance(*f.descriptor, obama) < 0.6;
        matched_biden += vision::distance(*f.descriptor, biden) < 0.6;
    }
    EXPECT_EQ(matched_obama, 1);
    EXPECT_EQ(matched_biden, 1);
}

// The door camera at the shipped detect_width (640, a 640×480 frame searched at its own size): faces
// from 64 px across (as a photo's finer search measures them) are found and pass the quality gate,
// for every test portrait. dlib reports them with boxes of at least ~73 px.
TEST(Faces, ADoorFrameFindsFacesFrom64Px) {
    vision::FaceEngineOptions o;
    o.recognition_model = mobilefacenet_path();
    vision::FaceEngine engine(o);
    ASSERT_EQ(o.detect_width, 640);
    for (auto file :
         {"obama_1.jpg", "obama_2.jpg", "biden_1.jpg", "kit_harington_1.jpg", "rose_leslie_2.jpg"}) {
        cv::Mat photo = vision::load_image(faces_dir() + "/" + file), small;
        auto big = engine.analyze_photo(photo);
        ASSERT_EQ(big.size(), 1u) << file;
        double k = 64.0 / big[0].box.width;
        cv::resize(photo, small, {}, k, k, cv::INTER_AREA);
        cv::Rect part(0, 0, std::min(small.cols, 640), std::min(small.rows, 480));
        cv::Mat frame(480, 640, CV_8UC3, cv::Scalar(90, 90, 90));  // pasted at its size, not scaled
        small(part).copyTo(
            frame(cv::Rect((640 - part.width) / 2, (480 - part.height) / 2, part.width, part.height)));
        auto faces = engine.analyze(frame);
        ASSERT_EQ(faces.size(), 1u) << file << ": a 64 px face in a 640×480 door frame was not found";
        EXPECT_EQ(faces[0].reject_reason, "") << file;
        EXPECT_TRUE(faces[0].descriptor) << file;
    }
}

// A group photo from a phone: an elder's face of ~70 px in a 1600-px picture. Camera frames are
// searched at detect_width (fast), photos at the scale that finds faces down to 40 px.
TEST(Faces, APhotoFindsFacesDownToMinFacePx) {
    vision::FaceEngineOptions o;
    o.recognition_model = model_path();
    vision::FaceEngine engine(o);
    cv::Mat portrait = vision::load_image(faces_dir() + "/obama_1.jpg");
    auto big = engine.analyze_photo(portrait);
    ASSERT_EQ(big.size(), 1u);
    double k = 72.0 / big[0].box.width;  // the face becomes ~72 px wide
    cv::Mat small;
    cv::resize(portrait, small, {}, k, k, cv::INTER_AREA);
    cv::Mat group(1200, 1600, CV_8UC3, cv::Scalar(110, 120, 130));
    small.copyTo(group(cv::Rect(700, 500, small.cols, small.rows)));
    EXPECT_TRUE(engine.analyze(group).empty()) << "at detect_width 640 a 72 px face is 29 px: not found";
    auto found = engine.analyze_photo(group);
    ASSERT_EQ(found.size(), 1u);
    EXPECT_NEAR(found[0].box.width, 72, 16);
    EXPECT_GE(found[0].box.x, 700);
    EXPECT_LE(found[0].box.x + found[0].box.width, 700 + small.cols + 2);
    EXPECT_EQ(found[0].reject_reason, "") << "72 px passes min_face_px 60";
}

// Sharpness is judged at about the size the model sees, not at the photo's own: the same face taken
// at 16 times the pixels (a 12 MP phone photo) is not "too blurred" for that; a blurred one still is.
TEST(Faces, ASharpFaceTakenAtManyMorePixelsIsNotCalledBlurred) {
    vision::FaceEngineOptions o;
    o.recognition_model = model_path();
    vision::FaceEngine engine(o);
    cv::Mat portrait = vision::load_image(faces_dir() + "/obama_2.jpg"), big, blurred;
    auto base = engine.analyze_photo(portrait);
    ASSERT_EQ(base.size(), 1u);
    ASSERT_EQ(base[0].reject_reason, "");
    cv::resize(portrait, big, {}, 4, 4, cv::INTER_CUBIC);
    auto found = engine.analyze_photo(big);
    ASSERT_EQ(found.size(), 1u);
    EXPECT_GT(found[0].box.width, 3 * base[0].box.width);
    EXPECT_EQ(found[0].reject_reason, "");
    ASSERT_TRUE(found[0].descriptor);
    EXPECT_LT(vision::distance(*found[0].descriptor, *base[0].descriptor), 0.3) << "the same face";
    cv::GaussianBlur(big, blurred, {0, 0}, 4 * 2.5);
    auto soft = engine.analyze_photo(blurred);
    ASSERT_EQ(soft.size(), 1u);
    EXPECT_EQ(soft[0].reject_reason, "too blurred");
}

// MobileFaceNet's descriptor is taken from the aligned face and its mirror image together, so a
// face and its mirror image (a phone's selfie camera mirrors) come close: measured 0.12–0.15 apart
// for these three, against 0.19–0.25 from the face alone.
TEST(Faces, AFaceAndItsMirrorImageGiveNearlyTheSameDescriptor) {
    vision::FaceEngineOptions o;
    o.recognition_model = mobilefacenet_path();
    vision::FaceEngine engine(o);
    double sum = 0;
    for (const char* file : {"obama_2.jpg", "biden_1.jpg", "kit_harington_1.jpg"}) {
        cv::Mat img = vision::load_image(faces_dir() + "/" + file), mirrored;
        cv::flip(img, mirrored, 1);
        auto a = engine.analyze_photo(img), b = engine.analyze_photo(mirrored);
        ASSERT_EQ(a.size(), 1u) << file;
        ASSERT_EQ(b.size(), 1u) << file;
        ASSERT_TRUE(a[0].descriptor && b[0].descriptor) << file;
        sum += vision::distance(*a[0].descriptor, *b[0].descriptor);
    }
    EXPECT_LT(sum / 3, 0.18);
}

// A clear ID-sized photo (a face of about 46 px) is one staff would call fine: a photo's face passes
// the size check from 40 px, while a door frame keeps face.min_face_px (60).
TEST(Faces, APhotosFaceFrom40PxPassesWhileADoorFrameKeepsMinFacePx) {
    vision::FaceEngineOptions o;
    o.recognition_model = mobilefacenet_path();
    vision::FaceEngine engine(o);
    ASSERT_EQ(o.min_face_px, 60);
    cv::Mat portrait = vision::load_image(faces_dir() + "/obama_1.jpg"), small;
    auto big = engine.analyze_photo(portrait);
    ASSERT_EQ(big.size(), 1u);
    double k = 46.0 / big[0].box.width;
    cv::resize(portrait, small, {}, k, k, cv::INTER_AREA);
    cv::Mat canvas(360, 360, CV_8UC3, cv::Scalar(110, 120, 130));
    ASSERT_LE(small.cols, canvas.cols);
    ASSERT_LE(small.rows, canvas.rows);
    small.copyTo(canvas(
        cv::Rect((canvas.cols - small.cols) / 2, (canvas.rows - small.rows) / 2, small.cols, small.rows)));
    auto photo = engine.analyze_photo(canvas);
    ASSERT_EQ(photo.size(), 1u);
    ASSERT_GE(photo[0].box.width, vision::kMinPhotoFacePx);
    ASSERT_LT(photo[0].box.width, 48) << "refused before the limit came down from 48 px";
    ASSERT_LT(photo[0].box.width, 60) << "the face must be between the photo's and the door's limits";
    EXPECT_EQ(photo[0].reject_reason, "");
    EXPECT_TRUE(photo[0].descriptor);
    auto frame = engine.analyze(canvas);
    ASSERT_EQ(frame.size(), 1u);
    EXPECT_EQ(frame[0].reject_reason.rfind("face too small", 0), 0u) << frame[0].reject_reason;
}

// A photo's face may be turned further than a door frame's (kMaxPhotoYaw 0.6 against max_yaw):
// the door can wait for a frontal frame, staff with an old photo cannot. With max_yaw near zero every
// real frame is "not facing the camera", while the same picture as a photo passes.
TEST(Faces, APhotoMayShowTheHeadTurnedFurtherThanADoorFrame) {
    vision::FaceEngineOptions o;
    o.recognition_model = mobilefacenet_path();
    o.max_yaw = 0.01;
    vision::FaceEngine engine(o);
    cv::Mat img = vision::load_image(faces_dir() + "/obama_2.jpg"), frame;
    cv::resize(img, frame, {}, 480.0 / img.rows, 480.0 / img.rows, cv::INTER_AREA);
    auto as_frame = engine.analyze(frame);
    ASSERT_EQ(as_frame.size(), 1u);
    EXPECT_EQ(as_frame[0].reject_reason, "not facing the camera");
    auto as_photo = engine.analyze_photo(frame);
    ASSERT_EQ(as_photo.size(), 1u);
    EXPECT_EQ(as_photo[0].reject_reason, "");
}

TEST(Gallery, MarginMakesCloseCallsAmbiguous) {
    vision::Gallery g;
    vision::Descriptor a(128), b(128), q(128);
    a[0] = 0.0f;
    b[0] = 0.5f;
    q[0] = 0.24f;  // 0.24 from a, 0.26 from b
    g.add(1, 10, a);
    g.add(2, 20, b);
    auto m = g.match(q, 0.6, 0.05);
    EXPECT_TRUE(m.ambiguous);
    EXPECT_FALSE(m.elder_id);
    EXPECT_FALSE(g.match(q, 0.2, 0.05).ambiguous) << "beyond the threshold it is unknown, not a close call";
    q[0] = 0.1f;
    m = g.match(q, 0.6, 0.05);
    ASSERT_TRUE(m.elder_id);
    EXPECT_EQ(*m.elder_id, 10);
    q[0] = 5.0f;
    EXPECT_FALSE(g.match(q, 0.6, 0.05).elder_id) << "beyond the threshold";
    g.remove_elder(10);
    EXPECT_EQ(g.size(), 1u);
}

// Unit vector along `axes` (axis, weight) pairs in a 192-value descriptor, as MobileFaceNet's are.
vision::Descriptor unit(std::initializer_list<std::pair<int, float>> axes, float scale = 1.0f) {
    vision::Descriptor d(192, 0.0f);
    double n = 0;
    for (auto [axis, w] : axes) d[size_t(axis)] += w;
    for (float x : d) n += double(x) * x;
    for (float& x : d) x = float(x / std::sqrt(n)) * scale;
    return d;
}

// An elder enrolled from photos of two different days: each carries that day's light and pose (axes
// 1 and 2), the face itself is axis 0. A new photo of the same face (axis 3 its own day) is further
// than the threshold from both photos but near their mean, which the gallery compares too; a
// stranger beside one photo gains nothing from the mean. Both scans, after a removal moves the last
// mean into the removed one's place, and after a reload (take) give the same answers.
TEST(Gallery, AnEldersMeanTemplateNamesAFaceBetweenTheirPhotos) {
    const double threshold = 0.80, margin = 0.05;
    auto day1 = unit({{0, 1.0f}, {1, 1.1f}}), day2 = unit({{0, 1.0f}, {2, 1.1f}});
    auto today = unit({{0, 1.0f}, {3, 0.2f}});
    ASSERT_GT(vision::distance(today, day1), threshold);
    ASSERT_GT(vision::distance(today, day2), threshold);
    auto mean = vision::mean_template({&day1, &day2});
    ASSERT_LT(vision::distance(today, mean), threshold - 0.1);
    auto stranger = unit({{1, 1.0f}, {4, 0.9f}});
    ASSERT_GT(vision::distance(stranger, day1), threshold);

    for (bool portable : {false, true}) {
        vision::Gallery g;
        g.use_portable_scan(portable);
        g.add(1, 10, day1);
        EXPECT_FALSE(g.match(today, threshold, margin).elder_id) << "one template: no mean yet";
        g.add(2, 10, day2);
        g.add(3, 20, unit({{5, 1.0f}, {6, 0.3f}}));  // another elder, two photos: a mean of their own
        g.add(4, 20, unit({{5, 1.0f}, {7, 0.3f}}));
        g.add(5, 30, unit({{8, 1.0f}, {11, 1.1f}}));  // as elder 10: named by the mean alone
        g.add(6, 30, unit({{8, 1.0f}, {12, 1.1f}}));
        EXPECT_EQ(g.size(), 6u) << "templates only, not the means";
        auto m = g.match(today, threshold, margin);
        ASSERT_TRUE(m.elder_id) << "portable " << portable << " distance " << m.distance;
        EXPECT_EQ(*m.elder_id, 10);
        EXPECT_NEAR(m.distance, vision::distance(today, mean), 0.002) << "half precision";
        EXPECT_FALSE(g.match(stranger, threshold, margin).elder_id);

        auto near30 = unit({{8, 1.0f}, {13, 0.2f}});
        auto named30 = [&] {
            auto m30 = g.match(near30, threshold, margin);
            return m30.elder_id && *m30.elder_id == 30;
        };
        ASSERT_TRUE(named30());
        g.remove_elder(20);  // elder 30's mean moves into 20's row
        EXPECT_TRUE(named30());
        EXPECT_TRUE(g.match(today, threshold, margin).elder_id);
        g.remove_elder(10);  // and then into 10's
        EXPECT_TRUE(named30());
        auto gone = g.match(today, threshold, margin);
        EXPECT_FALSE(gone.elder_id) << "the removed elder's mean went with their templates";
        EXPECT_NE(gone.best_elder, std::optional<int64_t>(10));

        vision::Gallery fresh;
        fresh.add(1, 10, day1);
        fresh.add(2, 10, day2);
        g.take(fresh);
        EXPECT_EQ(g.size(), 2u);
        ASSERT_TRUE(g.match(today, threshold, margin).elder_id) << "the mean came with the reload";
        EXPECT_FALSE(g.match(near30, threshold, margin).elder_id) << "and the old gallery's went";
        EXPECT_FALSE(fresh.match(today, threshold, margin).elder_id) << "taken: left empty";
        g.clear();
        EXPECT_FALSE(g.match(today, threshold, margin).elder_id);
    }
}

// The runner-up margin counts another elder's mean: a face between two elders' means is a close call.
TEST(Gallery, AnotherEldersMeanIsTheRunnerUp) {
    vision::Gallery g;
    auto a1 = unit({{0, 1.0f}, {1, 0.62f}}), a2 = unit({{0, 1.0f}, {2, 0.62f}});
    auto b1 = unit({{0, 1.0f}, {3, 0.62f}}), b2 = unit({{0, 1.0f}, {4, 0.62f}});
    g.add(1, 10, a1);
    g.add(2, 10, a2);
    g.add(3, 20, b1);
    g.add(4, 20, b2);
    auto m = g.match(unit({{0, 1.0f}}), 0.80, 0.05);
    EXPECT_TRUE(m.ambiguous) << m.distance << " / " << m.second_distance;
    EXPECT_FALSE(m.elder_id);
    EXPECT_LT(m.second_distance, 0.5) << "the runner-up is elder 20's mean, nearer than either photo";
}

// dlib's descriptors are not unit length: the mean keeps its templates' length, so it stays where
// the templates are instead of far from every face.
TEST(Gallery, AMeanTemplateKeepsItsTemplatesLength) {
    auto a = unit({{0, 1.0f}, {1, 0.3f}}, 1.3f), b = unit({{0, 1.0f}, {2, 0.3f}}, 1.2f);
    auto mean = vision::mean_template({&a, &b});
    double n = 0;
    for (float x : mean) n += double(x) * x;
    EXPECT_NEAR(std::sqrt(n), 1.25, 1e-5);
    EXPECT_LT(vision::distance(mean, unit({{0, 1.0f}}, 1.25f)),
              vision::distance(a, unit({{0, 1.0f}}, 1.25f)));
    EXPECT_TRUE(vision::mean_template({}).empty());
}

struct Site {
    TempDir dir;
    config::SiteConfig cfg;
    std::unique_ptr<Store> store;
    ManualClock clock{now_ms()};
    std::unique_ptr<Roster> roster;
    Bus bus;
    std::unique_ptr<FaceService> faces;
    explicit Site(const std::string& extra = "") {
        FaceKey::create(dir.file("face.key"));
        write_file(dir.file("site.yaml"), "site: {id: t, name: x}\nstore: {path: " + dir.file("f.db") +
                                              "}\nmqtt: {enabled: false}\nface: {recognition_model: " +
                                              mobilefacenet_path() + ", key_file: " + dir.file("face.key") +
                                              extra + "}\n" + "zones: [{id: hall, name: 大厅}]\n");
        cfg = config::load_config(dir.file("site.yaml"));
        store = std::make_unique<Store>(cfg.store.path);
        roster = std::make_unique<Roster>(*store, clock);
        faces = std::make_unique<FaceService>(cfg, *store, clock, *roster, &bus);
    }
    int64_t elder(const std::string& name, bool consent = true) {
        Elder e;
        e.name = name;
        auto id = roster->save(e, "t").id;
        if (consent) roster->record_consent(id, "王护士", "t");
        return id;
    }
    // An elder with consent and one photo enrolled.
    int64_t enrolled(const std::string& name, const std::string& photo) {
        auto id = elder(name);
        EXPECT_EQ(enroll(id, {photo}), 1) << photo;
        return id;
    }
    int enroll(int64_t id, const std::vector<std::string>& files) {
        std::vector<std::pair<std::string, cv::Mat>> m;
        for (auto& f : files) m.emplace_back(f, vision::load_image(faces_dir() + "/" + f));
        return faces->enroll_mats(id, m, "t");
    }
};

// Templates are stored as half-precision floats: the scan (AVX2/F16C or plain C++) must find the
// same best and runner-up as an exact float search, within 0.001.
class GalleryScan : public ::testing::TestWithParam<size_t> {};
INSTANTIATE_TEST_SUITE_P(DlibAndMobileFaceNet, GalleryScan, ::testing::Values(size_t(128), size_t(192)));

TEST_P(GalleryScan, HalfPrecisionScanAgreesWithAnExactSearch) {
    const size_t dim = GetParam();
    std::mt19937 rng(11);
    std::normal_distribution<float> nd(0, 0.09f);
    std::vector<std::pair<int64_t, vision::Descriptor>> all;
    vision::Gallery g;
    for (int i = 0; i < 3000; ++i) {
        vision::Descriptor d(dim);
        for (auto& x : d) x = nd(rng);
        all.emplace_back(i / 3, d);
        g.add(i, i / 3, d);
    }
    // The gallery also holds each elder's mean template: so does the exact search.
    for (int e = 0; e < 1000; ++e)
        all.emplace_back(e, vision::mean_template({&all[size_t(3 * e)].second, &all[size_t(3 * e + 1)].second,
                                                   &all[size_t(3 * e + 2)].second}));
    for (int t = 0; t < 20; ++t) {
        // A query near template 3t (its elder is t): a second photo of that person.
        vision::Descriptor q = all[size_t(3 * t)].second;
        for (auto& x : q) x += nd(rng) * 0.2f;
        double best = 1e9, second = 1e9;
        int64_t best_elder = -1;
        for (auto& [e, d] : all) {
            double dist = vision::distance(q, d);
            if (dist < best) {
                if (e != best_elder) second = best;
                best = dist, best_elder = e;
            } else if (e != best_elder && dist < second) {
                second = dist;
            }
        }
        for (bool portable : {false, true}) {
            g.use_portable_scan(portable);
            auto m = g.match(q, 0.6, 0.05);
            EXPECT_EQ(m.best_elder, best_elder) << "portable=" << portable;
            EXPECT_NEAR(m.distance, best, 1e-3) << "portable=" << portable;
            EXPECT_NEAR(m.second_distance, second, 1e-3) << "portable=" << portable;
            EXPECT_EQ(m.elder_id, std::optional<int64_t>(t));
        }
    }
}

TEST(FaceService, IdentifiesHeldBackPhotosAndKeepsStrangersUnknown) {
    Site s;
    EXPECT_DOUBLE_EQ(s.faces->threshold(), 0.80) << "no face.threshold: MobileFaceNet's calibrated value";
    auto obama = s.elder("obama"), biden = s.elder("biden"), kit = s.elder("kit");
    EXPECT_EQ(s.enroll(obama, {"obama_1.jpg", "obama_3_small.jpg"}), 2);
    EXPECT_EQ(s.enroll(biden, {"biden_1.jpg"}), 1);
    EXPECT_EQ(s.enroll(kit, {"kit_harington_1.jpg"}), 1);
    auto who = [&](const std::string& f) {
        auto r = s.faces->identify(vision::load_image(faces_dir() + "/" + f));
        EXPECT_EQ(r.size(), 1u) << f;
        return r.empty() ? std::optional<int64_t>() : r[0].match.elder_id;
    };
    EXPECT_EQ(who("obama_2.jpg"), obama);
    EXPECT_EQ(who("obama_4_240p.jpg"), obama);
    // 0.81 from his one enrolled photo, beyond the default 0.80: with one photo enrolled the door
    // names fewer (docs/face-accuracy.md), which is why enrollment asks for three.
    EXPECT_FALSE(who("biden_2.jpg")) << "biden is elder " << biden;
    EXPECT_EQ(who("kit_harington_2.jpg"), kit);
    EXPECT_FALSE(who("rose_leslie_1.jpg")) << "not enrolled: unknown";
    EXPECT_FALSE(who("alex_lacamoire_1.jpg"));
    // Templates survive a restart (loaded and decrypted from the store).
    FaceService again(s.cfg, *s.store, s.clock, *s.roster, nullptr);
    EXPECT_EQ(again.gallery_size(), 4u);
    // Forget removes the elder from recognition at once.
    EXPECT_EQ(s.faces->forget(obama, "李主任"), 2);
    EXPECT_FALSE(who("obama_2.jpg"));
}

TEST(FaceService, EnrollmentRefusalsSayWhy) {
    Site s;
    auto no_consent = s.elder("x", false);
    auto expect = [&](int64_t id, const std::vector<std::string>& files, const std::string& msg) {
        try {
            s.enroll(id, files);
            FAIL() << msg;
        } catch (const std::invalid_argument& e) {
            EXPECT_NE(std::string(e.what()).find(msg), std::string::npos) << e.what();
        }
    };
    expect(no_consent, {"obama_1.jpg"}, "还没有登记人脸识别的单独同意");
    auto id = s.elder("y");
    // Uploaded bytes that are no JPEG or PNG: an iPhone's HEIC photo is told how to get a JPEG.
    auto upload = [&](const std::string& bytes, const std::string& msg) {
        try {
            s.faces->enroll(id, {bytes}, "t");
            FAIL() << msg;
        } catch (const std::invalid_argument& e) {
            EXPECT_NE(std::string(e.what()).find(msg), std::string::npos) << e.what();
            // The kiosk shows only refusals staff can read; any other word turns it into 填写的内容有误.
            EXPECT_EQ(latin_words(e.what()), "") << e.what();
        }
    };
    upload(std::string("\0\0\0\x18"
                       "ftypheic\0\0\0\0mif1heic",
                       24),
           "第 1 张照片是苹果手机的 HEIC 格式");
    upload("GIF89a not a photo", "第 1 张照片无法读取：请上传手机或相机拍的 JPEG 或 PNG 照片");
    expect(id, {"group_two_people.jpg"}, "照片中有 2 张差不多大的人脸，分不清哪位是老人");
    expect(id, {"obama_1.jpg", "obama_2.jpg", "obama_1.jpg", "obama_2.jpg", "obama_1.jpg", "obama_2.jpg"},
           "1 到 5 张");
    cv::Mat blank(480, 640, CV_8UC3, cv::Scalar(120, 130, 140));
    try {
        s.faces->enroll_mats(id, {{"wall.jpg", blank}}, "t");
        FAIL();
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("wall.jpg：未找到人脸"), std::string::npos) << e.what();
    }
    EXPECT_EQ(s.faces->template_count(id), 0);
}

// Someone small in the background (a passer-by behind the elder) does not spoil an enrollment photo:
// the elder's face, by far the largest, is the one enrolled, and staff are told so.
TEST(FaceService, TheLargestFaceByFarIsTheElderInAnEnrollmentPhoto) {
    Site s;
    auto id = s.elder("y");
    cv::Mat elder;
    cv::resize(vision::load_image(faces_dir() + "/obama_1.jpg"), elder, {}, 1.5, 1.5, cv::INTER_CUBIC);
    cv::Mat passer = vision::load_image(faces_dir() + "/biden_1.jpg");
    cv::Mat small;
    cv::resize(passer, small, {}, 0.55, 0.55, cv::INTER_AREA);
    cv::Mat canvas(elder.rows + small.rows, elder.cols + small.cols, CV_8UC3, cv::Scalar(90, 90, 90));
    elder.copyTo(canvas(cv::Rect(0, small.rows, elder.cols, elder.rows)));
    small.copyTo(canvas(cv::Rect(elder.cols, 0, small.cols, small.rows)));
    ASSERT_EQ(s.faces->identify(canvas).size(), 2u) << "the passer-by's face is found too";
    std::vector<std::string> notes;
    ASSERT_EQ(s.faces->enroll_mats(id, {{"第 1 张照片", canvas}}, "t", false, &notes), 1);
    // Staff are told the smaller face was left out, and that one photo is few.
    ASSERT_EQ(notes.size(), 2u);
    EXPECT_EQ(notes[0], "第 1 张照片：另有 1 张较小的人脸（背景中的人），只录入了最大的一张");
    EXPECT_EQ(notes[1].rfind("目前共有 1 个人脸模板：再录入 2 张不同日子拍的照片", 0), 0u) << notes[1];
    std::vector<std::string> more;
    ASSERT_EQ(s.faces->enroll_mats(id,
                                   {{"a", vision::load_image(faces_dir() + "/obama_2.jpg")},
                                    {"b", vision::load_image(faces_dir() + "/obama_1.jpg")}},
                                   "t", false, &more),
              2);
    EXPECT_TRUE(more.empty()) << "three templates: nothing to add";
    // And it is the elder who is recognised from another photo.
    auto ids = s.faces->identify(vision::load_image(faces_dir() + "/obama_2.jpg"));
    ASSERT_EQ(ids.size(), 1u);
    ASSERT_TRUE(ids[0].match.elder_id);
    EXPECT_EQ(*ids[0].match.elder_id, id);
}

// A daughter beside the elder, her face as large: the face in the middle is enrolled and staff are
// asked to check it is the elder. The same two faces side by side around the middle are refused.
TEST(FaceService, AmongFacesOfALikeSizeTheOneInTheMiddleIsEnrolledAndStaffAreTold) {
    Site s;
    auto id = s.elder("y");
    // Both portraits scaled so that their faces are 200 px wide.
    auto scaled = [&](const std::string& file) {
        cv::Mat img = vision::load_image(faces_dir() + "/" + file);
        auto found = s.faces->identify(img);
        EXPECT_EQ(found.size(), 1u) << file;
        cv::Mat out;
        double k = found.empty() ? 1.0 : 200.0 / found[0].face.box.width;
        cv::resize(img, out, {}, k, k, k < 1 ? cv::INTER_AREA : cv::INTER_CUBIC);
        return out;
    };
    cv::Mat elder = scaled("obama_1.jpg"), daughter = scaled("biden_1.jpg");
    const int w = 3 * std::max(elder.cols, daughter.cols), h = std::max(elder.rows, daughter.rows);
    cv::Mat canvas(h, w, CV_8UC3, cv::Scalar(90, 90, 90));
    elder.copyTo(canvas(cv::Rect((w - elder.cols) / 2, 0, elder.cols, elder.rows)));
    daughter.copyTo(canvas(cv::Rect(0, 0, daughter.cols, daughter.rows)));
    ASSERT_EQ(s.faces->identify(canvas).size(), 2u);
    std::vector<std::string> notes;
    ASSERT_EQ(s.faces->enroll_mats(id, {{"第 1 张照片", canvas}}, "t", false, &notes), 1);
    ASSERT_EQ(notes.size(), 2u);
    EXPECT_EQ(notes[0], "第 1 张照片：照片中有 2 张人脸，录入了正中的一张，请确认是老人本人");
    auto ids = s.faces->identify(vision::load_image(faces_dir() + "/obama_2.jpg"));
    ASSERT_EQ(ids.size(), 1u);
    ASSERT_TRUE(ids[0].match.elder_id) << "the elder in the middle was enrolled, not the one at the side";
    EXPECT_EQ(*ids[0].match.elder_id, id);

    cv::Mat pair(h, 2 * std::max(elder.cols, daughter.cols), CV_8UC3, cv::Scalar(90, 90, 90));
    elder.copyTo(pair(cv::Rect(0, 0, elder.cols, elder.rows)));
    daughter.copyTo(pair(cv::Rect(pair.cols / 2, 0, daughter.cols, daughter.rows)));
    try {
        s.faces->enroll_mats(s.elder("z"), {{"第 1 张照片", pair}}, "t");
        ADD_FAILURE() << "two faces side by side: which one is the elder?";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("分不清哪位是老人"), std::string::npos) << e.what();
    }
}

// Two faces of a like size with neither in the middle: staff are asked which one is the elder (the
// faces' boxes, for the kiosk to draw on the photo), and the face they point at is enrolled, with
// the same checks as any other. A point on no face is refused; nothing is stored until it is right.
TEST(FaceService, StaffPointAtTheElderAmongFacesOfALikeSize) {
    Site s;
    auto obama = s.elder("obama");
    std::string bytes = read_file(faces_dir() + "/group_two_people.jpg");
    cv::Mat photo = vision::decode_image(bytes, "group");
    FaceChoiceNeeded asked("", 0, 0, 0, {});
    try {
        s.faces->enroll(obama, {read_file(faces_dir() + "/obama_1.jpg"), bytes}, "t");
        FAIL() << "obama and biden side by side: which one is the elder?";
    } catch (const FaceChoiceNeeded& c) {
        asked = c;
    }
    EXPECT_EQ(asked.photo, 1u) << "the second photo";
    EXPECT_EQ(asked.width, photo.cols);
    EXPECT_EQ(asked.height, photo.rows);
    ASSERT_EQ(asked.faces.size(), 2u);
    EXPECT_NE(std::string(asked.what()).find("第 2 张照片"), std::string::npos) << asked.what();
    EXPECT_EQ(s.faces->template_count(obama), 0) << "nothing stored while a photo is undecided";
    auto centre = [](const FaceBox& b) { return FacePick{b.x + b.width / 2, b.y + b.height / 2}; };
    auto nowhere = FacePick{photo.cols - 2, photo.rows - 2};
    try {
        s.faces->enroll(obama, {bytes}, "t", false, nullptr, {nowhere});
        ADD_FAILURE() << "a point on no face";
    } catch (const FaceChoiceNeeded& c) {
        ADD_FAILURE() << "the point was not looked at: " << c.what();
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("所点的位置没有人脸"), std::string::npos) << e.what();
    }
    // Each face in turn: one of them is obama, whose own photo the door then names.
    int enrolled = 0;
    for (auto& face : asked.faces) {
        auto someone = s.elder("someone");
        std::vector<std::string> notes;
        ASSERT_EQ(s.faces->enroll(someone, {bytes}, "t", false, &notes, {centre(face)}), 1);
        EXPECT_NE(notes.at(0).find("录入了所点选的一张人脸"), std::string::npos) << notes.at(0);
        auto ids = s.faces->identify(vision::load_image(faces_dir() + "/obama_2.jpg"));
        ASSERT_EQ(ids.size(), 1u);
        bool named = ids[0].match.elder_id && *ids[0].match.elder_id == someone;
        enrolled += named;
        s.faces->forget(someone, "t");
        // The face on the left is obama's (biden stands on the right in that photo).
        bool left = face.x < asked.faces[0].x + asked.faces[1].x - face.x;
        EXPECT_EQ(named, left) << "the face pointed at is the one enrolled";
    }
    EXPECT_EQ(enrolled, 1);
}

// A phone stores a portrait photo as a landscape picture plus an EXIF note "turn me"; the kiosk
// uploads the file as it is. The photo must reach the detector upright, or the elder's face is
// "not found" however often staff take it again.
TEST(FaceInput, APhoneJpegIsTurnedAsItsExifOrientationSays) {
    cv::Mat upright = vision::load_image(faces_dir() + "/obama_1.jpg"), stored;
    cv::rotate(upright, stored, cv::ROTATE_90_COUNTERCLOCKWISE);  // as the sensor saw it
    std::vector<uchar> enc;
    cv::imencode(".jpg", stored, enc, {cv::IMWRITE_JPEG_QUALITY, 95});
    // APP1 "Exif": a big-endian TIFF header and one IFD entry, Orientation (0x0112) = 6 (turn 90°
    // clockwise to display), inserted right after the start-of-image marker.
    const unsigned char exif[] = {0xFF, 0xE1, 0x00, 0x22, 'E',  'x',  'i',  'f',  0,    0,    'M',  'M',
                                  0x00, 0x2A, 0x00, 0x00, 0x00, 0x08, 0x00, 0x01, 0x01, 0x12, 0x00, 0x03,
                                  0x00, 0x00, 0x00, 0x01, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    std::string jpg(enc.begin(), enc.begin() + 2);
    jpg.append(reinterpret_cast<const char*>(exif), sizeof exif);
    jpg.append(enc.begin() + 2, enc.end());
    cv::Mat decoded = vision::decode_image(jpg, "phone.jpg");
    ASSERT_EQ(decoded.cols, upright.cols) << "the EXIF orientation was not applied";
    ASSERT_EQ(decoded.rows, upright.rows);
    EXPECT_LT(cv::norm(decoded, upright, cv::NORM_L1) / double(upright.total() * 3), 8.0)
        << "turned the wrong way";
    vision::FaceEngineOptions o;
    o.recognition_model = model_path();
    vision::FaceEngine engine(o);
    EXPECT_EQ(engine.analyze_photo(decoded).size(), 1u);
}

// A phone's 50-megapixel mode writes JPEGs over the decoder's 40 MP bound: they were refused as
// 无法读取…请上传 JPEG, though a JPEG is what staff uploaded. libjpeg decodes them at a quarter of
// their pixels instead (never the whole picture in memory), and the face is enrolled.
TEST(FaceInput, APhones50MegapixelJpegIsDecodedAtAQuarterAndEnrolled) {
    cv::Mat canvas(6144, 8192, CV_8UC3, cv::Scalar(120, 125, 130));
    cv::Mat photo = vision::load_image(faces_dir() + "/obama_1.jpg"), face;
    const double scale = 3000.0 / std::max(photo.cols, photo.rows);  // the elder fills the middle
    cv::resize(photo, face, {}, scale, scale, cv::INTER_LINEAR);
    face.copyTo(
        canvas(cv::Rect((canvas.cols - face.cols) / 2, (canvas.rows - face.rows) / 2, face.cols, face.rows)));
    std::vector<uchar> jpg;
    ASSERT_TRUE(cv::imencode(".jpg", canvas, jpg, {cv::IMWRITE_JPEG_QUALITY, 85}));
    canvas.release();
    std::string bytes(jpg.begin(), jpg.end());
    cv::Mat decoded = vision::decode_image(bytes, "50mp.jpg");
    EXPECT_EQ(decoded.cols, 8192 / 2);
    EXPECT_EQ(decoded.rows, 6144 / 2);
    Site s;
    auto id = s.elder("王秀兰");
    EXPECT_EQ(s.faces->enroll(id, {bytes}, "t"), 1);
}

// The JPEG header walk reads the markers as libjpeg does. A restart marker (no length) before the
// frame once made it jump by two bytes taken as a length, onto a small frame planted there, while
// libjpeg decoded the real one: a bomb past the size check. A motion photo (Xiaomi, Huawei,
// Samsung, Pixel: the video after the JPEG's end) is a photo; a JPEG cut off is not.
TEST(FaceInput, TheJpegWalkReadsMarkersAsTheDecoderDoes) {
    const std::string jpg = read_file(faces_dir() + "/obama_3_small.jpg");
    const cv::Mat original = vision::decode_image(jpg, "small.jpg");
    // After SOI comes a segment FF Ex with a length: a walk taking those two bytes as RST0's length
    // lands 0xFFEx bytes further on.
    std::string planted = "\xFF\xD8\xFF\xD0" + jpg.substr(2);
    const size_t jump = 2 + 2 + (size_t(uint8_t(jpg[2])) << 8 | uint8_t(jpg[3]));
    ASSERT_LT(planted.size(), jump);
    planted.resize(jump, '\0');
    planted += std::string("\xFF\xC0\x00\x11\x08\x00\x08\x00\x08\x03", 10) + std::string(15, '\0');
    planted += "\xFF\xD9";
    auto size = vision::image_size(planted);
    ASSERT_TRUE(size);
    EXPECT_EQ(int(size->first), original.cols)
        << "the planted 8×8 frame was read, not the one libjpeg decodes";
    EXPECT_EQ(int(size->second), original.rows);
    cv::Mat decoded = vision::decode_image(planted, "restart.jpg");
    EXPECT_EQ(decoded.size(), original.size());
    // Markers libjpeg would not take where one belongs: refused, never misread.
    EXPECT_FALSE(vision::image_size(std::string("\xFF\xD8\xFF\x00", 4) + jpg.substr(2)));
    EXPECT_FALSE(vision::image_size("\xFF\xD8\xFF\xD8" + jpg.substr(2)));
    EXPECT_FALSE(vision::image_size("\xFF\xD8\x42" + jpg.substr(2)));
    // A motion photo: an MP4 after the end-of-image marker.
    std::string motion = jpg +
                         std::string(
                             "\0\0\0\x18"
                             "ftypmp42\0\0\0\0mp42isom",
                             24) +
                         std::string(4000, 'v');
    cv::Mat still = vision::decode_image(motion, "motion.jpg");
    ASSERT_EQ(still.size(), original.size());
    EXPECT_EQ(cv::norm(still, original, cv::NORM_INF), 0);
    // Cut inside the image data, with the video's bytes after the cut: truncated all the same.
    std::string cut = jpg.substr(0, jpg.size() - 3000) + std::string(4000, 'v');
    try {
        vision::decode_image(cut, "cut.jpg");
        FAIL() << "a cut-off JPEG was taken";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
    }
}

TEST(FaceInput, BadAndUnusualImages) {
    TempDir dir;
    std::string jpg = read_file(faces_dir() + "/obama_1.jpg");
    write_file(dir.file("truncated.jpg"), jpg.substr(0, jpg.size() / 2));
    write_file(dir.file("text.jpg"), "this is not an image\n");
    write_file(dir.file("empty.png"), "");
    // A decompression bomb: a valid PNG of 50 000 × 50 000 black pixels is a few MB compressed but
    // 7.5 GB decoded; it is refused from its header, before any decoder runs.
    {
        cv::Mat small(8, 8, CV_8UC3, cv::Scalar(0, 0, 0));
        std::vector<uchar> png;
        cv::imencode(".png", small, png);
        std::string bomb(png.begin(), png.end());
        for (int i = 0; i < 2; ++i)  // IHDR width and height, big-endian, at bytes 16 and 20
            for (int k = 0; k < 4; ++k) bomb[size_t(16 + 4 * i + k)] = char((50000u >> (24 - 8 * k)) & 0xFF);
        write_file(dir.file("bomb.png"), bomb);
        try {
            vision::load_image(dir.file("bomb.png"));
            FAIL() << "a 2.5-gigapixel header was decoded";
        } catch (const std::runtime_error& e) {
            EXPECT_NE(std::string(e.what()).find("50000×50000 pixels"), std::string::npos) << e.what();
        }
        auto sz = vision::image_size(read_file(faces_dir() + "/obama_1.jpg"));
        ASSERT_TRUE(sz);
        cv::Mat decoded = vision::load_image(faces_dir() + "/obama_1.jpg");
        EXPECT_EQ(int(sz->first), decoded.cols) << "the JPEG header walk finds the frame size";
        EXPECT_EQ(int(sz->second), decoded.rows);
        cv::Mat bmp_src(4, 4, CV_8UC3);
        cv::imwrite(dir.file("photo.bmp"), bmp_src);
        EXPECT_THROW(vision::load_image(dir.file("photo.bmp")), std::runtime_error)
            << "only JPEG and PNG decoders are exposed";
    }
    for (auto f : {"truncated.jpg", "text.jpg", "empty.png", "missing.jpg"}) {
        try {
            vision::load_image(dir.file(f));
            FAIL() << f;
        } catch (const std::runtime_error& e) {
            EXPECT_NE(std::string(e.what()).find(dir.file(f)), std::string::npos) << e.what();
        }
    }
    vision::FaceEngineOptions o;
    o.recognition_model = model_path();
    vision::FaceEngine engine(o);
    cv::Mat color = vision::load_image(faces_dir() + "/obama_1.jpg");
    cv::Mat grey, grey16, bgra;
    cv::cvtColor(color, grey, cv::COLOR_BGR2GRAY);
    grey.convertTo(grey16, CV_16U, 257);
    cv::cvtColor(color, bgra, cv::COLOR_BGR2BGRA);
    cv::imwrite(dir.file("grey.png"), grey);
    cv::imwrite(dir.file("grey16.png"), grey16);
    cv::imwrite(dir.file("alpha.png"), bgra);
    auto reference = *engine.analyze(color).at(0).descriptor;
    for (auto f : {"grey.png", "grey16.png", "alpha.png"}) {
        auto faces = engine.analyze(vision::load_image(dir.file(f)));
        ASSERT_EQ(faces.size(), 1u) << f;
        EXPECT_LT(vision::distance(*faces[0].descriptor, reference),
                  f == std::string("alpha.png") ? 0.01 : 0.3)
            << f;
    }
    // A huge photo is downscaled for detection; the box comes back in its own coordinates.
    cv::Mat huge;
    cv::resize(color, huge, {}, 6000.0 / color.cols, 6000.0 / color.cols);
    auto big = engine.analyze(huge);
    ASSERT_EQ(big.size(), 1u);
    EXPECT_GT(big[0].box.width, 600);
    EXPECT_LT(vision::distance(*big[0].descriptor, reference), 0.3);
    EXPECT_TRUE(engine.analyze(cv::Mat(480, 640, CV_8UC3, cv::Scalar(0, 0, 0))).empty());
}

// A recognition model is known by its contents, not its file name: the files the shipped thresholds
// were measured with keep their ids (templates enrolled with them stay usable), and any other file,
// even under the shipped name, gets an id of its own, so the door asks for enrollment again instead
// of comparing its descriptors with the old templates.
TEST(FaceModel, TheModelIdComesFromTheFilesContents) {
    EXPECT_EQ(vision::recognition_model_id(mobilefacenet_path()), "mobilefacenet/192");
    EXPECT_EQ(vision::recognition_model_id(models_dir() + "/dlib/dlib_face_recognition_resnet_model_v1.dat"),
              "dlib_resnet/128");
    TempDir dir;
    fs::create_directories(dir.file("converted"));
    vision::import_face_weights(models_dir() + "/face-api", dir.file("converted/model.dat"));
    EXPECT_EQ(vision::recognition_model_id(dir.file("converted/model.dat")), "dlib_resnet/128")
        << "face import-weights of the pinned face-api weights is a known model";
    // One weight byte changed: a dlib file is known by its weights too.
    auto flip_middle_byte = [](const std::string& file) {
        std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
        f.seekg(0, std::ios::end);
        std::streamoff mid = f.tellg() / 2;
        f.seekg(mid);
        char c = 0;
        f.get(c);
        f.seekp(mid);
        f.put(char(c ^ 1));
    };
    flip_middle_byte(dir.file("converted/model.dat"));
    EXPECT_EQ(vision::recognition_model_id(dir.file("converted/model.dat")).rfind("dlib_resnet/128@", 0), 0u);

    Site s;
    auto obama = s.elder("obama");
    ASSERT_EQ(s.enroll(obama, {"obama_1.jpg"}), 1);
    ASSERT_EQ(s.faces->gallery_size(), 1u);
    // Another MobileFaceNet file under the shipped name: one weight byte differs.
    fs::create_directories(dir.file("other"));
    std::string other = dir.file("other/MobileFaceNet.tflite");
    fs::copy_file(mobilefacenet_path(), other);
    flip_middle_byte(other);
    std::string id = vision::recognition_model_id(other);
    EXPECT_NE(id, "mobilefacenet/192");
    EXPECT_EQ(id.rfind("tflite@", 0), 0u) << id;
    EXPECT_FALSE(vision::is_known_recognition_model(id));
    config::SiteConfig cfg = s.cfg;
    cfg.face.recognition_model = other;
    FaceService switched(cfg, *s.store, s.clock, *s.roster, nullptr);
    EXPECT_EQ(switched.gallery_size(), 0u) << "templates of the shipped file compared with another";
    auto renew = switched.renewals();
    ASSERT_EQ(renew.size(), 1u);
    EXPECT_EQ(renew[0].elder_id, obama);
    EXPECT_EQ(renew[0].reason, "model_changed");
}

TEST(FaceModel, MissingOrCorruptWeightsNameTheFileAndTheFix) {
    TempDir dir;
    try {
        vision::FaceNet net(dir.file("nope.dat"));
        FAIL();
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("caregate face import-weights"), std::string::npos) << e.what();
    }
    write_file(dir.file("bad.dat"), "garbage");
    try {
        vision::FaceNet net(dir.file("bad.dat"));
        FAIL();
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find(dir.file("bad.dat") + " is corrupt"), std::string::npos)
            << e.what();
    }
    fs::create_directories(dir.file("api"));
    EXPECT_THROW(vision::import_face_weights(dir.file("api"), dir.file("x.dat")), std::runtime_error);
    fs::copy(models_dir() + "/face-api/face_recognition_model-weights_manifest.json", dir.file("api/"));
    std::string bin = read_file(models_dir() + "/face-api/face_recognition_model.bin");
    write_file(dir.file("api/face_recognition_model.bin"), bin.substr(0, bin.size() / 3));
    try {
        vision::import_face_weights(dir.file("api"), dir.file("x.dat"));
        FAIL();
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
    }
}

TEST(FaceModel, AMissingOrWrongMmodDetectorFileIsNamed) {
    TempDir dir;
    vision::FaceEngineOptions o;
    o.embed = false;
    o.mmod_model = dir.file("mmod_human_face_detector.dat");
    try {
        vision::FaceEngine e(o);
        FAIL();
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find(o.mmod_model + " not found"), std::string::npos) << e.what();
    }
    // The landmark model is a dlib file too, but not a detector: refused, named.
    o.mmod_model = o.landmark_model;
    try {
        vision::FaceEngine e(o);
        FAIL();
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("is not a dlib MMOD face detector model"), std::string::npos)
            << e.what();
    }
}

// The TF.js → dlib conversion against dlib's own published float model (CC0, fetched by
// scripts/fetch-models): the same chips give descriptors within uint8-quantization noise.
TEST(FaceModel, ConvertedWeightsAgreeWithDlibsOfficialModel) {
    std::string official = models_dir() + "/dlib/dlib_face_recognition_resnet_model_v1.dat";
    ASSERT_TRUE(fs::exists(official)) << official << " missing: run scripts/setup (scripts/fetch-models)";
    vision::FaceEngineOptions o;
    o.recognition_model = official;
    vision::FaceEngine engine(o);
    int compared = 0;
    for (auto& [file, faces] : analysed()) {
        auto theirs = engine.analyze(vision::load_image(faces_dir() + "/" + file));
        ASSERT_EQ(theirs.size(), faces.size()) << file;
        for (size_t i = 0; i < faces.size(); ++i) {
            EXPECT_LT(vision::distance(*faces[i].descriptor, *theirs[i].descriptor), 0.06) << file;
            compared++;
        }
    }
    EXPECT_GE(compared, 10);
}

TEST(FaceModel, MmodCnnDetectorFindsAndIdentifiesFaces) {
    std::string mmod = models_dir() + "/dlib/mmod_human_face_detector.dat";
    ASSERT_TRUE(fs::exists(mmod)) << mmod << " missing: run scripts/setup (scripts/fetch-models)";
    vision::FaceEngineOptions o;
    o.recognition_model = model_path();
    o.mmod_model = mmod;
    vision::FaceEngine engine(o);
    auto group = engine.analyze(vision::load_image(faces_dir() + "/group_two_people.jpg"));
    ASSERT_EQ(group.size(), 2u);
    auto obama = engine.analyze(vision::load_image(faces_dir() + "/obama_1.jpg"));
    ASSERT_EQ(obama.size(), 1u);
    ASSERT_TRUE(obama[0].reject_reason.empty()) << obama[0].reject_reason;
    // Boxes from the CNN, landmarks and descriptors as usual: the same person is found in the group.
    double best = 9;
    for (auto& f : group) best = std::min(best, vision::distance(*f.descriptor, *obama[0].descriptor));
    EXPECT_LT(best, 0.5);
    EXPECT_TRUE(engine.analyze(cv::Mat(480, 640, CV_8UC3, cv::Scalar(128, 128, 128))).empty());
}

TEST(Liveness, BlinkPassesConstantEyesDoNot) {
    vision::BlinkDetector blink;
    int64_t t = 0;
    for (int i = 0; i < 10; ++i) EXPECT_FALSE(blink.update(0.30, t += 100));
    blink.update(0.12, t += 100);  // eyes closed for 200 ms
    blink.update(0.11, t += 100);
    EXPECT_TRUE(blink.update(0.29, t += 100));

    vision::BlinkDetector still;
    for (int i = 0; i < 100; ++i) EXPECT_FALSE(still.update(0.30 + 0.005 * (i % 3), i * 100));
    vision::BlinkDetector slow;  // eyes shut for 2 s is not a blink (dozing, or a photo swap)
    t = 0;
    for (int i = 0; i < 10; ++i) slow.update(0.3, t += 100);
    for (int i = 0; i < 20; ++i) slow.update(0.1, t += 100);
    EXPECT_FALSE(slow.update(0.3, t += 100));
}

TEST(Liveness, AStillPhotoRepeatedAsVideoDoesNotCheckIn) {
    TempDir dir;
    std::string clip = dir.file("spoof.avi");
    {
        // The photo held up in front of the door camera: letterboxed into a 640×480 frame.
        cv::Mat frame = door_frame("obama_1.jpg");
        cv::VideoWriter w(clip, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 10, frame.size());
        ASSERT_TRUE(w.isOpened());
        for (int i = 0; i < 30; ++i) w.write(frame);  // 3 s of the same photo
    }
    for (bool liveness : {true, false}) {
        Site s(liveness ? ", liveness: true" : ", liveness: false");
        auto obama = s.elder("obama");
        s.enroll(obama, {"obama_2.jpg"});
        auto sub = s.bus.subscribe("t");
        config::Camera cam;
        cam.id = "door";
        cam.zone = "hall";
        cam.role = "entrance";
        cv::VideoCapture cap(clip);
        cv::Mat f;
        int64_t t = 1'000'000;
        while (cap.read(f)) s.faces->frame(cam, f, t += 100);
        std::vector<FaceSeen> seen;
        while (auto e = sub->next(std::chrono::milliseconds(10)))
            if (std::holds_alternative<FaceSeen>(*e)) seen.push_back(std::get<FaceSeen>(*e));
        if (liveness) {
            for (auto& x : seen)
                EXPECT_FALSE(x.elder_id && x.live) << "a photo must not pass the blink check";
            // Recognised but never blinking: the gate asks once (请看着屏幕眨一眨眼), and no more.
            ASSERT_EQ(seen.size(), 1u) << "asked once to blink";
            EXPECT_EQ(seen[0].elder_id, obama);
            EXPECT_FALSE(seen[0].live);
        } else {
            ASSERT_EQ(seen.size(), 1u) << "one FaceSeen per track, not per frame";
            EXPECT_EQ(seen[0].elder_id, obama);
        }
    }
}

namespace {
vision::Match voted(std::optional<int64_t> elder, double d = 0.5) {
    vision::Match m;
    m.elder_id = elder;
    m.best_elder = elder;
    m.distance = d;
    return m;
}
}  // namespace

// The door's decision over a track: one frame never names anyone.
TEST(TrackVote, SeveralAgreeingFramesNameAnElderAndOneFrameNever) {
    vision::TrackVote v;
    v.add(voted(7));
    EXPECT_FALSE(v.elder(3)) << "a single matching frame decides nothing";
    EXPECT_FALSE(v.elder(2));
    EXPECT_TRUE(v.elder(1)) << "decide_frames 1 is the old single-frame rule";
    v.add(voted(std::nullopt, 1.2));
    v.add(voted(7, 0.7));
    EXPECT_FALSE(v.elder(3));
    v.add(voted(7, 0.6));
    ASSERT_TRUE(v.elder(3));
    EXPECT_EQ(*v.elder(3), 7);
    EXPECT_NEAR(v.mean_distance(7), 0.6, 1e-9);
    EXPECT_NEAR(v.best_distance(), 0.5, 1e-9);
    EXPECT_EQ(v.votes(7), 3) << "the frame that matched no one is not a vote";
    EXPECT_EQ(v.votes(8), 0);
    EXPECT_FALSE(v.visitor(3, 10'000)) << "a decided track is nobody's visitor";

    // Frames that disagree: the leader needs three times the votes of everyone else together.
    vision::TrackVote split;
    for (int i = 0; i < 3; ++i) split.add(voted(1));
    split.add(voted(2));
    split.add(voted(2));
    EXPECT_FALSE(split.elder(3)) << "3 against 2 is not an identity";
    for (int i = 0; i < 3; ++i) split.add(voted(1));
    ASSERT_TRUE(split.elder(3)) << "6 against 2 is";
    EXPECT_EQ(*split.elder(3), 1);

    // Consistent frames, not scattered ones: a look-alike who now and then comes within the
    // threshold over a long stay is never named; an elder whose first frames were poor is named once
    // 3 of 5 frames agree.
    vision::TrackVote scattered;
    for (int i = 0; i < 40; ++i)
        scattered.add(voted(i % 4 == 0 ? std::optional<int64_t>(5) : std::nullopt, 0.8));
    EXPECT_FALSE(scattered.elder(3)) << "10 matches, one frame in four";
    vision::TrackVote late;
    for (int i = 0; i < 10; ++i) late.add(voted(std::nullopt, 1.1));
    late.add(voted(5));
    late.add(voted(std::nullopt, 1.0));
    late.add(voted(5));
    EXPECT_FALSE(late.elder(3));
    late.add(voted(5));
    ASSERT_TRUE(late.elder(3)) << "3 of the last 5";
    EXPECT_EQ(*late.elder(3), 5);

    // A stranger: enough frames that matched nobody, after 1.5 s; a face that matched someone once
    // gets 4 s before being called a visitor.
    vision::TrackVote stranger;
    for (int i = 0; i < 2; ++i) stranger.add(voted(std::nullopt, 1.3));
    EXPECT_FALSE(stranger.visitor(3, 5000)) << "not before 3 frames";
    stranger.add(voted(std::nullopt, 1.3));
    EXPECT_FALSE(stranger.visitor(3, 1400));
    EXPECT_TRUE(stranger.visitor(3, 1500));
    stranger.add(voted(9, 0.9));
    EXPECT_FALSE(stranger.visitor(3, 3000));
    EXPECT_TRUE(stranger.visitor(3, 4000));
    // A frame too close to call between two elders is a known face too: 4 s, not 1.5 s.
    vision::TrackVote between;
    for (int i = 0; i < 3; ++i) between.add(voted(std::nullopt, 1.3));
    vision::Match close_call;
    close_call.distance = 0.6;
    close_call.ambiguous = true;
    between.add(close_call);
    EXPECT_FALSE(between.visitor(3, 3000));
    EXPECT_TRUE(between.visitor(3, 4000));
}

// A site's door camera, and what the face service announced for it on the site's bus.
struct DoorCamera {
    explicit DoorCamera(Site& s) : site(s), sub(s.bus.subscribe("t")) {
        cam.id = "door";
        cam.zone = "hall";
        cam.role = "entrance";
    }
    // Shows the camera `frames` frames of `picture`, 200 ms apart (a 5 fps camera); returns what the
    // face service announced meanwhile.
    std::vector<FaceSeen> show(const cv::Mat& picture, int frames) {
        for (int i = 0; i < frames; ++i) site.faces->frame(cam, picture, t += 200);
        std::vector<FaceSeen> out;
        while (auto e = sub->next(std::chrono::milliseconds(1)))
            if (std::holds_alternative<FaceSeen>(*e)) out.push_back(std::get<FaceSeen>(*e));
        return out;
    }
    Site& site;
    config::Camera cam;
    std::shared_ptr<Subscription> sub;
    int64_t t = 5'000'000;
};

// At the door camera: the greeting waits for decide_frames agreeing frames of the track.
TEST(FaceService, TheDoorNamesAnElderOnlyAfterSeveralFramesAgree) {
    Site s;
    auto obama = s.elder("obama");
    s.enroll(obama, {"obama_1.jpg"});
    DoorCamera door(s);
    cv::Mat frame = door_frame("obama_2.jpg");
    EXPECT_TRUE(door.show(frame, 2).empty()) << "two frames are not yet a decision";
    auto after = door.show(frame, 1);
    ASSERT_EQ(after.size(), 1u) << "the third agreeing frame decides";
    EXPECT_EQ(after[0].elder_id, obama);
    EXPECT_TRUE(door.show(frame, 5).empty()) << "one greeting per track";
}

// An elder who cannot blink on request (after a stroke, say) is exempted by an admin: recognised,
// they are checked in as live without blinking, asked nothing.
TEST(Liveness, AnExemptElderIsLiveWithoutBlinking) {
    Site s(", liveness: true");
    Elder e;
    e.name = "obama";
    e.liveness_exempt = true;
    auto obama = s.roster->save(e, "t").id;
    s.roster->record_consent(obama, "王护士", "t");
    ASSERT_EQ(s.enroll(obama, {"obama_1.jpg"}), 1);
    DoorCamera door(s);
    auto seen = door.show(door_frame("obama_2.jpg"), 15);
    ASSERT_EQ(seen.size(), 1u) << "greeted once, not asked to blink";
    EXPECT_EQ(seen[0].elder_id, obama);
    EXPECT_TRUE(seen[0].live);
}

// Staff enrolling an elder's photos at the desk do not hold up the door: while a photo is being
// analysed (0.3 s, or 2.5 s more when the CNN searches it again), the door camera's frames are
// still analysed and an elder walking in is greeted.
TEST(FaceService, TheDoorGoesOnWhileStaffEnrollPhotosAtTheDesk) {
    Site s;
    auto obama = s.elder("obama");
    auto biden = s.elder("biden");
    ASSERT_EQ(s.enroll(obama, {"obama_1.jpg"}), 1);
    std::promise<void> analysing, finish;
    std::shared_future<void> finished = finish.get_future().share();
    s.faces->on_photo_analysis([&, done = false]() mutable {
        if (done) return;
        done = true;
        analysing.set_value();
        finished.wait();  // the desk's photo is being analysed until the test says
    });
    std::thread desk([&] { s.enroll(biden, {"biden_1.jpg"}); });
    ASSERT_EQ(analysing.get_future().wait_for(std::chrono::seconds(60)), std::future_status::ready);
    DoorCamera door(s);
    std::vector<FaceSeen> seen;
    std::thread camera([&] { seen = door.show(door_frame("obama_2.jpg"), 3); });
    std::promise<void> camera_done;
    auto camera_finished = camera_done.get_future();
    std::thread waiter([&] {
        camera.join();
        camera_done.set_value();
    });
    bool door_went_on = camera_finished.wait_for(std::chrono::seconds(30)) == std::future_status::ready;
    finish.set_value();
    waiter.join();
    desk.join();
    EXPECT_TRUE(door_went_on) << "the door's frames waited for the desk's photo";
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].elder_id, obama);
    EXPECT_EQ(s.faces->template_count(biden), 1) << "the desk's enrollment finished too";
}

// An enrollment's photos are read and decoded one at a time, each when its turn comes: five 40 MP
// phone photos were 600 MB decoded at once. Here the second file exists only once the first photo
// is being analysed.
TEST(FaceService, AnEnrollmentsPhotosAreReadOneAtATime) {
    Site s;
    auto obama = s.elder("obama");
    const std::string second = s.dir.file("second.jpg");
    int analysed = 0;
    s.faces->on_photo_analysis([&] {
        if (analysed++ == 0) std::filesystem::copy_file(faces_dir() + "/obama_2.jpg", second);
    });
    EXPECT_EQ(s.faces->enroll_files(obama, {faces_dir() + "/obama_1.jpg", second}, "t"), 2);
    EXPECT_EQ(analysed, 2);
}

// A site may keep enrollment photos (face.keep_enrollment_photos): re-encoded JPEGs beside the
// templates, and gone with them when the elder is forgotten.
TEST(FaceService, KeptEnrollmentPhotosGoWhenTheElderIsForgotten) {
    Site s(", keep_enrollment_photos: true");
    auto obama = s.elder("obama");
    ASSERT_EQ(s.enroll(obama, {"obama_1.jpg", "obama_2.jpg"}), 2);
    const std::string dir = s.cfg.store.media_dir + "/enrollment/" + std::to_string(obama);
    std::vector<std::string> kept;
    for (auto& e : std::filesystem::directory_iterator(dir)) kept.push_back(e.path().string());
    ASSERT_EQ(kept.size(), 2u);
    for (auto& f : kept) EXPECT_FALSE(vision::load_image(f).empty()) << f;
    EXPECT_EQ(s.faces->forget(obama, "t"), 2);
    EXPECT_FALSE(std::filesystem::exists(dir)) << "the photos outlived the templates";
}

// A forget that comes while an enrollment has stored its templates but not yet written its kept
// photos waits for them, and removes them with the templates: no photo stays on disk with no one's
// templates (before, the forget ran at once and the photos were written after it).
TEST(FaceService, AForgetDuringAnEnrollmentTakesItsKeptPhotosToo) {
    Site s(", keep_enrollment_photos: true");
    auto obama = s.elder("obama");
    Pause stored;
    s.faces->on_templates_stored([&] { stored.wait_here(); });
    auto enrolling = std::async(std::launch::async, [&] {
        return s.enroll(obama, {"obama_1.jpg", "obama_2.jpg"});
    });
    EXPECT_TRUE(stored.arrived(std::chrono::seconds(60))) << "no enrollment";
    auto forgetting = std::async(std::launch::async, [&] { return s.faces->forget(obama, "t"); });
    EXPECT_EQ(forgetting.wait_for(std::chrono::milliseconds(500)), std::future_status::timeout)
        << "the forget did not wait for the enrollment's photos";
    stored.release();
    EXPECT_EQ(enrolling.get(), 2);
    EXPECT_EQ(forgetting.get(), 2) << "the forget took the templates the enrollment stored";
    EXPECT_FALSE(std::filesystem::exists(s.cfg.store.media_dir + "/enrollment/" + std::to_string(obama)))
        << "kept photos outlived the templates";
    EXPECT_EQ(s.faces->template_count(obama), 0);
}

// The door's and the desk's engines run at the very same time and share dlib's landmark model: each
// still gets what it would alone (the same photo gives the same distance every time, the elder at
// the door is greeted once). Run under ThreadSanitizer too (docs/face-accuracy.md).
TEST(FaceService, TheDoorAndTheDeskAnalyseFacesAtOnceAndBothAreRight) {
    Site s;
    auto obama = s.enrolled("obama", "obama_1.jpg");
    auto kit = s.enrolled("kit", "kit_harington_1.jpg");
    const cv::Mat photo = vision::load_image(faces_dir() + "/kit_harington_2.jpg");
    auto alone = s.faces->identify(photo);
    ASSERT_EQ(alone.size(), 1u);
    ASSERT_EQ(alone[0].match.elder_id, kit);
    std::atomic<bool> desk_done{false};
    std::vector<Identification> at_once;
    std::thread desk([&] {
        for (int i = 0; i < 4; ++i)
            for (auto& id : s.faces->identify(photo)) at_once.push_back(id);
        desk_done = true;
    });
    DoorCamera door(s);
    const cv::Mat frame = door_frame("obama_2.jpg");
    std::vector<FaceSeen> seen;
    int frames = 0;
    while (!desk_done || frames < 3) {
        for (auto& f : door.show(frame, 1)) seen.push_back(f);
        ++frames;
    }
    desk.join();
    ASSERT_EQ(at_once.size(), 4u);
    for (auto& id : at_once) {
        EXPECT_EQ(id.match.elder_id, kit);
        EXPECT_EQ(id.match.distance, alone[0].match.distance) << "the same photo, another descriptor";
    }
    ASSERT_EQ(seen.size(), 1u) << "over " << frames << " door frames";
    EXPECT_EQ(seen[0].elder_id, obama);
}

// A door camera sending wider frames than face.detect_width is searched on a smaller copy, where
// faces are found only from about 60 px: an elder must come twice as close to a 1280 stream. The
// installer is told once per camera (and again if the width changes), with the size and the fix.
TEST(FaceService, ACameraSendingFramesWiderThanDetectWidthIsNamedInTheLog) {
    Site s;
    std::ostringstream log;
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log);
    auto face_log = logger("face");
    face_log->sinks().push_back(sink);
    struct Unhook {
        std::shared_ptr<spdlog::logger> l;
        ~Unhook() { l->sinks().pop_back(); }
    } unhook{face_log};
    DoorCamera door(s);
    auto warnings = [&] {
        std::string text = log.str();
        size_t n = 0;
        for (size_t at = 0; (at = text.find("sends frames", at)) != std::string::npos; ++at) ++n;
        return n;
    };
    cv::Mat usual(480, 640, CV_8UC3, cv::Scalar(90, 90, 90));
    door.show(usual, 2);
    EXPECT_EQ(warnings(), 0u) << log.str();
    EXPECT_TRUE(s.faces->camera_advice().empty());
    cv::Mat wide(720, 1280, CV_8UC3, cv::Scalar(90, 90, 90));
    door.show(wide, 3);
    EXPECT_EQ(warnings(), 1u) << log.str();
    EXPECT_NE(log.str().find("camera door sends frames 1280x720"), std::string::npos) << log.str();
    EXPECT_NE(log.str().find("from about 120 px"), std::string::npos) << log.str();
    cv::Mat wider(1080, 1920, CV_8UC3, cv::Scalar(90, 90, 90));
    door.show(wider, 2);
    EXPECT_EQ(warnings(), 2u) << log.str();
    EXPECT_NE(log.str().find("from about 180 px"), std::string::npos) << log.str();
    // The kiosk's devices page says it to whoever installs the camera, until the frames fit.
    auto advice = s.faces->camera_advice();
    ASSERT_EQ(advice.count("door"), 1u);
    EXPECT_NE(advice["door"].find("画面 1920×1080"), std::string::npos) << advice["door"];
    EXPECT_NE(advice["door"].find("约 180 像素宽"), std::string::npos) << advice["door"];
    door.show(usual, 1);
    EXPECT_TRUE(s.faces->camera_advice().empty()) << "the camera now sends 640-wide frames";
}

// The door's gallery holds active elders only, and follows the roster without a restart: an elder
// who left is no longer recognised (nor a close call for a look-alike), and one who comes back from
// hospital is recognised again, instead of being listed for re-enrollment after three visits.
TEST(FaceService, DeactivatingOrReactivatingAnElderReloadsTheDoorsGallery) {
    Site s;
    auto obama = s.elder("obama");
    ASSERT_EQ(s.enroll(obama, {"obama_1.jpg"}), 1);
    ASSERT_EQ(s.faces->gallery_size(), 1u);
    DoorCamera door(s);
    cv::Mat nobody(480, 640, CV_8UC3, cv::Scalar(90, 90, 90));
    s.roster->deactivate(obama, "离开中心", "", "", "t");
    EXPECT_TRUE(eventually([&] {
        door.show(nobody, 1);
        return s.faces->gallery_size() == 0;
    })) << "deactivated, still in the gallery";
    s.roster->reactivate(obama, "t");
    EXPECT_TRUE(eventually([&] {
        door.show(nobody, 1);
        return s.faces->gallery_size() == 1;
    })) << "reactivated, not back in the gallery";
    auto seen = door.show(door_frame("obama_2.jpg"), 3);
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].elder_id, obama);
}

// The door reloads its gallery when the store changed elsewhere (here the roster). An elder forgotten
// while that reload is under way, after it read the templates, stays forgotten: the forget waits for
// the reload, instead of the reload putting back the gallery it read before.
TEST(FaceService, AnElderForgottenDuringAGalleryReloadStaysForgotten) {
    Site s;
    auto obama = s.enrolled("obama", "obama_1.jpg");
    auto biden = s.enrolled("biden", "biden_1.jpg");
    s.roster->deactivate(biden, "离开中心", "", "", "t");  // changes the gallery's templates
    Pause read;
    s.faces->on_gallery_reload([&] { read.wait_here(); });
    auto reloading =
        std::async(std::launch::async, [&] { s.faces->follow_store(Heartbeat::steady_ms() + 60'000); });
    EXPECT_TRUE(read.arrived(std::chrono::seconds(30))) << "no reload";
    auto forgetting = std::async(std::launch::async, [&] { return s.faces->forget(obama, "t"); });
    EXPECT_EQ(forgetting.wait_for(std::chrono::milliseconds(500)), std::future_status::timeout)
        << "the forget did not wait for the reload that had read the elder's templates";
    read.release();
    reloading.get();
    EXPECT_EQ(forgetting.get(), 1);
    EXPECT_EQ(s.faces->gallery_size(), 0u) << "the reload brought the forgotten elder back";
    auto ids = s.faces->identify(vision::load_image(faces_dir() + "/obama_2.jpg"));
    ASSERT_EQ(ids.size(), 1u);
    EXPECT_FALSE(ids[0].match.elder_id) << "a forgotten elder is still recognised";
}

// The door reloads its gallery when templates change elsewhere (an elder forgotten, one leaving the
// roster). The elders in view are not greeted again for someone else's change; a track that voted
// for an elder no longer in the gallery is decided again (a forgotten elder is a visitor now).
TEST(FaceService, AGalleryReloadDecidesAgainOnlyTheTracksOfEldersNoLongerInIt) {
    Site s;
    auto obama = s.enrolled("obama", "obama_1.jpg");
    auto biden = s.enrolled("biden", "biden_1.jpg");
    DoorCamera door(s);
    const cv::Mat frame = door_frame("obama_2.jpg");
    auto first = door.show(frame, 3);
    ASSERT_EQ(first.size(), 1u);
    EXPECT_EQ(first[0].elder_id, obama);
    s.roster->deactivate(biden, "离开中心", "", "", "t");
    s.faces->follow_store(Heartbeat::steady_ms() + 60'000);
    ASSERT_EQ(s.faces->gallery_size(), 1u) << "biden's templates are out of the gallery";
    EXPECT_TRUE(door.show(frame, 5).empty()) << "obama greeted again because biden left";
    ASSERT_EQ(s.faces->forget(obama, "t"), 1);
    s.faces->follow_store(Heartbeat::steady_ms() + 120'000);
    auto after = door.show(frame, 10);
    ASSERT_EQ(after.size(), 1u) << "the forgotten elder's track is decided again";
    EXPECT_FALSE(after[0].elder_id) << "a forgotten elder is a visitor";
}

// A track outlives its face by 2 s: an elder who steps into the place another just left is
// decided on their own frames and greeted by their own name, not taken for the one who left (whose
// greeting, check-in and forehead readings the track carried).
TEST(FaceService, AnElderWhoStepsIntoThePlaceAnotherJustLeftIsNamedThemselves) {
    Site s;
    auto obama = s.enrolled("obama", "obama_1.jpg");
    auto biden = s.enrolled("biden", "biden_1.jpg");
    DoorCamera door(s);
    auto first = door.show(door_frame("obama_2.jpg"), 3);
    ASSERT_EQ(first.size(), 1u);
    EXPECT_EQ(first[0].elder_id, obama);
    auto next = door.show(door_frame("biden_2.jpg"), 15);  // 3 s at the same place
    ASSERT_EQ(next.size(), 1u) << "biden is greeted once";
    EXPECT_EQ(next[0].elder_id, biden);
}

// A forehead reading carries an elder's id only from a frame whose face was just checked to be
// theirs. Someone stepping into a greeted elder's place is embedded up to a second later (a decided
// track re-embeds once a second), and a reading taken meanwhile went into the elder's record.
TEST(FaceService, AForeheadReadingNeverCarriesTheNameOfSomeoneElseStandingThere) {
    Site s;
    auto obama = s.enrolled("obama", "obama_1.jpg");
    auto biden = s.enrolled("biden", "biden_1.jpg");
    config::Camera cam;
    cam.id = "door";
    cam.thermal.emplace();
    cam.thermal->source = s.dir.file("thermal.png");
    cam.thermal->max_age_ms = 3'600'000;  // the test's clock does not move with the file's time
    ASSERT_TRUE(
        cv::imwrite(cam.thermal->source, cv::Mat(480, 640, CV_16UC1, cv::Scalar((36.6 + 273.15) * 100))));
    ThermalCamera thermal(cam, s.bus, s.clock);
    thermal.start();
    ASSERT_TRUE(caregate::testing::eventually([&] { return thermal.online(); })) << "no thermal frame";
    s.faces->attach_thermal("door", &thermal);
    DoorCamera door(s);
    auto readings = [&](const cv::Mat& frame, int n) {
        std::vector<TemperatureReading> out;
        for (int i = 0; i < n; ++i) s.faces->frame(door.cam, frame, door.t += 200);
        while (auto e = door.sub->next(std::chrono::milliseconds(1)))
            if (std::holds_alternative<TemperatureReading>(*e))
                out.push_back(std::get<TemperatureReading>(*e));
        return out;
    };
    auto first = readings(door_frame("biden_2.jpg"), 3);
    ASSERT_FALSE(first.empty()) << "the greeted elder's forehead is read";
    EXPECT_EQ(first.back().elder_id, biden);
    // Obama steps into biden's place; his face is not a better view of biden's, so biden's track
    // re-embeds only after its second.
    auto after = readings(door_frame("obama_2.jpg"), 15);
    EXPECT_FALSE(after.empty()) << "obama, decided on his own frames, has his forehead read";
    for (auto& r : after) {
        ASSERT_TRUE(r.elder_id);
        EXPECT_EQ(*r.elder_id, obama) << "obama's forehead read as biden's, " << r.ts_ms - door.t << " ms";
        EXPECT_NEAR(r.celsius, 36.6, 0.5);
    }
    thermal.stop();
}

// The box's clock may step back (NTP after a cold start without a real-time clock). The tracks'
// times then lay ahead of every frame: a face already tracked was not embedded again (nor checked
// for a newcomer in its place) until the clock caught up, so an elder walking in was never greeted.
TEST(FaceService, AClockSteppingBackDoesNotLeaveTheDoorBlind) {
    Site s;
    auto obama = s.elder("obama");
    ASSERT_EQ(s.enroll(obama, {"obama_1.jpg"}), 1);
    DoorCamera door(s);
    const cv::Mat frame = door_frame("obama_2.jpg");
    EXPECT_TRUE(door.show(frame, 2).empty()) << "two frames are not yet a decision";
    door.t -= 3'600'000;  // an hour back
    auto later = door.show(frame, 5);
    ASSERT_EQ(later.size(), 1u) << "the elder in view when the clock stepped back is greeted once";
    EXPECT_EQ(later[0].elder_id, obama);
}

// face.threshold belongs to one recognition model: a site that calibrated MobileFaceNet to 0.78 and
// then switched to the public-domain dlib model (default 0.40) would name strangers as elders. The
// box refuses to start, saying what to do; a value near the model's own default is the site's choice.
TEST(FaceService, AThresholdSetForAnotherModelIsRefusedAtStart) {
    TempDir dir;
    FaceKey::create(dir.file("face.key"));
    auto site = [&](const std::string& model, const std::string& threshold) {
        write_file(dir.file("site.yaml"),
                   "site: {id: t, name: x}\nstore: {path: " + dir.file("f.db") +
                       "}\nmqtt: {enabled: false}\nface: {recognition_model: " + model +
                       ", key_file: " + dir.file("face.key") + ", threshold: " + threshold +
                       "}\nzones: [{id: hall, name: 大厅}]\n");
        return config::load_config(dir.file("site.yaml"));
    };
    Store store(dir.file("f.db"));
    ManualClock clock{now_ms()};
    Roster roster(store, clock);
    auto dlib_at_mobilefacenets = site(model_path(), "0.78");
    try {
        FaceService refused(dlib_at_mobilefacenets, store, clock, roster, nullptr);
        FAIL() << "dlib started at 0.78";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(
            std::string(e.what()).find("face.threshold 0.78 is far above 0.40, the default of dlib's ResNet"),
            std::string::npos)
            << e.what();
        EXPECT_NE(std::string(e.what()).find("caregate face calibrate"), std::string::npos) << e.what();
    }
    auto calibrated = site(mobilefacenet_path(), "0.78");
    EXPECT_NO_THROW(FaceService(calibrated, store, clock, roster, nullptr)) << "stricter than the default";
    auto slightly_looser = site(mobilefacenet_path(), "0.90");
    EXPECT_NO_THROW(FaceService(slightly_looser, store, clock, roster, nullptr));
}

// A face first called a visitor (its first frames matched no one) is still named once later frames
// agree on an elder: the elder is greeted and checked in, not left at the door as a stranger. Here
// the first frames match no one because the elder is enrolled only while standing there.
TEST(FaceService, AVisitorWhoseLaterFramesAgreeOnAnElderIsStillNamed) {
    Site s;
    auto obama = s.elder("obama");
    DoorCamera door(s);
    cv::Mat frame = door_frame("obama_2.jpg");
    auto first = door.show(frame, 10);
    ASSERT_EQ(first.size(), 1u) << "2 s of frames that matched no one: a visitor";
    EXPECT_FALSE(first[0].elder_id);
    s.enroll(obama, {"obama_1.jpg"});
    // A face called a visitor votes twice a second, not at each of the camera's 5 frames.
    EXPECT_TRUE(door.show(frame, 4).empty()) << "0.8 s: too few agreeing votes for a decision";
    // The door's check for templates changed elsewhere comes now: the enrollment was this box's own,
    // so the gallery holds it already and the track is not started again.
    s.faces->follow_store(Heartbeat::steady_ms() + 60'000);
    auto later = door.show(frame, 6);
    ASSERT_EQ(later.size(), 1u) << "the same track, named once 3 votes agree";
    EXPECT_EQ(later[0].elder_id, obama);
    EXPECT_TRUE(door.show(frame, 5).empty()) << "named once per track";
}

// Enrollment at the door: the elder stands before the camera; the box takes the best frames.
TEST(FaceService, StaffEnrollAnElderFromTheDoorCamera) {
    Site s;
    auto id = s.elder("obama");
    config::Camera cam;
    cam.id = "door";
    cam.zone = "hall";
    cam.role = "entrance";
    auto refused = [&](const std::string& why) {
        try {
            s.faces->enroll_from_camera(id, "door", "t");
            ADD_FAILURE() << "expected: " << why;
        } catch (const std::invalid_argument& e) {
            EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
        }
    };
    refused("没有在做人脸识别");
    int64_t t = s.clock.now_ms() - 2000;
    s.faces->frame(cam, cv::Mat(480, 640, CV_8UC3, cv::Scalar(90, 90, 90)), t += 200);
    refused("镜头前没有看到人脸");
    cv::Mat frame = door_frame("obama_2.jpg"), blurred;
    cv::GaussianBlur(frame, blurred, {0, 0}, 2.5);
    s.faces->frame(cam, blurred, t += 200);
    refused("还没有拍到足够清楚的正脸：画面模糊，请长者站定别动");  // why, in staff's words
    s.faces->frame(cam, frame, t += 200);
    refused("还没有拍到足够清楚的正脸");
    s.faces->frame(cam, frame, t += 250);
    s.faces->frame(cam, frame, t += 250);
    // A camera that went silent still holds the last face it saw: not the elder standing there now.
    s.clock.set_ms(t + 2001);
    refused("所选摄像头已有 2 秒没有画面");
    s.clock.set_ms(t + 100);
    EXPECT_EQ(s.faces->enroll_from_camera(id, "door", "t"), 3);
    EXPECT_EQ(s.faces->template_count(id), 3);
    // And a photo of the same elder is recognised from what the camera enrolled.
    auto ids = s.faces->identify(vision::load_image(faces_dir() + "/obama_1.jpg"));
    ASSERT_EQ(ids.size(), 1u);
    EXPECT_EQ(ids[0].match.elder_id, id);
    // Two people before the camera: which one is the elder?
    cv::Mat two = door_frame("group_two_people.jpg");
    s.faces->frame(cam, two, t += 3000);
    s.clock.set_ms(t);
    refused("镜头前有 2 个人");
    // Someone else stepped into the elder's place while staff waited: the camera enrolls the
    // person standing there now, never a mix of the two, in either order.
    auto one_then_other = [&](const char* first, const char* then, int64_t elder) {
        t += 3000;                        // the earlier tracks are gone
        for (auto photo : {first, then})  // their faces overlap in the frame
            for (int i = 0; i < 5; ++i) s.faces->frame(cam, door_frame(photo), t += 250);
        s.clock.set_ms(t);
        EXPECT_EQ(s.faces->enroll_from_camera(elder, "door", "t"), 3);
    };
    auto who = [&](const std::string& photo) -> std::optional<int64_t> {
        auto ids = s.faces->identify(vision::load_image(faces_dir() + "/" + photo));
        if (ids.size() != 1) ADD_FAILURE() << photo << ": " << ids.size() << " faces";
        return ids.size() == 1 ? ids[0].match.elder_id : std::nullopt;
    };
    auto other = s.elder("李福生");
    one_then_other("biden_2.jpg", "kit_harington_2.jpg", other);
    EXPECT_EQ(who("kit_harington_1.jpg"), other) << "the one standing there at the end";
    EXPECT_NE(who("biden_1.jpg"), std::optional<int64_t>(other)) << "the one who left is not enrolled";
    auto third = s.elder("张桂英");
    one_then_other("kit_harington_2.jpg", "biden_2.jpg", third);
    EXPECT_EQ(who("biden_1.jpg"), third) << "the one standing there at the end";
}

// A wrong-record trap: a different person's photo onto an existing elder, or an elder's face onto
// someone else's record, is not stored without staff confirming it.
TEST(FaceService, AFaceUnlikeTheEldersOwnOrLikeAnotherEldersNeedsConfirmation) {
    Site s;
    auto obama = s.elder("obama");
    auto other = s.elder("张桂英");
    ASSERT_EQ(s.enroll(obama, {"obama_1.jpg"}), 1);
    auto warned = [&](int64_t id, const std::string& photo, const std::string& why) {
        try {
            s.enroll(id, {photo});
            ADD_FAILURE() << "expected a warning: " << why;
        } catch (const EnrollmentWarning& e) {
            EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
        }
    };
    warned(obama, "biden_1.jpg", "和obama已登记的人脸不一致");
    warned(other, "obama_2.jpg", "很像已登记的长者obama");
    EXPECT_EQ(s.faces->template_count(obama), 1);
    EXPECT_EQ(s.faces->template_count(other), 0);
    // The same person again is no warning; a confirmed warning is stored (and audited as such).
    EXPECT_EQ(s.enroll(obama, {"obama_2.jpg"}), 1);
    std::vector<std::pair<std::string, cv::Mat>> m{{"p", vision::load_image(faces_dir() + "/biden_1.jpg")}};
    EXPECT_EQ(s.faces->enroll_mats(obama, m, "t", true), 1);
    EXPECT_EQ(s.faces->template_count(obama), 3);
    // Photos of two people in one enrollment are refused outright.
    try {
        s.enroll(other, {"biden_1.jpg", "kit_harington_1.jpg"});
        ADD_FAILURE();
    } catch (const EnrollmentWarning&) {
        ADD_FAILURE() << "not a warning: it is never right";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("不像同一个人"), std::string::npos) << e.what();
    }
}

// Photos of one elder from different days are often further apart than the match threshold; an
// enrollment refusing them would leave the elder unenrolled. Only two different people are refused.
// Here face.threshold (0.5) is below obama_1–obama_2 (0.62), as a strict site's might be.
TEST(FaceService, PhotosOfOneElderFurtherApartThanTheMatchThresholdAreStillEnrolled) {
    Site s(", threshold: 0.5");
    ASSERT_DOUBLE_EQ(s.faces->threshold(), 0.5);
    auto obama = s.elder("obama");
    EXPECT_EQ(s.enroll(obama, {"obama_1.jpg", "obama_2.jpg"}), 2) << "one person, two days: not refused";
    auto b1 = s.faces->identify(vision::load_image(faces_dir() + "/biden_1.jpg"));
    auto b2 = s.faces->identify(vision::load_image(faces_dir() + "/biden_2.jpg"));
    ASSERT_EQ(b1.size(), 1u);
    ASSERT_EQ(b2.size(), 1u);
    ASSERT_GT(vision::distance(*b1[0].face.descriptor, *b2[0].face.descriptor), 0.5)
        << "the two photos are further apart than the threshold, or this checks nothing";
    auto later = s.elder("王建国");
    EXPECT_EQ(s.enroll(later, {"biden_1.jpg"}), 1);
    EXPECT_EQ(s.enroll(later, {"biden_2.jpg"}), 1) << "a later photo of the same man is no warning";
    EXPECT_THROW(s.enroll(s.elder("李秀英"), {"biden_1.jpg", "kit_harington_1.jpg"}), std::invalid_argument)
        << "two different people are still refused";
}

// `caregate face calibrate`: the site's own elders as the impostor cohort. Two photos of one person
// enrolled as two "elders" are the look-alike pair it must name, and the threshold it proposes keeps
// them apart.
TEST(FaceCli, CalibrateNamesTheSitesLookAlikesAndProposesAThreshold) {
    Site s;
    auto a = s.elder("王秀兰");
    auto b = s.elder("王秀英");
    auto c = s.elder("李福生");
    ASSERT_EQ(s.enroll(a, {"obama_1.jpg"}), 1);
    std::vector<std::pair<std::string, cv::Mat>> twin{
        {"p", vision::load_image(faces_dir() + "/obama_2.jpg")}};
    ASSERT_EQ(s.faces->enroll_mats(b, twin, "t", true), 1) << "confirmed: staff say they are sisters";
    ASSERT_EQ(s.enroll(c, {"biden_1.jpg", "biden_2.jpg"}), 2);
    std::string out;
    ASSERT_EQ(run(caregate_bin() + " face calibrate --config " + s.dir.file("site.yaml") + " --json " +
                      s.dir.file("cal.json") + " 2>&1",
                  &out),
              0)
        << out;
    auto j = nlohmann::json::parse(read_file(s.dir.file("cal.json")));
    EXPECT_EQ(j["elders"], 3);
    EXPECT_EQ(j["templates"], 4);
    EXPECT_EQ(j["impostor_pairs"], 5);
    ASSERT_FALSE(j["closest"].empty());
    EXPECT_EQ(j["closest"][0]["elder_a"], a);
    EXPECT_EQ(j["closest"][0]["elder_b"], b);
    double closest = j["closest"][0]["distance"];
    EXPECT_GE(j["impostor_pairs_accepted_at_configured"].get<int>(), 1) << "the sisters are within 0.80";
    ASSERT_TRUE(j["proposed_threshold"].is_number());
    EXPECT_LT(j["proposed_threshold"].get<double>(), closest) << "the proposal keeps every pair apart";
    EXPECT_EQ(j["pairs"]["genuine"]["count"], 1) << "李福生's two photos";
    EXPECT_NE(out.find("王秀兰（" + std::to_string(a) + "） ~ 王秀英（" + std::to_string(b) + "）"),
              std::string::npos)
        << out;
    EXPECT_NE(out.find("set face.threshold"), std::string::npos) << out;
    EXPECT_TRUE(j["cohort_normalisation"].is_null());
    EXPECT_NE(out.find("T-norm) not measured: it needs 4 elders"), std::string::npos) << out;

    // A fourth elder: each template is now also a stranger trial with a cohort to score against.
    ASSERT_EQ(s.enroll(s.elder("张桂英"), {"kit_harington_1.jpg", "kit_harington_2.jpg"}), 2);
    ASSERT_EQ(run(caregate_bin() + " face calibrate --config " + s.dir.file("site.yaml") + " --json " +
                      s.dir.file("cal.json") + " 2>&1",
                  &out),
              0)
        << out;
    auto n = nlohmann::json::parse(read_file(s.dir.file("cal.json")))["cohort_normalisation"];
    ASSERT_TRUE(n.is_object()) << out;
    EXPECT_EQ(n["genuine_trials"], 4) << "李福生's and 张桂英's two templates each";
    EXPECT_EQ(n["stranger_trials"], 6);
    EXPECT_EQ(n["plain"]["wrong"], 0);
    EXPECT_NE(out.find("  T-norm:         names "), std::string::npos) << out;
}

// Faces change: templates over a year old, or an elder whose recent door distances crept up to the
// threshold, are listed for renewal.
TEST(FaceCli, RenewalsListOldTemplatesAndRisingDistances) {
    Site s;
    auto old_one = s.elder("老模板");
    auto drifting = s.elder("距离上升");
    auto fine = s.elder("正常");
    auto unknown = s.elder("认不出");
    ASSERT_EQ(s.enroll(old_one, {"obama_1.jpg"}), 1);
    ASSERT_EQ(s.enroll(unknown, {"rose_leslie_1.jpg"}), 1);
    ASSERT_EQ(s.enroll(drifting, {"biden_1.jpg"}), 1);
    ASSERT_EQ(s.enroll(fine, {"kit_harington_1.jpg"}), 1);
    int64_t now = s.clock.now_ms();
    s.store->write([&](sqlite3* db) {
        Stmt(db, "UPDATE face_templates SET created_at=? WHERE elder_id=?")
            .bind(1, int64_t(now - int64_t(400) * 86400000))
            .bind(2, old_one)
            .step();
        for (int i = 0; i < 6; ++i)
            for (auto [id, d] : {std::pair{drifting, 0.88}, std::pair{fine, 0.40}})
                Stmt(db,
                     "INSERT INTO checkins(uuid, elder_id, ts, direction, method, distance) "
                     "VALUES(?,?,?,'in','face',?)")
                    .bind(1, std::to_string(id) + "-" + std::to_string(i))
                    .bind(2, id)
                    .bind(3, now + i)
                    .bind(4, d)
                    .step();
        // 认不出 came three times and was checked in by card each time: the door no longer knows her.
        for (int i = 0; i < 3; ++i)
            Stmt(db, "INSERT INTO checkins(uuid, elder_id, ts, direction, method) VALUES(?,?,?,'in','card')")
                .bind(1, "card-" + std::to_string(i))
                .bind(2, unknown)
                .bind(3, now + i)
                .step();
        // 正常 came by card once too, besides her face check-ins: not a sign.
        Stmt(
            db,
            "INSERT INTO checkins(uuid, elder_id, ts, direction, method) VALUES('fine-card',?,?,'in','card')")
            .bind(1, fine)
            .bind(2, now)
            .step();
    });
    std::string out;
    ASSERT_EQ(run(caregate_bin() + " face renewals --config " + s.dir.file("site.yaml") + " 2>&1", &out), 0)
        << out;
    std::map<int64_t, std::string> why;
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
        auto j = nlohmann::json::parse(line);
        why[j["elder_id"].get<int64_t>()] = j["reason"];
    }
    EXPECT_EQ(why.size(), 3u) << out;
    EXPECT_EQ(why[old_one], "old_templates");
    EXPECT_EQ(why[drifting], "distance_rising");
    EXPECT_EQ(why[unknown], "not_recognised");
    EXPECT_EQ(why.count(fine), 0u);
}

// `caregate face eval DIR --config site.yaml` measures as that site's door decides: its threshold,
// margin and decide_frames, unless a flag overrides one. (Its figures are checked on synthetic
// descriptors in face_eval_test.cpp; this is the command end to end, on real photos.)
TEST(FaceCli, EvalMeasuresWithTheSitesSettingsUnlessAFlagOverrides) {
    Site s(", threshold: 0.5, margin: 0.1, decide_frames: 2");
    std::string out;
    ASSERT_EQ(run(caregate_bin() + " face eval " + faces_dir() + " --config " + s.dir.file("site.yaml") +
                      " --strangers 0 --enroll 1 --json " + s.dir.file("r.json") + " 2>/dev/null",
                  &out),
              0)
        << out;
    auto j = nlohmann::json::parse(read_file(s.dir.file("r.json")));
    EXPECT_EQ(j["model"], "mobilefacenet/192");
    EXPECT_DOUBLE_EQ(j["options"]["threshold"].get<double>(), 0.5);
    EXPECT_DOUBLE_EQ(j["options"]["margin"].get<double>(), 0.1);
    EXPECT_EQ(j["options"]["track_frames"], 2);
    EXPECT_EQ(j["samples"], 13);
    EXPECT_EQ(j["failures"]["count"], 1) << "the group photo: two like-size faces";
    EXPECT_NE(out.find("Open set 1:N (threshold 0.5000, margin 0.1000)"), std::string::npos) << out;

    ASSERT_EQ(run(caregate_bin() + " face eval " + faces_dir() + " --config " + s.dir.file("site.yaml") +
                      " --threshold 0.7 --strangers 0 --json " + s.dir.file("r2.json") + " --descriptors " +
                      s.dir.file("d.jsonl") + " --splits 3 2>/dev/null",
                  &out),
              0)
        << out;
    auto k = nlohmann::json::parse(read_file(s.dir.file("r2.json")));
    EXPECT_DOUBLE_EQ(k["options"]["threshold"].get<double>(), 0.7) << "the flag wins";
    EXPECT_DOUBLE_EQ(k["options"]["margin"].get<double>(), 0.1) << "the rest still from the site";
    EXPECT_EQ(k["options"]["mean_templates"], true);
    // --splits: the open set summed over 3 choices (with --strangers 0 each has the same probes).
    EXPECT_EQ(k["splits"]["splits"], 3);
    EXPECT_EQ(k["splits"]["genuine_probes"].get<int>(),
              3 * k["open_set"]["counts"]["genuine_probes"].get<int>());
    EXPECT_NE(out.find("Over 3 choices of strangers"), std::string::npos) << out;
    // --descriptors: one line a photo, the descriptor or why there is none; owner-only (biometric).
    std::istringstream lines(read_file(s.dir.file("d.jsonl")));
    int photos = 0, with = 0;
    for (std::string line; std::getline(lines, line); ++photos) {
        auto d = nlohmann::json::parse(line);
        if (d.contains("descriptor")) {
            ++with;
            EXPECT_EQ(d["descriptor"].size(), 192u);
        } else {
            EXPECT_FALSE(d["reject_reason"].get<std::string>().empty());
        }
    }
    EXPECT_EQ(photos, 13);
    EXPECT_EQ(with, 12);
    auto perms = std::filesystem::status(s.dir.file("d.jsonl")).permissions();
    EXPECT_EQ(perms & std::filesystem::perms::all,
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

// `caregate face import DIR`: one sub-folder per elder (by name or id). The consent named on the
// command line is recorded, what enrollment left out is printed, and a folder that cannot be
// enrolled is named with the reason while the others are stored.
TEST(FaceCli, ImportEnrollsAFolderPerElderAndSaysWhatWentWrong) {
    Site s;
    auto wang = s.elder("王秀英", false);
    auto li = s.elder("李福生");
    auto zhao = s.elder("赵大妈");
    std::filesystem::path dir = s.dir.file("import");
    auto put = [&](const std::string& who, const std::string& name, const cv::Mat& img) {
        std::filesystem::create_directories(dir / who);
        ASSERT_TRUE(cv::imwrite((dir / who / name).string(), img));
    };
    put("王秀英", "1.jpg", vision::load_image(faces_dir() + "/obama_1.jpg"));
    put("王秀英", "2.jpg", vision::load_image(faces_dir() + "/obama_2.jpg"));
    // What Windows and macOS leave in a folder of photos is passed over, not a failure.
    write_file((dir / "王秀英" / "Thumbs.db").string(), "not a photo");
    write_file((dir / "王秀英" / ".DS_Store").string(), "not a photo");
    put("李福生", "1.jpg", vision::load_image(faces_dir() + "/group_two_people.jpg"));
    // 赵大妈's photo has a small passer-by behind her.
    cv::Mat elder, passer;
    cv::resize(vision::load_image(faces_dir() + "/biden_1.jpg"), elder, {}, 1.5, 1.5, cv::INTER_CUBIC);
    cv::resize(vision::load_image(faces_dir() + "/obama_1.jpg"), passer, {}, 0.55, 0.55, cv::INTER_AREA);
    cv::Mat canvas(elder.rows + passer.rows, elder.cols + passer.cols, CV_8UC3, cv::Scalar(90, 90, 90));
    elder.copyTo(canvas(cv::Rect(0, passer.rows, elder.cols, elder.rows)));
    passer.copyTo(canvas(cv::Rect(elder.cols, 0, passer.cols, passer.rows)));
    put("赵大妈", "1.jpg", canvas);
    put("张三", "1.jpg", vision::load_image(faces_dir() + "/kit_harington_2.jpg"));

    std::string out;
    EXPECT_EQ(run(caregate_bin() + " face import --config " + s.dir.file("site.yaml") +
                      " --consent-by 王护士 " + dir.string() + " 2>&1",
                  &out),
              1)
        << "a folder failed: " << out;
    EXPECT_NE(out.find("imported 2 elders (3 templates), 2 failed"), std::string::npos) << out;
    EXPECT_NE(out.find("张三: no elder with id or name '张三'"), std::string::npos) << out;
    EXPECT_NE(out.find("分不清哪位是老人"), std::string::npos) << out;
    EXPECT_NE(out.find("赵大妈: "), std::string::npos) << out;
    EXPECT_NE(out.find("较小的人脸"), std::string::npos) << "the note on what was left out: " << out;
    EXPECT_NE(out.find("王秀英: 跳过了 2 个不是照片的文件"), std::string::npos) << out;
    EXPECT_EQ(s.faces->template_count(wang), 2);
    EXPECT_EQ(s.faces->template_count(li), 0);
    EXPECT_EQ(s.faces->template_count(zhao), 1);
    auto w = s.roster->get(wang);
    ASSERT_TRUE(w);
    EXPECT_TRUE(w->consent_at);
    EXPECT_EQ(w->consent_by, "王护士");
}

TEST(FaceCli, EmbedAndIdentifyJsonContracts) {
    std::string out;
    ASSERT_EQ(run(caregate_bin() + " face embed --model " + model_path() + " " + faces_dir() +
                      "/group_two_people.jpg 2>/dev/null",
                  &out),
              0)
        << out;
    std::istringstream lines(out);
    std::string line;
    int n = 0;
    while (std::getline(lines, line)) {
        auto j = nlohmann::json::parse(line);
        ASSERT_TRUE(j["box"].is_array());
        EXPECT_EQ(j["box"].size(), 4u);
        EXPECT_LT(j["box"][0].get<int>(), j["box"][2].get<int>());
        EXPECT_TRUE(j["quality"].is_number());
        ASSERT_EQ(j["descriptor"].size(), 128u);
        for (auto& v : j["descriptor"]) EXPECT_TRUE(v.is_number());
        n++;
    }
    EXPECT_EQ(n, 2);
    EXPECT_EQ(run(caregate_bin() + " face embed --model " + model_path() + " /nonexistent.jpg", &out), 1);
    EXPECT_NE(out.find("/nonexistent.jpg"), std::string::npos);

    Site s;
    auto obama = s.elder("obama");
    s.enroll(obama, {"obama_1.jpg"});
    ASSERT_EQ(run(caregate_bin() + " face identify --config " + s.dir.file("site.yaml") + " " + faces_dir() +
                      "/group_two_people.jpg 2>/dev/null",
                  &out),
              0)
        << out;
    std::istringstream ids(out);
    int known = 0, unknown = 0;
    while (std::getline(ids, line)) {
        auto j = nlohmann::json::parse(line);
        EXPECT_EQ(j["box"].size(), 4u);
        EXPECT_TRUE(j["distance"].is_number());
        if (j["elder_id"].is_null())
            unknown++;
        else if (j["elder_id"].get<int64_t>() == obama)
            known++;
    }
    EXPECT_EQ(known, 1);
    EXPECT_EQ(unknown, 1);
}

}  // namespace
// An elder's photo with a cap pulled down to the eyebrows: HOG finds no face in it, so enrollment
// searches the photo again with dlib's CNN (face.photo_detector_model) and finds the elder's face.
// Without the CNN the photo is refused, as before.
TEST(Faces, APhotoHogFindsNoFaceInIsSearchedAgainWithTheCnn) {
    vision::FaceEngineOptions o;
    o.recognition_model = mobilefacenet_path();
    vision::FaceEngine hog(o);
    EXPECT_FALSE(hog.has_photo_fallback());
    o.photo_mmod_model = models_dir() + "/dlib/mmod_human_face_detector.dat";
    ASSERT_TRUE(fs::exists(o.photo_mmod_model)) << "run scripts/setup (scripts/fetch-models)";
    vision::FaceEngine engine(o);
    ASSERT_TRUE(engine.has_photo_fallback());
    std::vector<std::string> files = {"obama_2.jpg", "biden_1.jpg", "rose_leslie_2.jpg"};
    std::vector<vision::Descriptor> uncovered;
    for (auto& file : files)
        uncovered.push_back(
            *hog.analyze_photo(vision::load_image(faces_dir() + "/" + file)).at(0).descriptor);
    for (size_t i = 0; i < files.size(); ++i) {
        cv::Mat photo = vision::load_image(faces_dir() + "/" + files[i]), cap = photo.clone();
        cv::Rect b =
            hog.analyze_photo(photo).at(0).box;  // a dark cap from the top of the picture to the eyebrows
        cv::rectangle(cap, cv::Rect(b.x - b.width / 4, 0, b.width * 3 / 2, b.y + b.height * 35 / 100),
                      cv::Scalar(30, 30, 30), cv::FILLED);
        EXPECT_TRUE(hog.analyze_photo(cap).empty())
            << files[i] << ": HOG finds it after all; pick a harder cap";
        auto found = engine.analyze_photo(cap);
        ASSERT_EQ(found.size(), 1u) << files[i];
        EXPECT_EQ(found[0].reject_reason, "") << files[i];
        EXPECT_GT((found[0].box & b).area(), b.area() / 2) << files[i] << ": the elder's face, where it is";
        ASSERT_TRUE(found[0].descriptor);
        // The cap changes the picture, so the descriptor moves (0.85-0.98 here), but it stays the
        // elder's: within the same-person limit enrollment uses, and nearer than anyone else.
        double own = vision::distance(*found[0].descriptor, uncovered[i]);
        EXPECT_LT(own, engine.same_person_limit()) << files[i];
        for (size_t j = 0; j < files.size(); ++j) {
            if (j == i) continue;
            EXPECT_LT(own, vision::distance(*found[0].descriptor, uncovered[j]))
                << files[i] << " vs " << files[j];
        }
    }
    vision::FaceEngineOptions missing = o;
    missing.photo_mmod_model = "/nonexistent/mmod_human_face_detector.dat";
    EXPECT_FALSE(vision::FaceEngine(missing).has_photo_fallback())
        << "optional: a missing file is no fallback";
}
