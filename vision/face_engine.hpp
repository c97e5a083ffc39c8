// The face pipeline on one image: downscaled HOG detection → 68 landmarks → quality gate (size,
// sharpness, frontal pose, exposure) → aligned chip → descriptor: MobileFaceNet (the default; 112-px
// chip on 5 points → 192 values) or dlib's ResNet (150-px chip → 128 values).
#pragma once

#include <array>
#include <memory>
#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <vector>

#include "vision/face_net.hpp"
#include "vision/image_file.hpp"

namespace caregate::vision {

struct FaceEngineOptions {
    // A .tflite file: MobileFaceNet (5-point ArcFace alignment, 112 px, 192-d unit vectors);
    // otherwise dlib's ResNet (.dat: 150-px chip, 128-d).
    std::string recognition_model;
    std::string landmark_model = "/usr/share/dlib/shape_predictor_68_face_landmarks.dat";
    int detect_width = 640;  // frames are detected on a copy at most this wide (never enlarged)
    std::string mmod_model;  // dlib's CNN face detector instead of HOG when set
    // dlib's CNN face detector for a photo in which HOG found no face (a head turned or tilted, a
    // cap): enrollment waits a second once rather than refuse the photo. Empty, or a file that is
    // not there: no second search (has_photo_fallback() says which).
    std::string photo_mmod_model;
    int min_face_px = 60;  // in original pixels
    double min_sharpness = 40;
    double max_yaw = 0.35;  // nose offset from the eye midline, as a fraction of eye distance
    bool embed = true;
};

struct DetectedFace {
    cv::Rect box;  // original image coordinates
    std::array<cv::Point2f, 68> landmarks{};
    double quality = 0;         // 0..1
    std::string reject_reason;  // empty when good enough to identify or enroll
    std::optional<Descriptor> descriptor;
};

// A photo's detection copy is at most this big (a 12 MP phone photo finds faces from ~130 px).
constexpr double kMaxPhotoDetectPixels = 4'200'000;
// The CNN's second search of a photo runs on a copy at most this big (about 2.5 s on one core, measured).
constexpr double kMaxPhotoCnnPixels = 1'000'000;
// A photo's face passes the size check from this width even when face.min_face_px (the door's) is
// larger: on older East Asian news photos of 150 px, 40 px (against 48) took refusals from 18 to 5
// of 915 with no wrong identity and no more strangers accepted.
constexpr int kMinPhotoFacePx = 40;
// And a photo's face may be turned this far (FaceEngineOptions::max_yaw, the door's, is stricter): on older
// East Asian news photos this took refusals from 49 to 18 of 915 with no wrong identity.
constexpr double kMaxPhotoYaw = 0.6;

class FaceEngine {
public:
    explicit FaceEngine(FaceEngineOptions opts);  // throws naming a missing/corrupt model file
    // An engine for another thread (the staff desk beside the door camera): its own detectors and
    // recognition net, which are not thread-safe, and the same landmark model in memory (read-only,
    // the largest model). `opts` must name the same landmark model.
    FaceEngine(FaceEngineOptions opts, const FaceEngine& landmarks_from);
    ~FaceEngine();
    // A camera frame: detection at detect_width (fast; at 640 px, faces from about 60 px across,
    // reported with boxes of at least ~73 px: HOG's window is 80 px with a margin).
    // with_descriptors=false leaves descriptors empty (a tracker embeds only the faces it needs).
    std::vector<DetectedFace> analyze(const cv::Mat& bgr, bool with_descriptors = true);
    // A photo (enrollment, identify, eval): detection at the scale that finds faces down to
    // min(min_face_px, kMinPhotoFacePx) (HOG's window is 80 px), within kMaxPhotoDetectPixels;
    // faces turned up to max(max_yaw, kMaxPhotoYaw) pass; slower, done once.
    std::vector<DetectedFace> analyze_photo(const cv::Mat& bgr);
    // MobileFaceNet only: Mirror::yes embeds the aligned face with its mirror image (better from a
    // single photo, twice the time); camera frames use Mirror::no, as the door decides over several.
    enum class Mirror { no, yes };
    // Descriptor for a face found earlier (e.g. a tracked face whose quality improved).
    Descriptor embed(const cv::Mat& bgr, const DetectedFace& f, Mirror mirror = Mirror::no);
    const FaceEngineOptions& options() const { return opts_; }
    // Which model makes the descriptors (recognition_model_id): templates of one model are never
    // compared with another's. Empty when built without a recognition model (embed = false).
    std::string model_id() const;
    // The model's calibrated Euclidean match threshold (see docs/face-accuracy.md).
    double default_threshold() const;
    // Beyond this distance two photos are taken to show two different people (enrollment's check
    // that its photos show one person). Far looser than the match threshold: photos of one elder
    // taken years apart must not be refused, only another person's photo.
    double same_person_limit() const;
    // Whether analyze_photo searches again with the CNN when HOG finds no face.
    bool has_photo_fallback() const;

private:
    struct Gate {  // what differs between a camera frame and a photo
        int min_face_px;
        double max_yaw;
        Mirror mirror;
        bool photo_cnn = false;  // detect with the photo fallback CNN
    };
    std::vector<DetectedFace> analyze_at(const cv::Mat& bgr, double scale, bool with_descriptors,
                                         const Gate& gate);
    void load_models(const std::string& known_id = "");  // all but the landmarks; the model id if known
    struct Impl;
    FaceEngineOptions opts_;
    std::string model_id_;
    std::unique_ptr<Impl> impl_;
};

// The model id of a recognition model file, by its contents: "mobilefacenet/192" and
// "dlib_resnet/128" for the files the shipped thresholds were measured with; another file gets its
// kind and the start of its sha256 ("tflite@…"), so templates it made are never compared with a
// known model's, nor a known model's with its. Throws naming a file that cannot be read.
std::string recognition_model_id(const std::string& model_path);
// False for a model id of a file other than those the shipped thresholds were measured with.
bool is_known_recognition_model(const std::string& model_id);
// The calibrated threshold of a recognition model file, without loading it.
double recognition_default_threshold(const std::string& model_path);
// The match distance a site runs `model_path` at: `configured` (face.threshold; 0 = unset) or the
// model's default. A configured value more than kMaxThresholdAboveDefault above the model's default
// was calibrated for another model (MobileFaceNet's 0.78 would run dlib, default 0.40, at a distance
// that names strangers): std::invalid_argument naming face.threshold and the fix.
constexpr double kMaxThresholdAboveDefault = 0.15;
double recognition_threshold(const std::string& model_path, double configured);
double recognition_same_person_limit(const std::string& model_path);

// Eye aspect ratio (Soukupová & Čech) of the 68-point landmarks, mean of both eyes.
double eye_aspect_ratio(const std::array<cv::Point2f, 68>& l);

}  // namespace caregate::vision
