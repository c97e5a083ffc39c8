// Overdue visits told to their visitor (#17): SMS through the pty modem simulator and the 企业微信
// robot on a local HTTPS receiver; once a day, not before care.remind_hour, not again after a
// restart; a visitor without a phone is recorded as not reached instead of being skipped silently.
#include <gtest/gtest.h>

#include <fstream>

#include "config/config.hpp"
#include "controller/alarms/alarms.hpp"
#include "controller/care/calendar.hpp"
#include "controller/care/reminders.hpp"
#include "controller/people/records.hpp"
#include "controller/people/roster.hpp"
#include "tests/support/https_receiver.hpp"
#include "tests/support/modem_simulator.hpp"
#include "tests/support/test_support.hpp"

using namespace caregate;
using namespace caregate::testing;

namespace {

int64_t at(const std::string& date, int hour) {
    return care::day_start_ms(care::parse_date(date), "Asia/Shanghai") + int64_t(hour) * 3'600'000;
}

struct Rig {
    TempDir dir;
    HttpsReceiver receiver;
    ModemSimulator modem;
    ManualClock clock{at("2026-11-20", 7)};
    Outbox outbox{"t1", "r1"};
    config::SiteConfig cfg;
    std::unique_ptr<Store> store;
    std::unique_ptr<AlarmService> alarms;
    std::unique_ptr<Notifier> notifier;
    std::unique_ptr<care::CarePlanner> planner;
    std::unique_ptr<care::CareReminders> reminders;

    Rig() {
        cfg = config::parse_config(
            "site: {id: t1, name: 颐康照料中心}\n"
            "notify:\n"
            "  kiosk_url: https://caregate.local:8443\n"
            "  channels:\n"
            "    - {id: visit_chat, type: wecom, ca_file: " +
                receiver.ca_file() + ", url: \"" +
                receiver.url("/cgi-bin/webhook/send?key=" + receiver.secrets().wecom_key) +
                "\"}\n"
                "    - {id: visit_sms, type: sms, modem: " +
                modem.device_path() +
                ", to: [\"@duty\"]}\n"
                "care: {remind_hour: 8, remind_channels: [visit_sms, visit_chat]}\n",
            dir.file("site.yaml"));
        open();
        store->write([](sqlite3* db) {
            exec(
                db,
                "INSERT INTO staff(id, username, display_name, role, password_hash, created_at, phone) VALUES"
                "(7, 'lin', '社工小林', 'staff', 'x', 0, '13800000007');");
        });
    }
    void open() {  // a (re)start of the box on the same database
        reminders.reset();
        notifier.reset();
        planner.reset();
        alarms.reset();
        store = std::make_unique<Store>(dir.file("c.db"));
        alarms = std::make_unique<AlarmService>(*store, clock, outbox, AlarmPolicy{600, 3600});
        notifier = std::make_unique<Notifier>(cfg, *store, clock, *alarms);
        planner = std::make_unique<care::CarePlanner>(cfg, *store, clock);
        reminders = std::make_unique<care::CareReminders>(cfg, *store, clock, *planner, *notifier);
    }
    int64_t elder(const std::string& name, const std::vector<std::string>& cats, const std::string& visitor) {
        Roster roster(*store, clock);
        Elder e;
        e.name = name;
        e.categories = cats;
        auto id = roster.save(e, "t").id;
        planner->save_profile(id, {{"visitor", visitor}}, "t");
        return id;
    }
    std::string states() {
        return store->read([](sqlite3* db) {
            std::string out;
            Stmt s(db, "SELECT visitor, channel, state, COALESCE(result,'') FROM care_reminders ORDER BY id");
            while (s.step()) out += s.str(0) + "/" + s.str(1) + "/" + s.str(2) + "/" + s.str(3) + "\n";
            return out;
        });
    }
};

}  // namespace

TEST(CareReminders, OverdueVisitsReachTheVisitorOnceADayBySmsAndChat) {
    Rig r;
    auto wang = r.elder("王秀英", {"独居", "失能"}, "lin");   // weekly
    auto li = r.elder("李建国", {"空巢"}, "社工小林");        // monthly, by display name
    auto zhou = r.elder("周福生", {"空巢"}, "志愿者陈阿姨");  // a volunteer without an account
    Records records(*r.store, r.clock, r.outbox);
    for (auto id : {wang, li, zhou}) {
        VisitRecord v;
        v.elder_id = id;
        v.method = "上门";
        v.ts_ms = at("2026-10-01", 10);
        records.add_visit(v, "t");
    }
    r.clock.set_ms(at("2026-11-20", 7));
    EXPECT_EQ(r.reminders->run_once(), 0) << "before 08:00";
    EXPECT_EQ(r.states(), "");
    r.clock.set_ms(at("2026-11-20", 8) + 60'000);
    // 社工小林 (by user name and by display name: one person) by SMS and chat, 陈阿姨 by chat.
    EXPECT_EQ(r.reminders->run_once(), 3) << r.states();
    ASSERT_TRUE(r.modem.wait_for_sms(1, std::chrono::seconds(10)));
    auto sms = r.modem.sms();
    ASSERT_EQ(sms.size(), 1u);
    EXPECT_EQ(sms[0].to, "13800000007");
    EXPECT_NE(sms[0].text.find("王秀英（逾期"), std::string::npos) << sms[0].text;
    EXPECT_NE(sms[0].text.find("李建国"), std::string::npos) << "a visitor named by display name";
    EXPECT_NE(sms[0].text.find("https://caregate.local:8443/#care"), std::string::npos) << sms[0].text;
    EXPECT_EQ(sms[0].text.find("周福生"), std::string::npos) << "someone else's elder";
    ASSERT_TRUE(r.receiver.wait_for(2, std::chrono::seconds(10)));
    int wecom_for_lin = 0, wecom_for_chen = 0;
    for (auto& got : r.receiver.received()) {
        EXPECT_TRUE(got.ok) << got.why;
        std::string text = got.json["text"]["content"];
        if (text.find("社工小") != std::string::npos) {
            ++wecom_for_lin;
            EXPECT_EQ(got.json["text"]["mentioned_mobile_list"], nlohmann::json::array({"13800000007"}));
        }
        if (text.find("志愿者陈阿姨") != std::string::npos) ++wecom_for_chen;
    }
    EXPECT_EQ(wecom_for_lin, 1);
    EXPECT_EQ(wecom_for_chen, 1) << "the group chat reaches a volunteer without a phone";
    // The volunteer has no phone: the SMS row says so instead of vanishing.
    EXPECT_NE(r.states().find("志愿者陈阿姨/visit_sms/failed/未发送：志愿者陈阿姨 没有登记手机号"),
              std::string::npos)
        << r.states();
    // Later that day, and after a restart, nothing is sent again.
    r.clock.set_ms(at("2026-11-20", 15));
    EXPECT_EQ(r.reminders->run_once(), 0);
    r.open();
    EXPECT_EQ(r.reminders->run_once(), 0);
    EXPECT_EQ(r.modem.sms().size(), 1u);
    // The next day, still overdue: reminded again.
    r.clock.set_ms(at("2026-11-21", 9));
    EXPECT_GT(r.reminders->run_once(), 0);
    EXPECT_TRUE(r.modem.wait_for_sms(2, std::chrono::seconds(10)));
}

TEST(CareReminders, ConfigRefusesAVoiceChannelOrAnUnknownOne) {
    auto bad = [](const std::string& care) {
        try {
            config::parse_config(
                "site: {id: t1, name: x}\nnotify:\n  channels:\n    - {id: v, type: voice, modem: "
                "/dev/ttyUSB2, to: "
                "['13800000000']}\ncare: " +
                    care + "\n",
                "x.yaml");
        } catch (const config::ConfigError& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    EXPECT_NE(bad("{remind_channels: [v]}").find("a reminder is a text"), std::string::npos);
    EXPECT_NE(bad("{remind_channels: [nope]}").find("not defined under notify.channels"), std::string::npos);
    EXPECT_EQ(bad("{remind_hour: 9}"), "");
}
