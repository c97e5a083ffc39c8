#include "vision/thermal.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <opencv2/core/check.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace caregate::vision {

namespace {

using Poly = std::vector<cv::Point2d>;

constexpr uint16_t kNoData = 0, kSaturated = 65535;
bool valid_raw(uint16_t v) { return v != kNoData && v != kSaturated; }

std::optional<ThermalMeasurement> refuse(std::string* why_not, const std::string& msg) {
    if (why_not) *why_not = msg;
    return std::nullopt;
}

std::string num(double v, int precision = 1) {
    std::ostringstream ss;
    ss.setf(std::ios::fixed);
    ss.precision(precision);
    ss << v;
    return ss.str();
}

std::string rect_str(const cv::Rect& r) {
    return "(" + std::to_string(r.x) + "," + std::to_string(r.y) + " " + std::to_string(r.width) + "x" +
           std::to_string(r.height) + ")";
}

std::string poly_bounds_str(const Poly& p) {
    double x0 = p[0].x, x1 = p[0].x, y0 = p[0].y, y1 = p[0].y;
    for (auto& q : p) {
        x0 = std::min(x0, q.x), x1 = std::max(x1, q.x);
        y0 = std::min(y0, q.y), y1 = std::max(y1, q.y);
    }
    return "x " + num(x0) + ".." + num(x1) + ", y " + num(y0) + ".." + num(y1);
}

// Maps a convex polygon through the homography. False when it crosses the homography's line at
// infinity (w changes sign or vanishes), where the image of a convex polygon is no longer convex.
bool map_poly(const cv::Matx33d& h, const Poly& in, Poly& out) {
    out.clear();
    int sign = 0;
    for (auto& p : in) {
        cv::Vec3d q = h * cv::Vec3d(p.x, p.y, 1.0);
        double scale = std::abs(q[0]) + std::abs(q[1]) + std::abs(q[2]);
        if (!std::isfinite(scale) || std::abs(q[2]) <= 1e-12 * scale) return false;
        int s = q[2] > 0 ? 1 : -1;
        if (sign != 0 && s != sign) return false;
        sign = s;
        out.emplace_back(q[0] / q[2], q[1] / q[2]);
    }
    return true;
}

// Sutherland–Hodgman clipping of a convex polygon to [x0,x1]×[y0,y1].
Poly clip(const Poly& in, double x0, double y0, double x1, double y1) {
    Poly cur = in;
    auto pass = [&cur](auto inside, auto cross) {
        Poly next;
        for (size_t i = 0; i < cur.size(); ++i) {
            const cv::Point2d& a = cur[i];
            const cv::Point2d& b = cur[(i + 1) % cur.size()];
            bool ia = inside(a), ib = inside(b);
            if (ia) next.push_back(a);
            if (ia != ib) next.push_back(cross(a, b));
        }
        cur.swap(next);
    };
    auto at_x = [](double x) {
        return [x](const cv::Point2d& a, const cv::Point2d& b) {
            return cv::Point2d(x, a.y + (b.y - a.y) * (x - a.x) / (b.x - a.x));
        };
    };
    auto at_y = [](double y) {
        return [y](const cv::Point2d& a, const cv::Point2d& b) {
            return cv::Point2d(a.x + (b.x - a.x) * (y - a.y) / (b.y - a.y), y);
        };
    };
    pass([x0](const cv::Point2d& p) { return p.x >= x0; }, at_x(x0));
    pass([x1](const cv::Point2d& p) { return p.x <= x1; }, at_x(x1));
    pass([y0](const cv::Point2d& p) { return p.y >= y0; }, at_y(y0));
    pass([y1](const cv::Point2d& p) { return p.y <= y1; }, at_y(y1));
    return cur;
}

double area(const Poly& p) {
    double a = 0;
    for (size_t i = 0; i < p.size(); ++i) {
        const auto& u = p[i];
        const auto& v = p[(i + 1) % p.size()];
        a += u.x * v.y - v.x * u.y;
    }
    return std::abs(a) / 2;
}

// Maps an RGB polygon into thermal space, clips it to the frame (pixel centres are integers, a
// pixel reaches ±0.5 around it) and fills it into `mask`. Returns the clipped thermal polygon
// (empty when nothing of it lies in the frame); false when the homography cannot map it.
bool fill_mapped(const cv::Matx33d& h, const Poly& rgb, cv::Mat& mask, Poly* mapped_out, Poly* clipped_out) {
    Poly mapped;
    if (!map_poly(h, rgb, mapped)) return false;
    Poly clipped = clip(mapped, -0.5, -0.5, mask.cols - 0.5, mask.rows - 0.5);
    if (clipped.size() >= 3 && area(clipped) > 1e-6) {
        constexpr int kShift = 4;  // sub-pixel vertices: thermal regions are only a few pixels wide
        std::vector<cv::Point> pts;
        for (auto& p : clipped) pts.emplace_back(cvRound(p.x * (1 << kShift)), cvRound(p.y * (1 << kShift)));
        cv::fillConvexPoly(mask, pts, cv::Scalar(255), cv::LINE_8, kShift);
    } else {
        clipped.clear();
    }
    if (mapped_out) *mapped_out = mapped;
    if (clipped_out) *clipped_out = clipped;
    return true;
}

// A rectangle spanned by unit vectors u (along the eyes) and v (up), around `c`.
Poly oriented_rect(cv::Point2d c, cv::Point2d u, cv::Point2d v, double u0, double u1, double v0, double v1) {
    return {c + u * u0 + v * v0, c + u * u1 + v * v0, c + u * u1 + v * v1, c + u * u0 + v * v1};
}

cv::Point2d mean_of(const std::array<cv::Point2f, 68>& l, int from, int to) {
    cv::Point2d s(0, 0);
    for (int i = from; i <= to; ++i) s += cv::Point2d(l[i].x, l[i].y);
    return s / double(to - from + 1);
}

}  // namespace

std::optional<ThermalMeasurement> measure_face(const cv::Mat& raw16, const cv::Rect& rgb_face_box,
                                               const std::array<cv::Point2f, 68>* landmarks,
                                               const ThermalOptions& opts, std::string* why_not) {
    if (raw16.empty()) return refuse(why_not, "empty thermal frame");
    if (raw16.type() != CV_16UC1)
        return refuse(why_not, "thermal frame must be 16-bit single-channel raw (CV_16UC1), got " +
                                   cv::typeToString(raw16.type()));
    if (!std::isfinite(opts.cal.gain) || opts.cal.gain == 0 || !std::isfinite(opts.cal.offset))
        return refuse(why_not, "invalid thermal calibration (gain " + num(opts.cal.gain, 6) + ", offset " +
                                   num(opts.cal.offset, 3) + "): gain must be finite and non-zero");
    if (!(opts.percentile >= 0 && opts.percentile <= 1))
        return refuse(why_not, "percentile must be between 0 and 1, got " + num(opts.percentile, 3));
    if (!std::isfinite(opts.ambient_coeff) || !std::isfinite(opts.ambient_ref_c))
        return refuse(why_not, "ambient_coeff and ambient_ref_c must be finite numbers");
    if (opts.min_pixels < 1) return refuse(why_not, "min_pixels must be at least 1");
    for (int i = 0; i < 9; ++i)
        if (!std::isfinite(opts.homography.val[i]))
            return refuse(why_not, "the RGB→thermal homography has a non-finite entry");
    if (std::abs(cv::determinant(opts.homography)) < 1e-12)
        return refuse(why_not, "the RGB→thermal homography is singular (determinant 0)");
    if (rgb_face_box.width <= 0 || rgb_face_box.height <= 0)
        return refuse(why_not, "empty face box " + rect_str(rgb_face_box));

    const cv::Matx33d& h = opts.homography;
    const double bx = rgb_face_box.x, by = rgb_face_box.y, bw = rgb_face_box.width, bh = rgb_face_box.height;
    const std::string frame_size = std::to_string(raw16.cols) + "x" + std::to_string(raw16.rows);

    // The whole face box: where the face is (ambient is estimated outside it).
    cv::Mat face_mask = cv::Mat::zeros(raw16.size(), CV_8UC1);
    Poly face_mapped, face_clipped;
    if (!fill_mapped(h, {{bx, by}, {bx + bw, by}, {bx + bw, by + bh}, {bx, by + bh}}, face_mask, &face_mapped,
                     &face_clipped))
        return refuse(why_not, "the homography cannot map face box " + rect_str(rgb_face_box) +
                                   " into thermal space (it crosses the line at infinity)");
    if (face_clipped.empty())
        return refuse(why_not,
                      "face box " + rect_str(rgb_face_box) + " maps to thermal " +
                          poly_bounds_str(face_mapped) + ", outside the " + frame_size +
                          " thermal frame (person out of the thermal camera's view, or a wrong homography)");

    // The measured region: forehead ∪ inner eye corners, in RGB pixels.
    std::vector<Poly> regions;
    if (landmarks) {
        const auto& l = *landmarks;
        for (auto& p : l)
            if (!std::isfinite(p.x) || !std::isfinite(p.y))
                return refuse(why_not, "landmarks contain a non-finite coordinate");
        cv::Point2d left_eye = mean_of(l, 36, 41), right_eye = mean_of(l, 42, 47);
        cv::Point2d d = right_eye - left_eye;
        double iod = std::hypot(d.x, d.y);
        if (iod < 2)
            return refuse(why_not, "landmarks are degenerate (eye centres " + num(iod) + " px apart)");
        cv::Point2d u = d / iod;   // along the eyes, image left → right
        cv::Point2d v(u.y, -u.x);  // up the face (image y grows downwards)
        cv::Point2d brows = mean_of(l, 17, 26);
        double top = 0;  // highest eyebrow point above their mean, along v
        for (int i = 17; i <= 26; ++i) top = std::max(top, (cv::Point2d(l[i].x, l[i].y) - brows).dot(v));
        // Forehead: one eye distance wide, from just above the eyebrows up (below the hairline).
        regions.push_back(
            oriented_rect(brows, u, v, -0.5 * iod, 0.5 * iod, top + 0.15 * iod, top + 0.6 * iod));
        // Inner eye corners (the canthi, closest to core temperature): squares a quarter eye distance wide.
        for (int i : {39, 42})
            regions.push_back(oriented_rect(cv::Point2d(l[i].x, l[i].y), u, v, -0.125 * iod, 0.125 * iod,
                                            -0.125 * iod, 0.125 * iod));
    } else {
        regions.push_back({{bx + 0.25 * bw, by + 0.05 * bh},
                           {bx + 0.75 * bw, by + 0.05 * bh},
                           {bx + 0.75 * bw, by + 0.30 * bh},
                           {bx + 0.25 * bw, by + 0.30 * bh}});
    }
    cv::Mat region_mask = cv::Mat::zeros(raw16.size(), CV_8UC1);
    Poly all_mapped;
    for (auto& r : regions) {
        Poly mapped;
        if (!fill_mapped(h, r, region_mask, &mapped, nullptr))
            return refuse(why_not,
                          "the homography cannot map the forehead/eye-corner region into thermal "
                          "space (it crosses the line at infinity)");
        all_mapped.insert(all_mapped.end(), mapped.begin(), mapped.end());
    }
    int in_frame = cv::countNonZero(region_mask);
    if (in_frame == 0)
        return refuse(why_not, "the forehead/eye-corner region maps to thermal " +
                                   poly_bounds_str(all_mapped) + ", outside the " + frame_size +
                                   " thermal frame");

    std::vector<double> skin;
    std::vector<uint16_t> background;
    skin.reserve(in_frame);
    background.reserve(raw16.total());
    for (int y = 0; y < raw16.rows; ++y) {
        const uint16_t* raw = raw16.ptr<uint16_t>(y);
        const uchar* in_region = region_mask.ptr<uchar>(y);
        const uchar* in_face = face_mask.ptr<uchar>(y);
        for (int x = 0; x < raw16.cols; ++x) {
            if (!valid_raw(raw[x])) continue;
            if (in_region[x]) skin.push_back(raw[x] * opts.cal.gain + opts.cal.offset);
            if (!in_face[x]) background.push_back(raw[x]);
        }
    }
    if (static_cast<int>(skin.size()) < opts.min_pixels)
        return refuse(why_not, "only " + std::to_string(skin.size()) +
                                   " valid thermal pixels in the forehead/eye-corner region (" +
                                   std::to_string(in_frame) + " in the frame), need at least " +
                                   std::to_string(opts.min_pixels) +
                                   ": the face is too small or too far for the thermal camera, or its pixels "
                                   "read no-data/saturated");

    ThermalMeasurement m;
    m.pixels = static_cast<int>(skin.size());
    m.used_landmarks = landmarks != nullptr;
    m.face_box = cv::boundingRect(face_mask);
    m.region_box = cv::boundingRect(region_mask);

    // Percentile with linear interpolation between the order statistics around p·(n−1).
    double pos = opts.percentile * static_cast<double>(skin.size() - 1);
    size_t lo = static_cast<size_t>(std::floor(pos));
    std::nth_element(skin.begin(), skin.begin() + lo, skin.end());
    double v_lo = skin[lo];
    double v_hi = lo + 1 < skin.size() ? *std::min_element(skin.begin() + lo + 1, skin.end()) : v_lo;
    m.skin_c = v_lo + (pos - static_cast<double>(lo)) * (v_hi - v_lo);

    if (!background.empty()) {
        size_t mid = background.size() / 2;
        std::nth_element(background.begin(), background.begin() + mid, background.end());
        double raw_median = background[mid];
        if (background.size() % 2 == 0)
            raw_median = (raw_median + *std::max_element(background.begin(), background.begin() + mid)) / 2;
        m.ambient_c = raw_median * opts.cal.gain + opts.cal.offset;
    }
    if (opts.ambient_coeff != 0) {
        if (!m.ambient_c)
            return refuse(why_not,
                          "ambient compensation is on but no valid thermal pixel lies outside the face "
                          "box to estimate the ambient temperature from");
        m.ambient_correction_c = opts.ambient_coeff * (opts.ambient_ref_c - *m.ambient_c);
    }
    m.celsius = m.skin_c + m.ambient_correction_c;
    if (why_not) why_not->clear();
    return m;
}

cv::Mat load_thermal_frame(const std::string& path) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec))
        throw std::runtime_error(path + ": cannot open thermal frame (missing file or not a regular file)");
    cv::Mat img;
    try {
        img = cv::imread(path, cv::IMREAD_ANYDEPTH | cv::IMREAD_ANYCOLOR);
    } catch (const cv::Exception& e) {
        throw std::runtime_error(path + ": not a readable thermal frame (" + std::string(e.what()) + ")");
    }
    if (img.empty())
        throw std::runtime_error(path +
                                 ": not a readable PNG or TIFF image (unknown format, truncated or no "
                                 "permission)");
    if (img.depth() != CV_16U)
        throw std::runtime_error(path + ": not a 16-bit radiometric frame (it is " +
                                 cv::typeToString(img.type()) +
                                 "; an 8-bit or rendered picture holds colours, not temperatures: export the "
                                 "camera's raw 16-bit frame)");
    if (img.channels() != 1)
        throw std::runtime_error(path + ": not a 16-bit radiometric frame (" +
                                 std::to_string(img.channels()) +
                                 " channels; raw frames have one value per pixel)");
    return img;
}

}  // namespace caregate::vision
