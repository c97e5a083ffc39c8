// Temperature screening from radiometric thermal frames: the RGB face box (and its landmarks) is
// mapped into the thermal image by a calibrated homography, and a robust high percentile is taken
// over the forehead and the inner eye corners. Pure measurement: no device, no config, no events.
#pragma once

#include <array>
#include <opencv2/core.hpp>
#include <optional>
#include <string>

namespace caregate::vision {

// raw → °C: celsius = raw * gain + offset. The default reads centikelvin (raw 30975 = 36.6 °C).
struct ThermalCalibration {
    double gain = 0.01;
    double offset = -273.15;
};

struct ThermalOptions {
    ThermalCalibration cal;
    // RGB pixel → thermal pixel (x_t, y_t, w) = H · (x, y, 1). Identity: same pixel grid.
    cv::Matx33d homography = cv::Matx33d::eye();
    // Robust high percentile over the measured region (0..1, linear interpolation between order
    // statistics): rejects single hot pixels and tolerates hair or glasses over part of the region.
    double percentile = 0.9;
    // Ambient compensation: celsius += ambient_coeff * (ambient_ref_c - ambient), where ambient is the
    // median of the valid pixels outside the mapped face box. 0 turns it off.
    double ambient_coeff = 0.0;
    double ambient_ref_c = 25.0;
    // Fewer valid pixels than this in the measured region → no reading (face too small or too far).
    int min_pixels = 20;
};

struct ThermalMeasurement {
    double celsius = 0;               // skin_c + ambient_correction_c: the reading to publish
    double skin_c = 0;                // the percentile over the region, uncompensated
    double ambient_correction_c = 0;  // ambient_coeff * (ambient_ref_c - ambient_c), 0 when off
    std::optional<double> ambient_c;  // none when no valid pixel lies outside the face box
    int pixels = 0;                   // valid pixels measured (forehead ∪ inner eye corners)
    cv::Rect face_box;                // the mapped face box in thermal pixels, clipped to the frame
    cv::Rect region_box;              // bounds of the measured region in thermal pixels
    bool used_landmarks = false;      // forehead placed from the eyebrows, eye corners measured
};

// Measures skin temperature on a CV_16UC1 radiometric frame. `rgb_face_box` is in RGB pixels;
// `landmarks` (the 68-point layout, RGB pixels) may be null: then only a forehead band of the box
// (x 25–75 %, y 5–30 %) is measured. With landmarks the band sits just above the eyebrows (17–26)
// and small squares around the inner eye corners (39, 42) are added, sized by the eye distance.
// Raw values 0 and 65535 (no data / saturated) are not valid pixels.
// Returns nullopt and says why in *why_not (if given): wrong frame type, invalid options,
// degenerate landmarks, a region mapped outside the frame, too few valid pixels.
std::optional<ThermalMeasurement> measure_face(const cv::Mat& raw16, const cv::Rect& rgb_face_box,
                                               const std::array<cv::Point2f, 68>* landmarks,
                                               const ThermalOptions& opts, std::string* why_not = nullptr);

// Reads a 16-bit single-channel PNG or TIFF as CV_16UC1. Throws std::runtime_error naming the file
// when it is missing or unreadable, or when it is not a 16-bit radiometric frame (8-bit, colour).
cv::Mat load_thermal_frame(const std::string& path);

}  // namespace caregate::vision
