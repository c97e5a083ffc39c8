// `caregate sim history`: months of synthetic but plausible history in a site's store, for the demo
// and for tests of the care rules: regular and irregular attendees with their own weekdays and
// arrival times, visits by tier (some late), meals, trips announced in advance, and a few hospital
// stays preceded by days of not coming. Deterministic for a seed. Written straight to the tables
// (no city messages: this is not real activity).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "controller/core/store.hpp"

namespace caregate::care {

struct HistoryOptions {
    int days = 90;
    int elders = 30;
    uint32_t seed = 1;
    int64_t now_ms = 0;  // history ends the day before this instant's local day
};

// Returns what was written, and the ground truth a test can check the rules against:
// {"elders": n, "checkins": n, "visits": n, "meals": n,
//  "hospital_stays": [{"elder_id", "admitted": day, "last_seen": day}], "trips": [...]}.
nlohmann::json simulate_history(const config::SiteConfig& cfg, Store& store, const HistoryOptions& o);

}  // namespace caregate::care
