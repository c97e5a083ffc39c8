#include "controller/roster.hpp"

#include <algorithm>
#include <stdexcept>

#include "controller/core/uuid.hpp"

namespace caregate {

using nlohmann::json;

const std::vector<std::string>& elder_categories() {
    static const std::vector<std::string> c = {"独居", "空巢",     "留守", "失能",
                                               "重残", "计生特殊", "低保", "特困"};
    return c;
}

json to_json(const Elder& e) {
    return {{"id", e.id},
            {"uuid", e.uuid},
            {"external_id", e.external_id},
            {"name", e.name},
            {"gender", e.gender},
            {"birth_date", e.birth_date},
            {"phone", e.phone},
            {"card_no", e.card_no},
            {"id_number", e.id_number},
            {"address", e.address},
            {"emergency_contact", e.emergency_contact},
            {"emergency_phone", e.emergency_phone},
            {"categories", e.categories},
            {"family_notify", e.family_notify},
            {"liveness_exempt", e.liveness_exempt},
            {"consent_by", e.consent_by},
            {"consent_at", e.consent_at ? json(*e.consent_at) : json(nullptr)},
            {"notes", e.notes},
            {"active", e.active}};
}

void update_from_json(Elder& e, const json& j) {
    if (!j.is_object()) throw std::invalid_argument("elder must be a JSON object");
    auto str = [&](const char* k, std::string& out) {
        if (!j.contains(k) || j[k].is_null()) return;
        if (!j[k].is_string()) throw std::invalid_argument(std::string("field '") + k + "' must be a string");
        out = j[k].get<std::string>();
    };
    auto boolean = [&](const char* k, bool& out) {
        if (!j.contains(k) || j[k].is_null()) return;
        if (!j[k].is_boolean())
            throw std::invalid_argument(std::string("field '") + k + "' must be true or false");
        out = j[k].get<bool>();
    };
    str("external_id", e.external_id);
    str("name", e.name);
    str("gender", e.gender);
    str("birth_date", e.birth_date);
    str("phone", e.phone);
    str("card_no", e.card_no);
    str("id_number", e.id_number);
    str("address", e.address);
    str("emergency_contact", e.emergency_contact);
    str("emergency_phone", e.emergency_phone);
    str("notes", e.notes);
    boolean("family_notify", e.family_notify);
    boolean("liveness_exempt", e.liveness_exempt);
    if (j.contains("categories") && !j["categories"].is_null()) {
        if (!j["categories"].is_array()) throw std::invalid_argument("field 'categories' must be a list");
        std::vector<std::string> cats;
        for (auto& c : j["categories"]) {
            if (!c.is_string()) throw std::invalid_argument("categories must be strings");
            auto s = c.get<std::string>();
            auto& known = elder_categories();
            if (std::find(known.begin(), known.end(), s) == known.end())
                throw std::invalid_argument("unknown category '" + s +
                                            "'; use 独居 空巢 留守 失能 重残 计生特殊 低保 特困");
            cats.push_back(s);
        }
        e.categories = cats;
    }
    if (e.name.empty()) throw std::invalid_argument("field 'name' is required");
    if (!e.gender.empty() && e.gender != "男" && e.gender != "女")
        throw std::invalid_argument("field 'gender' must be 男 or 女");
}

namespace {
const char* kCols =
    "id, uuid, external_id, name, gender, birth_date, phone, card_no, id_number, address, emergency_contact, "
    "emergency_phone, categories, family_notify, liveness_exempt, consent_by, consent_at, notes, active";

Elder row(const Stmt& s) {
    Elder e;
    e.id = s.i64(0);
    e.uuid = s.str(1);
    e.external_id = s.str(2);
    e.name = s.str(3);
    e.gender = s.str(4);
    e.birth_date = s.str(5);
    e.phone = s.str(6);
    e.card_no = s.str(7);
    e.id_number = s.str(8);
    e.address = s.str(9);
    e.emergency_contact = s.str(10);
    e.emergency_phone = s.str(11);
    auto cats = json::parse(s.str(12), nullptr, false);
    if (cats.is_array())
        for (auto& c : cats)
            if (c.is_string()) e.categories.push_back(c.get<std::string>());
    e.family_notify = s.i64(13) != 0;
    e.liveness_exempt = s.i64(14) != 0;
    e.consent_by = s.str(15);
    e.consent_at = s.opt_i64(16);
    e.notes = s.str(17);
    e.active = s.i64(18) != 0;
    return e;
}

void bind_opt_text(Stmt& s, int i, const std::string& v) { v.empty() ? s.bind_null(i) : s.bind(i, v); }
}  // namespace

Elder Roster::save(Elder e, const std::string& actor) {
    if (e.name.empty()) throw std::invalid_argument("an elder needs a name");
    int64_t now = clock_.now_ms();
    return store_.write([&](sqlite3* db) {
        if (e.id == 0) {
            e.uuid = new_uuid();
            Stmt s(
                db,
                "INSERT INTO elders(uuid, external_id, name, gender, birth_date, phone, card_no, id_number, "
                "address, emergency_contact, emergency_phone, categories, family_notify, liveness_exempt, "
                "notes, "
                "active, created_at, updated_at) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,1,?,?)");
            s.bind(1, e.uuid);
            bind_opt_text(s, 2, e.external_id);
            s.bind(3, e.name).bind(4, e.gender).bind(5, e.birth_date).bind(6, e.phone);
            bind_opt_text(s, 7, e.card_no);
            s.bind(8, e.id_number)
                .bind(9, e.address)
                .bind(10, e.emergency_contact)
                .bind(11, e.emergency_phone);
            s.bind(12, json(e.categories).dump())
                .bind(13, e.family_notify ? 1 : 0)
                .bind(14, e.liveness_exempt ? 1 : 0);
            s.bind(15, e.notes).bind(16, now).bind(17, now).run();
            e.id = last_insert_id(db);
            Store::audit(db, actor, "elder.create", "elder:" + std::to_string(e.id),
                         json{{"name", e.name}}.dump(), now);
        } else {
            Stmt s(db,
                   "UPDATE elders SET external_id=?, name=?, gender=?, birth_date=?, phone=?, card_no=?, "
                   "id_number=?, "
                   "address=?, emergency_contact=?, emergency_phone=?, categories=?, family_notify=?, "
                   "liveness_exempt=?, notes=?, active=?, updated_at=? WHERE id=?");
            bind_opt_text(s, 1, e.external_id);
            s.bind(2, e.name).bind(3, e.gender).bind(4, e.birth_date).bind(5, e.phone);
            bind_opt_text(s, 6, e.card_no);
            s.bind(7, e.id_number)
                .bind(8, e.address)
                .bind(9, e.emergency_contact)
                .bind(10, e.emergency_phone);
            s.bind(11, json(e.categories).dump())
                .bind(12, e.family_notify ? 1 : 0)
                .bind(13, e.liveness_exempt ? 1 : 0);
            s.bind(14, e.notes).bind(15, e.active ? 1 : 0).bind(16, now).bind(17, e.id).run();
            if (sqlite3_changes(db) == 0)
                throw std::invalid_argument("elder " + std::to_string(e.id) + " does not exist");
            Store::audit(db, actor, "elder.update", "elder:" + std::to_string(e.id),
                         json{{"name", e.name}}.dump(), now);
        }
        return e;
    });
}

std::optional<Elder> Roster::get(int64_t id) {
    return store_.read([&](sqlite3* db) -> std::optional<Elder> {
        Stmt s(db, std::string("SELECT ") + kCols + " FROM elders WHERE id=?");
        s.bind(1, id);
        if (!s.step()) return std::nullopt;
        return row(s);
    });
}

std::optional<Elder> Roster::find_by_card(const std::string& card_no) {
    return store_.read([&](sqlite3* db) -> std::optional<Elder> {
        Stmt s(db, std::string("SELECT ") + kCols + " FROM elders WHERE card_no=? AND active=1");
        s.bind(1, card_no);
        if (!s.step()) return std::nullopt;
        return row(s);
    });
}

std::optional<Elder> Roster::find_by_external_id(const std::string& external_id) {
    return store_.read([&](sqlite3* db) -> std::optional<Elder> {
        Stmt s(db, std::string("SELECT ") + kCols + " FROM elders WHERE external_id=?");
        s.bind(1, external_id);
        if (!s.step()) return std::nullopt;
        return row(s);
    });
}

std::vector<Elder> Roster::list(const std::string& search, int limit) {
    return store_.read([&](sqlite3* db) {
        std::vector<Elder> out;
        Stmt s(db,
               std::string("SELECT ") + kCols +
                   " FROM elders WHERE (?1 = '' OR name LIKE '%' || ?1 || '%' OR card_no = ?1 OR phone = ?1) "
                   "ORDER BY active DESC, name LIMIT ?2");
        s.bind(1, search).bind(2, limit);
        while (s.step()) out.push_back(row(s));
        return out;
    });
}

void Roster::record_consent(int64_t id, const std::string& staff, const std::string& actor) {
    if (staff.empty()) throw std::invalid_argument("consent must name the staff member who recorded it");
    int64_t now = clock_.now_ms();
    store_.write([&](sqlite3* db) {
        Stmt s(db, "UPDATE elders SET consent_by=?, consent_at=?, updated_at=? WHERE id=?");
        s.bind(1, staff).bind(2, now).bind(3, now).bind(4, id).run();
        if (sqlite3_changes(db) == 0)
            throw std::invalid_argument("elder " + std::to_string(id) + " does not exist");
        Store::audit(db, actor, "elder.consent", "elder:" + std::to_string(id), json{{"by", staff}}.dump(),
                     now);
    });
}

void Roster::deactivate(int64_t id, const std::string& actor) {
    int64_t now = clock_.now_ms();
    store_.write([&](sqlite3* db) {
        Stmt s(db, "UPDATE elders SET active=0, updated_at=? WHERE id=?");
        s.bind(1, now).bind(2, id).run();
        if (sqlite3_changes(db) == 0)
            throw std::invalid_argument("elder " + std::to_string(id) + " does not exist");
        Store::audit(db, actor, "elder.deactivate", "elder:" + std::to_string(id), "{}", now);
    });
}

}  // namespace caregate
