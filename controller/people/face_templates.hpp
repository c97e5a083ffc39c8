// Face templates at rest: descriptors (128-d dlib, 192-d MobileFaceNet) encrypted with XChaCha20-Poly1305
// (libsodium), the key in a file outside the database (a systemd credential), rows holding only the elder's
// row id — apart from identity data. Photos are never stored here.
#pragma once

#include <array>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "controller/core/clock.hpp"
#include "controller/core/store.hpp"

namespace caregate {

using Descriptor = std::vector<float>;

struct StoredTemplate {
    int64_t id = 0;
    int64_t elder_id = 0;
    Descriptor descriptor;
    double quality = 0;
    std::string model;  // e.g. "mobilefacenet/192"
};

// An elder whose templates should be renewed (taken again): faces change with age and illness.
struct TemplateRenewal {
    int64_t elder_id = 0;
    std::string name;
    // "old_templates" (newest over a year old), "distance_rising", "not_recognised" (checked in
    // several times lately, by card or staff, and never by face), or "model_changed" (every template
    // was made by another recognition model: the door cannot compare them, so it cannot name the elder)
    std::string reason;
    int64_t newest_template_ms = 0;
    std::optional<double> recent_distance;  // median of the latest face check-ins since then
    // Median of the first face check-ins after the newest template, once the latest are others
    std::optional<double> baseline_distance;
    int checkins_not_by_face = 0;  // not_recognised: arrivals in the window, none by face
};

class FaceKey {
public:
    // Reads a 32-byte key (raw, or 64 hex characters). Errors name the file and how to create it.
    static FaceKey load(const std::string& path);
    static void create(const std::string& path);  // new random key, mode 0600
    const unsigned char* data() const { return key_.data(); }

private:
    std::array<unsigned char, 32> key_{};
};

class TemplateStore {
public:
    TemplateStore(Store& store, const Clock& clock, FaceKey key) : store_(store), clock_(clock), key_(key) {}
    // Inside a write transaction (so enrollment and its audit entry commit together).
    int64_t add(sqlite3* db, int64_t elder_id, const Descriptor& d, double quality, const std::string& model);
    // Templates of active elders made by `model`. A row that fails authentication (tampered with, or
    // moved to another elder) is left out and its id put in `unreadable`: one bad row must not keep
    // the gallery from following the store (a forget would never reach the door). Throws when rows
    // exist and none authenticates (a wrong face.key_file).
    std::vector<StoredTemplate> load_all(const std::string& model,
                                         std::vector<int64_t>* unreadable = nullptr);
    // Active elders whose templates were all made by another model: they need re-enrollment.
    std::map<int64_t, std::string> needing_reenrollment(const std::string& model);
    // Deletes the elder's templates (zeroing the pages, then checkpointing the WAL); audited.
    int forget(int64_t elder_id, const std::string& actor);
    // Bumped by every add and forget, and by the roster when an elder is deactivated or reactivated,
    // in their transaction: a running daemon whose gallery was loaded at another generation loads it
    // again (the CLI enrolls and forgets beside it; the gallery holds active elders only).
    int64_t generation();
    int64_t generation(sqlite3* db);   // within a transaction
    static void changed(sqlite3* db);  // inside a write transaction
    // The elder's templates made by `model` (those of another model do not count: the door cannot
    // use them).
    int count(int64_t elder_id, const std::string& model);
    // Active elders whose `model` templates need renewing at `now_ms`: the newest is older than
    // a year, or the median distance of their last (up to 10, at least 5) face check-ins since it
    // was taken has risen to within 15 % of the threshold, or who arrived 3 times in the last 30 days
    // (since it was taken) and were checked in by card or staff every time, never by face; and those
    // with templates of another model only (needing_reenrollment).
    std::vector<TemplateRenewal> renewals(const std::string& model, double threshold, int64_t now_ms);

private:
    Store& store_;
    const Clock& clock_;
    FaceKey key_;
};

}  // namespace caregate
