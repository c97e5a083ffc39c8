// libFuzzer target: decode_image, the reader of every photo staff upload at the kiosk (and the
// CLI's files): the header walk that bounds a picture's size before decoding, then OpenCV's JPEG
// and PNG decoders (the system's, not instrumented: coverage guides our header walk and the checks
// around the decoders). Never crashes and throws nothing but std::runtime_error; a picture it
// returns is 8-bit BGR, not empty, at most kMaxImagePixels, and of the size its header said (turned
// by EXIF).
#include <cstdint>
#include <stdexcept>
#include <string>

#include "vision/image_file.hpp"

using caregate::vision::decode_image;
using caregate::vision::image_size;
using caregate::vision::kMaxImagePixels;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string bytes(reinterpret_cast<const char*>(data), size);
    auto header = image_size(bytes);
    // A small file may announce a large picture, which the decoder then fills: fine at 40 MP once,
    // too slow for millions of runs. Larger announced sizes exercise the header walk only; the
    // bound itself is checked by the tests (Faces.*).
    if (header && uint64_t(header->first) * header->second > 1'000'000) return 0;
    cv::Mat img;
    try {
        img = decode_image(bytes, "upload");
    } catch (const std::runtime_error&) {
        return 0;
    }
    if (!header || img.empty() || img.type() != CV_8UC3) __builtin_trap();
    if (uint64_t(img.cols) * uint64_t(img.rows) > kMaxImagePixels) __builtin_trap();
    // At most 1 MP announced, so never decoded reduced: the header's size, or turned by EXIF.
    const uint32_t w = header->first, h = header->second, cols = uint32_t(img.cols),
                   rows = uint32_t(img.rows);
    if (!(cols == w && rows == h) && !(cols == h && rows == w)) __builtin_trap();
    return 0;
}
