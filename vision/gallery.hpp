// Enrolled templates in memory as one contiguous N×dim matrix (dim: the model's, 128 or 192) of
// half-precision floats (the 1:N search is bound by memory bandwidth; halves move half the bytes and change a
// distance by < 0.001): a brute-force scan, AVX2/F16C where the CPU has it.
//
// An elder with two or more templates is also compared by the mean of them (mean_template()): a
// face is as near the elder as its nearest template or that mean. Photos of one elder from different
// days each carry that day's light and pose; their mean stands nearer the elder's own face than
// either, while a stranger gains little from it. See mean_template() and docs/face-accuracy.md.
#pragma once

#include <cstdint>
#include <optional>
#include <shared_mutex>
#include <unordered_map>
#include <vector>

#include "vision/face_net.hpp"

namespace caregate::vision {

constexpr size_t kMaxDim = 512;

// The mean of an elder's templates as the gallery compares it: their mean's direction at their mean
// length (unit length for MobileFaceNet; dlib's descriptors are not unit length). Empty when they
// cancel out.
Descriptor mean_template(const std::vector<const Descriptor*>& templates);

struct Match {
    std::optional<int64_t> elder_id;  // nullopt: unknown (or ambiguous)
    double distance = 1e9;            // best distance over all templates and elders' mean templates
    std::optional<int64_t> best_elder;
    double second_distance = 1e9;  // best distance of a *different* elder
    bool ambiguous = false;        // within the threshold, but the runner-up elder within the margin
};

class Gallery {
public:
    // Throws std::invalid_argument for a descriptor of another dimension than the gallery's.
    void add(int64_t template_id, int64_t elder_id, const Descriptor& d);
    void remove_elder(int64_t elder_id);
    void clear();
    // Replaces this gallery's templates with `fresh`'s in one step (no moment with an empty gallery);
    // `fresh` is left empty. For reloading while cameras match.
    void take(Gallery& fresh);
    size_t size() const;  // templates (the elders' means not counted)
    bool has_elder(int64_t elder_id) const;
    // threshold: Euclidean distance for a match; margin: the runner-up elder must be at least this
    // much further away, or the answer is "ambiguous, no match".
    Match match(const Descriptor& d, double threshold, double margin) const;
    // The plain C++ scan even where AVX2/F16C exist (tests check both paths give the same answers).
    void use_portable_scan(bool on) {
        std::unique_lock lock(mu_);
        portable_ = on;
    }

private:
    mutable std::shared_mutex mu_;
    std::vector<uint16_t> data_;  // N × dim_, IEEE half precision
    size_t dim_ = 0;              // set by the first template; one model per gallery
    std::vector<int64_t> template_ids_, elder_ids_;
    // Elders with two or more templates: their mean template, one row each, made from their rows.
    void set_mean(int64_t elder_id, const std::vector<size_t>& rows);
    std::unordered_map<int64_t, std::vector<size_t>> rows_of_;  // elder → their rows in data_
    std::unordered_map<int64_t, size_t> mean_row_;              // elder → row in mean_data_
    std::vector<uint16_t> mean_data_;                           // rows × dim_, half precision
    std::vector<int64_t> mean_elders_;
    bool portable_ = false;
};

}  // namespace caregate::vision
