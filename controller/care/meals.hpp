// 助餐: meal sessions with a menu, one meal per elder and session (face at the canteen camera,
// card, or a staff tap), the subsidy category each elder eats under, and the month's statement of
// what elders paid and what the city owes. A meal is also a 助餐 service record for the city.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "controller/city/outbox.hpp"
#include "controller/core/clock.hpp"
#include "controller/core/store.hpp"

namespace caregate::care {

struct Meal {
    int64_t id = 0;
    std::string uuid;
    int64_t elder_id = 0;
    std::string elder_name;
    std::string day, session, session_name;
    int64_t ts_ms = 0;
    std::string method;  // face, card, staff
    std::string category, category_name;
    double pays = 0, subsidy = 0;
    std::string actor;
    std::vector<std::string> diets;  // shown to the canteen staff: 糖尿病 软食 清真 …
    bool already = false;            // this elder had this meal already (nothing new was written)
};
nlohmann::json to_json(const Meal& m);

// A meal that cannot be taken (outside every session, unknown card, elder deactivated): the
// message says why, in Chinese first.
struct MealRefused : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class MealService {
public:
    MealService(const config::SiteConfig& cfg, Store& store, const Clock& clock, const Outbox& outbox)
        : cfg_(cfg), store_(store), clock_(clock), outbox_(outbox) {}

    // One meal for the elder in `session` ("" = the session open now) today; idempotent per elder
    // and session. Throws MealRefused.
    Meal take(int64_t elder_id, const std::string& method, const std::string& actor,
              const std::string& session = "");
    Meal take_by_card(const std::string& card_no, const std::string& actor, const std::string& session = "");

    // The category an elder eats under: the one set on the elder, else the first matching rule.
    const config::MealCategory& category_of(sqlite3* db, int64_t elder_id, int day);

    // Sessions of a day with menu, meals taken and counts per category.
    nlohmann::json day_view(int day);
    void set_menu(int day, const std::string& session, const std::string& dishes, const std::string& actor);
    // The month's statement: per category meals, paid and subsidy; per day counts.
    nlohmann::json statement(const std::string& month);
    std::string statement_csv(const std::string& month);

private:
    const config::SiteConfig& cfg_;
    Store& store_;
    const Clock& clock_;
    const Outbox& outbox_;
};

}  // namespace caregate::care
