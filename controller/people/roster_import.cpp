#include "controller/people/roster_import.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>

namespace caregate {

using nlohmann::json;

const sheet::Limits& elder_import_limits() {
    static const sheet::Limits l{4 * 1024 * 1024, 20 * 1024 * 1024, 10'000, 64, 4096};
    return l;
}

const std::vector<std::string>& elder_import_columns() {
    static const std::vector<std::string> c = {"姓名", "性别",       "出生日期",     "身份证号",
                                               "电话", "紧急联系人", "紧急联系电话", "类别",
                                               "卡号", "地址",       "备注"};
    return c;
}

namespace {

std::string trim(const std::string& s) {
    size_t a = s.find_first_not_of(" \t\r\n");
    if (a == std::string::npos) return "";
    return s.substr(a, s.find_last_not_of(" \t\r\n") - a + 1);
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
    for (size_t p = 0; (p = s.find(from, p)) != std::string::npos; p += to.size())
        s.replace(p, from.size(), to);
    return s;
}

// A header as staff write it → the import's column name, or "" when unknown.
std::string column_name(std::string h) {
    for (const char* junk : {"*", "＊", "（必填）", "(必填)", "（选填）", "(选填)", " ", "\xE3\x80\x80"})
        h = replace_all(h, junk, "");
    static const std::map<std::string, std::string> alias = {{"姓名", "姓名"},
                                                             {"名字", "姓名"},
                                                             {"长者姓名", "姓名"},
                                                             {"老人姓名", "姓名"},
                                                             {"性别", "性别"},
                                                             {"出生日期", "出生日期"},
                                                             {"出生年月日", "出生日期"},
                                                             {"生日", "出生日期"},
                                                             {"身份证号", "身份证号"},
                                                             {"身份证号码", "身份证号"},
                                                             {"身份证", "身份证号"},
                                                             {"公民身份号码", "身份证号"},
                                                             {"电话", "电话"},
                                                             {"联系电话", "电话"},
                                                             {"手机", "电话"},
                                                             {"手机号", "电话"},
                                                             {"本人电话", "电话"},
                                                             {"紧急联系人", "紧急联系人"},
                                                             {"联系人", "紧急联系人"},
                                                             {"紧急联系电话", "紧急联系电话"},
                                                             {"紧急联系人电话", "紧急联系电话"},
                                                             {"联系人电话", "紧急联系电话"},
                                                             {"类别", "类别"},
                                                             {"人员类别", "类别"},
                                                             {"分类", "类别"},
                                                             {"卡号", "卡号"},
                                                             {"就餐卡号", "卡号"},
                                                             {"地址", "地址"},
                                                             {"住址", "地址"},
                                                             {"家庭住址", "地址"},
                                                             {"居住地址", "地址"},
                                                             {"备注", "备注"}};
    auto it = alias.find(h);
    return it == alias.end() ? "" : it->second;
}

// A birth date as staff type it (1948-5-2, 1948/05/02, 1948.5.2, 1948年5月2日, 19480502) or as Excel
// stores a date (days since 1899-12-30) → "1948-05-02"; anything else is left for the checks to refuse.
std::string normalize_date(const std::string& v) {
    std::string s = trim(v);
    if (s.empty()) return s;
    bool numeric = s.find_first_not_of("0123456789.") == std::string::npos;
    if (numeric && s.size() == 8 && s.find('.') == std::string::npos)
        return s.substr(0, 4) + "-" + s.substr(4, 2) + "-" + s.substr(6, 2);
    if (numeric && s.find('.') == s.rfind('.')) {  // an Excel date serial, maybe "17655.0"
        double d = std::strtod(s.c_str(), nullptr);
        if (d >= 1 && d < 80000) {
            std::time_t t = static_cast<std::time_t>((int64_t(d) - 25569) * 86400);  // 25569: 1970-01-01
            std::tm tm{};
            gmtime_r(&t, &tm);
            char buf[32];
            std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", (tm.tm_year + 1900) % 10000,
                          (tm.tm_mon + 1) % 100, tm.tm_mday % 100);
            return buf;
        }
    }
    std::string t = replace_all(replace_all(replace_all(s, "年", "-"), "月", "-"), "日", "");
    t = replace_all(replace_all(t, "/", "-"), ".", "-");
    size_t space = t.find(' ');  // "1948-05-02 00:00:00"
    if (space != std::string::npos) t = t.substr(0, space);
    int y = 0, m = 0, d = 0;
    char tail = 0;
    if (std::sscanf(t.c_str(), "%d-%d-%d%c", &y, &m, &d, &tail) == 3 && y >= 1000 && y <= 9999 && m >= 0 &&
        m < 100 && d >= 0 && d < 100) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", y, m, d);
        return buf;
    }
    return s;
}

std::vector<std::string> split_categories(const std::string& v) {
    std::string s = v;
    for (const char* sep : {"、", "，", "；", "／", ",", ";", "/", "\xE3\x80\x80"})
        s = replace_all(s, sep, " ");
    std::vector<std::string> out;
    size_t p = 0;
    while (p < s.size()) {
        size_t a = s.find_first_not_of(' ', p);
        if (a == std::string::npos) break;
        size_t b = s.find(' ', a);
        out.push_back(s.substr(a, b == std::string::npos ? std::string::npos : b - a));
        p = b == std::string::npos ? s.size() : b;
    }
    return out;
}

std::string line_text(int line) { return "第 " + std::to_string(line) + " 行"; }

}  // namespace

size_t ImportPlan::valid() const {
    return size_t(std::count_if(rows.begin(), rows.end(), [](auto& r) { return !r.action.empty(); }));
}
size_t ImportPlan::refused() const { return rows.size() - valid(); }

json ImportPlan::to_json(size_t max_rows) const {
    json out = json::array();
    std::vector<const ImportRow*> order;
    for (auto& r : rows)
        if (r.action.empty()) order.push_back(&r);
    for (auto& r : rows)
        if (!r.action.empty()) order.push_back(&r);
    for (auto* r : order) {
        if (out.size() >= max_rows) break;
        out.push_back({{"line", r->line},
                       {"name", r->elder.name},
                       {"gender", r->elder.gender},
                       {"birth_date", r->elder.birth_date},
                       {"id_number", mask_id_number(r->elder.id_number)},
                       {"phone", r->elder.phone},
                       {"card_no", r->elder.card_no},
                       {"categories", r->elder.categories},
                       {"action", r->action.empty() ? json(nullptr) : json(r->action)},
                       {"elder_id", r->elder.id ? json(r->elder.id) : json(nullptr)},
                       {"errors", r->errors},
                       {"note", r->note}});
    }
    size_t creates =
        size_t(std::count_if(rows.begin(), rows.end(), [](auto& r) { return r.action == "create"; }));
    return {{"columns", columns},
            {"warnings", warnings},
            {"total", rows.size()},
            {"valid", valid()},
            {"refused", refused()},
            {"create", creates},
            {"update", valid() - creates},
            {"rows", out},
            {"rows_cut", rows.size() > out.size()}};
}

ImportPlan plan_elder_import(Roster& roster, const std::string& file_bytes) {
    return plan_elder_import(roster, sheet::read_table(file_bytes, elder_import_limits()));
}

ImportPlan plan_elder_import(Roster& roster, const sheet::Table& table) {
    ImportPlan plan;
    auto blank = [](const std::vector<std::string>& row) {
        return std::all_of(row.begin(), row.end(), [](auto& c) { return trim(c).empty(); });
    };
    size_t head = 0;
    while (head < table.size() && blank(table[head])) ++head;
    if (head == table.size())
        throw sheet::SheetError("文件是空的：第一行须为列名（姓名、性别、出生日期、身份证号…）");
    // Column index → import column.
    std::map<size_t, std::string> cols;
    std::map<std::string, size_t> seen;
    for (size_t c = 0; c < table[head].size(); ++c) {
        std::string h = trim(table[head][c]);
        if (h.empty()) continue;
        std::string name = column_name(h);
        if (name.empty()) {
            plan.warnings.push_back(line_text(int(head + 1)) + " 列“" + h.substr(0, 40) + "”不认识，已忽略");
            continue;
        }
        if (seen.count(name)) {
            plan.warnings.push_back("“" + name + "”列出现了两次，只读取第一次出现的那一列");
            continue;
        }
        seen[name] = c;
        cols[c] = name;
        plan.columns.push_back(name);
    }
    if (!seen.count("姓名"))
        throw sheet::SheetError(line_text(int(head + 1)) +
                                " 须为列名，且须有“姓名”列；请下载导入模板，按模板的列名填写");
    if (table.size() - head - 1 > elder_import_limits().max_rows)
        throw sheet::SheetError("文件超过 " + std::to_string(elder_import_limits().max_rows) +
                                " 行，请分成几个文件分别导入");

    std::map<std::string, int> id_line, card_line;
    for (size_t r = head + 1; r < table.size(); ++r) {
        const auto& cells = table[r];
        if (blank(cells)) continue;
        ImportRow row;
        row.line = int(r + 1);
        std::map<std::string, std::string> v;
        for (auto& [c, name] : cols) v[name] = c < cells.size() ? trim(cells[c]) : "";
        std::string id = v["身份证号"];
        if (!id.empty() && id.back() == 'x') id.back() = 'X';
        auto refuse = [&](const std::string& field, const std::string& problem) {
            row.errors.push_back(line_text(row.line) + " " + field + " " + problem);
        };
        if (id.find_first_of("Ee") != std::string::npos && id.find('+') != std::string::npos) {
            refuse("身份证号", "被 Excel 存成了数字（" + id.substr(0, 24) +
                                   "），后几位已丢失；请把该列设为“文本”后重新填写");
        }
        // The same person is the same 身份证号 (never a card number: a typo there would overwrite
        // another elder's record).
        std::optional<Elder> existing;
        if (!id.empty()) existing = roster.find_by_id_number(id);
        Elder e = existing ? *existing : Elder{};
        // A cell left empty keeps what the record has; a column the file lacks is not touched.
        auto set = [&](const char* col, std::string& field) {
            auto it = v.find(col);
            if (it != v.end() && !it->second.empty()) field = it->second;
        };
        set("姓名", e.name);
        set("性别", e.gender);
        if (e.gender == "男性") e.gender = "男";
        if (e.gender == "女性") e.gender = "女";
        if (!v["出生日期"].empty()) e.birth_date = normalize_date(v["出生日期"]);
        if (!id.empty()) e.id_number = id;
        set("电话", e.phone);
        set("紧急联系人", e.emergency_contact);
        set("紧急联系电话", e.emergency_phone);
        set("卡号", e.card_no);
        set("地址", e.address);
        set("备注", e.notes);
        if (!v["类别"].empty()) e.categories = split_categories(v["类别"]);
        if (e.name.empty()) refuse("姓名", "必填，请补上姓名");
        if (row.errors.empty()) {
            try {
                roster.check(e);
            } catch (const ElderFieldError& err) {
                std::string hint;
                if (err.field == "身份证号" && id.size() == 18 && id.compare(15, 3, "000") == 0)
                    hint = "（若在 Excel 中直接输入，末几位会变成 0：请把该列设为“文本”后重新填写）";
                refuse(err.field, err.problem + hint);
            }
        }
        // Twice in the same file: the first row counts, the later one is refused.
        if (!e.id_number.empty()) {
            auto [it, fresh] = id_line.emplace(e.id_number, row.line);
            if (!fresh) refuse("身份证号", "与" + line_text(it->second) + "重复，同一位老人只填一行");
        }
        if (!e.card_no.empty()) {
            auto [it, fresh] = card_line.emplace(e.card_no, row.line);
            if (!fresh && row.errors.empty())
                refuse("卡号", "与" + line_text(it->second) + "重复，请换一个卡号");
        }
        if (row.errors.empty()) {
            row.action = existing ? "update" : "create";
            if (existing && !existing->active) row.note = "该长者已停用，导入只更新资料，不会重新启用";
        }
        row.elder = e;
        plan.rows.push_back(std::move(row));
    }
    return plan;
}

ImportResult apply_elder_import(Roster& roster, const ImportPlan& plan, const std::string& actor) {
    ImportResult r;
    std::vector<Elder> elders;
    std::vector<int> lines;
    for (auto& row : plan.rows) {
        if (row.action.empty()) {
            ++r.refused;
            continue;
        }
        elders.push_back(row.elder);
        lines.push_back(row.line);
        (row.action == "create" ? r.created : r.updated)++;
    }
    if (elders.empty()) return r;
    size_t failed = 0;
    try {
        roster.save_all(elders, actor, &failed);
    } catch (const ElderFieldError& e) {
        throw ElderFieldError(line_text(lines[failed]) + " " + e.field,
                              e.problem + "（未导入任何一行，请重新预览）");
    }
    return r;
}

std::string elder_import_template() {
    std::vector<sheet::Column> cols;
    for (auto& c : elder_import_columns())
        cols.push_back({c, c == "身份证号" ? 22.0 : c == "地址" ? 30.0 : 14.0});
    std::vector<std::vector<json>> rows = {{"张桂英", "女", "1948-05-02", "110105194805020027", "13800000000",
                                            "张强", "13900000000", "独居、低保", "A1001",
                                            "幸福路 8 号 2 单元 301", ""}};
    return sheet::write_xlsx("长者名册", cols, rows);
}

}  // namespace caregate
