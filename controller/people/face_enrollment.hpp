// Face enrollment as staff ask for it (the kiosk, the CLI); implemented by the door's face service
// when faces are enabled. Declared here, beside the templates it stores, so the kiosk does not depend
// on the vision stack's implementation.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
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

class FaceEnrollment {
public:
    virtual ~FaceEnrollment() = default;
    // Builds templates from encoded images (JPEG/PNG bytes); returns how many were stored.
    // Throws std::invalid_argument with the reason (no consent, no face, faces of a like size with none
    // in the middle, poor quality, photos of two people), and a subclass, EnrollmentWarning, for a face
    // beyond the same-person limit from the elder's earlier templates or looking like another elder
    // (staff may confirm: `confirmed`). `notes` receives what staff should know about a stored
    // enrollment (a smaller face left out, or the face in the middle taken among several).
    virtual int enroll(int64_t elder_id, const std::vector<std::string>& images, const std::string& actor,
                       bool confirmed = false, std::vector<std::string>* notes = nullptr) = 0;
    // From the face the camera is tracking now (the elder stands at the door).
    virtual int enroll_from_camera(int64_t elder_id, const std::string& camera_id, const std::string& actor,
                                   bool confirmed = false) = 0;
    virtual int forget(int64_t elder_id, const std::string& actor) = 0;
    virtual int template_count(int64_t elder_id) = 0;
    // Elders whose templates should be taken again (TemplateStore::renewals, at the site's model).
    virtual std::vector<TemplateRenewal> renewals() = 0;
};

}  // namespace caregate
