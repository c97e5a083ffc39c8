#include "vision/cctv/motion.hpp"

#include <opencv2/imgproc.hpp>

namespace caregate::cctv {

MotionDetector::MotionDetector(MotionOptions opts) : opts_(std::move(opts)) {
    reset();
    hog_.setSVMDetector(cv::HOGDescriptor::getDefaultPeopleDetector());
}

void MotionDetector::reset() {
    bg_ = cv::createBackgroundSubtractorMOG2(300, opts_.sensitivity, false);
    frame_size_ = {};
    frames_ = 0;
}

void apply_privacy_masks(cv::Mat& bgr, const std::vector<std::vector<cv::Point>>& masks) {
    if (!masks.empty()) cv::fillPoly(bgr, masks, cv::Scalar(0, 0, 0));
}

FrameAnalysis MotionDetector::analyze(const cv::Mat& bgr) {
    FrameAnalysis out;
    if (bgr.empty()) return out;
    if (bgr.size() != frame_size_) {  // first frame or a resolution change mid-stream
        reset();
        frame_size_ = bgr.size();
        double s = std::min(1.0, double(opts_.analysis_width) / bgr.cols);
        cv::Size small(std::max(1, int(bgr.cols * s)), std::max(1, int(bgr.rows * s)));
        mask_small_ = cv::Mat(small, CV_8U, cv::Scalar(255));
        std::vector<std::vector<cv::Point>> scaled;
        for (auto& poly : opts_.masks) {
            std::vector<cv::Point> p;
            for (auto& pt : poly) p.emplace_back(int(pt.x * s), int(pt.y * s));
            scaled.push_back(p);
        }
        if (!scaled.empty()) cv::fillPoly(mask_small_, scaled, cv::Scalar(0));
    }
    double scale = double(mask_small_.cols) / bgr.cols;
    cv::Mat small, grey;
    cv::resize(bgr, small, mask_small_.size(), 0, 0, cv::INTER_AREA);
    cv::cvtColor(small, grey, cv::COLOR_BGR2GRAY);
    cv::Scalar mean, stddev;
    cv::meanStdDev(grey, mean, stddev);
    out.brightness = mean[0];
    out.contrast = stddev[0];
    cv::GaussianBlur(grey, grey, cv::Size(5, 5), 0);

    cv::Mat fg;
    bg_->apply(grey, fg);
    frames_++;
    if (frames_ < 5) return out;  // the model needs a few frames before it means anything
    fg &= mask_small_;
    cv::morphologyEx(fg, fg, cv::MORPH_OPEN, cv::getStructuringElement(cv::MORPH_ELLIPSE, {3, 3}));
    cv::dilate(fg, fg, cv::getStructuringElement(cv::MORPH_ELLIPSE, {7, 7}));
    std::vector<std::vector<cv::Point>> contours;
    cv::findContours(fg, contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_SIMPLE);
    double total = double(fg.total());
    double min_area = opts_.min_area_fraction * total;
    double moving = 0;
    for (auto& c : contours) {
        double a = cv::contourArea(c);
        if (a < min_area) continue;
        moving += a;
        cv::Rect r = cv::boundingRect(c);
        out.moving.emplace_back(int(r.x / scale), int(r.y / scale), int(r.width / scale),
                                int(r.height / scale));
    }
    out.motion_score = moving / total;
    out.motion = !out.moving.empty();

    if (out.motion && opts_.detect_people) {
        // HOG people need ~64x128 px; run it on the analysis frame (or a 2x one for small frames).
        cv::Mat probe = small;
        double ps = 1.0;
        if (small.rows < 256) {
            cv::resize(bgr, probe, {}, 2 * scale, 2 * scale, cv::INTER_LINEAR);
            ps = 2.0;
        }
        std::vector<cv::Rect> found;
        std::vector<double> weights;
        hog_.detectMultiScale(probe, found, weights, 0, cv::Size(8, 8), cv::Size(0, 0), 1.1, 2);
        for (size_t i = 0; i < found.size(); ++i) {
            if (weights[i] < 0.3) continue;
            const auto& r = found[i];
            double k = 1.0 / (scale * ps);
            out.people.emplace_back(int(r.x * k), int(r.y * k), int(r.width * k), int(r.height * k));
            out.person_score = std::max(out.person_score, weights[i]);
        }
    }
    return out;
}

}  // namespace caregate::cctv
