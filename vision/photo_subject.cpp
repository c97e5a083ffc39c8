#include "vision/photo_subject.hpp"

#include <algorithm>
#include <cmath>

namespace caregate::vision {

namespace {
constexpr double kLikeSize = 2.5;       // area ratio within which two faces are "of a like size"
constexpr double kCentral = 0.15;       // of the width: how far from the centre line is "in the middle"
constexpr double kClearlyCloser = 2.0;  // every other like-size face at least this many times as far
}  // namespace

PhotoSubject choose_subject(const std::vector<DetectedFace>& faces, cv::Size image) {
    PhotoSubject s;
    if (faces.empty()) return s;
    s.others = faces.size() - 1;
    size_t largest = 0;
    for (size_t i = 1; i < faces.size(); ++i)
        if (faces[i].box.area() > faces[largest].box.area()) largest = i;
    std::vector<size_t> like;
    for (size_t i = 0; i < faces.size(); ++i)
        if (kLikeSize * faces[i].box.area() >= faces[largest].box.area()) like.push_back(i);
    s.like_size = like.size();
    if (like.size() == 1) {
        s.index = largest;
        return s;
    }
    // Across only: a portrait has the face above the middle, but seldom beside it.
    auto off = [&](size_t i) {
        return std::abs(faces[i].box.x + faces[i].box.width / 2.0 - image.width / 2.0);
    };
    std::sort(like.begin(), like.end(), [&](size_t a, size_t b) { return off(a) < off(b); });
    if (off(like[0]) <= kCentral * image.width && off(like[1]) >= kClearlyCloser * off(like[0]) &&
        off(like[1]) - off(like[0]) >= faces[like[0]].box.width / 2.0) {
        s.index = like[0];
        s.by_centre = true;
    }
    return s;
}

}  // namespace caregate::vision
