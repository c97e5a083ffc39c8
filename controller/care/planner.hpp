// 探访关爱 and 缺勤关怀: who needs a visit or a call today. Reads the roster, visits, check-ins and
// the care records it owns (care_profiles, life_events, absence_reasons, visit_misses) and turns
// them into a worklist; the same rules run over history for `care replay`.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "controller/care/attendance.hpp"
#include "controller/core/clock.hpp"
#include "controller/core/store.hpp"

namespace caregate::care {

// The visit tier the rules give an elder of these categories and age ("" = not on the list).
std::string tier_for(const config::Care& cfg, const std::vector<std::string>& categories, int age);
// The meal subsidy category of an elder of these categories and age (the last one when none matches).
const config::MealCategory& meal_category_for(const config::Meals& meals,
                                              const std::vector<std::string>& categories, int age);
int tier_interval_days(const std::string& tier);  // weekly 7, fortnightly 14, monthly 30, quarterly 91
std::string tier_name(const std::string& tier);   // 每周 每两周 每月 每季度
const std::vector<std::string>& life_event_kinds();
const std::vector<std::string>& absence_reason_kinds();
bool is_illness(const std::string& life_event_kind);  // 住院 生病 (what absence tasks may foretell)
// The strings of a stored JSON array (categories, diets); anything else is skipped.
std::vector<std::string> json_strings(const std::string& text);

struct CareTask {
    int64_t elder_id = 0;
    std::string name;
    std::string task;    // visit_due, visit_overdue, life_event, absence
    std::string detail;  // absence: absence or attendance_drop; life_event: its kind
    std::string due;     // YYYY-MM-DD
    int overdue_days = 0;
    std::string reason;  // for staff, in Chinese
    std::string tier;    // weekly … ("" when not on the visit list)
    std::string visitor;
    std::string phone, emergency_contact, emergency_phone;
};
nlohmann::json to_json(const CareTask& t);

struct CareProfile {
    int64_t elder_id = 0;
    std::string tier;           // effective tier ("" = not on the list)
    std::string tier_override;  // as set on the elder ("" = from the rules; "none" = never)
    std::string rule_tier;      // what the rules give without the override
    std::string visitor;
    std::string meal_category;  // as set ("" = from the rules)
    std::vector<std::string> diets;
};

class CarePlanner {
public:
    CarePlanner(const config::SiteConfig& cfg, Store& store, const Clock& clock)
        : cfg_(cfg), store_(store), clock_(clock) {}

    // Tasks on local `day`: sorted by overdue days, then tier (weekly first), then name. For today
    // the absence rule looks at the time now; for other days at the day's end.
    std::vector<CareTask> worklist(int day);
    int today() const;

    CareProfile profile(int64_t elder_id);
    // Fields present in j (tier, visitor, meal_category, diets) are changed; throws
    // std::invalid_argument naming a bad field.
    CareProfile save_profile(int64_t elder_id, const nlohmann::json& j, const std::string& actor);
    int64_t add_life_event(int64_t elder_id, const std::string& day, const std::string& kind,
                           const std::string& note, const std::string& actor);
    int64_t add_absence_reason(int64_t elder_id, const std::string& from, const std::string& to,
                               const std::string& reason, const std::string& note, const std::string& actor);
    void record_miss(int64_t elder_id, const std::string& month, const std::string& reason,
                     const std::string& actor);
    nlohmann::json life_events(int64_t elder_id);

    // The month's visit coverage: per tier and per visitor, the elders on the list, visited, and
    // the ones not visited with the reason recorded (月探访率, goal 100 %).
    nlohmann::json coverage(const std::string& month);

    // The rules run day by day over stored history: tasks raised per kind, and how many absence
    // tasks preceded a recorded illness or hospital stay (住院, 生病) within 14 days.
    nlohmann::json replay(int from_day, int to_day);

    AttendanceHistory attendance(int from_day, int to_day);

private:
    struct ElderRow;
    std::vector<ElderRow> elders(sqlite3* db, int day);
    void check_elder(sqlite3* db, int64_t elder_id);
    const config::SiteConfig& cfg_;
    Store& store_;
    const Clock& clock_;
};

}  // namespace caregate::care
