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

// Score normalisation against the site's own elders (T-norm), measured on the gallery itself: a
// site sees whether it would name more of its elders than the plain distance at the same
// false-accept rate. Each sampled template is a probe twice: with its elder's other templates still
// enrolled (a genuine trial, when there are any) and with all of its elder's templates left out (a
// stranger trial: the elder as a never-enrolled visitor who looks like the others). A probe's
// distance to an elder is that of the nearest of the elder's templates or of their mean, as the
// door's gallery compares (the probe itself left out of its own elder's); both rules need the runner-up
// margin, as the door does. T-norm scores the best match by how far it stands out from the probe's
// distances to every other elder: z = (mean − best) / sd.
struct CohortNormalisation {
    size_t genuine_trials = 0, stranger_trials = 0;
    size_t probe_sample = 1;                  // every n-th template is a probe (large galleries); 1: all
    size_t strangers_allowed = 0;             // stranger trials each rule may accept at the target FAR
    size_t plain_named = 0;                   // genuine trials named correctly by the plain distance…
    size_t tnorm_named = 0;                   // …and by T-norm, each at its own cut for the same FAR
    size_t plain_wrong = 0, tnorm_wrong = 0;  // genuine trials named as another elder
    double plain_threshold = 0;               // the plain rule's cut: accept at or below this distance
    double tnorm_min_z = 0;                   // the T-norm rule's cut: accept at or above this z
    // T-norm names at least one percentage point (and two trials) more of the site's elders.
    bool helps = false;
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
    // Absent with fewer than 4 elders (a stranger trial needs a best match and two more for the
    // spread) or no elder with 2 templates.
    std::optional<CohortNormalisation> cohort;
};

// Probes in the cohort measurement; larger galleries are sampled (every n-th template).
constexpr size_t kMaxCohortProbes = 2000;

constexpr size_t kMinGenuineForFloor = 5;

// Throws std::invalid_argument for descriptors of different sizes or a target FAR outside (0, 1).
SiteCalibration calibrate_site(const std::vector<CalibrationTemplate>& templates, double configured_threshold,
                               double margin, double target_far);
nlohmann::json to_json(const SiteCalibration& c);

}  // namespace caregate::vision
