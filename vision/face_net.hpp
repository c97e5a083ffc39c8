// dlib's ResNet-29 metric network (the `anet_type` of dlib's dnn_face_recognition_ex): 150×150
// aligned face chip → 128-d descriptor. Weights come either from the official
// dlib_face_recognition_resnet_model_v1.dat or from @vladmandic/face-api's TF.js export,
// converted once by import_face_weights (same serialization as dlib's own file).
#pragma once

#include <array>
#include <memory>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

namespace caregate::vision {

// A face embedding: 128 values from dlib's ResNet, 192 (unit length) from MobileFaceNet.
using Descriptor = std::vector<float>;

// Converts face_api_dir/face_recognition_model-weights_manifest.json (+ its .bin shards) into a
// dlib model file. Throws std::runtime_error naming the file on any inconsistency.
void import_face_weights(const std::string& face_api_dir, const std::string& out_dat);

class FaceNet {
public:
    // Throws naming the file and the command that recreates it.
    explicit FaceNet(const std::string& dat_path);
    ~FaceNet();
    FaceNet(const FaceNet&) = delete;
    FaceNet& operator=(const FaceNet&) = delete;
    // chips: 150×150 RGB (CV_8UC3, RGB order). Not thread-safe: one FaceNet per thread.
    std::vector<Descriptor> embed(const std::vector<cv::Mat>& chips_rgb);
    // The network as dlib serializes it without scratch state (cached outputs, gradients): the same
    // bytes for the same weights, however the file was written (its model id hashes these).
    std::string weights_bytes();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

double distance(const Descriptor& a, const Descriptor& b);

}  // namespace caregate::vision
