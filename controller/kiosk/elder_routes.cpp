// The kiosk's 一人一档 and its records: the roster (search by any part of a name, card or phone; 停用
// and 重新启用), one page per elder with its check-ins, services, visits, alarms and meals (newest
// first, a page at a time), the roster import (.csv/.xlsx: preview, then only the valid rows), the
// check-in search (a day range and a time of day), service and visit records (a visit at its own
// time), and the .xlsx export of every list the kiosk shows as a table.
#include <httplib.h>

#include <cstdio>
#include <ctime>
#include <functional>
#include <map>

#include "controller/care/meals.hpp"
#include "controller/kiosk/api.hpp"
#include "controller/kiosk/kiosk.hpp"
#include "controller/people/roster_import.hpp"
#include "controller/people/spreadsheet.hpp"

namespace caregate {

using nlohmann::json;
using namespace api;

namespace {

constexpr int64_t kDayMs = 24LL * 3600 * 1000;
constexpr int kMaxExportRows = 50'000;
constexpr int64_t kMaxSearchDays = 92;  // a quarter

// "YYYY-MM-DD" → UTC ms of that local midnight; nullopt when it is not a real day.
std::optional<int64_t> local_day_ms(const std::string& s, int64_t offset_ms) {
    int y = 0, m = 0, d = 0;
    char tail = 0;
    if (s.size() != 10 || std::sscanf(s.c_str(), "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3)
        return std::nullopt;
    if (y < 2000 || y > 2199 || m < 1 || m > 12 || d < 1 || d > 31) return std::nullopt;
    std::tm tm{};
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    std::time_t t = timegm(&tm);
    std::tm back{};
    gmtime_r(&t, &back);
    if (back.tm_mday != d) return std::nullopt;  // 2026-02-30
    return int64_t(t) * 1000 - offset_ms;
}

// "HH:MM" → minutes since midnight.
std::optional<int> minutes(const std::string& s) {
    if (s.size() != 5 || s[2] != ':') return std::nullopt;
    for (int i : {0, 1, 3, 4})
        if (s[i] < '0' || s[i] > '9') return std::nullopt;
    int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
    if (h > 23 || m > 59) return std::nullopt;
    return h * 60 + m;
}

// Local "YYYY-MM-DD HH:MM" of a UTC instant.
std::string local_text(int64_t ms, int64_t offset_ms, bool with_time = true) {
    std::time_t t = static_cast<std::time_t>((ms + offset_ms) / 1000);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[48];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d", (tm.tm_year + 1900) % 10000,
                  (tm.tm_mon + 1) % 100, tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100);
    return with_time ? std::string(buf) : std::string(buf, 10);
}

// A whole number from the query string within [lo, hi], else def; nullopt when present but bad.
std::optional<int64_t> query_int(const httplib::Request& req, const char* k, int64_t lo, int64_t hi,
                                 int64_t def) {
    if (!req.has_param(k)) return def;
    std::string v = req.get_param_value(k);
    if (v.empty() || v.size() > 18 || v.find_first_not_of("0123456789") != std::string::npos)
        return std::nullopt;
    int64_t x = std::stoll(v);
    if (x < lo || x > hi) return std::nullopt;
    return x;
}

void send_xlsx(httplib::Response& res, const std::string& name, const std::string& ascii_name,
               const std::string& sheet_name, const std::vector<sheet::Column>& cols,
               const std::vector<std::vector<json>>& rows) {
    res.set_header("Content-Disposition", sheet::content_disposition(name + ".xlsx", ascii_name + ".xlsx"));
    res.set_header("Cache-Control", "no-store");
    res.set_content(sheet::write_xlsx(sheet_name, cols, rows), sheet::kXlsxType);
}

const char* direction_name(const std::string& d) { return d == "in" ? "签到" : "签退"; }
const char* method_name(const std::string& m) {
    return m == "face" ? "人脸" : m == "staff" ? "人工" : m == "card" ? "刷卡" : m == "id" ? "证件" : "其他";
}
const char* alarm_state_name(const std::string& s) {
    return s == "raised"         ? "待响应"
           : s == "acknowledged" ? "已响应"
           : s == "dispatched"   ? "已派出"
           : s == "resolved"     ? "已处置"
           : s == "cancelled"    ? "已取消"
                                 : "";
}

}  // namespace

void Kiosk::elder_routes(httplib::Server& s) {
    const int64_t off = local_offset_ms(p_.cfg.site.timezone);
    auto now_ms = [this] { return p_.clock.now_ms(); };
    // Runs a handler body: a refused field is a 400 with its Chinese reason; a file that cannot be read
    // too. Anything else is logged by the server and answered without its (English) text.
    auto guard = [](httplib::Response& res, const std::function<void()>& fn) {
        try {
            fn();
        } catch (const sheet::SheetError& e) {
            fail(res, 400, e, Msg::bad_field);
        } catch (const ElderFieldError& e) {
            fail(res, 400, e, Msg::elder_refused);
        } catch (const std::invalid_argument& e) {
            fail(res, 400, e, Msg::bad_field);
        } catch (const StoreError&) {
            fail(res, 503, Msg::db_busy);
        }
    };
    auto elder_json = [this](const Elder& e, bool full) {
        json j = full ? to_json(e) : to_list_json(e);
        j["templates"] = p_.faces ? p_.faces->template_count(e.id) : 0;
        return j;
    };
    auto status_param = [](const httplib::Request& req) -> std::optional<ElderStatus> {
        std::string v = req.get_param_value("status");
        if (v.empty() || v == "all") return ElderStatus::all;
        if (v == "active") return ElderStatus::active;
        if (v == "inactive") return ElderStatus::inactive;
        return std::nullopt;
    };

    // ---------- the roster ----------
    s.Get("/api/elders", [this, guard, elder_json, status_param, off](const httplib::Request& req,
                                                                      httplib::Response& res) {
        auto sess = reader(req, res);
        if (!sess) return;
        auto status = status_param(req);
        if (!status) return fail(res, 400, "状态须为 在册、已停用 或 全部", Msg::bad_field);
        std::string q = req.get_param_value("q");
        if (q.size() > 64) return fail(res, 400, "搜索内容过长（最多 20 个汉字）", Msg::bad_field);
        guard(res, [&] {
            if (req.get_param_value("format") != "xlsx") {
                json out = json::array();
                for (auto& e : p_.roster.list(q, 500, *status)) out.push_back(elder_json(e, false));
                return reply(res, out);
            }
            // 身份证号 in full only for an admin who asks for it (?id=full); audited either way.
            bool full = req.get_param_value("id") == "full" && sess->who.role == "admin";
            auto list = p_.roster.list(q, 10'000, *status);
            std::vector<std::vector<json>> rows;
            for (auto& e : list) {
                std::string cats;
                for (auto& c : e.categories) cats += (cats.empty() ? "" : "、") + c;
                rows.push_back(
                    {e.id, e.name, e.gender, e.birth_date, full ? e.id_number : mask_id_number(e.id_number),
                     e.phone, e.emergency_contact, e.emergency_phone, cats, e.card_no, e.address,
                     e.active ? "在册" : "已停用", e.deactivated_reason, e.deactivated_on,
                     e.consent_at ? "已签" : "未签", p_.faces ? p_.faces->template_count(e.id) : 0});
            }
            p_.store.write([&](sqlite3* db) {
                Store::audit(db, sess->who.username, "elder.export", "elders",
                             json{{"rows", rows.size()}, {"full_id_numbers", full}}.dump(),
                             p_.clock.now_ms());
            });
            send_xlsx(res, "长者名册-" + local_text(p_.clock.now_ms(), off, false), "elders", "长者名册",
                      {{"档案编号", 9},
                       {"姓名", 10},
                       {"性别", 6},
                       {"出生日期", 12},
                       {"身份证号", 22},
                       {"电话", 15},
                       {"紧急联系人", 11},
                       {"紧急联系电话", 15},
                       {"类别", 14},
                       {"卡号", 10},
                       {"地址", 28},
                       {"状态", 8},
                       {"停用原因", 10},
                       {"停用日期", 12},
                       {"人脸同意书", 10},
                       {"人脸模板", 9}},
                      rows);
        });
    });
    s.Get("/api/elders/import-template", [this](const httplib::Request& req, httplib::Response& res) {
        if (!reader(req, res)) return;
        res.set_header("Content-Disposition",
                       sheet::content_disposition("长者名册导入模板.xlsx", "elders-template.xlsx"));
        res.set_header("Cache-Control", "no-store");
        res.set_content(elder_import_template(), sheet::kXlsxType);
    });
    // The roster from a .csv or .xlsx (the body capped in admit(), before it is read): without
    // ?confirm=1 a preview, with it the valid rows saved in one transaction.
    s.Post("/api/elders/import", [this, guard](const httplib::Request& req, httplib::Response& res) {
        auto sess = writer(req, res);
        if (!sess) return;
        const std::string* bytes = &req.body;
        if (req.is_multipart_form_data()) {
            if (req.files.empty())
                return fail(res, 400, "请选择要导入的 Excel（.xlsx）或 CSV 文件", Msg::bad_field);
            bytes = &req.files.begin()->second.content;
        }
        if (bytes->empty()) return fail(res, 400, "请选择要导入的 Excel（.xlsx）或 CSV 文件", Msg::bad_field);
        bool confirm = req.get_param_value("confirm") == "1";
        guard(res, [&] {
            auto plan = plan_elder_import(p_.roster, *bytes);
            json out = plan.to_json();
            if (!confirm) return reply(res, out);
            try {
                auto r = apply_elder_import(p_.roster, plan, sess->who.username);
                p_.store.write([&](sqlite3* db) {
                    Store::audit(
                        db, sess->who.username, "elder.import", "elders",
                        json{{"created", r.created}, {"updated", r.updated}, {"refused", r.refused}}.dump(),
                        p_.clock.now_ms());
                });
                out["imported"] = {{"created", r.created}, {"updated", r.updated}, {"refused", r.refused}};
                reply(res, out, r.created + r.updated ? 201 : 200);
            } catch (const ElderFieldError& e) {
                fail(res, 409, e, Msg::elder_refused);
            }
        });
    });
    s.Get(R"(/api/elders/(\d+))", [this, elder_json](const httplib::Request& req, httplib::Response& res) {
        if (!reader(req, res)) return;
        auto id = path_id(req.matches[1]);
        auto e = id ? p_.roster.get(*id) : std::nullopt;
        if (!e) return fail(res, 404, Msg::no_such_elder);
        json j = elder_json(*e, true);
        j["faces_enabled"] = p_.faces != nullptr;
        reply(res, j);
    });
    auto save_elder = [this, guard, elder_json](const httplib::Request& req, httplib::Response& res) {
        auto sess = writer(req, res);
        if (!sess) return;
        auto j = body(req, res);
        if (!j) return;
        Elder e;
        bool update = req.matches.size() > 1;
        if (update) {
            auto id = path_id(req.matches[1]);
            auto existing = id ? p_.roster.get(*id) : std::nullopt;
            if (!existing) return fail(res, 404, Msg::no_such_elder);
            e = *existing;
        }
        guard(res, [&] {
            bool exempt_before = e.liveness_exempt;
            update_from_json(e, *j);
            // Letting a face through without the blink check weakens the door for everyone: an admin
            // decides it (and the roster's audit log records who).
            if (e.liveness_exempt != exempt_before && sess->who.role != "admin")
                return fail(res, 403, "只有管理员可以设置免活体检测", Msg::admin_only);
            e = p_.roster.save(e, sess->who.username);
            reply(res, elder_json(e, true), update ? 200 : 201);
        });
    };
    s.Post("/api/elders", save_elder);
    s.Put(R"(/api/elders/(\d+))", save_elder);
    s.Post(R"(/api/elders/(\d+)/consent)",
           [this, guard, elder_json](const httplib::Request& req, httplib::Response& res) {
               auto sess = writer(req, res);
               if (!sess) return;
               auto j = body(req, res);
               if (!j) return;
               auto id = path_id(req.matches[1]);
               if (!id) return fail(res, 404, Msg::no_such_elder);
               guard(res, [&] {
                   p_.roster.record_consent(*id, str_field(*j, "consent_by", sess->who.display_name),
                                            sess->who.username);
                   reply(res, elder_json(*p_.roster.get(*id), true));
               });
           });
    // 停用 (left, deceased, moved) with the reason and the day; 重新启用. Both audited by the roster.
    s.Post(R"(/api/elders/(\d+)/deactivate)",
           [this, guard, elder_json, off](const httplib::Request& req, httplib::Response& res) {
               auto sess = writer(req, res);
               if (!sess) return;
               auto j = body(req, res);
               if (!j) return;
               auto id = path_id(req.matches[1]);
               if (!id) return fail(res, 404, Msg::no_such_elder);
               guard(res, [&] {
                   std::string on = str_field(*j, "on", local_text(p_.clock.now_ms(), off, false));
                   auto e = p_.roster.deactivate(*id, str_field(*j, "reason"), on, str_field(*j, "note"),
                                                 sess->who.username);
                   reply(res, elder_json(e, true));
               });
           });
    s.Post(R"(/api/elders/(\d+)/reactivate)", [this, guard, elder_json](const httplib::Request& req,
                                                                        httplib::Response& res) {
        auto sess = writer(req, res);
        if (!sess) return;
        auto id = path_id(req.matches[1]);
        if (!id) return fail(res, 404, Msg::no_such_elder);
        guard(res, [&] { reply(res, elder_json(p_.roster.reactivate(*id, sess->who.username), true)); });
    });

    // One elder's records of a kind, newest first, a page at a time: ?kind=checkins|services|visits|
    // alarms|meals&limit=1..100 (default 20)&before=<ts>&before_id=<id> (the "next" of the last page).
    s.Get(R"(/api/elders/(\d+)/history)", [this](const httplib::Request& req, httplib::Response& res) {
        if (!reader(req, res)) return;
        auto id = path_id(req.matches[1]);
        if (!id || !p_.roster.get(*id)) return fail(res, 404, Msg::no_such_elder);
        std::string kind = req.get_param_value("kind");
        auto limit = query_int(req, "limit", 1, 100, 20);
        auto before = query_int(req, "before", 0, INT64_MAX, INT64_MAX);
        auto before_id = query_int(req, "before_id", 0, INT64_MAX, INT64_MAX);
        if (!limit) return fail(res, 400, "每页条数须为 1 到 100", Msg::bad_count);
        if (!before || !before_id) return fail(res, 400, "翻页参数有误，请从第一页重新查看", Msg::bad_path);
        struct Kind {
            const char* table;
            const char* ts;
            const char* cols;
        };
        static const std::map<std::string, Kind> kinds = {
            {"checkins",
             {"checkins", "ts", "direction, method, temperature, COALESCE(actor,''), COALESCE(zone,'')"}},
            {"services", {"service_records", "ts", "service, staff, COALESCE(notes,'')"}},
            {"visits",
             {"visit_records", "ts",
              "method, visitor, COALESCE(health,''), COALESCE(safety,''), COALESCE(needs,''), "
              "COALESCE(follow_up,'')"}},
            {"alarms", {"alarms", "raised_at", "kind, state, COALESCE(zone,''), source, closed_at"}},
            {"meals", {"meals", "ts", "day, session, method, category, pays, subsidy"}}};
        auto k = kinds.find(kind);
        if (k == kinds.end())
            return fail(res, 400, "记录类型须为 签到、服务、探访、报警 或 助餐之一", Msg::bad_field);
        json items = p_.store.read([&](sqlite3* db) {
            const Kind& d = k->second;
            std::string ts = d.ts;
            Stmt q(db, "SELECT id, " + ts + ", " + d.cols + " FROM " + d.table + " WHERE elder_id=?1 AND (" +
                           ts + " < ?2 OR (" + ts + " = ?2 AND id < ?3)) ORDER BY " + ts +
                           " DESC, id DESC LIMIT ?4");
            q.bind(1, *id).bind(2, *before).bind(3, *before_id).bind(4, *limit + 1);
            json out = json::array();
            while (q.step()) {
                json r = {{"record_id", q.i64(0)}, {"ts", q.i64(1)}};
                if (kind == "checkins") {
                    r["direction"] = q.str(2);
                    r["method"] = q.str(3);
                    r["temperature"] = q.is_null(4) ? json(nullptr) : json(q.f64(4));
                    r["actor"] = q.str(5);
                    r["zone_name"] = q.str(6).empty() ? "" : p_.cfg.zone_name(q.str(6));
                } else if (kind == "services") {
                    r["service"] = q.str(2);
                    r["staff"] = q.str(3);
                    r["notes"] = q.str(4);
                } else if (kind == "visits") {
                    r["method"] = q.str(2);
                    r["visitor"] = q.str(3);
                    r["health"] = q.str(4);
                    r["safety"] = q.str(5);
                    r["needs"] = q.str(6);
                    r["follow_up"] = q.str(7);
                } else if (kind == "alarms") {
                    r["kind"] = q.str(2);
                    r["kind_name"] = alarm_kind_name(q.str(2));
                    r["state"] = q.str(3);
                    r["state_name"] = alarm_state_name(q.str(3));
                    r["zone_name"] = q.str(4).empty() ? "" : p_.cfg.zone_name(q.str(4));
                    r["source_name"] = p_.cfg.device_name(q.str(5));
                    r["closed_at"] = q.is_null(6) ? json(nullptr) : json(q.i64(6));
                } else {
                    r["day"] = q.str(2);
                    r["session"] = q.str(3);
                    r["method"] = q.str(4);
                    r["category"] = q.str(5);
                    r["pays"] = q.f64(6);
                    r["subsidy"] = q.f64(7);
                }
                out.push_back(r);
            }
            return out;
        });
        json next = nullptr;
        if (int64_t(items.size()) > *limit) {
            items.erase(items.end() - 1);
            next = {{"before", items.back()["ts"]}, {"before_id", items.back()["record_id"]}};
        }
        reply(res, {{"kind", kind}, {"items", items}, {"next", next}});
    });

    // ---------- check-ins: a day (?date=) or a range (?from=&to=, at most a quarter), a time of day
    // (?time_from=HH:MM&time_to=HH:MM, the minutes of both included; to before from spans midnight),
    // an elder, a name or card; ?format=xlsx for the spreadsheet.
    s.Get("/api/checkins", [this, off](const httplib::Request& req, httplib::Response& res) {
        if (!reader(req, res)) return;
        int64_t from = p_.occupancy.day_start_ms(), to = p_.clock.now_ms() + 1;
        // ?date= is the first day (and the only one without ?to=), as ?from= is.
        std::string from_day =
            req.has_param("date") ? req.get_param_value("date") : req.get_param_value("from");
        std::string to_day = req.get_param_value("to");
        if (!from_day.empty() || !to_day.empty()) {
            if (from_day.empty()) from_day = to_day;
            if (to_day.empty()) to_day = from_day;
            auto a = local_day_ms(from_day, off), b = local_day_ms(to_day, off);
            if (!a || !b) return fail(res, 400, "日期须为有效日期，如 2026-11-24", Msg::bad_date);
            if (*b < *a) return fail(res, 400, "结束日期不能早于开始日期", Msg::bad_date);
            if ((*b - *a) / kDayMs + 1 > kMaxSearchDays)
                return fail(res, 400,
                            "一次最多查询 " + std::to_string(kMaxSearchDays) + " 天，请缩短日期范围");
            from = *a;
            to = *b + kDayMs;
        }
        int tf = -1, tt = -1;
        if (!req.get_param_value("time_from").empty() || !req.get_param_value("time_to").empty()) {
            auto a = minutes(req.get_param_value("time_from").empty() ? "00:00"
                                                                      : req.get_param_value("time_from"));
            auto b =
                minutes(req.get_param_value("time_to").empty() ? "23:59" : req.get_param_value("time_to"));
            if (!a || !b) return fail(res, 400, "时间须为 00:00 到 23:59，如 08:30", Msg::bad_date);
            tf = *a;
            tt = *b;
        }
        auto elder = query_int(req, "elder_id", 1, INT64_MAX, 0);
        if (!elder) return fail(res, 400, "长者编号有误", Msg::no_such_elder);
        std::string q = req.get_param_value("q");
        if (q.size() > 64) return fail(res, 400, "搜索内容过长（最多 20 个汉字）", Msg::bad_field);
        std::string like;
        for (char c : q) {
            if (c == '%' || c == '_' || c == '\\') like += '\\';
            like += c;
        }
        bool xlsx = req.get_param_value("format") == "xlsx";
        int limit = xlsx ? kMaxExportRows : 1000;
        auto rows = p_.store.read([&](sqlite3* db) {
            std::vector<CheckIn> out;
            Stmt st(
                db,
                "SELECT c.id, c.uuid, c.elder_id, e.name, c.ts, c.direction, c.method, c.camera_id, c.zone, "
                "c.temperature, c.distance, c.actor FROM checkins c JOIN elders e ON e.id=c.elder_id "
                "WHERE c.ts>=?1 AND c.ts<?2 AND (?3 = 0 OR c.elder_id=?3) "
                "AND (?4 = '' OR e.name LIKE '%' || ?4 || '%' ESCAPE '\\' OR e.card_no LIKE '%' || ?4 || '%' "
                "ESCAPE '\\') "
                "AND (?5 < 0 OR (?5 <= ?6 AND (c.ts + ?7) % 86400000 >= ?5 * 60000 AND (c.ts + ?7) % "
                "86400000 "
                "< (?6 + 1) * 60000) OR (?5 > ?6 AND ((c.ts + ?7) % 86400000 >= ?5 * 60000 OR (c.ts + ?7) % "
                "86400000 < (?6 + 1) * 60000))) "
                "ORDER BY c.ts DESC, c.id DESC LIMIT ?8");
            st.bind(1, from).bind(2, to).bind(3, *elder).bind(4, like).bind(5, tf).bind(6, tt).bind(7, off);
            st.bind(8, limit);
            while (st.step()) {
                CheckIn c;
                c.id = st.i64(0);
                c.uuid = st.str(1);
                c.elder_id = st.i64(2);
                c.elder_name = st.str(3);
                c.ts_ms = st.i64(4);
                c.direction = st.str(5);
                c.method = st.str(6);
                c.camera_id = st.str(7);
                c.zone = st.str(8);
                c.temperature = st.opt_f64(9);
                c.distance = st.opt_f64(10);
                c.actor = st.str(11);
                out.push_back(c);
            }
            return out;
        });
        if (!xlsx) {
            json out = json::array();
            for (auto& c : rows) out.push_back(to_json(c));
            return reply(res, out);
        }
        std::vector<std::vector<json>> cells;
        for (auto& c : rows)
            cells.push_back({local_text(c.ts_ms, off), c.elder_name, direction_name(c.direction),
                             method_name(c.method), c.temperature ? json(*c.temperature) : json(nullptr),
                             c.zone.empty() ? "" : p_.cfg.zone_name(c.zone), c.actor});
        std::string span =
            local_text(from, off, false) + (to - from > kDayMs ? "至" + local_text(to - 1, off, false) : "");
        send_xlsx(res, "签到记录-" + span, "checkins", "签到记录",
                  {{"时间", 18},
                   {"长者", 10},
                   {"方向", 6},
                   {"方式", 6},
                   {"体温(℃)", 8},
                   {"区域", 10},
                   {"登记人", 10}},
                  cells);
    });

    // ---------- services and home visits ----------
    // The [from, to) a list asks for: ?month=YYYY-MM, else the last 31 days; 400 for a bad month.
    auto range = [this](const httplib::Request& req,
                        httplib::Response& res) -> std::optional<std::pair<int64_t, int64_t>> {
        int64_t now = p_.clock.now_ms();
        if (!req.has_param("month")) return std::pair<int64_t, int64_t>{now - 31 * kDayMs, now + 1};
        try {
            return local_month_range(req.get_param_value("month"), p_.cfg.site.timezone);
        } catch (const std::invalid_argument&) {
            fail(res, 400, Msg::bad_month);
            return std::nullopt;
        }
    };
    // An export's file name: the list's name, then the month asked for, or today.
    auto export_name = [this, off](const std::string& what, const httplib::Request& req) {
        std::string m = req.get_param_value("month");
        return what + "-" + (m.empty() ? local_text(p_.clock.now_ms(), off, false) : m);
    };
    s.Get("/api/services", [this, range, off, export_name](const httplib::Request& req,
                                                           httplib::Response& res) {
        if (!reader(req, res)) return;
        auto r = range(req, res);
        if (!r) return;
        auto [from, to] = *r;
        if (req.get_param_value("format") == "xlsx") {
            std::vector<std::vector<json>> cells;
            for (auto& x : p_.records.services(from, to, kMaxExportRows))
                cells.push_back({local_text(x.ts_ms, off), x.elder_name, x.service, x.staff, x.notes});
            return send_xlsx(res, export_name("服务记录", req), "services", "服务记录",
                             {{"时间", 18}, {"长者", 10}, {"服务", 12}, {"服务人员", 10}, {"备注", 30}},
                             cells);
        }
        json list = json::array();
        for (auto& x : p_.records.services(from, to)) list.push_back(to_json(x));
        reply(
            res,
            {{"records", list}, {"counts", p_.records.service_counts(from, to)}, {"types", service_types()}});
    });
    s.Post("/api/services", [this, guard](const httplib::Request& req, httplib::Response& res) {
        auto sess = writer(req, res);
        if (!sess) return;
        auto j = body(req, res);
        if (!j) return;
        ServiceRecord r;
        r.elder_id = int_field(*j, "elder_id", 1, INT64_MAX).value_or(0);
        r.service = str_field(*j, "service");
        r.staff = sess->who.display_name;
        r.notes = str_field(*j, "notes");
        guard(res, [&] {
            if (r.elder_id == 0) throw std::invalid_argument("请选择长者");
            reply(res, to_json(p_.records.add_service(r, sess->who.username)), 201);
        });
    });
    s.Get("/api/visits",
          [this, range, off, export_name](const httplib::Request& req, httplib::Response& res) {
              if (!reader(req, res)) return;
              auto r = range(req, res);
              if (!r) return;
              auto [from, to] = *r;
              if (req.get_param_value("format") == "xlsx") {
                  std::vector<std::vector<json>> cells;
                  for (auto& v : p_.records.visits(from, to, kMaxExportRows))
                      cells.push_back({local_text(v.ts_ms, off), v.elder_name, v.method, v.health, v.safety,
                                       v.needs, v.follow_up, v.visitor});
                  return send_xlsx(res, export_name("探访记录", req), "visits", "探访记录",
                                   {{"时间", 18},
                                    {"长者", 10},
                                    {"方式", 6},
                                    {"身体状况", 20},
                                    {"安全状况", 20},
                                    {"服务需求", 20},
                                    {"跟进措施", 20},
                                    {"探访人", 10}},
                                   cells);
              }
              json list = json::array();
              for (auto& v : p_.records.visits(from, to)) list.push_back(to_json(v));
              reply(res, list);
          });
    // A visit at its own time: "at" (local "YYYY-MM-DDTHH:MM", as a datetime-local field sends it) or
    // "ts" (UTC ms); default now. Not in the future; not over 31 days ago unless an admin records it.
    s.Post("/api/visits", [this, guard, off, now_ms](const httplib::Request& req, httplib::Response& res) {
        auto sess = writer(req, res);
        if (!sess) return;
        auto j = body(req, res);
        if (!j) return;
        VisitRecord r;
        r.elder_id = int_field(*j, "elder_id", 1, INT64_MAX).value_or(0);
        r.method = str_field(*j, "method");
        r.visitor = sess->who.display_name;
        r.health = str_field(*j, "health");
        r.safety = str_field(*j, "safety");
        r.needs = str_field(*j, "needs");
        r.follow_up = str_field(*j, "follow_up");
        guard(res, [&] {
            if (r.elder_id == 0) throw std::invalid_argument("请选择长者");
            int64_t now = now_ms();
            std::string at = str_field(*j, "at");
            if (!at.empty()) {
                auto day = at.size() >= 16 && (at[10] == 'T' || at[10] == ' ')
                               ? local_day_ms(at.substr(0, 10), off)
                               : std::nullopt;
                auto min = day ? minutes(at.substr(11, 5)) : std::nullopt;
                if (!day || !min || (at.size() != 16 && at.size() != 19))
                    throw std::invalid_argument("探访时间须为有效的日期和时间，如 2026-11-24 09:30");
                r.ts_ms = *day + int64_t(*min) * 60000;
            } else if (j->contains("ts")) {
                auto ts = int_field(*j, "ts", 1, INT64_MAX);
                if (!ts) throw std::invalid_argument("探访时间有误");
                r.ts_ms = *ts;
            } else {
                r.ts_ms = now;
            }
            Records::check_visit_time(r.ts_ms, now, sess->who.role == "admin");
            reply(res, to_json(p_.records.add_visit(r, sess->who.username)), 201);
        });
    });

    // ---------- the other tables as spreadsheets ----------
    s.Get("/api/export/alarms", [this, off](const httplib::Request& req, httplib::Response& res) {
        if (!reader(req, res)) return;
        bool open = req.get_param_value("open") == "1";
        std::vector<std::vector<json>> cells;
        auto list = p_.alarms.list(open, 10'000);
        std::map<int64_t, std::string> names;
        for (auto& a : list) {
            std::string elder;
            if (a.elder_id) {
                auto it = names.find(*a.elder_id);
                if (it == names.end()) {
                    auto e = p_.roster.get(*a.elder_id);
                    it = names.emplace(*a.elder_id, e ? e->name : "").first;
                }
                elder = it->second;
            }
            auto t = [&](const std::optional<int64_t>& ms) {
                return ms ? json(local_text(*ms, off)) : json(nullptr);
            };
            cells.push_back({a.id, alarm_kind_name(a.kind), alarm_state_name(a.state),
                             a.zone.empty() ? "" : p_.cfg.zone_name(a.zone), p_.cfg.device_name(a.source),
                             elder, local_text(a.raised_at, off), t(a.acked_at), t(a.dispatched_at),
                             t(a.closed_at), a.level, a.presses});
        }
        send_xlsx(res,
                  std::string(open ? "未处理报警-" : "报警记录-") + local_text(p_.clock.now_ms(), off, false),
                  "alarms", "报警记录",
                  {{"编号", 7},
                   {"类型", 12},
                   {"状态", 8},
                   {"区域", 10},
                   {"设备", 16},
                   {"长者", 10},
                   {"报警时间", 18},
                   {"响应时间", 18},
                   {"派出时间", 18},
                   {"结束时间", 18},
                   {"升级级别", 8},
                   {"呼叫次数", 8}},
                  cells);
    });
    s.Get("/api/export/meals", [this, off](const httplib::Request& req, httplib::Response& res) {
        if (!reader(req, res)) return;
        if (!p_.meals) return fail(res, 404, Msg::meals_off);
        std::string month = req.get_param_value("month");
        if (month.empty()) month = local_text(p_.clock.now_ms(), off, false).substr(0, 7);
        json st;
        try {
            st = p_.meals->statement(month);
        } catch (const std::invalid_argument&) {
            return fail(res, 400, Msg::bad_month);
        }
        std::vector<std::vector<json>> cells;
        for (auto& r : st["categories"])
            cells.push_back({p_.cfg.site.name, month, r["name"], r["pays_each"], r["subsidy_each"],
                             r["meals"], r["paid"], r["subsidy"]});
        cells.push_back(
            {p_.cfg.site.name, month, "合计", nullptr, nullptr, st["meals"], st["paid"], st["subsidy"]});
        send_xlsx(res, "助餐结算-" + month, "meals-" + month, "助餐结算",
                  {{"站点", 16},
                   {"月份", 9},
                   {"类别", 14},
                   {"每餐自付(元)", 12},
                   {"每餐补贴(元)", 12},
                   {"份数", 8},
                   {"自付合计(元)", 12},
                   {"补贴合计(元)", 12}},
                  cells);
    });
}

}  // namespace caregate
