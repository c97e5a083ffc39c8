// 一人一档: the elders a center serves. Identity data only; face templates live elsewhere.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "controller/core/clock.hpp"
#include "controller/core/store.hpp"

namespace caregate {

struct Elder {
    int64_t id = 0;
    std::string uuid;
    std::string external_id;
    std::string name;
    std::string gender;
    std::string birth_date;
    std::string phone;
    std::string card_no;
    std::string id_number;
    std::string address;
    std::string emergency_contact;
    std::string emergency_phone;
    std::vector<std::string> categories;
    bool family_notify = false;
    bool liveness_exempt = false;
    std::string consent_by;
    std::optional<int64_t> consent_at;
    std::string notes;
    bool active = true;
};

nlohmann::json to_json(const Elder& e);
// Reads the fields present in j into e; throws std::invalid_argument naming a bad field.
void update_from_json(Elder& e, const nlohmann::json& j);

const std::vector<std::string>& elder_categories();

class Roster {
public:
    Roster(Store& store, const Clock& clock) : store_(store), clock_(clock) {}
    // Inserts (id == 0) or updates; audited under `actor`. Returns the stored elder.
    Elder save(Elder e, const std::string& actor);
    std::optional<Elder> get(int64_t id);
    std::optional<Elder> find_by_card(const std::string& card_no);
    std::optional<Elder> find_by_external_id(const std::string& external_id);
    std::vector<Elder> list(const std::string& search = "", int limit = 500);
    void record_consent(int64_t id, const std::string& staff, const std::string& actor);
    // Deactivates (records stay for the statutory archive); audited.
    void deactivate(int64_t id, const std::string& actor);

private:
    Store& store_;
    const Clock& clock_;
};

}  // namespace caregate
