// Kiosk logins as staff use them, with an injected clock: an unused login ends after the idle time,
// every login ends after its lifetime, a disabled account is logged out at once, an admin can list
// and end logins, and only an admin may exempt an elder from the blink check.
#include <gtest/gtest.h>
#include <httplib.h>

#include "controller/kiosk/http_server.hpp"
#include "controller/kiosk/kiosk.hpp"
#include "controller/kiosk/live_feed.hpp"
#include "controller/people/checkins.hpp"
#include "controller/people/records.hpp"
#include "controller/people/roster.hpp"
#include "controller/people/staff.hpp"
#include "tests/controller/kiosk_rig.hpp"
#include "tests/support/test_support.hpp"

using namespace caregate;
using nlohmann::json;

namespace {

struct Rig : caregate::testing::KioskRig {
    Rig()
        : KioskRig(
              "site: {id: t1, name: x}\nzones: [{id: hall, name: h}]\n"
              "kiosk: {port: 0, session_idle_min: 30, session_max_h: 1}\n") {
        start();
        staff.add("boss", "李主任", "admin", "boss-password", "test");
        staff.add("nurse", "王护士", "staff", "nurse-password", "test");
    }
    void minutes(int m) { clock.advance_ms(int64_t(m) * 60000); }
};

}  // namespace

TEST(KioskSessions, AnUnusedLoginEndsAfterTheIdleTimeAndEveryLoginAfterItsLifetime) {
    Rig r;
    auto nurse = r.login("nurse", "nurse-password");
    ASSERT_EQ(nurse.status, 200);
    r.minutes(29);
    EXPECT_EQ(r.get(nurse, "/api/alarms")->status, 200) << "used within 30 min: still logged in";
    r.minutes(29);
    EXPECT_EQ(r.get(nurse, "/api/alarms")->status, 200) << "each use restarts the idle time";
    r.minutes(31);
    EXPECT_EQ(r.get(nurse, "/api/alarms")->status, 401) << "unused for 31 min: logged out";

    auto again = r.login("nurse", "nurse-password");
    for (int i = 0; i < 3; ++i) {
        r.minutes(20);
        EXPECT_EQ(r.get(again, "/api/alarms")->status, 200);
    }
    r.minutes(1);  // 61 min after login, with session_max_h: 1
    EXPECT_EQ(r.get(again, "/api/alarms")->status, 401) << "in use, but past its lifetime";
}

TEST(KioskSessions, ADisabledAccountIsLoggedOutAtOnceAndAnAdminCanEndLogins) {
    Rig r;
    auto boss = r.login("boss", "boss-password");
    auto nurse = r.login("nurse", "nurse-password");
    ASSERT_EQ(boss.status, 200);
    ASSERT_EQ(nurse.status, 200);
    auto list = json::parse(r.get(boss, "/api/sessions")->body);
    ASSERT_EQ(list.size(), 2u);
    std::string nurse_session;
    for (auto& s : list)
        if (s["username"] == "nurse") nurse_session = s["id"];
    ASSERT_FALSE(nurse_session.empty());
    EXPECT_EQ(json::parse(r.get(nurse, "/api/sessions")->body).size(), 1u) << "staff see only their own";
    EXPECT_EQ(r.send(boss, "DELETE", "/api/sessions/" + nurse_session, {})->status, 200);
    EXPECT_EQ(r.get(nurse, "/api/alarms")->status, 401) << "the ended login no longer works";

    nurse = r.login("nurse", "nurse-password");
    int64_t nurse_id = 0;
    for (auto& m : r.staff.list())
        if (m.username == "nurse") nurse_id = m.id;
    EXPECT_EQ(r.send(nurse, "PUT", "/api/staff/" + std::to_string(nurse_id) + "/active", {{"active", false}})
                  ->status,
              403)
        << "only an admin disables accounts";
    EXPECT_EQ(r.send(boss, "PUT", "/api/staff/" + std::to_string(nurse_id) + "/active", {{"active", false}})
                  ->status,
              200);
    EXPECT_EQ(r.get(nurse, "/api/alarms")->status, 401) << "logged out everywhere at once";
    EXPECT_EQ(r.login("nurse", "nurse-password").status, 401) << "and cannot log in again";
}

// The box restarts (a new Kiosk on the same store): logins go on; ended ones stay ended; the cookie's
// token is not in the database.
TEST(KioskSessions, LoginsSurviveARestartButNotTheirEndAndTheTokenIsNotStored) {
    Rig r;
    auto boss = r.login("boss", "boss-password");
    auto nurse = r.login("nurse", "nurse-password");
    ASSERT_EQ(nurse.status, 200);
    auto restarted = [&](const Rig::Login& l, const std::string& path) {
        HttpServer http{HttpOptions{"127.0.0.1", 0, 8, "", "", ""}};
        Kiosk again(r.parts(), http.routes());
        http.start();
        httplib::Client cli("127.0.0.1", http.port());
        auto res = cli.Get(path, {{"Cookie", l.cookie}});
        int status = res ? res->status : 0;
        http.stop();
        return status;
    };
    EXPECT_EQ(restarted(nurse, "/api/me"), 200) << "a restart does not log staff out";
    EXPECT_EQ(restarted(boss, "/api/sessions"), 200);
    std::string token = nurse.cookie.substr(nurse.cookie.find('=') + 1);
    ASSERT_EQ(token.size(), 64u);
    r.store.read([&](sqlite3* db) {
        Stmt s(db, "SELECT token_sha256, id, csrf FROM kiosk_sessions");
        int rows = 0;
        while (s.step()) {
            ++rows;
            for (int c = 0; c < 3; ++c)
                EXPECT_EQ(s.str(c).find(token), std::string::npos) << "the token is stored";
        }
        EXPECT_EQ(rows, 2);
    });
    // Logged out: ended for good, also after a restart.
    EXPECT_EQ(r.send(nurse, "POST", "/api/logout", {})->status, 200);
    EXPECT_EQ(restarted(nurse, "/api/me"), 401);
    // Unused past the idle time while the box was off: ended at start.
    r.minutes(31);
    EXPECT_EQ(restarted(boss, "/api/me"), 401) << "idle logins do not come back";
}

// An admin changes an account's role: its logins end and it logs in again as it now is; the last
// admin cannot be demoted.
TEST(KioskSessions, AnAdminChangesARoleAndTheLastAdminStays) {
    Rig r;
    auto boss = r.login("boss", "boss-password");
    auto nurse = r.login("nurse", "nurse-password");
    int64_t nurse_id = 0, boss_id = 0;
    for (auto& m : r.staff.list()) (m.username == "nurse" ? nurse_id : boss_id) = m.id;
    auto role = [&](const Rig::Login& who, int64_t id, const std::string& to) {
        return r.send(who, "PUT", "/api/staff/" + std::to_string(id) + "/role", {{"role", to}});
    };
    EXPECT_EQ(role(nurse, nurse_id, "admin")->status, 403) << "staff cannot make themselves admins";
    auto last = role(boss, boss_id, "staff");
    EXPECT_EQ(last->status, 400);
    EXPECT_NE(last->body.find("最后一个管理员"), std::string::npos) << last->body;
    EXPECT_EQ(role(boss, nurse_id, "boss")->status, 400) << "no such role";
    EXPECT_EQ(role(boss, nurse_id, "admin")->status, 200);
    EXPECT_EQ(r.get(nurse, "/api/me")->status, 401) << "the old login (as staff) ended";
    nurse = r.login("nurse", "nurse-password");
    EXPECT_EQ(json::parse(r.get(nurse, "/api/me")->body)["role"], "admin");
    EXPECT_EQ(role(nurse, boss_id, "staff")->status, 200) << "now another admin exists";
}

TEST(KioskSessions, OnlyAnAdminExemptsAnElderFromTheBlinkCheck) {
    Rig r;
    auto nurse = r.login("nurse", "nurse-password");
    auto boss = r.login("boss", "boss-password");
    auto made = r.send(nurse, "POST", "/api/elders", {{"name", "张桂英"}});
    ASSERT_EQ(made->status, 201) << made->body;
    std::string path = "/api/elders/" + std::to_string(json::parse(made->body)["id"].get<int64_t>());
    auto refused = r.send(nurse, "PUT", path, {{"name", "张桂英"}, {"liveness_exempt", true}});
    EXPECT_EQ(refused->status, 403) << refused->body;
    EXPECT_EQ(r.send(nurse, "PUT", path, {{"name", "张桂英"}, {"address", "五马街道"}})->status, 200)
        << "other edits by staff still work";
    EXPECT_EQ(r.send(boss, "PUT", path, {{"name", "张桂英"}, {"liveness_exempt", true}})->status, 200);
}

TEST(KioskSessions, StaffChangeTheirOwnPasswordAndAnAdminResetsAForgottenOne) {
    Rig r;
    auto phone = r.login("nurse", "nurse-password");
    auto desk = r.login("nurse", "nurse-password");
    auto boss = r.login("boss", "boss-password");
    ASSERT_EQ(desk.status, 200);
    auto wrong =
        r.send(desk, "PUT", "/api/me/password", {{"current", "guess-123"}, {"password", "new-pass-2026"}});
    EXPECT_EQ(wrong->status, 403) << wrong->body;
    auto shortpw =
        r.send(desk, "PUT", "/api/me/password", {{"current", "nurse-password"}, {"password", "short"}});
    EXPECT_EQ(shortpw->status, 400);
    EXPECT_NE(shortpw->body.find("密码至少 8 个字符"), std::string::npos) << shortpw->body;
    auto ok = r.send(desk, "PUT", "/api/me/password",
                     {{"current", "nurse-password"}, {"password", "new-pass-2026"}});
    ASSERT_EQ(ok->status, 200) << ok->body;
    EXPECT_EQ(json::parse(ok->body)["other_logins_ended"], 1);
    EXPECT_EQ(r.get(desk, "/api/alarms")->status, 200) << "the login that changed it stays";
    EXPECT_EQ(r.get(phone, "/api/alarms")->status, 401) << "the other login ends";
    EXPECT_EQ(r.login("nurse", "nurse-password").status, 401);
    EXPECT_EQ(r.login("nurse", "new-pass-2026").status, 200);

    int64_t nurse_id = 0;
    for (auto& m : r.staff.list())
        if (m.username == "nurse") nurse_id = m.id;
    std::string path = "/api/staff/" + std::to_string(nurse_id) + "/password";
    EXPECT_EQ(r.send(desk, "PUT", path, {{"password", "mine-now-123"}})->status, 403) << "admins only";
    EXPECT_EQ(r.send(boss, "PUT", path, {{"password", "reset-by-boss-1"}})->status, 200);
    EXPECT_EQ(r.get(desk, "/api/alarms")->status, 401) << "a reset ends the account's logins";
    EXPECT_EQ(r.login("nurse", "reset-by-boss-1").status, 200);
    EXPECT_EQ(r.send(boss, "PUT", "/api/staff/999/password", {{"password", "whatever-123"}})->status, 404);
    auto audit = r.store.read([](sqlite3* db) {
        Stmt s(db, "SELECT COUNT(*) FROM audit_log WHERE action='staff.password' AND subject='staff:nurse'");
        s.step();
        return s.i64(0);
    });
    EXPECT_EQ(audit, 2);
}

TEST(KioskSessions, TheDoorPageIsForAPairedScreenOrALoginOnly) {
    Rig r;
    httplib::Client cli("127.0.0.1", r.http.port());
    auto anon = cli.Get("/api/door/state");
    ASSERT_TRUE(anon);
    EXPECT_EQ(anon->status, 401) << "names and temperatures are not for anyone on the LAN";
    EXPECT_EQ(cli.Get("/api/door/speech/1.wav")->status, 401);
    auto boss = r.login("boss", "boss-password");
    auto nurse = r.login("nurse", "nurse-password");
    EXPECT_EQ(r.get(nurse, "/api/door/state")->status, 200) << "staff may look";
    EXPECT_EQ(r.send(nurse, "POST", "/api/door/pairings", {{"name", "大门屏"}})->status, 403)
        << "admins pair";
    auto made = r.send(boss, "POST", "/api/door/pairings", {{"name", "大门屏"}});
    ASSERT_EQ(made->status, 201) << made->body;
    std::string code = json::parse(made->body)["code"];
    auto pair = [&](const std::string& c) {
        return cli.Post("/api/door/pair", json{{"code", c}}.dump(), "application/json");
    };
    EXPECT_EQ(pair("AAAA-AAAA")->status, 403);
    // Typed in lower case without the dash, it still works; once.
    std::string typed;
    for (char ch : code)
        if (ch != '-') typed += char(std::tolower(static_cast<unsigned char>(ch)));
    auto ok = pair(typed);
    ASSERT_EQ(ok->status, 200) << ok->body;
    std::string cookie = ok->get_header_value("Set-Cookie");
    EXPECT_NE(cookie.find("HttpOnly"), std::string::npos);
    cookie = cookie.substr(0, cookie.find(';'));
    EXPECT_EQ(pair(code)->status, 403) << "a code pairs one screen";
    EXPECT_EQ(cli.Get("/api/door/state", {{"Cookie", cookie}})->status, 200);
    // An expired code does not pair.
    std::string late =
        json::parse(r.send(boss, "POST", "/api/door/pairings", {{"name", "侧门屏"}})->body)["code"];
    r.minutes(11);
    boss = r.login("boss", "boss-password");
    EXPECT_EQ(pair(late)->status, 403);
    // Revoked: the screen is refused at once.
    auto list = json::parse(r.get(boss, "/api/door/displays")->body);
    ASSERT_EQ(list.size(), 1u);
    EXPECT_EQ(list[0]["name"], "大门屏");
    EXPECT_EQ(r.send(boss, "DELETE", "/api/door/displays/" + std::to_string(list[0]["id"].get<int64_t>()), {})
                  ->status,
              200);
    EXPECT_EQ(cli.Get("/api/door/state", {{"Cookie", cookie}})->status, 401);
    // Guessing codes is throttled per address.
    int throttled = 0;
    for (int i = 0; i < 25; ++i) throttled += pair("BBBB-CCC" + std::to_string(i % 10))->status == 429;
    EXPECT_GT(throttled, 0);
}
