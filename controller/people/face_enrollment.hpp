// Face enrollment as staff ask for it (the kiosk, the CLI); implemented by the door's face service
// when faces are enabled. Declared here, beside the templates it stores, so the kiosk does not depend
// on the vision stack's implementation.
#pragma once

#include <charconv>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "controller/people/face_templates.hpp"

namespace caregate {

// Face enrollment as the kiosk needs it; implemented by the face service when faces are enabled.
// An enrollment that may be a wrong-record trap: the new face does not look like the elder's existing
// templates, or looks like another elder. Staff see the sentence and may confirm and enroll anyway.
class EnrollmentWarning : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

// A photo with faces of a like size and none in the middle: which one is the elder is for staff to
// say. Carries the faces' boxes in the photo as it is shown (EXIF orientation applied), so the kiosk
// can draw them on the photo for staff to point at one (FacePick).
struct FaceBox {
    int x = 0, y = 0, width = 0, height = 0;
};
class FaceChoiceNeeded : public std::invalid_argument {
public:
    FaceChoiceNeeded(const std::string& what, size_t photo, int width, int height, std::vector<FaceBox> faces)
        : std::invalid_argument(what), photo(photo), width(width), height(height), faces(std::move(faces)) {}
    size_t photo;       // 0-based, among the photos of the enrollment
    int width, height;  // of the photo as shown
    std::vector<FaceBox> faces;
};
// A point staff chose in a photo (its pixels as shown): the face whose box holds it is the elder's.
struct FacePick {
    int x = 0, y = 0;
};
// "x,y" as the kiosk sends it: two decimal integers, 0 to 1,000,000 (no photo is larger), nothing
// else; nullopt for anything else.
inline std::optional<FacePick> parse_face_pick(std::string_view text) {
    if (text.size() > 15) return std::nullopt;
    const char* end = text.data() + text.size();
    FacePick p;
    auto x = std::from_chars(text.data(), end, p.x);
    if (x.ec != std::errc() || x.ptr == end || *x.ptr != ',') return std::nullopt;
    auto y = std::from_chars(x.ptr + 1, end, p.y);
    if (y.ec != std::errc() || y.ptr != end) return std::nullopt;
    if (p.x < 0 || p.y < 0 || p.x > 1'000'000 || p.y > 1'000'000) return std::nullopt;
    return p;
}

class FaceEnrollment {
public:
    virtual ~FaceEnrollment() = default;
    // Builds templates from encoded images (JPEG/PNG bytes); returns how many were stored.
    // Throws std::invalid_argument with the reason (no consent, no face, faces of a like size with none
    // in the middle, poor quality, photos of two people), and a subclass, EnrollmentWarning, for a face
    // beyond the same-person limit from the elder's earlier templates or looking like another elder
    // (staff may confirm: `confirmed`). `notes` receives what staff should know about a stored
    // enrollment (a smaller face left out, or the face in the middle taken among several). A photo
    // with faces of a like size and none in the middle throws FaceChoiceNeeded, unless `picks` (by
    // photo; missing or nullopt: none) says which face is the elder.
    virtual int enroll(int64_t elder_id, const std::vector<std::string>& images, const std::string& actor,
                       bool confirmed = false, std::vector<std::string>* notes = nullptr,
                       const std::vector<std::optional<FacePick>>& picks = {}) = 0;
    // From the face the camera is tracking now (the elder stands at the door).
    virtual int enroll_from_camera(int64_t elder_id, const std::string& camera_id, const std::string& actor,
                                   bool confirmed = false) = 0;
    virtual int forget(int64_t elder_id, const std::string& actor) = 0;
    virtual int template_count(int64_t elder_id) = 0;
    // Elders whose templates should be taken again (TemplateStore::renewals, at the site's model).
    virtual std::vector<TemplateRenewal> renewals() = 0;
    // What the face pipeline has to say about a camera's picture, for whoever installs it (by camera
    // id; none for a camera whose picture is fine): frames wider than the detection width.
    virtual std::map<std::string, std::string> camera_advice() { return {}; }
};

}  // namespace caregate
