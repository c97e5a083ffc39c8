// 一人一档: the elders a center serves. Identity data only; face templates live elsewhere.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
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
    std::string id_number;  // 身份证号 (18 characters, GB 11643); shown in full on the elder's own page only
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
    // 停用: why (离开中心 去世 迁出 其他), on which local day, a note, and who did it.
    std::string deactivated_reason, deactivated_on, deactivated_note, deactivated_by;
};

// The elder in full (the elder's own page).
nlohmann::json to_json(const Elder& e);
// The elder as lists show it: 身份证号 masked (110***********1234).
nlohmann::json to_list_json(const Elder& e);
std::string mask_id_number(const std::string& id_number);

// A refused field of an elder: `field` is its Chinese name (身份证号, 出生日期 …), `problem` says what is
// wrong and how to fix it; what() is both ("身份证号 校验位不对，…").
struct ElderFieldError : std::invalid_argument {
    std::string field, problem;
    ElderFieldError(const std::string& field, const std::string& problem)
        : std::invalid_argument(field + " " + problem), field(field), problem(problem) {}
};

// Reads the fields present in j into e; throws ElderFieldError naming a field of the wrong type.
void update_from_json(Elder& e, const nlohmann::json& j);

const std::vector<std::string>& elder_categories();
const std::vector<std::string>& deactivation_reasons();  // 离开中心 去世 迁出 其他

// 身份证号 (GB 11643-1999): what is wrong with it (Chinese, with the fix), or nullopt when it is a valid
// 18-character number: 17 digits, a real birth date, and the ISO 7064 MOD 11-2 check character (0-9 or X).
std::optional<std::string> id_number_problem(const std::string& id_number);
// Its birth date "YYYY-MM-DD" and gender (男 for an odd 17th digit); only for a valid number.
std::string id_number_birth_date(const std::string& id_number);
std::string id_number_gender(const std::string& id_number);

// Trims the fields, bounds their sizes and checks them: gender, dates, phones, categories, and the
// 身份证号 (when check_id_number), filling in the birth date and gender from it or refusing a
// disagreement. Throws ElderFieldError. now_ms bounds dates (none may lie in the future).
void check_elder(Elder& e, int64_t now_ms, bool check_id_number = true);

enum class ElderStatus { all, active, inactive };

class Roster {
public:
    Roster(Store& store, const Clock& clock) : store_(store), clock_(clock) {}
    // Inserts (id == 0) or updates; checked (check_elder; card number and city id free, 身份证号 not
    // held by another active elder); audited under `actor`. Returns the stored elder.
    Elder save(Elder e, const std::string& actor);
    // Several elders in one transaction (all or none); returns them as stored. When one is refused,
    // *failed (if given) is its index in `elders`.
    std::vector<Elder> save_all(std::vector<Elder> elders, const std::string& actor,
                                size_t* failed = nullptr);
    // The same checks as save without writing: throws ElderFieldError as save would.
    void check(Elder& e);
    std::optional<Elder> get(int64_t id);
    std::optional<Elder> find_by_card(const std::string& card_no);
    std::optional<Elder> find_by_external_id(const std::string& external_id);
    // The elder holding this 身份证号: an active one first, else the last deactivated one.
    std::optional<Elder> find_by_id_number(const std::string& id_number);
    // By any part of the name, card number, phone or emergency phone (case-insensitive), or a whole
    // 身份证号; active elders first.
    std::vector<Elder> list(const std::string& search = "", int limit = 500,
                            ElderStatus status = ElderStatus::all);
    void record_consent(int64_t id, const std::string& staff, const std::string& actor);
    // Deactivates (records stay for the statutory archive); audited. The short form is the city's
    // roster.delete.
    void deactivate(int64_t id, const std::string& actor);
    // reason: one of deactivation_reasons(); on: "YYYY-MM-DD" ("" = today), not in the future.
    Elder deactivate(int64_t id, const std::string& reason, const std::string& on, const std::string& note,
                     const std::string& actor);
    // Back on the roster; refused while another active elder holds the same 身份证号.
    Elder reactivate(int64_t id, const std::string& actor);

private:
    Elder save_in(sqlite3* db, Elder e, const std::string& actor, int64_t now);
    void check_in(sqlite3* db, Elder& e, int64_t now);
    Store& store_;
    const Clock& clock_;
};

}  // namespace caregate
