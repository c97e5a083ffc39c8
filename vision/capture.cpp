#include "vision/capture.hpp"

namespace caregate::vision {

bool is_stream_source(const std::string& source) {
    return source.find("://") != std::string::npos || source.rfind("/dev/video", 0) == 0;
}

bool open_capture(cv::VideoCapture& cap, const std::string& source, bool raw) {
    try {
        if (source.rfind("/dev/video", 0) == 0) {
            if (!cap.open(std::stoi(source.substr(10)), cv::CAP_V4L2)) return false;
            if (raw) cap.set(cv::CAP_PROP_CONVERT_RGB, 0);
            return true;
        }
        std::vector<int> params{cv::CAP_PROP_OPEN_TIMEOUT_MSEC, kNetworkTimeoutMs,
                                cv::CAP_PROP_READ_TIMEOUT_MSEC, kNetworkTimeoutMs};
        if (raw) params.insert(params.end(), {cv::CAP_PROP_CONVERT_RGB, 0});
        if (cap.open(source, cv::CAP_FFMPEG, params)) return true;
        // Another backend only for files: for a URL it would bring its own (maybe unbounded) timeouts.
        return !is_stream_source(source) && cap.open(source, cv::CAP_ANY);
    } catch (const std::exception&) {  // a malformed device name, a backend that throws
        return false;
    }
}

}  // namespace caregate::vision
