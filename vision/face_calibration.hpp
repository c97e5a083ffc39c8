// Site calibration (`caregate face calibrate`): how close the site's own enrolled elders come to each
// other. Elders of one center — same village, same age, often relatives — look alike far more than
// a benchmark's strangers, so the threshold a site can afford is read from its own gallery: the
// distances between different elders' templates (impostor pairs) and between one elder's templates
// (genuine pairs), the closest look-alikes, and a threshold for a target false-accept rate.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "vision/face_eval.hpp"

namespace caregate::vision {

struct CalibrationTemplate {
    int64_t elder_id = 0;
    std::vector<float> descriptor;
};

struct LookAlike {
    int64_t elder_a = 0, elder_b = 0;
    double distance = 0;
    bool same_person_likely = false;  // closer than the duplicate floor: one person twice, or twins
};

struct SiteCalibration {
    size_t elders = 0, templates = 0;
    size_t impostor_pairs = 0;   // all pairs of different elders' templates
    size_t impostor_sample = 1;  // every n-th pair is in `pairs` (large galleries); 1: all
    PairMetrics pairs;           // genuine: one elder's templates; impostor: different elders
    double configured_threshold = 0, margin = 0, target_far = 0;
    size_t accepted_at_configured = 0;  // impostor pairs at or below the configured threshold (exact)
    std::vector<LookAlike> closest;     // the closest pairs of different elders, closest first (≤ 10)
    std::optional<double> proposed_threshold;
    std::string basis;  // how the proposal was made, in words
    // Pairs of different elders closer than half of the site's own same-elder pairs (the median; set
    // from kMinGenuineForFloor same-elder pairs) are more likely one person enrolled twice, or twins,
    // than look-alikes: they are named for staff to check and do not set the proposal, which would
    // otherwise refuse most elders to keep two records of one face apart.
    std::optional<double> duplicate_floor;
    size_t below_floor = 0;  // pairs (of those kept) below the floor, left out of the proposal
    // What the proposal costs: the share of the site's same-elder pairs it would refuse.
    std::optional<double> genuine_refused_at_proposal;
};

constexpr size_t kMinGenuineForFloor = 5;

// Throws std::invalid_argument for descriptors of different sizes or a target FAR outside (0, 1).
SiteCalibration calibrate_site(const std::vector<CalibrationTemplate>& templates, double configured_threshold,
                               double margin, double target_far);
nlohmann::json to_json(const SiteCalibration& c);

}  // namespace caregate::vision
