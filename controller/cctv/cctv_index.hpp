// The CCTV event index: events in SQLite (indexed by time, camera, label, elder), media on disk
// under the state directory by date and camera, retention by age per label and a disk quota.
// Alarm and check-in records are never touched by retention.
#pragma once

#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "controller/core/clock.hpp"
#include "controller/core/store.hpp"
#include "vision/cctv/recorder.hpp"

namespace caregate {

struct EventQuery {
    std::string camera;
    std::string label;
    std::optional<int64_t> elder_id;
    std::optional<int64_t> from_ms, to_ms;
    int limit = 50;
    int64_t before_id = 0;  // keyset pagination: events with id < before_id (0: newest)
};

struct RetentionReport {
    int expired_events = 0;
    int media_deleted = 0;
    int64_t bytes_freed = 0;
    int64_t media_bytes = 0;
};

class EventIndex : public cctv::EventSink {
public:
    EventIndex(Store& store, const Clock& clock, config::Cctv policy, std::string media_dir);

    int64_t event_started(const cctv::CctvEvent& e) override;
    void event_updated(const cctv::CctvEvent& e) override;
    // A recognised face (or a visitor) seen by a camera: a point event.
    int64_t record_face(const std::string& camera, const std::string& zone, std::optional<int64_t> elder_id,
                        double score, int64_t ts_ms);
    // Bulk ingest for importers and benchmarks: one transaction.
    void ingest(const std::vector<cctv::CctvEvent>& events);

    std::vector<nlohmann::json> query(const EventQuery& q);
    // Events on cameras watching the alarm's zone (or all cameras if none) within ±window of it.
    std::vector<nlohmann::json> near_alarm(int64_t alarm_id, int64_t window_ms,
                                           const config::SiteConfig& cfg);
    // Links events around an alarm to it, so retention keeps them longest.
    int link_to_alarm(int64_t alarm_id, const std::vector<int64_t>& event_ids);
    // An elder's face was forgotten (PIPL: delete on request): their recognition events and snapshots
    // go, unless kept as evidence of an alarm; every other event loses the elder's id. Returns the
    // events deleted.
    int forget_elder(int64_t elder_id);

    RetentionReport apply_retention();
    int64_t media_bytes() const;
    const std::string& media_dir() const { return media_dir_; }

private:
    Store& store_;
    const Clock& clock_;
    config::Cctv policy_;
    std::string media_dir_;
};

nlohmann::json event_json(const Stmt& s);

}  // namespace caregate
