// Check-in and check-out records. One check-in per elder per interval; each is written to the
// store (with its uplink message and occupancy change) before it is announced.
#pragma once

#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "controller/city/outbox.hpp"
#include "controller/core/clock.hpp"
#include "controller/core/store.hpp"
#include "controller/people/occupancy.hpp"

namespace caregate {

struct CheckIn {
    int64_t id = 0;
    std::string uuid;
    int64_t elder_id = 0;
    std::string elder_name;
    int64_t ts_ms = 0;
    std::string direction = "in";  // in, out
    std::string method = "face";   // face, staff, card, id
    std::string camera_id;
    std::string zone;
    std::optional<double> temperature;
    std::optional<double> distance;
    std::string actor;
};

nlohmann::json to_json(const CheckIn& c);

class CheckinService {
public:
    CheckinService(Store& store, const Clock& clock, const Outbox& outbox, Occupancy& occupancy,
                   int interval_minutes, std::string default_zone);
    void on_announce(std::function<void(const CheckIn&)> fn) { announce_ = std::move(fn); }

    // Records c (elder_id, direction, method, ...). Returns nullopt when the same elder already has a
    // record in that direction within the interval (a repeat sighting, not a new visit).
    // Throws std::invalid_argument for an unknown or inactive elder.
    std::optional<CheckIn> record(CheckIn c);
    std::vector<CheckIn> list(int64_t from_ms, int64_t to_ms, std::optional<int64_t> elder_id = std::nullopt,
                              int limit = 500);
    // Whether the elder's latest record today is a check-in (they are inside).
    bool is_inside(int64_t elder_id);
    void set_interval_minutes(int m) { interval_ms_ = int64_t(m) * 60000; }

private:
    Store& store_;
    const Clock& clock_;
    const Outbox& outbox_;
    Occupancy& occupancy_;
    int64_t interval_ms_;
    std::string default_zone_;
    std::function<void(const CheckIn&)> announce_;
    std::mutex mu_;
};

}  // namespace caregate
