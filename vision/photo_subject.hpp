// Which face in a photo is its subject (the elder being enrolled, the person a photo is filed
// under). A phone photo of an elder often has someone else in it: a passer-by behind, a daughter
// beside. The subject is the largest face by far, or, among faces of a like size, the one clearly in
// the middle of the picture; otherwise nobody can tell, and the photo is refused.
#pragma once

#include <optional>
#include <vector>

#include "vision/face_engine.hpp"

namespace caregate::vision {

struct PhotoSubject {
    std::optional<size_t> index;  // into the faces given; nullopt: faces of a like size, none central
    size_t others = 0;            // faces left out
    size_t like_size = 1;         // faces of a like size to the largest, itself included
    bool by_centre = false;       // chosen for being in the middle among faces of a like size
};

// A face is of a like size when its area is at least 1/2.5 of the largest one's. Among those, the
// one nearest the picture's vertical centre line is the subject when it lies within 15 % of the
// width from it and every other one is at least twice as far from it, and half a face further.
PhotoSubject choose_subject(const std::vector<DetectedFace>& faces, cv::Size image);

}  // namespace caregate::vision
