// Opening a camera source with OpenCV: /dev/videoN through V4L2, files and network streams (RTSP,
// HTTP MJPEG) through FFmpeg with bounded open and read times, so a camera that stops answering
// without closing the connection cannot hang the thread that reads it (nor shutdown, which joins it).
#pragma once

#include <opencv2/videoio.hpp>
#include <string>

namespace caregate::vision {

constexpr int kNetworkTimeoutMs = 5000;

// A live source (a device or a URL), as opposed to a file or a folder of files.
bool is_stream_source(const std::string& source);

// raw: keep the camera's own pixel format (16-bit radiometric Y16 from a thermal core).
// Never throws; false when the source cannot be opened.
bool open_capture(cv::VideoCapture& cap, const std::string& source, bool raw = false);

}  // namespace caregate::vision
