#include "vision/mmod_detector.hpp"

#include <dlib/dnn.h>
#include <dlib/opencv.h>

#include <filesystem>
#include <opencv2/imgproc.hpp>

namespace caregate::vision {

namespace {
using namespace dlib;
// Exactly dlib's dnn_mmod_face_detection_ex.cpp network, so its published model file loads.
template <long num_filters, typename SUBNET>
using con5d = con<num_filters, 5, 5, 2, 2, SUBNET>;
template <long num_filters, typename SUBNET>
using con5 = con<num_filters, 5, 5, 1, 1, SUBNET>;
template <typename SUBNET>
using downsampler = relu<affine<con5d<32, relu<affine<con5d<32, relu<affine<con5d<16, SUBNET>>>>>>>>>;
template <typename SUBNET>
using rcon5 = relu<affine<con5<45, SUBNET>>>;
using net_type =
    loss_mmod<con<1, 9, 9, 1, 1, rcon5<rcon5<rcon5<downsampler<input_rgb_image_pyramid<pyramid_down<6>>>>>>>>;
}  // namespace

struct MmodDetector::Impl {
    net_type net;
};

MmodDetector::MmodDetector(const std::string& model_path) : impl_(std::make_unique<Impl>()) {
    if (!std::filesystem::exists(model_path))
        throw std::runtime_error("MMOD face detector " + model_path +
                                 " not found; set face.mmod_model to dlib's mmod_human_face_detector.dat, "
                                 "or remove it to use the HOG detector");
    try {
        deserialize(model_path) >> impl_->net;
    } catch (const std::exception& e) {
        throw std::runtime_error("MMOD face detector " + model_path +
                                 " is not a dlib MMOD face detector model (" + e.what() + ")");
    }
}

MmodDetector::~MmodDetector() = default;

std::vector<std::pair<cv::Rect, double>> MmodDetector::detect(const cv::Mat& bgr) {
    cv::Mat rgb;
    cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
    matrix<rgb_pixel> img;
    assign_image(img, cv_image<rgb_pixel>(rgb));
    std::vector<std::pair<cv::Rect, double>> out;
    for (auto& d : impl_->net(img)) {
        cv::Rect r(int(d.rect.left()), int(d.rect.top()), int(d.rect.width()), int(d.rect.height()));
        out.emplace_back(r & cv::Rect(0, 0, bgr.cols, bgr.rows), d.detection_confidence);
    }
    return out;
}

}  // namespace caregate::vision
