// Temperature from radiometric thermal frames: synthetic 16-bit centikelvin frames (160x120) of a
// face seen by a 640x480 RGB camera, mapped by a scale + shift homography; real 16-bit PNG/TIFF
// files written and read back. No models needed.
#include "vision/thermal.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <stdexcept>
#include <vector>

#include "tests/support/test_support.hpp"

using namespace caregate;
using caregate::testing::TempDir;

namespace {

constexpr int kW = 160, kH = 120;
// RGB 640x480 → thermal 160x120: a quarter of the scale, the thermal view shifted by (6, 3) px.
constexpr double kScale = 0.25, kDx = 6, kDy = 3;
const cv::Rect kBox(240, 100, 160, 200);  // RGB face box → thermal x 66..106, y 28..78

vision::ThermalOptions options() {
    vision::ThermalOptions o;
    o.homography = cv::Matx33d(kScale, 0, kDx, 0, kScale, kDy, 0, 0, 1);
    return o;
}

cv::Point2d to_thermal(double x, double y) { return {kScale * x + kDx, kScale * y + kDy}; }

// Paints the thermal pixels under the RGB rectangle [x0,x1]×[y0,y1], grown by `margin` thermal px.
void paint(cv::Mat& celsius, double x0, double y0, double x1, double y1, double value, double margin) {
    cv::Point2d a = to_thermal(x0, y0), b = to_thermal(x1, y1);
    cv::rectangle(celsius, cv::Point(int(std::floor(a.x - margin)), int(std::floor(a.y - margin))),
                  cv::Point(int(std::ceil(b.x + margin)), int(std::ceil(b.y + margin))), cv::Scalar(value),
                  cv::FILLED);
}

// Synthetic landmarks for kBox: eyes at y 175, centres 70 px apart (285 and 355), inner corners
// 39 = (300,175) and 42 = (340,175), eyebrows 144–152 px high. The forehead band they give is
// x 285..355, y 102..133.5; the eye-corner squares are 17.5 px wide.
std::array<cv::Point2f, 68> landmarks() {
    std::array<cv::Point2f, 68> l;
    l.fill(cv::Point2f(320, 200));
    const float brows[10][2] = {{262, 152}, {272, 146}, {284, 144}, {296, 145}, {308, 149},
                                {332, 149}, {344, 145}, {356, 144}, {368, 146}, {378, 152}};
    for (int i = 0; i < 10; ++i) l[17 + i] = {brows[i][0], brows[i][1]};
    const float eyes[12][2] = {{270, 175}, {280, 170}, {290, 170}, {300, 175}, {290, 180}, {280, 180},
                               {340, 175}, {350, 170}, {360, 170}, {370, 175}, {360, 180}, {350, 180}};
    for (int i = 0; i < 12; ++i) l[36 + i] = {eyes[i][0], eyes[i][1]};
    return l;
}

struct Scene {
    cv::Rect box = kBox;
    double ambient = 22.0;
    double face = 34.5;      // cheeks, nose, chin: cooler than the measured spots
    double forehead = 36.6;  // skin temperature where it is measured
    double canthi = 36.6;    // inner eye corners
    double noise = 0.03;     // sensor noise (σ, °C)
};

// °C → centikelvin raw frame (CV_16UC1), fixed-seed Gaussian noise.
cv::Mat to_raw(const cv::Mat& celsius, double noise) {
    cv::Mat n(celsius.size(), CV_32F);
    cv::RNG rng(20240611);
    rng.fill(n, cv::RNG::NORMAL, 0.0, noise);
    cv::Mat raw;
    cv::Mat(celsius + n).convertTo(raw, CV_16U, 100.0, 27315.0);
    return raw;
}

cv::Mat celsius_frame(const Scene& s) {
    cv::Mat c(kH, kW, CV_32F, cv::Scalar(s.ambient));
    const cv::Rect& b = s.box;
    paint(c, b.x, b.y, b.x + b.width, b.y + b.height, s.face, 0);
    // The forehead: both the box band (x 25–75 %, y 5–30 %) and the band above the eyebrows.
    paint(c, b.x + 0.25 * b.width, b.y + 0.01 * b.height, b.x + 0.75 * b.width, b.y + 0.30 * b.height,
          s.forehead, 1.5);
    if (b == kBox)
        for (double x : {300.0, 340.0}) paint(c, x - 8.75, 175 - 8.75, x + 8.75, 175 + 8.75, s.canthi, 0.5);
    return c;
}

cv::Mat frame(const Scene& s) { return to_raw(celsius_frame(s), s.noise); }

vision::ThermalMeasurement measure(const cv::Mat& raw, const cv::Rect& box,
                                   const std::array<cv::Point2f, 68>* lm = nullptr,
                                   const vision::ThermalOptions& o = options()) {
    std::string why;
    auto m = vision::measure_face(raw, box, lm, o, &why);
    if (!m) throw std::runtime_error("no measurement: " + why);
    return *m;
}

std::string refusal(const cv::Mat& raw, const cv::Rect& box, const vision::ThermalOptions& o = options()) {
    std::string why;
    auto m = vision::measure_face(raw, box, nullptr, o, &why);
    if (m) return "measured " + std::to_string(m->celsius) + " instead of refusing";
    EXPECT_FALSE(why.empty());
    return why;
}

}  // namespace

TEST(Thermal, DefaultCalibrationReadsCentikelvin) {
    vision::ThermalOptions o;
    EXPECT_DOUBLE_EQ(o.cal.gain, 0.01);
    EXPECT_DOUBLE_EQ(o.cal.offset, -273.15);
    // A uniform 36.6 °C frame (30975 cK) reads 36.6 with the identity homography.
    cv::Mat raw(kH, kW, CV_16UC1, cv::Scalar(30975));
    std::string why;
    auto m = vision::measure_face(raw, cv::Rect(40, 20, 60, 80), nullptr, o, &why);
    ASSERT_TRUE(m) << why;
    EXPECT_NEAR(m->celsius, 36.6, 1e-9);
    EXPECT_EQ(m->pixels, m->region_box.area());  // a rectangle band, every pixel valid
    ASSERT_TRUE(m->ambient_c);
    EXPECT_NEAR(*m->ambient_c, 36.6, 1e-9);
}

TEST(Thermal, NormalSkinThroughScaledShiftedHomography) {
    auto m = measure(frame(Scene{}), kBox);
    EXPECT_NEAR(m.celsius, 36.6, 0.1);
    EXPECT_NEAR(m.skin_c, 36.6, 0.1);
    EXPECT_DOUBLE_EQ(m.ambient_correction_c, 0.0);
    EXPECT_FALSE(m.used_landmarks);
    ASSERT_TRUE(m.ambient_c);
    EXPECT_NEAR(*m.ambient_c, 22.0, 0.02);
    // Band x 25–75 %, y 5–30 % of the box → thermal x 76..96, y 30.5..43: some 250 pixels.
    EXPECT_GE(m.pixels, 150);
    EXPECT_LE(m.pixels, 400);
    // The mapped face box is thermal (66, 28) 40x50, give or take the rasterised edge.
    EXPECT_NEAR(m.face_box.x, 66, 1);
    EXPECT_NEAR(m.face_box.y, 28, 1);
    EXPECT_NEAR(m.face_box.width, 41, 2);
    EXPECT_NEAR(m.face_box.height, 51, 2);
    EXPECT_NEAR(m.region_box.x, 76, 1);
    EXPECT_NEAR(m.region_box.y, 31, 1);
    EXPECT_NEAR(m.region_box.br().x, 97, 1);
    EXPECT_NEAR(m.region_box.br().y, 44, 1);
}

TEST(Thermal, IdentityHomographyWouldMissTheFace) {
    // The same frame measured without the calibrated mapping looks at the wrong place (background).
    vision::ThermalOptions o;  // identity
    std::string why;
    auto m = vision::measure_face(frame(Scene{}), kBox, nullptr, o, &why);
    ASSERT_FALSE(m) << "measured " << m->celsius;
    EXPECT_NE(why.find("outside"), std::string::npos) << why;
}

TEST(Thermal, SingleHotPixelInForeheadDoesNotMoveTheReading) {
    cv::Mat raw = frame(Scene{});
    cv::Point2d centre = to_thermal(320, 135);                       // the middle of the forehead band
    raw.at<uint16_t>(cvRound(centre.y), cvRound(centre.x)) = 33315;  // 60.00 °C
    auto m = measure(raw, kBox);
    EXPECT_LE(m.celsius, 36.7);
    EXPECT_GE(m.celsius, 36.5);
    // The hot pixel is inside the measured region: the maximum (percentile 1) finds it.
    auto o = options();
    o.percentile = 1.0;
    EXPECT_NEAR(measure(raw, kBox, nullptr, o).celsius, 60.0, 0.02);
}

TEST(Thermal, FeverReadsFever) {
    Scene s;
    s.forehead = s.canthi = 38.2;
    auto m = measure(frame(s), kBox);
    EXPECT_NEAR(m.celsius, 38.2, 0.1);
    auto lm = landmarks();
    EXPECT_NEAR(measure(frame(s), kBox, &lm).celsius, 38.2, 0.1);
}

TEST(Thermal, LandmarksPlaceForeheadAboveEyebrowsAndAddInnerEyeCorners) {
    Scene s;
    s.forehead = 35.0;  // a forehead cooled by the wind outside; the inner eye corners stay warm
    s.canthi = 36.9;
    cv::Mat raw = frame(s);
    auto lm = landmarks();
    auto with = measure(raw, kBox, &lm);
    EXPECT_TRUE(with.used_landmarks);
    EXPECT_NEAR(with.celsius, 36.9, 0.1);
    // Forehead band RGB y 102..133.5 → thermal 28.5..36.4; eye corners → thermal y 44.6..48.9.
    EXPECT_NEAR(with.region_box.y, 29, 1);
    EXPECT_NEAR(with.region_box.br().y, 50, 1.5);
    EXPECT_NEAR(with.region_box.x, 77, 1);
    EXPECT_NEAR(with.region_box.br().x, 96, 1.5);
    auto without = measure(raw, kBox);
    EXPECT_FALSE(without.used_landmarks);
    EXPECT_NEAR(without.celsius, 35.0, 0.1);
}

TEST(Thermal, DegenerateLandmarksAreRefused) {
    std::array<cv::Point2f, 68> lm;
    lm.fill(cv::Point2f(320, 200));
    std::string why;
    EXPECT_FALSE(vision::measure_face(frame(Scene{}), kBox, &lm, options(), &why));
    EXPECT_NE(why.find("degenerate"), std::string::npos) << why;
}

TEST(Thermal, FaceBoxMappedOutsideTheFrameIsRefused) {
    cv::Mat raw = frame(Scene{});
    // RGB x 700.. maps to thermal x 181.., right of the 160-px-wide frame.
    std::string why = refusal(raw, cv::Rect(700, 100, 160, 200));
    EXPECT_NE(why.find("outside the 160x120 thermal frame"), std::string::npos) << why;
    // Above the frame.
    why = refusal(raw, cv::Rect(240, -400, 160, 200));
    EXPECT_NE(why.find("outside"), std::string::npos) << why;
}

TEST(Thermal, PartlyVisibleFaceIsClippedToTheFrame) {
    Scene s;
    s.box = cv::Rect(-100, 100, 160, 200);  // thermal x -19..21: the left half is out of view
    auto m = measure(frame(s), s.box);
    EXPECT_NEAR(m.celsius, 36.6, 0.1);
    EXPECT_EQ(m.face_box.x, 0);
    EXPECT_EQ(m.region_box.x, 0);
}

TEST(Thermal, TooFewPixelsIsRefused) {
    // A 16-px face in RGB is 4 thermal px: its forehead band covers a handful of pixels.
    std::string why = refusal(frame(Scene{}), cv::Rect(300, 200, 16, 16));
    EXPECT_NE(why.find("need at least 20"), std::string::npos) << why;
    // No-data pixels (raw 0) do not count as measured.
    cv::Mat raw = frame(Scene{});
    cv::Point2d a = to_thermal(kBox.x, kBox.y), b = to_thermal(kBox.br().x, kBox.br().y);
    cv::rectangle(raw, cv::Point(int(a.x) - 1, int(a.y) - 1), cv::Point(int(b.x) + 1, int(b.y) + 1),
                  cv::Scalar(0), cv::FILLED);
    why = refusal(raw, kBox);
    EXPECT_NE(why.find("only 0 valid"), std::string::npos) << why;
}

TEST(Thermal, WrongFrameTypeIsRefused) {
    cv::Mat raw = frame(Scene{});
    cv::Mat eight;
    raw.convertTo(eight, CV_8U, 1.0 / 256);
    std::string why = refusal(eight, kBox);
    EXPECT_NE(why.find("CV_16UC1"), std::string::npos) << why;
    EXPECT_NE(why.find("CV_8UC1"), std::string::npos) << why;
    cv::Mat f;
    raw.convertTo(f, CV_32F);
    why = refusal(f, kBox);
    EXPECT_NE(why.find("CV_32FC1"), std::string::npos) << why;
    why = refusal(cv::Mat(), kBox);
    EXPECT_NE(why.find("empty"), std::string::npos) << why;
}

TEST(Thermal, InvalidOptionsAreRefused) {
    cv::Mat raw = frame(Scene{});
    auto o = options();
    o.percentile = 1.5;
    EXPECT_NE(refusal(raw, kBox, o).find("percentile"), std::string::npos);
    o = options();
    o.homography = cv::Matx33d(1, 2, 0, 2, 4, 0, 0, 0, 1);
    EXPECT_NE(refusal(raw, kBox, o).find("singular"), std::string::npos);
    o = options();
    // w = 0.01·x − 3 changes sign at RGB x = 300, inside the face box.
    o.homography = cv::Matx33d(kScale, 0, kDx, 0, kScale, kDy, 0.01, 0, -3);
    EXPECT_NE(refusal(raw, kBox, o).find("line at infinity"), std::string::npos);
    o = options();
    o.cal.gain = 0;
    EXPECT_NE(refusal(raw, kBox, o).find("calibration"), std::string::npos);
    EXPECT_NE(refusal(raw, cv::Rect(240, 100, 0, 200)).find("empty face box"), std::string::npos);
}

TEST(Thermal, AmbientCompensationChangesTheResultByTheConfiguredAmount) {
    cv::Mat raw = frame(Scene{});  // ambient 22 °C
    auto plain = measure(raw, kBox);
    auto o = options();
    o.ambient_coeff = 0.1;
    o.ambient_ref_c = 25.0;
    auto comp = measure(raw, kBox, nullptr, o);
    ASSERT_TRUE(comp.ambient_c);
    EXPECT_NEAR(*comp.ambient_c, 22.0, 0.02);
    EXPECT_DOUBLE_EQ(comp.skin_c, plain.skin_c);
    EXPECT_NEAR(comp.ambient_correction_c, 0.3, 0.005);  // 0.1 · (25 − 22)
    EXPECT_NEAR(comp.celsius - plain.celsius, 0.3, 0.005);

    // A warm room (30 °C) lowers the reading: 0.1 · (25 − 30) = −0.5.
    Scene warm;
    warm.ambient = 30.0;
    auto hot = measure(frame(warm), kBox, nullptr, o);
    ASSERT_TRUE(hot.ambient_c);
    EXPECT_NEAR(*hot.ambient_c, 30.0, 0.02);
    EXPECT_NEAR(hot.celsius, hot.skin_c - 0.5, 0.005);
    EXPECT_NEAR(hot.celsius, 36.1, 0.1);
}

TEST(Thermal, SixteenBitPngAndTiffRoundTrip) {
    TempDir dir;
    cv::Mat raw = frame(Scene{});
    auto direct = measure(raw, kBox);
    for (std::string name : {"frame.png", "frame.tiff"}) {
        std::string path = dir.file(name);
        ASSERT_TRUE(cv::imwrite(path, raw)) << path;
        cv::Mat back = vision::load_thermal_frame(path);
        ASSERT_EQ(back.type(), CV_16UC1) << name;
        ASSERT_EQ(back.size(), raw.size()) << name;
        EXPECT_EQ(cv::norm(back, raw, cv::NORM_INF), 0.0) << name;
        auto m = measure(back, kBox);
        EXPECT_NEAR(m.celsius, 36.6, 0.1) << name;
        EXPECT_DOUBLE_EQ(m.celsius, direct.celsius) << name;
    }
}

TEST(Thermal, FeverFrameFromPngFile) {
    TempDir dir;
    Scene s;
    s.forehead = s.canthi = 38.2;
    std::string path = dir.file("fever.png");
    ASSERT_TRUE(cv::imwrite(path, frame(s)));
    auto lm = landmarks();
    EXPECT_NEAR(measure(vision::load_thermal_frame(path), kBox, &lm).celsius, 38.2, 0.1);
}

TEST(Thermal, EightBitImagesAreRefusedNamingTheFile) {
    TempDir dir;
    cv::Mat raw = frame(Scene{});
    cv::Mat grey8;
    raw.convertTo(grey8, CV_8U, 1.0 / 256);
    cv::Mat colour8;
    cv::applyColorMap(grey8, colour8, cv::COLORMAP_JET);  // what a "thermal image" export looks like
    cv::Mat colour16;
    cv::Mat planes[] = {raw, raw, raw};
    cv::merge(planes, 3, colour16);
    for (auto& [name, img] : std::vector<std::pair<std::string, cv::Mat>>{
             {"grey8.png", grey8}, {"jet8.png", colour8}, {"colour16.png", colour16}}) {
        std::string path = dir.file(name);
        ASSERT_TRUE(cv::imwrite(path, img)) << path;
        try {
            vision::load_thermal_frame(path);
            ADD_FAILURE() << name << " was accepted";
        } catch (const std::runtime_error& e) {
            std::string what = e.what();
            EXPECT_NE(what.find(path), std::string::npos) << what;
            EXPECT_NE(what.find("not a 16-bit radiometric frame"), std::string::npos) << what;
        }
    }
}

TEST(Thermal, MissingOrCorruptFileNamesThePath) {
    TempDir dir;
    std::string missing = dir.file("nope.png");
    try {
        vision::load_thermal_frame(missing);
        ADD_FAILURE() << "missing file accepted";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
    }
    std::string junk = dir.file("junk.png");
    caregate::testing::write_file(junk, "not an image at all");
    try {
        vision::load_thermal_frame(junk);
        ADD_FAILURE() << "junk accepted";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find(junk), std::string::npos) << e.what();
    }
}
