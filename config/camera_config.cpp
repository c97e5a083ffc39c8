// The face:, cctv: and cameras: sections of the site config (recognition settings, CCTV retention,
// each camera with its masks, counting line and thermal source); see config/README.md.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>

#include "config/config_reader.hpp"

namespace caregate::config::detail {

void parse_face(MapReader& top, SiteConfig& c) {
    auto r = top.child("face");
    auto& f = c.face;
    r.get("enabled", f.enabled);
    r.get("recognition_model", f.recognition_model);
    r.get("landmark_model", f.landmark_model);
    r.get("key_file", f.key_file);
    r.get("threshold", f.threshold);
    r.get("margin", f.margin);
    r.get("decide_frames", f.decide_frames);
    r.get("min_face_px", f.min_face_px);
    r.get("min_sharpness", f.min_sharpness);
    r.get("liveness", f.liveness);
    r.get("keep_enrollment_photos", f.keep_enrollment_photos);
    r.get("detect_width", f.detect_width);
    r.get("mmod_model", f.mmod_model);
    r.get("photo_detector_model", f.photo_detector_model);
    if (f.threshold != 0) check_range(r, "threshold", f.threshold, 0.1, 1.5);
    check_range(r, "margin", f.margin, 0.0, 0.5);
    // Never a single frame: one lucky frame of a look-alike would check a stranger in.
    check_range(r, "decide_frames", f.decide_frames, 2, 20);
    check_range(r, "min_face_px", f.min_face_px, 20, 2000);
    check_range(r, "detect_width", f.detect_width, 160, 4096);
    r.finish();
}

void parse_cctv(MapReader& top, SiteConfig& c) {
    auto r = top.child("cctv");
    auto& v = c.cctv;
    r.get("motion_days", v.motion_days);
    r.get("person_days", v.person_days);
    r.get("face_days", v.face_days);
    r.get("alarm_days", v.alarm_days);
    r.get("quota_mb", v.quota_mb);
    r.get("min_free_mb", v.min_free_mb);
    r.get("clips", v.clips);
    r.get("pre_roll_s", v.pre_roll_s);
    r.get("post_roll_s", v.post_roll_s);
    r.get("end_gap_ms", v.end_gap_ms);
    r.get("stall_s", v.stall_s);
    r.get("black_s", v.black_s);
    r.get("min_area", v.min_area);
    r.get("sensitivity", v.sensitivity);
    check_range(r, "motion_days", v.motion_days, 1, 3650);
    check_range(r, "person_days", v.person_days, 1, 3650);
    check_range(r, "face_days", v.face_days, 1, 3650);
    check_range(r, "alarm_days", v.alarm_days, 1, 3650);
    check_range(r, "quota_mb", v.quota_mb, 10, 10000000);
    check_range(r, "min_free_mb", v.min_free_mb, 0, 1000000);
    check_range(r, "pre_roll_s", v.pre_roll_s, 0, 30);
    check_range(r, "post_roll_s", v.post_roll_s, 0, 60);
    check_range(r, "end_gap_ms", v.end_gap_ms, 100, 600000);
    check_range(r, "stall_s", v.stall_s, 1, 3600);
    check_range(r, "black_s", v.black_s, 1, 3600);
    check_range(r, "min_area", v.min_area, 0.0001, 0.5);
    check_range(r, "sensitivity", v.sensitivity, 2, 200);
    if (v.alarm_days < std::max({v.motion_days, v.person_days, v.face_days}))
        r.fail_here(
            "alarm_days",
            "must be at least as long as every other retention (events tied to alarms are kept longest)");
    r.finish();
}

void parse_cameras(MapReader& top, SiteConfig& c, SiteIds& ids) {
    top.each("cameras", [&](MapReader& r, size_t) {
        Camera cam;
        r.get("id", cam.id, true);
        r.get("name", cam.name);
        r.get("source", cam.source, true);
        r.get("zone", cam.zone, true);
        r.get("role", cam.role);
        r.get("fps", cam.fps);
        r.get("width", cam.width);
        r.get("height", cam.height);
        r.get("faces", cam.faces);
        r.get("loop", cam.loop);
        YAML::Node mask = r.raw("mask");
        if (mask.IsDefined() && !mask.IsNull()) {
            if (!mask.IsSequence())
                r.fail(mask, "mask", "must be a list of polygons [[x1,y1,x2,y2,...], ...]");
            for (auto poly : mask) {
                auto pts = number_list<int>(r, poly, "mask",
                                            "each polygon must be a list of whole numbers x1,y1,x2,y2,...");
                if (pts.size() < 6 || pts.size() % 2)
                    r.fail(poly, "mask", "a polygon needs at least 3 points (6 numbers), in x,y pairs");
                cam.mask.push_back(pts);
            }
        }
        YAML::Node line = r.raw("count_line");
        if (line.IsDefined() && !line.IsNull()) {
            const char* expect = "must be [x1, y1, x2, y2]: the counting line in frame pixels";
            cam.count_line = number_list<int>(r, line, "count_line", expect);
            if (cam.count_line.size() != 4) r.fail(line, "count_line", expect);
        }
        if (r.has("thermal")) {
            auto t = r.child("thermal");
            ThermalSource th;
            t.get("source", th.source, true);
            t.get("gain", th.gain);
            t.get("offset", th.offset);
            t.get("percentile", th.percentile);
            t.get("ambient_coeff", th.ambient_coeff);
            t.get("ambient_ref_c", th.ambient_ref_c);
            t.get("max_age_ms", th.max_age_ms);
            t.get("stall_s", th.stall_s);
            YAML::Node h = t.raw("homography");
            if (h.IsDefined() && !h.IsNull()) {
                const char* expect = "must be a list of 9 numbers (row-major 3×3, RGB → thermal)";
                th.homography = number_list<double>(t, h, "homography", expect);
                if (th.homography.size() != 9) t.fail(h, "homography", expect);
                auto& m = th.homography;
                double det = m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) +
                             m[2] * (m[3] * m[7] - m[4] * m[6]);
                if (!std::isfinite(det) || std::fabs(det) < 1e-12)
                    t.fail(h, "homography",
                           "is singular (maps the picture onto a line or a point); calibrate it again with 4 "
                           "points seen by both cameras");
            }
            if (th.gain == 0) t.fail_here("gain", "must not be 0 (celsius = raw × gain + offset)");
            check_range(t, "percentile", th.percentile, 0.5, 1.0);
            check_range(t, "max_age_ms", th.max_age_ms, 50, 60000);
            check_range(t, "stall_s", th.stall_s, 1, 3600);
            t.finish();
            if (cam.role != "entrance") r.fail_here("thermal", "only an entrance camera screens temperature");
            if (!cam.faces || !c.face.enabled)
                r.fail_here("thermal",
                            "a thermal camera measures the faces the door camera finds: set faces: true here "
                            "and keep face.enabled");
            for (auto& other : c.cameras)
                if (other.thermal)
                    r.fail_here("thermal", "camera '" + other.id +
                                               "' already screens temperature; the gate screens one door");
            cam.thermal = th;
        }
        if (cam.count_line.size() == 4 && cam.count_line[0] == cam.count_line[2] &&
            cam.count_line[1] == cam.count_line[3])
            r.fail_here("count_line", "is a point, not a line: give two different ends");
        ids.unique(r, cam.id);
        if (cam.thermal && !ids.things.insert(cam.thermal_id()).second)
            r.fail_here("id",
                        "'" + cam.thermal_id() + "' (this camera's thermometer) is already a device id");
        ids.check_zone(r, cam.zone);
        check_one_of(r, "role", cam.role, {"entrance", "exit", "cctv", "canteen"});
        check_range(r, "fps", cam.fps, 0.1, 60);
        check_range(r, "width", cam.width, 64, 7680);
        check_range(r, "height", cam.height, 48, 4320);
        if (auto* z = c.find_zone(cam.zone); z && z->is_private)
            r.fail_here("zone", "zone '" + cam.zone + "' is private (toilet/bath): no camera may watch it");
        c.cameras.push_back(cam);
    });
}

}  // namespace caregate::config::detail
