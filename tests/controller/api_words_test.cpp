// Issue #19: every text a person reads is Chinese from one message catalogue. This drives the kiosk's
// error paths across its route files (unknown ids of each resource, bad JSON, missing and wrong
// fields, no login, a wrong CSRF token, staff doing admin things, an oversized body, bad dates and
// months, a card number taken twice, refusals of the domain code behind the routes) and the text
// exports (the monthly report and the meals statement as CSV), and checks that no Latin word
// reaches staff, that every error says something and carries a code.
#include <gtest/gtest.h>
#include <httplib.h>

#include <regex>
#include <set>

#include "controller/care/meals.hpp"
#include "controller/care/planner.hpp"
#include "controller/kiosk/http_server.hpp"
#include "controller/kiosk/kiosk.hpp"
#include "controller/kiosk/live_feed.hpp"
#include "controller/kiosk/messages.hpp"
#include "controller/people/checkins.hpp"
#include "controller/people/records.hpp"
#include "controller/people/roster.hpp"
#include "controller/people/spreadsheet.hpp"
#include "controller/people/staff.hpp"
#include "tests/support/staff_words.hpp"
#include "tests/support/test_support.hpp"

using namespace caregate;
using caregate::testing::latin_words;
using nlohmann::json;

namespace {

struct Rig {
    caregate::testing::TempDir dir;
    config::SiteConfig cfg = config::parse_config(
        "site: {id: t1, name: 测试中心}\nzones: [{id: hall, name: 大厅}]\n"
        "kiosk: {port: 0}\n"
        "mqtt_devices: [{id: bath_call, name: 助浴间呼叫器, topic: z/bath_call, model: ts0215a_sos, zone: "
        "hall}]\n"
        "meals: {sessions: [{id: lunch, name: 午餐, from: \"10:30\", to: \"13:30\"}]}\n",
        "x.yaml");
    ManualClock clock{1'796'191'401'000};  // 2026-12-02 14:03 in China: after lunch
    Store store{dir.file("s.db")};
    Outbox outbox{"t1", "r"};
    Bus bus;
    AlarmService alarms{store, clock, outbox, AlarmPolicy{60, 900}};
    Occupancy occ{store, clock, cfg};
    CheckinService checkins{store, clock, outbox, occ, 30, "hall"};
    Roster roster{store, clock};
    StaffAccounts staff{store, clock};
    Records records{store, clock, outbox};
    care::CarePlanner planner{cfg, store, clock};
    care::MealService meals{cfg, store, clock, outbox};
    LiveFeed feed{bus, 8};
    HttpServer http{HttpOptions{"127.0.0.1", 0, 8, "", "", ""}};
    std::unique_ptr<Kiosk> kiosk;
    Rig() {
        KioskParts kp{cfg,  store,   clock,   alarms,  checkins, occ, roster, staff,   records,
                      feed, nullptr, nullptr, nullptr, {},       "",  {},     nullptr, {}};
        kp.care = &planner;
        kp.meals = &meals;
        kiosk = std::make_unique<Kiosk>(kp, http.routes());
        staff.add("boss", "李主任", "admin", "boss-password", "test");
        staff.add("nurse", "王护士", "staff", "nurse-password", "test");
        http.start();
    }
    ~Rig() { http.stop(); }

    struct Login {
        std::string cookie, csrf;
    };
    Login login(const std::string& user, const std::string& password) {
        httplib::Client cli("127.0.0.1", http.port());
        auto r = cli.Post("/api/login", json{{"username", user}, {"password", password}}.dump(),
                          "application/json");
        Login l;
        if (!r || r->status != 200) return l;
        std::string set = r->get_header_value("Set-Cookie");
        l.cookie = set.substr(0, set.find(';'));
        l.csrf = json::parse(r->body)["csrf"];
        return l;
    }
    httplib::Result get(const Login& l, const std::string& path) {
        httplib::Client cli("127.0.0.1", http.port());
        return cli.Get(path, {{"Cookie", l.cookie}});
    }
    // A write with a raw body (JSON text or not).
    httplib::Result raw(const Login& l, const std::string& method, const std::string& path,
                        const std::string& body) {
        httplib::Client cli("127.0.0.1", http.port());
        httplib::Headers h{{"Cookie", l.cookie}, {"X-CSRF-Token", l.csrf}};
        if (method == "PUT") return cli.Put(path, h, body, "application/json");
        if (method == "DELETE") return cli.Delete(path, h, body, "application/json");
        return cli.Post(path, h, body, "application/json");
    }
    httplib::Result send(const Login& l, const std::string& method, const std::string& path,
                         const json& body = json::object()) {
        return raw(l, method, path, body.dump());
    }
    int64_t staff_id(const std::string& username) {
        for (auto& m : staff.list())
            if (m.username == username) return m.id;
        return 0;
    }
};

// Every error response checked, by name.
struct Checker {
    std::set<std::string> names;
    std::set<std::string> codes;
    void error(const std::string& name, const httplib::Result& r, int status) {
        names.insert(name);
        ASSERT_TRUE(r) << name << ": no answer";
        EXPECT_EQ(r->status, status) << name << ": " << r->body;
        auto j = json::parse(r->body, nullptr, false);
        ASSERT_TRUE(j.is_object()) << name << ": not a JSON object: " << r->body;
        ASSERT_TRUE(j.contains("error") && j["error"].is_string()) << name << ": no error text: " << r->body;
        std::string text = j["error"];
        EXPECT_FALSE(text.empty()) << name << ": empty error text";
        EXPECT_EQ(latin_words(text), "") << name << ": staff would read \"" << text << "\"";
        ASSERT_TRUE(j.contains("code") && j["code"].is_string()) << name << ": no code: " << r->body;
        std::string code = j["code"];
        EXPECT_TRUE(std::regex_match(code, std::regex("[a-z][a-z0-9_]*"))) << name << ": code " << code;
        codes.insert(code);
    }
    // A text export (CSV): no Latin word in any cell.
    void text(const std::string& name, const httplib::Result& r) {
        names.insert(name);
        ASSERT_TRUE(r) << name << ": no answer";
        ASSERT_EQ(r->status, 200) << name << ": " << r->body;
        EXPECT_EQ(latin_words(r->body), "") << name << ": staff would read\n" << r->body;
    }
    // An Excel export: no Latin word in any cell of its sheet.
    void xlsx(const std::string& name, const httplib::Result& r) {
        names.insert(name);
        ASSERT_TRUE(r) << name << ": no answer";
        ASSERT_EQ(r->status, 200) << name << ": " << r->body;
        for (auto& row : sheet::read_xlsx(r->body))
            for (auto& cell : row)
                EXPECT_EQ(latin_words(cell), "") << name << ": staff would read \"" << cell << "\"";
    }
};

}  // namespace

TEST(ApiWords, TheCheckFindsEnglishInTheOldErrorTexts) {
    // The texts staff read before issue #19, as the test must refuse them.
    EXPECT_NE(latin_words("长者不存在 (no such elder)"), "");
    EXPECT_NE(latin_words("elder 42 does not exist"), "");
    EXPECT_NE(latin_words("需要管理员权限 (admin only)"), "");
    EXPECT_NE(latin_words("UNIQUE constraint failed: staff.username"), "");
    EXPECT_EQ(latin_words("请选择要导入的 Excel（.xlsx）或 CSV 文件，最多 4 MB"), "");
    EXPECT_EQ(latin_words("没有这张卡（A1234）的登记"), "") << "a single letter is not a word";
    // The enrollment refusal for an iPhone photo names the format staff see in the phone's settings.
    EXPECT_TRUE(
        api::latin_free("第 1 张照片是苹果手机的 HEIC 格式，读不了：请在相册里分享时选“存储为 JPEG”"));
}

TEST(ApiWords, TheCatalogueIsChineseWithUniqueCodes) {
    std::set<std::string> codes;
    for (auto m : api::all_messages()) {
        std::string code = api::code_of(m), text = api::text_of(m);
        EXPECT_TRUE(codes.insert(code).second) << "code twice: " << code;
        EXPECT_TRUE(std::regex_match(code, std::regex("[a-z][a-z0-9_]*"))) << code;
        EXPECT_FALSE(text.empty()) << code;
        EXPECT_EQ(latin_words(text), "") << code << ": " << text;
        EXPECT_TRUE(api::latin_free(text)) << code << ": " << text;
    }
    EXPECT_GE(codes.size(), 40u);
    EXPECT_FALSE(api::latin_free("elder 42 does not exist"));
}

TEST(ApiWords, EveryErrorAndTextExportIsChinese) {
    Rig r;
    Checker c;
    Rig::Login none;
    auto boss = r.login("boss", "boss-password");
    auto nurse = r.login("nurse", "nurse-password");
    ASSERT_FALSE(boss.csrf.empty());
    ASSERT_FALSE(nurse.csrf.empty());
    Rig::Login forged = nurse;
    forged.csrf = std::string(nurse.csrf.size(), '0');

    // An elder with a card, another one, an alarm.
    auto made = r.send(nurse, "POST", "/api/elders", {{"name", "张桂英"}, {"card_no", "10001"}});
    ASSERT_EQ(made->status, 201) << made->body;
    int64_t elder = json::parse(made->body)["id"];
    auto other = r.send(nurse, "POST", "/api/elders", {{"name", "李建国"}, {"categories", {"独居"}}});
    ASSERT_EQ(other->status, 201) << other->body;
    std::string e = std::to_string(elder);
    auto alarm = r.alarms.raise("call", "bath_call", "hall", "test");
    std::string a = std::to_string(alarm.id);
    std::string nurse_id = std::to_string(r.staff_id("nurse")), boss_id = std::to_string(r.staff_id("boss"));

    // ---------- sessions, tokens, roles (kiosk.cpp) ----------
    c.error("no login", r.get(none, "/api/alarms"), 401);
    c.error("write without login", r.send(none, "POST", "/api/checkins", {{"elder_id", elder}}), 401);
    c.error("wrong CSRF token", r.send(forged, "POST", "/api/alarms/" + a + "/ack"), 403);
    c.error("wrong password", r.send(none, "POST", "/api/login", {{"username", "nurse"}, {"password", "x"}}),
            401);
    c.error("login body not JSON", r.raw(none, "POST", "/api/login", "{not json"), 400);
    c.error("staff list by staff", r.get(nurse, "/api/staff"), 403);
    c.error("staff add by staff", r.send(nurse, "POST", "/api/staff", {{"username", "x1"}}), 403);
    c.error("door screens by staff", r.get(nurse, "/api/door/displays"), 403);
    c.error("body too large", r.raw(nurse, "POST", "/api/elders", std::string(70 * 1024, ' ')), 413);
    c.error("body an array", r.raw(nurse, "POST", "/api/checkins", "[1,2]"), 400);
    c.error("no such login", r.send(nurse, "DELETE", "/api/sessions/000000000000"), 404);
    c.error("door state unpaired", r.get(none, "/api/door/state"), 401);
    c.error("pairing code wrong", r.send(none, "POST", "/api/door/pair", {{"code", "NOPE"}}), 403);
    c.error("door screen without a name", r.send(boss, "POST", "/api/door/pairings", {{"name", ""}}), 400);
    c.error("no such door screen", r.send(boss, "DELETE", "/api/door/displays/99999"), 404);
    c.error("door override without a door",
            r.send(nurse, "POST", "/api/door/override", {{"elder_id", elder}}), 503);
    c.error("no speech", r.get(nurse, "/api/door/speech/5.wav"), 404);

    // ---------- alarms ----------
    c.error("no such alarm", r.get(nurse, "/api/alarms/99999"), 404);
    c.error("no such alarm's notifications", r.get(nurse, "/api/alarms/99999/notifications"), 404);
    c.error("ack of no alarm", r.send(nurse, "POST", "/api/alarms/99999/ack"), 409);
    c.error("dispatch to nobody",
            r.send(nurse, "POST", "/api/alarms/" + a + "/dispatch", {{"target", "999"}}), 409);
    c.error("resolve without outcome", r.send(nurse, "POST", "/api/alarms/" + a + "/resolve"), 409);
    c.error("false alarm without reason",
            r.send(nurse, "POST", "/api/alarms/" + a + "/resolve", {{"false_alarm", true}}), 409);
    ASSERT_EQ(r.send(nurse, "POST", "/api/alarms/" + a + "/resolve", {{"outcome", "已处理"}})->status, 200);
    c.error("ack of a resolved alarm", r.send(nurse, "POST", "/api/alarms/" + a + "/ack"), 409);

    // ---------- check-ins ----------
    c.error("check-in of no card", r.send(nurse, "POST", "/api/checkins", {{"card_no", "99999"}}), 404);
    c.error("check-in of nobody", r.send(nurse, "POST", "/api/checkins", json::object()), 400);
    c.error("check-in of no elder", r.send(nurse, "POST", "/api/checkins", {{"elder_id", 99999}}), 400);
    c.error("check-in sideways",
            r.send(nurse, "POST", "/api/checkins", {{"elder_id", elder}, {"direction", "sideways"}}), 400);
    c.error("check-in with fever",
            r.send(nurse, "POST", "/api/checkins", {{"elder_id", elder}, {"temperature", 38.6}}), 409);
    c.error("check-in search bad date", r.get(nurse, "/api/checkins?from=2026-02-30"), 400);
    c.error("check-in search backwards", r.get(nurse, "/api/checkins?from=2026-11-20&to=2026-11-01"), 400);
    c.error("check-in search bad time", r.get(nurse, "/api/checkins?time_from=25:00"), 400);

    // ---------- elders (elder_routes.cpp) ----------
    c.error("no such elder", r.get(nurse, "/api/elders/99999"), 404);
    c.error("edit of no elder", r.send(nurse, "PUT", "/api/elders/99999", {{"name", "王"}}), 404);
    c.error("elder without a name", r.send(nurse, "POST", "/api/elders", {{"name", ""}}), 400);
    c.error("elder name not text", r.send(nurse, "POST", "/api/elders", {{"name", 5}}), 400);
    c.error("card number taken",
            r.send(nurse, "POST", "/api/elders", {{"name", "王秀英"}, {"card_no", "10001"}}), 400);
    c.error("blink exemption by staff",
            r.send(nurse, "PUT", "/api/elders/" + e, {{"name", "张桂英"}, {"liveness_exempt", true}}), 403);
    c.error("roster status unknown", r.get(nurse, "/api/elders?status=gone"), 400);
    c.error("history of no elder", r.get(nurse, "/api/elders/99999/history"), 404);
    c.error("history of an unknown kind", r.get(nurse, "/api/elders/" + e + "/history?kind=parties"), 400);
    c.error("deactivate for no reason", r.send(nurse, "POST", "/api/elders/" + e + "/deactivate"), 400);
    c.error("reactivate an active elder", r.send(nurse, "POST", "/api/elders/" + e + "/reactivate"), 400);
    c.error("import without a file", r.raw(nurse, "POST", "/api/elders/import", ""), 400);
    c.error("service of an unknown type",
            r.send(nurse, "POST", "/api/services", {{"elder_id", elder}, {"service", "party"}}), 400);
    c.error("services of a bad month", r.get(nurse, "/api/services?month=2026-13"), 400);
    c.error("visit in the future",
            r.send(nurse, "POST", "/api/visits",
                   {{"elder_id", elder}, {"method", "上门"}, {"at", "2099-01-01T09:00"}}),
            400);
    c.error("meals export of a bad month", r.get(nurse, "/api/export/meals?month=soon"), 400);

    // ---------- care and meals (care_routes.cpp) ----------
    c.error("care profile of no elder", r.get(nurse, "/api/elders/99999/care"), 400);
    c.error("care tier unknown", r.send(nurse, "PUT", "/api/elders/" + e + "/care", {{"tier", "daily"}}),
            400);
    c.error("meal category unknown",
            r.send(nurse, "PUT", "/api/elders/" + e + "/care", {{"meal_category", "vip"}}), 400);
    c.error("life event unknown",
            r.send(nurse, "POST", "/api/elders/" + e + "/life-events", {{"kind", "party"}}), 400);
    c.error("absence backwards",
            r.send(nurse, "POST", "/api/elders/" + e + "/absences",
                   {{"reason", "外出"}, {"from", "2026-11-20"}, {"to", "2026-11-01"}}),
            400);
    c.error("absence of an unknown reason",
            r.send(nurse, "POST", "/api/elders/" + e + "/absences", {{"reason", "holiday"}}), 400);
    c.error("visit miss without elder", r.send(nurse, "POST", "/api/care/misses", json::object()), 400);
    c.error("visit miss of a bad month",
            r.send(nurse, "POST", "/api/care/misses", {{"elder_id", elder}, {"month", "11/2026"}}), 400);
    c.error("worklist of a bad date", r.get(nurse, "/api/care/worklist?date=tomorrow"), 400);
    c.error("coverage of a bad month", r.get(nurse, "/api/care/coverage?month=2026"), 400);
    c.error("meal out of hours", r.send(nurse, "POST", "/api/meals", {{"elder_id", elder}}), 409);
    c.error("meal of no elder",
            r.send(nurse, "POST", "/api/meals", {{"elder_id", 99999}, {"session", "lunch"}}), 400);
    c.error("meal of an unknown session",
            r.send(nurse, "POST", "/api/meals", {{"elder_id", elder}, {"session", "dinner"}}), 400);
    c.error("meal by an unknown card", r.send(nurse, "POST", "/api/meals", {{"card_no", "77777"}}), 409);
    c.error("menu of an unknown session", r.send(nurse, "PUT", "/api/meals/menu", {{"session", "brunch"}}),
            400);
    c.error("meals of a bad date", r.get(nurse, "/api/meals?date=2026-13-45"), 400);
    c.error("meals statement of a bad month", r.get(nurse, "/api/meals/statement?month=x"), 400);
    c.error("monthly report of a bad month", r.get(nurse, "/api/report/monthly?month=last"), 400);

    // ---------- staff accounts and the duty roster ----------
    c.error("user name too short",
            r.send(boss, "POST", "/api/staff", {{"username", "a"}, {"password", "long-enough-1"}}), 400);
    c.error("user name taken",
            r.send(boss, "POST", "/api/staff", {{"username", "nurse"}, {"password", "long-enough-1"}}), 400);
    c.error("role unknown",
            r.send(boss, "POST", "/api/staff",
                   {{"username", "zhao"}, {"password", "long-enough-1"}, {"role", "owner"}}),
            400);
    c.error("password too short",
            r.send(boss, "POST", "/api/staff", {{"username", "zhao"}, {"password", "short"}}), 400);
    c.error("disable of no account", r.send(boss, "PUT", "/api/staff/99999/active", {{"active", false}}),
            404);
    c.error("active not a yes or no",
            r.send(boss, "PUT", "/api/staff/" + nurse_id + "/active", {{"active", "yes"}}), 400);
    c.error("disable oneself", r.send(boss, "PUT", "/api/staff/" + boss_id + "/active", {{"active", false}}),
            400);
    c.error("password of no account",
            r.send(boss, "PUT", "/api/staff/99999/password", {{"password", "long-enough-1"}}), 404);
    c.error("new password too short",
            r.send(boss, "PUT", "/api/staff/" + nurse_id + "/password", {{"password", "short"}}), 400);
    c.error("own password unchanged",
            r.send(nurse, "PUT", "/api/me/password", {{"current", "x"}, {"password", "x"}}), 400);
    c.error(
        "own password wrong",
        r.send(nurse, "PUT", "/api/me/password", {{"current", "wrong-one"}, {"password", "new-password-1"}}),
        403);
    c.error("phone not digits",
            r.send(boss, "PUT", "/api/staff/" + nurse_id + "/phone", {{"phone", "138-abc"}}), 400);
    c.error("phone missing", r.send(boss, "PUT", "/api/staff/" + nurse_id + "/phone"), 400);
    c.error("phone of no account", r.send(boss, "PUT", "/api/staff/99999/phone", {{"phone", ""}}), 404);
    json shift = {{"staff_id", r.staff_id("nurse")}, {"weekday", 1}, {"start", "08:00"}, {"end", "17:00"}};
    auto with = [&](const char* k, const json& v) {
        json j = shift;
        j[k] = v;
        return j;
    };
    c.error("shift without staff", r.send(boss, "POST", "/api/duty", with("staff_id", "nurse")), 400);
    c.error("shift on day 9", r.send(boss, "POST", "/api/duty", with("weekday", 9)), 400);
    c.error("shift start bad", r.send(boss, "POST", "/api/duty", with("start", "8am")), 400);
    c.error("shift end bad", r.send(boss, "POST", "/api/duty", with("end", "25:00")), 400);
    c.error("shift of no time", r.send(boss, "POST", "/api/duty", with("end", "08:00")), 400);
    c.error("shift of no account", r.send(boss, "POST", "/api/duty", with("staff_id", 99999)), 404);
    ASSERT_EQ(r.send(boss, "POST", "/api/duty", shift)->status, 201);
    c.error("shift overlapping", r.send(boss, "POST", "/api/duty", with("start", "12:00")), 409);
    c.error("no such shift", r.send(boss, "DELETE", "/api/duty/99999"), 404);

    // ---------- devices, occupancy, cameras, faces ----------
    c.error("readings without a device", r.get(nurse, "/api/readings"), 400);
    c.error("readings of no device", r.get(nurse, "/api/readings?device=ghost_meter"), 404);
    c.error("readings over a week", r.get(nurse, "/api/readings?device=x&hours=999"), 400);
    c.error("head count negative", r.send(nurse, "POST", "/api/occupancy/hall", {{"count", -3}}), 400);
    c.error("head count without reason", r.send(nurse, "POST", "/api/occupancy/hall", {{"count", 3}}), 400);
    c.error("head count of no zone",
            r.send(nurse, "POST", "/api/occupancy/garden", {{"count", 3}, {"reason", "数过"}}), 400);
    c.error("no such camera", r.get(nurse, "/api/cameras/back_door/frame.jpg"), 404);
    c.error("enroll without faces", r.raw(nurse, "POST", "/api/elders/" + e + "/enroll", ""), 503);

    EXPECT_GE(c.names.size(), 30u);
    EXPECT_GE(c.codes.size(), 20u) << "the errors are told apart by their codes";

    // ---------- the text exports ----------
    ASSERT_EQ(r.send(nurse, "POST", "/api/services", {{"elder_id", elder}, {"service", "助浴"}})->status,
              201);
    ASSERT_EQ(r.send(nurse, "POST", "/api/checkins", {{"elder_id", elder}})->status, 201);
    ASSERT_EQ(r.send(nurse, "POST", "/api/meals", {{"elder_id", elder}, {"session", "lunch"}})->status, 201);
    c.text("monthly report CSV", r.get(nurse, "/api/report/monthly?month=2026-12&format=csv"));
    c.text("meals statement CSV", r.get(nurse, "/api/meals/statement?month=2026-12&format=csv"));
    ASSERT_EQ(
        r.send(nurse, "POST", "/api/visits", {{"elder_id", elder}, {"method", "电话"}, {"health", "好"}})
            ->status,
        201);
    for (auto [name, path] : std::vector<std::pair<std::string, std::string>>{
             {"roster xlsx", "/api/elders?format=xlsx&status=all"},
             {"check-ins xlsx", "/api/checkins?format=xlsx"},
             {"services xlsx", "/api/services?format=xlsx"},
             {"visits xlsx", "/api/visits?format=xlsx"},
             {"alarms xlsx", "/api/export/alarms"},
             {"meals xlsx", "/api/export/meals?month=2026-12"},
             {"import template xlsx", "/api/elders/import-template"}})
        c.xlsx(name, r.get(nurse, path));
    std::cout << c.names.size() << " responses checked, " << c.codes.size() << " codes\n";
}

// The rescue record as the kiosk shows it: who took each step, what it says and to whom, in Chinese
// (a device by its configured name, the door, the system, a phone's reply), for the steps devices,
// the door, the system, staff and a phone take.
TEST(ApiWords, TheRescueRecordAsTheKioskShowsItIsChinese) {
    Rig r;
    auto nurse = r.login("nurse", "nurse-password");
    auto call = r.alarms.raise("call", "bath_call", "hall", "device:bath_call", {{"cause", "call"}});
    auto ack = r.send(nurse, "POST", "/api/alarms/" + std::to_string(call.id) + "/ack", {{"note", "已到场"}});
    ASSERT_EQ(ack->status, 200) << ack->body;
    auto done = r.send(nurse, "POST", "/api/alarms/" + std::to_string(call.id) + "/resolve",
                       {{"outcome", "老人安全，已扶起"}});
    ASSERT_EQ(done->status, 200) << done->body;
    auto fever = r.alarms.raise("fever", "manual_checkin", "", "gate", {{"temperature", 38.2}});
    r.alarms.acknowledge(fever.id, "sms:+8613800000001", "短信回复 1");
    auto offline = r.alarms.raise("device_offline", "bath_call", "hall", "system", json::object());
    auto full = r.alarms.raise("over_capacity", "hall", "hall", "counter:bath_call", json::object());
    r.alarms.record(full.id, "note", "staff", "", "人数已更正");
    r.alarms.acknowledge(full.id, "cli");
    r.alarms.clear("device_offline", "bath_call", "设备已恢复在线");
    for (int64_t id : {call.id, fever.id, offline.id, full.id}) {
        auto got = r.get(nurse, "/api/alarms/" + std::to_string(id));
        ASSERT_EQ(got->status, 200) << got->body;
        auto a = json::parse(got->body);
        EXPECT_EQ(latin_words(a["source_name"].get<std::string>() + " " + a["zone_name"].get<std::string>()),
                  "")
            << a.dump();
        ASSERT_GE(a["steps"].size(), 2u) << a.dump();
        for (auto& s : a["steps"]) {
            std::string text = s["actor_name"].get<std::string>();
            for (const char* k : {"note", "target"})
                if (s[k].is_string()) text += " " + s[k].get<std::string>();
            EXPECT_EQ(latin_words(text), "") << "staff would read \"" << text << "\" in " << s.dump();
        }
    }
    auto steps = json::parse(r.get(nurse, "/api/alarms/" + std::to_string(call.id))->body)["steps"];
    EXPECT_EQ(steps[0]["actor_name"], "助浴间呼叫器") << "the device by its configured name";
    EXPECT_EQ(steps[1]["actor_name"], "王护士");
}
