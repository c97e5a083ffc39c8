// Pictures from outside (staff's uploads, the CLI's files): JPEG and PNG only, their size read from
// the header and bounded before anything is decoded, decoded to 8-bit BGR. Nothing here knows
// about faces; the face engine and the thermal reader take what it returns.
#pragma once

#include <cstdint>
#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <utility>

namespace caregate::vision {

// Reads an image file into 8-bit BGR whatever it was (grey, 16-bit, alpha, EXIF-less JPEG/PNG).
// Throws std::runtime_error naming the file for unreadable or truncated images.
cv::Mat load_image(const std::string& path);
cv::Mat decode_image(const std::string& bytes, const std::string& what);
// Photos are refused beyond this (a 12-megapixel phone photo is well inside), before decoding; a
// larger JPEG (a phone's 50 or 108 MP mode), up to 64 times this, is decoded at 1/2, 1/4 or 1/8 of
// its size to fit.
constexpr uint64_t kMaxImagePixels = 40'000'000;
// Width and height from a JPEG's or PNG's header, without decoding; nullopt for anything else.
std::optional<std::pair<uint32_t, uint32_t>> image_size(const std::string& bytes);
// Normalizes any 1/3/4-channel 8/16-bit image to 8-bit BGR.
cv::Mat to_bgr8(const cv::Mat& img);

}  // namespace caregate::vision
