// Measurement core of `caregate face eval`: how well descriptors separate people on a labelled photo
// set. Pair mode (every genuine and impostor pair: distributions, EER, TAR at fixed FAR, ROC) and an
// open-set 1:N simulation with the box's own decision rule (threshold + margin to the runner-up),
// overall and per demographic group. Pure computation on descriptors: no model, no config, no files
// except the ROC plot. Distances are Euclidean; a pair is accepted when distance <= threshold, as in
// Gallery::match.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace caregate::vision {

// The groups a sample's figures are reported under: its group as given, and when it has several
// columns ("60+|F|CN", from a groups file with one column each for age band, sex, origin) each
// column's value on its own ("60+", "F", "CN"), so every column gets its own rows.
std::vector<std::string> report_groups(const std::string& group);

struct EvalSample {  // one photo
    std::string file, identity;
    std::string group;                             // e.g. "60+|F|CN" from a groups file; may be empty
    std::optional<std::vector<float>> descriptor;  // nullopt: no usable face
    // When set, this photo as a probe in the open-set test uses it instead (the door embeds camera
    // frames once, enrollment photos with their mirror image); pairs always use `descriptor`.
    std::optional<std::vector<float>> probe_descriptor;
    std::string reject_reason;  // why not (detector / quality gate)
};

struct EvalOptions {
    int enroll_per_identity = 2;  // templates per enrolled identity, first photos in file-name order
    double threshold = 0.6;       // defaults as config's face.threshold / face.margin
    double margin = 0.05;
    double stranger_fraction = 0.4;  // of the identities with a usable photo, never enrolled
    uint64_t seed = 1;               // which identities are strangers
    // When not empty: exactly these identities are strangers (stranger_fraction and seed unused).
    std::vector<std::string> strangers;
    // The door's rule over a track (face.decide_frames; vision/track_vote.hpp): each identity's probe
    // photos, in file-name order, stand in for the frames of one walk to the door.
    int track_frames = 3;
    // An identity with two or more templates is also compared by their mean, as the gallery does;
    // false measures the nearest template alone, to compare the two rules.
    bool mean_templates = true;
};

struct DistanceStats {
    size_t count = 0;
    double min = 0, p5 = 0, median = 0, p95 = 0, max = 0;  // linear interpolation; 0 when count == 0
};

// TAR at an operating point that accepts at most a fraction `far` of the impostor pairs. tar and
// threshold are unset (and note says why) when that FAR cannot be measured; threshold is also unset
// when no observed distance lies below the first impostor that must stay rejected.
struct TarAtFar {
    double far = 0;
    std::optional<double> tar, threshold;
    std::string note;
};

struct RocPoint {
    double far, tar, threshold;
};

struct PairMetrics {
    DistanceStats genuine, impostor;
    std::optional<double> eer, eer_threshold;  // FAR = FRR on the piecewise-linear ROC
    std::vector<TarAtFar> tar_at_far;          // FAR 1e-2, 1e-3, 1e-4
    TarAtFar tar_at_zero_far;                  // no impostor pair accepted
    double threshold = 0;                      // the configured one
    std::optional<double> far_at_threshold, frr_at_threshold;
    size_t false_accepts = 0, false_rejects = 0;
    std::vector<RocPoint> roc;  // ascending threshold, thinned to what a plot can show
};

struct OpenSetCounts {
    size_t enrolled_identities = 0, stranger_identities = 0;
    size_t genuine_probes = 0, correct = 0, wrong_identity = 0, rejected = 0;
    size_t rejected_unknown = 0, rejected_ambiguous = 0;  // best > threshold / runner-up within margin
    size_t stranger_probes = 0, strangers_rejected = 0, strangers_accepted = 0;
    OpenSetCounts& operator+=(const OpenSetCounts& o);
};

// Each identity's probes as one track, decided as the door decides: an elder once `track_frames`
// photos agree on that elder and all other elders together have at most a third as many votes, in
// file order, stopping at the first decision; otherwise undecided (the door would call a visitor, or
// staff check the elder in). A track with fewer photos than track_frames can only be undecided, so
// short tracks are counted apart, for strangers too (a short stranger track cannot be accepted).
struct TrackCounts {
    size_t tracks = 0, correct = 0, wrong_identity = 0, undecided = 0, short_tracks = 0;
    size_t stranger_tracks = 0, strangers_accepted = 0, strangers_undecided = 0, stranger_short_tracks = 0;
    TrackCounts& operator+=(const TrackCounts& o);
};

struct OpenSetError {  // a probe accepted as the wrong person
    std::string file, identity, group, accepted_as;
    double distance = 0, second_distance = 0;  // second: best different identity (inf: none)
};

// One probe's 1:N search, for analysis outside the tool (JSON only): the best identity and distance,
// the runner-up, and how the probe's distances to every other identity's templates spread (their
// mean and standard deviation: the cohort a score normalisation would judge the best one against).
struct ProbeRecord {
    std::string file, identity, best_identity;
    bool stranger = false;
    double distance = 0, second_distance = 0, cohort_mean = 0, cohort_sd = 0;
};

struct OpenSetResult {
    OpenSetCounts counts;
    std::vector<ProbeRecord> probes;
    size_t templates = 0;
    std::vector<std::string> enrolled, strangers, not_enrollable;  // not_enrollable: no usable photo
    std::vector<OpenSetError> wrong_identity, stranger_accepted;
    TrackCounts tracks;
    std::vector<std::pair<std::string, std::string>>
        track_errors;  // identity → decided as (wrong or stranger)
};

struct GroupReport {
    std::string group;
    size_t samples = 0, failures = 0, identities = 0;
    PairMetrics pairs;       // pairs with both photos in this group
    OpenSetCounts open_set;  // probes of this group against the whole gallery
};

struct EvalReport {
    EvalOptions options;
    bool probes_as_frames = false;  // some sample had a probe_descriptor
    size_t samples = 0, with_descriptor = 0, identities = 0;
    std::map<std::string, size_t> failures;  // reject reason → photos
    PairMetrics pairs;
    OpenSetResult open_set;
    std::vector<GroupReport> groups;  // empty when no sample has a group
};

// The open-set test repeated over `splits` choices of strangers (seeds o.seed, o.seed + 1, …): one
// split's stranger figure rests on which few look-alikes happen to be left out, so a threshold is
// judged over many. Counts are summed over the splits; each error is named with how many splits made it.
struct SplitsSummary {
    size_t splits = 0;
    OpenSetCounts counts;
    TrackCounts tracks;
    std::map<std::pair<std::string, std::string>, size_t> stranger_accepted,
        wrong_identity;  // (who, as) → splits
};
SplitsSummary evaluate_splits(const std::vector<EvalSample>& samples, const EvalOptions& o, size_t splits);
nlohmann::json to_json(const SplitsSummary& s);
std::string to_table(const SplitsSummary& s);

// Throws std::invalid_argument on bad options, an empty identity, descriptors of different sizes, or a
// probe descriptor without a photo descriptor.
EvalReport evaluate(const std::vector<EvalSample>& samples, const EvalOptions& o);
// The pair metrics from distances directly (evaluate uses it overall and per group).
PairMetrics pair_metrics(std::vector<double> genuine, std::vector<double> impostor, double threshold);

nlohmann::json to_json(const EvalReport& r);
nlohmann::json pair_metrics_json(const PairMetrics& m);
std::string to_table(const EvalReport& r);
// ROC on a log FAR axis (1e-5..1; FAR below 1e-5, including 0, at the left edge) against TAR, one
// curve per group plus overall. Group names are drawn in ASCII (Hershey fonts). Throws
// std::runtime_error when the file cannot be written.
void write_roc_png(const EvalReport& r, const std::string& path);

// Identity of a photo: the first sub-folder below `root` when the file lies in one ("root/li_na/
// IMG_1.jpg" → "li_na"); otherwise the file stem up to its last "_<digits>" part ("zhang_wei_3.jpg"
// → "zhang_wei", "obama_3_small.jpg" → "obama"), or the whole stem when there is none.
std::string identity_from_filename(const std::string& path, const std::string& root = "");

}  // namespace caregate::vision
