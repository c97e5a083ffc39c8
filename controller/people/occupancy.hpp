// Live occupancy per zone (流量智能管控): the sum of adjustments since the last daily reset,
// never below zero. Adjustments are rows, so staff corrections stay auditable.
#pragma once

#include <map>
#include <string>
#include <utility>

#include "config/config.hpp"
#include "controller/core/clock.hpp"
#include "controller/core/store.hpp"

namespace caregate {

struct ZoneOccupancy {
    std::string zone;
    std::string name;
    int count = 0;
    int capacity = 0;   // 0 = unlimited
    std::string level;  // ok, near, full
};

class Occupancy {
public:
    Occupancy(Store& store, const Clock& clock, const config::SiteConfig& cfg)
        : store_(store), clock_(clock), cfg_(cfg) {}
    // Inside a write transaction: applies delta to zone, clamped so the count never goes below zero.
    // Returns the new count. In a zone with a door counter only the counter (source "counter:<id>")
    // and staff corrections move the count: check-ins ("checkin") would count the same person twice.
    int adjust(sqlite3* db, const std::string& zone, int delta, const std::string& source,
               const std::string& actor);
    // Staff set a zone's head count (a miscount, someone left by another door). Audited with who and
    // why. Throws std::invalid_argument for an unknown zone, a negative count or no reason.
    ZoneOccupancy correct(const std::string& zone, int count, const std::string& actor,
                          const std::string& reason);
    // A door counter's crossing (+1 in, −1 out) for the zones it drives, each in its own
    // transaction. Returns those zones as they are now.
    std::vector<ZoneOccupancy> counted(const std::string& counter_id, int delta);
    int count(const std::string& zone);
    ZoneOccupancy zone(const std::string& zone);
    std::vector<ZoneOccupancy> all();
    // Start of the current occupancy day: the last reset hour (site local time) at or before now.
    int64_t day_start_ms() const;

private:
    int count_in(sqlite3* db, const std::string& zone);
    Store& store_;
    const Clock& clock_;
    const config::SiteConfig& cfg_;
};

// Site local time offset from UTC in ms (China: +8 h all year, no DST).
int64_t local_offset_ms(const std::string& timezone);
// The local weekday (1 Monday … 7 Sunday) and minute of the day: what the duty roster is keyed by.
std::pair<int, int> local_weekday_minute(int64_t ms, const std::string& timezone);

}  // namespace caregate
