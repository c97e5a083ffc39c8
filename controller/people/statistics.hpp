// What a site did between two instants, counted one way for everyone who reports it: the city's
// daily summary and the kiosk's monthly report (check-ins, unique elders, services by type, home
// visits, and alarms by kind with how fast they were acknowledged and resolved).
#pragma once

#include <nlohmann/json.hpp>

#include "controller/core/store.hpp"

namespace caregate {

// Inside a read transaction. JSON fields: checkins, unique_elders, services {type: n}, visits,
// alarms [{kind, count, avg_ack_s, max_ack_s, avg_resolve_s, max_resolve_s, open}] (null where no
// alarm of that kind was acknowledged / resolved).
nlohmann::json activity_between(sqlite3* db, int64_t from_ms, int64_t to_ms);

}  // namespace caregate
