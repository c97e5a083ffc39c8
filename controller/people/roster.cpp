#include "controller/people/roster.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <stdexcept>

#include "controller/core/utf8.hpp"
#include "controller/core/uuid.hpp"
#include "controller/people/face_templates.hpp"

namespace caregate {

using nlohmann::json;

const std::vector<std::string>& elder_categories() {
    static const std::vector<std::string> c = {"独居", "空巢",     "留守", "失能",
                                               "重残", "计生特殊", "低保", "特困"};
    return c;
}

const std::vector<std::string>& deactivation_reasons() {
    static const std::vector<std::string> r = {"离开中心", "去世", "迁出", "其他"};
    return r;
}

std::string mask_id_number(const std::string& id) {
    if (id.empty()) return "";
    if (id.size() < 8) return std::string(id.size(), '*');
    return id.substr(0, 3) + std::string(id.size() - 7, '*') + id.substr(id.size() - 4);
}

json to_json(const Elder& e) {
    auto opt = [](const std::string& s) { return s.empty() ? json(nullptr) : json(s); };
    return {{"id", e.id},
            {"uuid", e.uuid},
            {"external_id", e.external_id},
            {"name", e.name},
            {"gender", e.gender},
            {"birth_date", e.birth_date},
            {"phone", e.phone},
            {"card_no", e.card_no},
            {"id_number", e.id_number},
            {"id_number_masked", mask_id_number(e.id_number)},
            {"address", e.address},
            {"emergency_contact", e.emergency_contact},
            {"emergency_phone", e.emergency_phone},
            {"categories", e.categories},
            {"family_notify", e.family_notify},
            {"liveness_exempt", e.liveness_exempt},
            {"consent_by", e.consent_by},
            {"consent_at", e.consent_at ? json(*e.consent_at) : json(nullptr)},
            {"notes", e.notes},
            {"active", e.active},
            {"deactivated", e.active ? json(nullptr)
                                     : json{{"reason", opt(e.deactivated_reason)},
                                            {"on", opt(e.deactivated_on)},
                                            {"note", opt(e.deactivated_note)},
                                            {"by", opt(e.deactivated_by)}}}};
}

json to_list_json(const Elder& e) {
    json j = to_json(e);
    j["id_number"] = mask_id_number(e.id_number);
    return j;
}

namespace {

// "YYYY-MM-DD" of a real calendar day from 1900 on, or nullopt.
std::optional<std::string> calendar_day(int y, int m, int d) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1900 || y > 2199 || m < 1 || m > 12 || d < 1) return std::nullopt;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > days[m - 1] + (m == 2 && leap ? 1 : 0)) return std::nullopt;
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", y % 10000, m % 100, d % 100);
    return std::string(buf);
}

bool all_digits(const std::string& s, size_t from, size_t n) {
    if (from + n > s.size()) return false;
    for (size_t i = from; i < from + n; ++i)
        if (s[i] < '0' || s[i] > '9') return false;
    return true;
}

// The site's local day (China Standard Time: no daylight saving) of a UTC instant.
std::string china_day(int64_t ms) {
    std::time_t t = static_cast<std::time_t>((ms + 8 * 3600 * 1000LL) / 1000);
    std::tm tm{};
    gmtime_r(&t, &tm);
    return *calendar_day(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

std::string trim(const std::string& s) {
    const char* ws = " \t\r\n";
    size_t a = s.find_first_not_of(ws);
    if (a == std::string::npos) return "";
    // A full-width space (U+3000) at either end is trimmed too: text pasted from Chinese documents.
    std::string out = s.substr(a, s.find_last_not_of(ws) - a + 1);
    const std::string ideo = "\xE3\x80\x80";
    while (out.size() >= 3 && out.compare(0, 3, ideo) == 0) out = trim(out.substr(3));
    while (out.size() >= 3 && out.compare(out.size() - 3, 3, ideo) == 0)
        out = trim(out.substr(0, out.size() - 3));
    return out;
}

}  // namespace

std::optional<std::string> id_number_problem(const std::string& id) {
    if (id.size() != 18) return "应为 18 位（现在是 " + std::to_string(id.size()) + " 位），请核对后重新填写";
    if (!all_digits(id, 0, 17)) return "前 17 位须为数字，请核对";
    char last = id[17];
    if (!((last >= '0' && last <= '9') || last == 'X' || last == 'x')) return "最后一位须为数字或 X，请核对";
    auto day =
        calendar_day(std::stoi(id.substr(6, 4)), std::stoi(id.substr(10, 2)), std::stoi(id.substr(12, 2)));
    if (!day) return "第 7-14 位不是有效的出生日期，请核对";
    static const int weight[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
    static const char check[11] = {'1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'};
    int sum = 0;
    for (int i = 0; i < 17; ++i) sum += (id[i] - '0') * weight[i];
    char want = check[sum % 11];
    if ((last == 'x' ? 'X' : last) != want) return "校验位不对，请核对最后一位和前面各位是否抄错";
    return std::nullopt;
}

std::string id_number_birth_date(const std::string& id) {
    return id.substr(6, 4) + "-" + id.substr(10, 2) + "-" + id.substr(12, 2);
}

std::string id_number_gender(const std::string& id) { return (id[16] - '0') % 2 ? "男" : "女"; }

void update_from_json(Elder& e, const json& j) {
    if (!j.is_object()) throw ElderFieldError("长者资料", "格式有误，请刷新页面后再试");
    auto str = [&](const char* k, const char* name, std::string& out) {
        if (!j.contains(k) || j[k].is_null()) return;
        if (!j[k].is_string()) throw ElderFieldError(name, "须为文字");
        out = j[k].get<std::string>();
    };
    auto boolean = [&](const char* k, const char* name, bool& out) {
        if (!j.contains(k) || j[k].is_null()) return;
        if (!j[k].is_boolean()) throw ElderFieldError(name, "须为 是 或 否");
        out = j[k].get<bool>();
    };
    str("external_id", "市平台编号", e.external_id);
    str("name", "姓名", e.name);
    str("gender", "性别", e.gender);
    str("birth_date", "出生日期", e.birth_date);
    str("phone", "电话", e.phone);
    str("card_no", "卡号", e.card_no);
    str("id_number", "身份证号", e.id_number);
    str("address", "地址", e.address);
    str("emergency_contact", "紧急联系人", e.emergency_contact);
    str("emergency_phone", "紧急联系电话", e.emergency_phone);
    str("notes", "备注", e.notes);
    boolean("family_notify", "家属提醒", e.family_notify);
    boolean("liveness_exempt", "免活体检测", e.liveness_exempt);
    if (j.contains("categories") && !j["categories"].is_null()) {
        if (!j["categories"].is_array()) throw ElderFieldError("类别", "须为列表");
        if (j["categories"].size() > elder_categories().size()) throw ElderFieldError("类别", "项数过多");
        std::vector<std::string> cats;
        for (auto& c : j["categories"]) {
            if (!c.is_string()) throw ElderFieldError("类别", "须为文字");
            cats.push_back(c.get<std::string>());
        }
        e.categories = cats;
    }
    if (trim(e.name).empty()) throw ElderFieldError("姓名", "必填");
    if (!e.gender.empty() && e.gender != "男" && e.gender != "女")
        throw ElderFieldError("性别", "须为 男 或 女");
}

void check_elder(Elder& e, int64_t now_ms, bool check_id_number) {
    // Sizes in bytes (a Chinese character is 3): a name of 40 characters, an address of 200.
    struct Field {
        std::string* v;
        const char* name;
        size_t max;
    };
    Field fields[] = {{&e.name, "姓名", 120},
                      {&e.gender, "性别", 8},
                      {&e.birth_date, "出生日期", 10},
                      {&e.phone, "电话", 40},
                      {&e.card_no, "卡号", 64},
                      {&e.id_number, "身份证号", 18},
                      {&e.address, "地址", 600},
                      {&e.emergency_contact, "紧急联系人", 120},
                      {&e.emergency_phone, "紧急联系电话", 40},
                      {&e.external_id, "市平台编号", 64},
                      {&e.notes, "备注", 4000},
                      {&e.consent_by, "同意书记录人", 120}};
    for (auto& f : fields) {
        *f.v = trim(*f.v);
        if (!valid_utf8(*f.v)) throw ElderFieldError(f.name, "含有无法识别的字符，请重新输入");
        if (f.v->size() > f.max)
            throw ElderFieldError(f.name, "过长（最多 " + std::to_string(f.max / 3 > 0 ? f.max / 3 : 1) +
                                              " 个汉字或 " + std::to_string(f.max) + " 个字母数字）");
    }
    if (e.name.empty()) throw ElderFieldError("姓名", "必填");
    if (!e.gender.empty() && e.gender != "男" && e.gender != "女")
        throw ElderFieldError("性别", "须为 男 或 女");
    for (auto* p : {&e.phone, &e.emergency_phone}) {
        if (p->find_first_not_of("0123456789+-() ") != std::string::npos)
            throw ElderFieldError(p == &e.phone ? "电话" : "紧急联系电话", "只能含数字、空格、+、- 和括号");
    }
    if (e.card_no.find_first_of("\t\r\n") != std::string::npos) throw ElderFieldError("卡号", "不能含换行");
    auto& known = elder_categories();
    std::vector<std::string> cats;
    for (auto& c : e.categories) {
        std::string t = trim(c);
        if (std::find(known.begin(), known.end(), t) == known.end())
            throw ElderFieldError(
                "类别",
                "“" + t.substr(0, 30) + "”不是可选类别；可选：独居 空巢 留守 失能 重残 计生特殊 低保 特困");
        if (std::find(cats.begin(), cats.end(), t) == cats.end()) cats.push_back(t);
    }
    e.categories = cats;
    // Dates may not lie in the future (checked when the clock is a real one).
    std::string today = now_ms > 946684800000LL ? china_day(now_ms) : "2199-12-31";
    if (!e.birth_date.empty()) {
        int y = 0, m = 0, d = 0;
        char tail = 0;
        bool shaped = e.birth_date.size() == 10 && e.birth_date[4] == '-' && e.birth_date[7] == '-' &&
                      std::sscanf(e.birth_date.c_str(), "%4d-%2d-%2d%c", &y, &m, &d, &tail) == 3;
        auto day = shaped ? calendar_day(y, m, d) : std::nullopt;
        if (!day) throw ElderFieldError("出生日期", "须为有效日期，如 1948-05-02");
        if (*day > today) throw ElderFieldError("出生日期", "不能晚于今天");
        e.birth_date = *day;
    }
    if (!e.id_number.empty()) {
        if (e.id_number.back() == 'x') e.id_number.back() = 'X';
        if (check_id_number) {
            if (auto why = id_number_problem(e.id_number)) throw ElderFieldError("身份证号", *why);
            std::string born = id_number_birth_date(e.id_number);
            if (born > today) throw ElderFieldError("身份证号", "中的出生日期晚于今天，请核对");
            if (e.birth_date.empty())
                e.birth_date = born;
            else if (e.birth_date != born)
                throw ElderFieldError("出生日期",
                                      "与身份证号中的出生日期 " + born + " 不一致，请核对其中之一");
            std::string g = id_number_gender(e.id_number);
            if (e.gender.empty())
                e.gender = g;
            else if (e.gender != g)
                throw ElderFieldError("性别", "与身份证号不符（身份证号第 17 位表示" + g + "），请核对");
        }
    }
}

namespace {
const char* kCols =
    "id, uuid, external_id, name, gender, birth_date, phone, card_no, id_number, address, emergency_contact, "
    "emergency_phone, categories, family_notify, liveness_exempt, consent_by, consent_at, notes, active, "
    "deactivated_reason, deactivated_on, deactivated_note, deactivated_by";

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
    e.deactivated_reason = s.str(19);
    e.deactivated_on = s.str(20);
    e.deactivated_note = s.str(21);
    e.deactivated_by = s.str(22);
    return e;
}

std::optional<Elder> one(sqlite3* db, const std::string& where, const std::string& arg) {
    Stmt s(db, std::string("SELECT ") + kCols + " FROM elders WHERE " + where);
    s.bind(1, arg);
    if (!s.step()) return std::nullopt;
    return row(s);
}

std::optional<Elder> by_id(sqlite3* db, int64_t id) {
    Stmt s(db, std::string("SELECT ") + kCols + " FROM elders WHERE id=?");
    s.bind(1, id);
    if (!s.step()) return std::nullopt;
    return row(s);
}

void bind_opt_text(Stmt& s, int i, const std::string& v) { v.empty() ? s.bind_null(i) : s.bind(i, v); }

std::string who(const std::string& name, bool active) { return name + (active ? "" : "（已停用）"); }
}  // namespace

void Roster::check_in(sqlite3* db, Elder& e, int64_t now) {
    bool id_changed = true;
    if (e.id != 0) {
        Stmt o(db, "SELECT COALESCE(id_number,'') FROM elders WHERE id=?");
        o.bind(1, e.id);
        if (!o.step()) throw ElderFieldError("长者", "不存在（档案编号 " + std::to_string(e.id) + "）");
        std::string before = o.str(0);
        // A number stored before it was checked is checked only when it is changed.
        id_changed = before != e.id_number && !(before.size() == 18 && e.id_number.size() == 18 &&
                                                before.substr(0, 17) == e.id_number.substr(0, 17) &&
                                                (before[17] | 0x20) == (e.id_number[17] | 0x20));
    }
    check_elder(e, now, id_changed);
    // SQLite's own UNIQUE would say it in English: said here first, naming who holds it.
    auto taken = [&](const char* col, const std::string& v, const char* field, const std::string& extra) {
        if (v.empty()) return;
        Stmt s(db, std::string("SELECT id, name, active FROM elders WHERE ") + col + "=? AND id<>?" + extra +
                       " ORDER BY active DESC LIMIT 1");
        s.bind(1, v).bind(2, e.id);
        if (!s.step()) return;
        std::string holder = who(s.str(1), s.i64(2) != 0);
        if (std::string(col) == "id_number")
            throw ElderFieldError(field, "已登记给在册长者 " + holder + "（档案编号 " +
                                             std::to_string(s.i64(0)) + "），同一位老人请直接编辑其档案");
        throw ElderFieldError(
            field, v.substr(0, 64) + " 已被 " + holder + " 使用，请换一个或先修改 " + holder + " 的档案");
    };
    taken("card_no", e.card_no, "卡号", "");
    taken("external_id", e.external_id, "市平台编号", "");
    if (e.active) taken("id_number", e.id_number, "身份证号", " AND active=1");
}

void Roster::check(Elder& e) {
    int64_t now = clock_.now_ms();
    store_.read([&](sqlite3* db) { check_in(db, e, now); });
}

Elder Roster::save_in(sqlite3* db, Elder e, const std::string& actor, int64_t now) {
    check_in(db, e, now);
    if (e.id == 0) {
        e.uuid = new_uuid();
        e.active = true;
        Stmt s(db,
               "INSERT INTO elders(uuid, external_id, name, gender, birth_date, phone, card_no, id_number, "
               "address, emergency_contact, emergency_phone, categories, family_notify, liveness_exempt, "
               "notes, active, created_at, updated_at) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,1,?,?)");
        s.bind(1, e.uuid);
        bind_opt_text(s, 2, e.external_id);
        s.bind(3, e.name).bind(4, e.gender).bind(5, e.birth_date).bind(6, e.phone);
        bind_opt_text(s, 7, e.card_no);
        s.bind(8, e.id_number).bind(9, e.address).bind(10, e.emergency_contact).bind(11, e.emergency_phone);
        s.bind(12, json(e.categories).dump())
            .bind(13, e.family_notify ? 1 : 0)
            .bind(14, e.liveness_exempt ? 1 : 0);
        s.bind(15, e.notes).bind(16, now).bind(17, now).run();
        e.id = last_insert_id(db);
        // The audit log names the elder, never the 身份证号.
        Store::audit(db, actor, "elder.create", "elder:" + std::to_string(e.id),
                     json{{"name", e.name}}.dump(), now);
    } else {
        Stmt s(db,
               "UPDATE elders SET external_id=?, name=?, gender=?, birth_date=?, phone=?, card_no=?, "
               "id_number=?, "
               "address=?, emergency_contact=?, emergency_phone=?, categories=?, family_notify=?, "
               "liveness_exempt=?, notes=?, active=?, updated_at=?, "
               "deactivated_reason=CASE WHEN ?15 THEN NULL ELSE deactivated_reason END, "
               "deactivated_on=CASE WHEN ?15 THEN NULL ELSE deactivated_on END, "
               "deactivated_note=CASE WHEN ?15 THEN NULL ELSE deactivated_note END, "
               "deactivated_by=CASE WHEN ?15 THEN NULL ELSE deactivated_by END WHERE id=?17");
        bind_opt_text(s, 1, e.external_id);
        s.bind(2, e.name).bind(3, e.gender).bind(4, e.birth_date).bind(5, e.phone);
        bind_opt_text(s, 6, e.card_no);
        s.bind(7, e.id_number).bind(8, e.address).bind(9, e.emergency_contact).bind(10, e.emergency_phone);
        s.bind(11, json(e.categories).dump())
            .bind(12, e.family_notify ? 1 : 0)
            .bind(13, e.liveness_exempt ? 1 : 0);
        s.bind(14, e.notes).bind(15, e.active ? 1 : 0).bind(16, now).bind(17, e.id).run();
        if (sqlite3_changes(db) == 0)
            throw ElderFieldError("长者", "不存在（档案编号 " + std::to_string(e.id) + "）");
        Store::audit(db, actor, "elder.update", "elder:" + std::to_string(e.id),
                     json{{"name", e.name}}.dump(), now);
    }
    return *by_id(db, e.id);
}

Elder Roster::save(Elder e, const std::string& actor) {
    int64_t now = clock_.now_ms();
    return store_.write([&](sqlite3* db) { return save_in(db, e, actor, now); });
}

std::vector<Elder> Roster::save_all(std::vector<Elder> elders, const std::string& actor, size_t* failed) {
    int64_t now = clock_.now_ms();
    return store_.write([&](sqlite3* db) {
        std::vector<Elder> out;
        out.reserve(elders.size());
        for (size_t i = 0; i < elders.size(); ++i) {
            if (failed) *failed = i;
            out.push_back(save_in(db, elders[i], actor, now));
        }
        return out;
    });
}

std::optional<Elder> Roster::get(int64_t id) {
    return store_.read([&](sqlite3* db) { return by_id(db, id); });
}

std::optional<Elder> Roster::find_by_card(const std::string& card_no) {
    return store_.read([&](sqlite3* db) { return one(db, "card_no=? AND active=1", card_no); });
}

std::optional<Elder> Roster::find_by_external_id(const std::string& external_id) {
    return store_.read([&](sqlite3* db) { return one(db, "external_id=?", external_id); });
}

std::optional<Elder> Roster::find_by_id_number(const std::string& id_number) {
    if (id_number.empty()) return std::nullopt;
    std::string id = id_number;
    if (id.back() == 'x') id.back() = 'X';
    return store_.read([&](sqlite3* db) {
        return one(
            db,
            "id_number<>'' AND (id_number=?1 OR id_number=lower(?1)) ORDER BY active DESC, updated_at DESC",
            id);
    });
}

std::vector<Elder> Roster::list(const std::string& search, int limit, ElderStatus status) {
    std::string q = trim(search).substr(0, 64);
    // LIKE with its wildcards escaped: "%" or "_" typed by staff are searched for as themselves.
    std::string like;
    for (char c : q) {
        if (c == '%' || c == '_' || c == '\\') like += '\\';
        like += c;
    }
    like = "%" + like + "%";
    // Phones are matched on their digits too: "138 0000" finds 13800001234 and 138-0000-1234.
    std::string digits;
    for (char c : q)
        if (c >= '0' && c <= '9') digits += c;
    bool phone_like = !digits.empty() && q.find_first_not_of("0123456789+-() ") == std::string::npos;
    std::string id = q;
    if (id.size() == 18 && id.back() == 'x') id.back() = 'X';
    return store_.read([&](sqlite3* db) {
        std::vector<Elder> out;
        Stmt s(
            db,
            std::string("SELECT ") + kCols +
                " FROM elders WHERE (?1 = '' OR name LIKE ?2 ESCAPE '\\' OR card_no LIKE ?2 ESCAPE '\\' "
                "OR phone LIKE ?2 ESCAPE '\\' OR emergency_phone LIKE ?2 ESCAPE '\\' "
                "OR (?3 <> '' AND (replace(replace(replace(phone,' ',''),'-',''),'+','') LIKE '%' || ?3 || "
                "'%' "
                "OR replace(replace(replace(emergency_phone,' ',''),'-',''),'+','') LIKE '%' || ?3 || '%')) "
                "OR (length(?4) = 18 AND id_number = ?4)) "
                "AND (?5 = 0 OR (?5 = 1 AND active = 1) OR (?5 = 2 AND active = 0)) "
                "ORDER BY active DESC, name LIMIT ?6");
        s.bind(1, q).bind(2, like).bind(3, phone_like ? digits : std::string()).bind(4, id);
        s.bind(5, status == ElderStatus::all ? 0 : status == ElderStatus::active ? 1 : 2).bind(6, limit);
        while (s.step()) out.push_back(row(s));
        return out;
    });
}

void Roster::record_consent(int64_t id, const std::string& staff, const std::string& actor) {
    if (trim(staff).empty()) throw ElderFieldError("同意书记录人", "必填：请写明记录同意的工作人员");
    if (staff.size() > 120) throw ElderFieldError("同意书记录人", "过长");
    int64_t now = clock_.now_ms();
    store_.write([&](sqlite3* db) {
        Stmt s(db, "UPDATE elders SET consent_by=?, consent_at=?, updated_at=? WHERE id=?");
        s.bind(1, trim(staff)).bind(2, now).bind(3, now).bind(4, id).run();
        if (sqlite3_changes(db) == 0)
            throw ElderFieldError("长者", "不存在（档案编号 " + std::to_string(id) + "）");
        Store::audit(db, actor, "elder.consent", "elder:" + std::to_string(id), json{{"by", staff}}.dump(),
                     now);
    });
}

void Roster::deactivate(int64_t id, const std::string& actor) {
    deactivate(id, "其他", "", "市平台删除", actor);
}

Elder Roster::deactivate(int64_t id, const std::string& reason, const std::string& on,
                         const std::string& note, const std::string& actor) {
    auto& reasons = deactivation_reasons();
    if (std::find(reasons.begin(), reasons.end(), reason) == reasons.end())
        throw ElderFieldError("停用原因", "须为 离开中心、去世、迁出 或 其他");
    int64_t now = clock_.now_ms();
    std::string today = china_day(now), day = trim(on);
    if (day.empty()) day = today;
    int y = 0, m = 0, d = 0;
    auto cal = day.size() == 10 && std::sscanf(day.c_str(), "%4d-%2d-%2d", &y, &m, &d) == 3
                   ? calendar_day(y, m, d)
                   : std::nullopt;
    if (!cal) throw ElderFieldError("停用日期", "须为有效日期，如 2026-05-01");
    if (now > 946684800000LL && *cal > today) throw ElderFieldError("停用日期", "不能晚于今天");
    std::string n = trim(note);
    if (n.size() > 600) throw ElderFieldError("停用说明", "过长（最多 200 个汉字）");
    return store_.write([&](sqlite3* db) {
        auto e = by_id(db, id);
        if (!e) throw ElderFieldError("长者", "不存在（档案编号 " + std::to_string(id) + "）");
        if (!e->active) throw ElderFieldError("长者", e->name + " 已停用");
        Stmt s(db,
               "UPDATE elders SET active=0, deactivated_reason=?, deactivated_on=?, deactivated_note=?, "
               "deactivated_by=?, updated_at=? WHERE id=?");
        s.bind(1, reason).bind(2, *cal).bind(3, n).bind(4, actor).bind(5, now).bind(6, id).run();
        Store::audit(db, actor, "elder.deactivate", "elder:" + std::to_string(id),
                     json{{"name", e->name}, {"reason", reason}, {"on", *cal}, {"note", n}}.dump(), now);
        // The door's gallery holds active elders only: it reloads, so a look-alike of someone who
        // left is no longer a close call with them.
        TemplateStore::changed(db);
        return *by_id(db, id);
    });
}

Elder Roster::reactivate(int64_t id, const std::string& actor) {
    int64_t now = clock_.now_ms();
    return store_.write([&](sqlite3* db) {
        auto e = by_id(db, id);
        if (!e) throw ElderFieldError("长者", "不存在（档案编号 " + std::to_string(id) + "）");
        if (e->active) throw ElderFieldError("长者", e->name + " 在册，无需重新启用");
        if (!e->id_number.empty()) {
            Stmt s(db, "SELECT id, name FROM elders WHERE id_number=? AND active=1 AND id<>? LIMIT 1");
            s.bind(1, e->id_number).bind(2, id);
            if (s.step())
                throw ElderFieldError("身份证号", "已登记给在册长者 " + s.str(1) + "（档案编号 " +
                                                      std::to_string(s.i64(0)) +
                                                      "），不能重新启用这份重复档案");
        }
        json before = {{"name", e->name}, {"reason", e->deactivated_reason}, {"on", e->deactivated_on}};
        Stmt s(db,
               "UPDATE elders SET active=1, deactivated_reason=NULL, deactivated_on=NULL, "
               "deactivated_note=NULL, "
               "deactivated_by=NULL, updated_at=? WHERE id=?");
        s.bind(1, now).bind(2, id).run();
        Store::audit(db, actor, "elder.reactivate", "elder:" + std::to_string(id), before.dump(), now);
        TemplateStore::changed(db);  // the door recognises them again without a restart
        return *by_id(db, id);
    });
}

}  // namespace caregate
