#include "vision/image_file.hpp"

#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace caregate::vision {

cv::Mat to_bgr8(const cv::Mat& in) {
    cv::Mat img = in;
    if (img.depth() == CV_16U)
        img.convertTo(img, CV_8U, 1.0 / 257.0);
    else if (img.depth() != CV_8U) {
        cv::Mat tmp;
        cv::normalize(img, tmp, 0, 255, cv::NORM_MINMAX, CV_8U);
        img = tmp;
    }
    cv::Mat out;
    if (img.channels() == 1)
        cv::cvtColor(img, out, cv::COLOR_GRAY2BGR);
    else if (img.channels() == 4)
        cv::cvtColor(img, out, cv::COLOR_BGRA2BGR);
    else if (img.channels() == 3)
        out = img;
    else
        throw std::runtime_error("images with " + std::to_string(img.channels()) +
                                 " channels are not supported");
    return out;
}

namespace {
struct JpegWalk {
    std::optional<std::pair<uint32_t, uint32_t>> frame;  // the first start-of-frame's width, height
    std::optional<size_t> end;                           // just past the end-of-image marker
};

// Walks a JPEG's markers as libjpeg reads them: a length after each, but none after RST0..7 and
// TEM, fill bytes (FF) skipped. Anything libjpeg would not take as a marker where one belongs
// (a stray byte, FF 00, a second SOI) ends the walk: the picture is refused, never misread. With
// `to_end`, it goes on through the entropy-coded data of each scan to the end-of-image marker:
// a motion photo's video or a maker's trailer may follow it, a truncated upload has none.
JpegWalk walk_jpeg(const std::string& b, bool to_end) {
    JpegWalk out;
    auto u8 = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(b[i])); };
    if (b.size() < 4 || u8(0) != 0xFF || u8(1) != 0xD8) return out;
    size_t i = 2;
    while (i + 1 < b.size()) {
        if (u8(i) != 0xFF) return out;
        const uint32_t marker = u8(i + 1);
        if (marker == 0xFF) {  // fill byte
            i++;
            continue;
        }
        if (marker == 0xD9) {
            if (out.frame) out.end = i + 2;
            return out;
        }
        if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {  // TEM, RSTn: no length
            i += 2;
            continue;
        }
        if (marker == 0x00 || marker == 0xD8 || i + 3 >= b.size()) return out;
        const size_t length = u8(i + 2) << 8 | u8(i + 3);
        if (length < 2) return out;
        // SOF0..SOF15 but DHT, JPG, DAC: precision, height, width.
        if (!out.frame && marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 &&
            marker != 0xCC) {
            if (i + 8 >= b.size()) return out;
            out.frame = std::make_pair(u8(i + 7) << 8 | u8(i + 8), u8(i + 5) << 8 | u8(i + 6));
            if (!to_end) return out;
        }
        if (marker == 0xDA && !out.frame) return out;  // image data before a frame
        i += 2 + length;
        if (marker == 0xDA) {
            // Entropy-coded data: FF 00 is a stuffed FF, FF D0..D7 a restart, FF FF fill; any other
            // FF xx is the next marker.
            for (;;) {
                i = b.find('\xFF', i);
                if (i == std::string::npos || i + 1 >= b.size()) return out;
                const uint32_t next = u8(i + 1);
                if (next != 0x00 && next != 0xFF && !(next >= 0xD0 && next <= 0xD7)) break;
                i += next == 0xFF ? 1 : 2;
            }
        }
    }
    return out;
}

// PNG: signature, then the IHDR chunk with width and height.
std::optional<std::pair<uint32_t, uint32_t>> png_size(const std::string& b) {
    auto u8 = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(b[i])); };
    auto be32 = [&](size_t i) { return u8(i) << 24 | u8(i + 1) << 16 | u8(i + 2) << 8 | u8(i + 3); };
    if (b.size() >= 24 && b.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0 && b.compare(12, 4, "IHDR") == 0)
        return std::make_pair(be32(16), be32(20));
    return std::nullopt;
}
}  // namespace

std::optional<std::pair<uint32_t, uint32_t>> image_size(const std::string& b) {
    if (auto png = png_size(b)) return png;
    return walk_jpeg(b, false).frame;
}

cv::Mat decode_image(const std::string& bytes, const std::string& what) {
    if (bytes.empty()) throw std::runtime_error(what + ": empty file");
    // Read from the header before decoding: a small file may announce a gigapixel picture (a
    // decompression bomb), and only JPEG and PNG decoders are exposed to uploads.
    // A JPEG is walked once, to its end-of-image marker (checked after decoding, below).
    auto size = png_size(bytes);
    JpegWalk walk;
    if (!size) {
        walk = walk_jpeg(bytes, true);
        size = walk.frame;
    }
    if (!size)
        throw std::runtime_error(what + ": not a JPEG or PNG image (use a photo from a phone or camera)");
    const uint64_t pixels = uint64_t(size->first) * size->second;
    const bool jpeg = walk.frame.has_value();
    // A phone's 50 or 108 MP mode is a JPEG: libjpeg decodes it at 1/2, 1/4 or 1/8 of its size
    // straight away (never the full picture in memory), so such photos are taken, at most
    // kMaxImagePixels decoded. A PNG has no such path and is refused beyond it.
    int reduce = 1;
    while (jpeg && reduce < 8 && pixels / uint64_t(reduce * reduce) > kMaxImagePixels) reduce *= 2;
    if (pixels / uint64_t(reduce * reduce) > kMaxImagePixels || size->first == 0 || size->second == 0)
        throw std::runtime_error(
            what + ": the picture is " + std::to_string(size->first) + "×" + std::to_string(size->second) +
            " pixels; at most " + std::to_string(kMaxImagePixels / 1000000) + " million are accepted" +
            (jpeg ? " (" + std::to_string(kMaxImagePixels * 64 / 1000000) + " million as JPEG)"
                  : std::string()));
    std::vector<uchar> buf(bytes.begin(), bytes.end());
    cv::Mat img;
    try {
        // Not IMREAD_UNCHANGED: that ignores the EXIF orientation a phone writes instead of turning
        // the pixels, and a portrait photo would reach the detector lying on its side. Depth and
        // grey stay as stored (to_bgr8 converts them); only an alpha channel is dropped.
        const int reduced = reduce == 2   ? cv::IMREAD_REDUCED_COLOR_2
                            : reduce == 4 ? cv::IMREAD_REDUCED_COLOR_4
                                          : cv::IMREAD_REDUCED_COLOR_8;
        img = cv::imdecode(buf, reduce == 1 ? cv::IMREAD_ANYDEPTH | cv::IMREAD_ANYCOLOR : reduced);
    } catch (const cv::Exception& e) {
        throw std::runtime_error(what + ": not a readable image (" + std::string(e.what()) + ")");
    }
    if (img.empty())
        throw std::runtime_error(what + ": not a readable JPEG or PNG image (unknown format or truncated)");
    // A truncated JPEG decodes to a grey tail; libjpeg only warns. Its end-of-image marker must be
    // there (what follows it, a motion photo's video, is not read).
    if (jpeg && !walk.end) throw std::runtime_error(what + ": JPEG is truncated (no end-of-image marker)");
    return to_bgr8(img);
}

cv::Mat load_image(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::runtime_error(path + ": cannot open (missing file or no permission)");
    std::stringstream ss;
    ss << f.rdbuf();
    return decode_image(ss.str(), path);
}

}  // namespace caregate::vision
