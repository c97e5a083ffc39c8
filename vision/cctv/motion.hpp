// Motion and people on one camera: background subtraction on a downscaled grey frame (cheap enough
// for 4 cameras on one core), and OpenCV's HOG people detector run only where something moved.
#pragma once

#include <opencv2/core.hpp>
#include <opencv2/objdetect.hpp>
#include <opencv2/video/background_segm.hpp>
#include <vector>

namespace caregate::cctv {

struct MotionOptions {
    int analysis_width = 320;                   // frames are analysed at this width
    double min_area_fraction = 0.004;           // of the analysed frame, to count as motion
    int sensitivity = 16;                       // MOG2 variance threshold: lower = more sensitive
    std::vector<std::vector<cv::Point>> masks;  // ignored regions, in full-frame coordinates
    bool detect_people = true;
};

struct FrameAnalysis {
    bool motion = false;
    double motion_score = 0;       // moving area fraction
    std::vector<cv::Rect> moving;  // full-frame coordinates
    std::vector<cv::Rect> people;  // full-frame coordinates
    double person_score = 0;
    double brightness = 0;  // mean grey level
    double contrast = 0;    // grey standard deviation (a covered lens is flat)
};

class MotionDetector {
public:
    explicit MotionDetector(MotionOptions opts);
    FrameAnalysis analyze(const cv::Mat& bgr);
    void reset();  // after a resolution change or a reconnect

private:
    MotionOptions opts_;
    cv::Ptr<cv::BackgroundSubtractorMOG2> bg_;
    cv::HOGDescriptor hog_;
    cv::Size frame_size_;
    cv::Mat mask_small_;
    int frames_ = 0;
};

// Blanks the privacy masks (filled black polygons) in place.
void apply_privacy_masks(cv::Mat& bgr, const std::vector<std::vector<cv::Point>>& masks);

}  // namespace caregate::cctv
