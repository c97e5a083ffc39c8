// Service records (助餐 助浴 …) and home-visit records (探访), each reported to the city.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "controller/city/outbox.hpp"
#include "controller/core/clock.hpp"
#include "controller/core/store.hpp"

namespace caregate {

const std::vector<std::string>& service_types();
const std::vector<std::string>& visit_methods();

struct ServiceRecord {
    int64_t id = 0;
    std::string uuid;
    int64_t elder_id = 0;
    std::string elder_name;
    int64_t ts_ms = 0;
    std::string service;
    std::string staff;
    std::string notes;
};

// Following the city's 探访 form: method, health, safety, needs, follow-up.
struct VisitRecord {
    int64_t id = 0;
    std::string uuid;
    int64_t elder_id = 0;
    std::string elder_name;
    int64_t ts_ms = 0;
    std::string method;  // 上门 电话 视频
    std::string visitor;
    std::string health, safety, needs, follow_up;
};

nlohmann::json to_json(const ServiceRecord& r);
nlohmann::json to_json(const VisitRecord& r);

class Records {
public:
    Records(Store& store, const Clock& clock, const Outbox& outbox)
        : store_(store), clock_(clock), outbox_(outbox) {}
    // Throw std::invalid_argument naming the bad field (Chinese).
    ServiceRecord add_service(ServiceRecord r, const std::string& actor);
    // A visit at r.ts_ms (0 = now).
    VisitRecord add_visit(VisitRecord r, const std::string& actor);
    // The time staff give a visit on the form: not in the future, and not over kVisitBackdateDays old
    // unless may_backdate (an admin records an old paper form). Throws std::invalid_argument (Chinese).
    static void check_visit_time(int64_t ts_ms, int64_t now_ms, bool may_backdate);
    static constexpr int kVisitBackdateDays = 31;
    std::vector<ServiceRecord> services(int64_t from_ms, int64_t to_ms, int limit = 500);
    std::vector<VisitRecord> visits(int64_t from_ms, int64_t to_ms, int limit = 500);
    std::map<std::string, int> service_counts(int64_t from_ms, int64_t to_ms);

private:
    std::string elder_uuid(sqlite3* db, int64_t elder_id);
    Store& store_;
    const Clock& clock_;
    const Outbox& outbox_;
};

}  // namespace caregate
