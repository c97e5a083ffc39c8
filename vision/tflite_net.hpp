// TFLite face-embedding models (MobileFaceNet) run through OpenCV's DNN module: OpenCV 4.6 has no
// TFLite importer, so a bounds-checked reader of the TFLite flatbuffer builds the cv::dnn::Net
// layer by layer (NHWC weights → NCHW). Only the float32 ops such embedders use are supported;
// anything else is refused with the operator's name.
#pragma once

#include <array>
#include <cstdint>
#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>
#include <string>
#include <vector>

namespace caregate::vision {

namespace tflite {

// Builtin operator codes of tensorflow/lite/schema/schema.fbs that the reader accepts.
enum BuiltinOp : int {
    kAdd = 0,
    kConv2d = 3,
    kDepthwiseConv2d = 4,
    kMul = 18,
    kRelu = 19,
    kRelu6 = 21,
    kReshape = 22,
    kSub = 41,
    kPrelu = 54,
    kAbs = 101,
};
enum Activation : int { kActNone = 0, kActRelu = 1, kActRelu6 = 3 };
enum TensorType : int { kFloat32 = 0, kInt32 = 2 };

struct Tensor {
    std::vector<int> shape;  // NHWC for activations; TFLite's own layout for weights
    int type = kFloat32;
    std::string name;
    std::vector<float> f32;    // constant data, when type is float32
    std::vector<int32_t> i32;  // constant data, when type is int32 (reshape targets)
    bool is_const = false;
    int64_t elements() const;
};

struct Operator {
    int code = -1;                     // BuiltinOp
    std::vector<int> inputs, outputs;  // tensor indexes, -1 = optional input left out
    bool valid_padding = false;        // false: SAME
    int stride_w = 1, stride_h = 1, dilation_w = 1, dilation_h = 1;
    int activation = kActNone;
};

struct Model {
    std::string path;
    std::vector<Tensor> tensors;
    std::vector<Operator> ops;  // in execution order
    int input = -1, output = -1;
};

// Parses subgraph 0. Throws std::runtime_error naming the file and the problem for anything
// malformed (offsets outside the file, bad indexes, constant sizes that disagree with shapes) or
// unsupported (other operators, dtypes, activations, several inputs/outputs).
Model read_model(const std::string& path);
std::string op_name(int code);

}  // namespace tflite

class TfliteEmbedder {
public:
    // Builds and dry-runs the net. fuse_prelu=false keeps TFLite's relu/abs/sub/mul/add spelling
    // of PReLU as separate layers (only for checking the fusion). Throws std::runtime_error.
    explicit TfliteEmbedder(const std::string& tflite_path, bool fuse_prelu = true);
    int dim() const { return dim_; }
    cv::Size input_size() const { return input_size_; }
    // Chips: input_size() RGB CV_8UC3, already aligned (align_arcface_112). Normalised as the
    // model was trained, (x − 127.5) / 128; returns L2-normalised vectors. Not thread-safe.
    std::vector<std::vector<float>> embed(const std::vector<cv::Mat>& aligned_rgb);

private:
    cv::dnn::Net net_;
    std::string path_;
    std::string output_name_;
    cv::Size input_size_;
    int dim_ = 0;
};

// Similarity transform of the five points onto the 112×112 ArcFace template (least squares over
// all five), returned as an RGB chip. bgr: CV_8UC3 BGR (CV_8UC1 and CV_8UC4 BGRA are accepted).
// Returns an empty Mat when the points are non-finite or degenerate.
cv::Mat align_arcface_112(const cv::Mat& bgr, const std::array<cv::Point2f, 5>& pts);

// dlib/iBUG 68-point landmarks → ArcFace order: eye centres (image left, right), nose tip,
// mouth corners (left, right).
std::array<cv::Point2f, 5> five_points_from_68(const std::array<cv::Point2f, 68>& pts);

}  // namespace caregate::vision
