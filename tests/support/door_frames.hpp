// Camera frames made from the test photos (tests/data/faces): a photo letterboxed into the door
// camera's 640×480 picture, on grey, as the camera frames the elder standing before it.
#pragma once

#include <algorithm>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <string>

#include "tests/support/test_support.hpp"
#include "vision/face_engine.hpp"

namespace caregate::testing {

inline cv::Mat letterboxed(const cv::Mat& photo, int width = 640, int height = 480) {
    double k = std::min(double(width) / photo.cols, double(height) / photo.rows);
    cv::Mat scaled, frame(height, width, CV_8UC3, cv::Scalar(90, 90, 90));
    cv::resize(photo, scaled, {}, k, k, cv::INTER_AREA);
    scaled.copyTo(
        frame(cv::Rect((width - scaled.cols) / 2, (height - scaled.rows) / 2, scaled.cols, scaled.rows)));
    return frame;
}

// tests/data/faces/<photo_name> as the door camera would see it.
inline cv::Mat door_frame(const std::string& photo_name) {
    return letterboxed(vision::load_image(test_data_dir() + "/faces/" + photo_name));
}

}  // namespace caregate::testing
