// dlib's CNN face detector (MMOD, the network of dlib's dnn_mmod_face_detection_ex), used instead of
// the HOG detector when a site names its model file (e.g. mmod_human_face_detector.dat): slower on a
// CPU, but it finds faces turned further away and in poorer light.
#pragma once

#include <memory>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

namespace caregate::vision {

class MmodDetector {
public:
    // Throws naming the file when it is missing or not an MMOD face detector.
    explicit MmodDetector(const std::string& model_path);
    ~MmodDetector();
    // Face boxes in `bgr` pixels, with the detector's confidence.
    std::vector<std::pair<cv::Rect, double>> detect(const cv::Mat& bgr);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace caregate::vision
