// Who is told of an alarm, with real peers: a local HTTPS receiver that checks the vendors' formats
// and signatures, and a modem simulator on a socat pty pair that speaks the AT dialogue.
#include "controller/alarms/notifier.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "tests/support/https_receiver.hpp"
#include "tests/support/modem_simulator.hpp"
#include "tests/support/staff_words.hpp"
#include "tests/support/test_support.hpp"

using namespace caregate;
using namespace caregate::testing;

namespace {
// 2026-12-02 14:03:21 in Beijing, a Wednesday.
constexpr int64_t kT0 = 1796191401000;

struct Rig {
    TempDir dir;
    HttpsReceiver receiver;
    ModemSimulator modem;
    ManualClock clock{kT0};
    Outbox outbox{"t1", "r1"};
    config::SiteConfig cfg;
    std::mutex said_mu;  // before the notifier: its threads write here until it stops
    std::vector<std::string> said;
    std::unique_ptr<Store> store;
    std::unique_ptr<AlarmService> alarms;
    std::unique_ptr<Notifier> notifier;

    explicit Rig(const std::string& escalation = "") {
        write("ding.secret", receiver.secrets().dingtalk_secret + "\n");
        write("hook.secret", receiver.secrets().webhook_secret);
        std::string ca = receiver.ca_file();
        cfg = config::parse_config(
            "site: {id: t1, name: 颐康照料中心}\n"
            "zones: [{id: bath, name: 助浴间, private: true}]\n"
            "mqtt_devices: [{id: bath_call, name: 助浴间呼叫器, topic: z/bath, kind: call_button, zone: "
            "bath}]\n"
            "notify:\n"
            "  kiosk_url: https://caregate.local:8443\n"
            "  supervision_s: 60\n"
            "  channels:\n"
            "    - {id: duty_chat, name: 值班群, type: wecom, ca_file: " +
                ca + ", url: \"" + receiver.url("/cgi-bin/webhook/send?key=" + receiver.secrets().wecom_key) +
                "\", to: [\"@duty\"]}\n"
                "    - {id: mgr_ding, name: 院长钉钉, type: dingtalk, ca_file: " +
                ca + ", secret_file: " + dir.file("ding.secret") + ", url: \"" +
                receiver.url("/robot/send?access_token=" + receiver.secrets().dingtalk_token) +
                "\"}\n"
                "    - {id: city_hook, name: 市平台推送, type: webhook, ca_file: " +
                ca + ", secret_file: " + dir.file("hook.secret") + ", url: \"" + receiver.url("/hook") +
                "\"}\n"
                "    - {id: duty_sms, name: 值班短信, type: sms, modem: " +
                modem.device_path() +
                ", to: [\"@duty\", \"13900000002\"]}\n"
                "    - {id: duty_call, name: 值班电话, type: voice, modem: " +
                modem.device_path() +
                ", to: [\"13900000002\"], ring_s: 5}\n"
                "    - {id: hall_speaker, name: 大厅广播, type: speaker, repeat_s: 20}\n"
                "  escalation:\n" +
                (escalation.empty()
                     ? "    default:\n"
                       "      - {after_s: 0, notify: [duty_chat, mgr_ding, city_hook, hall_speaker]}\n"
                       "      - {after_s: 60, notify: [duty_sms, duty_call]}\n"
                     : escalation),
            dir.file("site.yaml"));
        open();
        // 李护士 is on duty on Wednesdays 08:00–18:00.
        store->write([](sqlite3* db) {
            exec(
                db,
                "INSERT INTO staff(id, username, display_name, role, password_hash, created_at, phone) VALUES"
                "(7, 'li', '李护士', 'staff', 'x', 0, '13800000001');"
                "INSERT INTO duty_shifts(staff_id, weekday, start_min, end_min) VALUES (7, 3, 480, 1080);");
        });
    }
    void write(const std::string& name, const std::string& text) { std::ofstream(dir.file(name)) << text; }
    // A (re)start of the box on the same database.
    void open() {
        notifier.reset();
        alarms.reset();
        store = std::make_unique<Store>(dir.file("a.db"));
        alarms = std::make_unique<AlarmService>(*store, clock, outbox, AlarmPolicy{600, 3600});
        notifier =
            std::make_unique<Notifier>(cfg, *store, clock, *alarms, [this](int64_t, const std::string& t) {
                std::lock_guard<std::mutex> lock(said_mu);
                said.push_back(t);
            });
        alarms->set_follow_up(notifier.get());
        notifier->start();
    }
    Alarm press() {
        auto a = alarms->raise("call", "bath_call", "bath", "device:bath_call");
        notifier->wake();
        return a;
    }
    void advance_s(int s) {
        clock.advance_ms(int64_t(s) * 1000);
        notifier->wake();
    }
    std::vector<AlarmStep> notified(int64_t id) {
        std::vector<AlarmStep> out;
        auto a = alarms->get(id);
        for (auto& s : a->steps)
            if (s.step == "notified") out.push_back(s);
        return out;
    }
    size_t speaker_count() {
        std::lock_guard<std::mutex> lock(said_mu);
        return said.size();
    }
    int64_t rows(const std::string& where) {
        return store->read([&](sqlite3* db) {
            Stmt s(db, "SELECT COUNT(*) FROM notifications WHERE " + where);
            s.step();
            return s.i64(0);
        });
    }
};
}  // namespace

TEST(Notifier, APressReachesChatWebhookLoudspeakerThenSmsAndVoiceAfterTheDelay) {
    Rig r;
    auto a = r.press();
    ASSERT_TRUE(r.receiver.wait_for(3, std::chrono::seconds(10)));
    auto got = r.receiver.received();
    for (auto& g : got) EXPECT_TRUE(g.ok) << g.route << ": " << g.why;
    std::map<std::string, Received> by_route;
    for (auto& g : got) by_route[g.route] = g;
    ASSERT_EQ(by_route.count("wecom"), 1u);
    std::string text = by_route["wecom"].json["text"]["content"];
    // Kind, device and zone by their names, local time, the alarm's number, the link.
    for (const char* want : {"颐康照料中心", "紧急呼叫", "助浴间呼叫器", "助浴间", "14:03:21", "#"})
        EXPECT_NE(text.find(want), std::string::npos) << want << " missing in: " << text;
    EXPECT_NE(text.find("https://caregate.local:8443/#alarm-" + std::to_string(a.id)), std::string::npos);
    EXPECT_EQ(by_route["wecom"].json["text"]["mentioned_mobile_list"], nlohmann::json::array({"13800000001"}))
        << "the chat robot @-mentions the staff on duty";
    EXPECT_EQ(by_route["webhook"].json["alarm"]["kind"], "call");
    EXPECT_EQ(by_route["webhook"].json["alarm"]["source_name"], "助浴间呼叫器");
    ASSERT_TRUE(eventually([&] { return r.speaker_count() >= 1; }));
    std::lock_guard<std::mutex> lock(r.said_mu);
    EXPECT_EQ(r.said[0], "紧急呼叫，助浴间呼叫器（助浴间），请工作人员立即前往");

    // Nobody answers: nothing by phone before 60 s, then SMS to the duty phone and the manager's,
    // and a call that rings.
    EXPECT_TRUE(r.modem.sms().empty());
    r.modem.set_call_outcome(CallOutcome::ring_no_answer);
    r.advance_s(60);
    ASSERT_TRUE(r.modem.wait_for_sms(2, std::chrono::seconds(15)));
    ASSERT_TRUE(r.modem.wait_for_calls(1, std::chrono::seconds(20)));
    auto sms = r.modem.sms();
    std::set<std::string> to;
    for (auto& m : sms) {
        to.insert(m.to);
        EXPECT_NE(m.text.find("助浴间呼叫器"), std::string::npos) << m.text;
        EXPECT_NE(m.text.find("回复 1"), std::string::npos) << m.text;
    }
    EXPECT_EQ(to, (std::set<std::string>{"13800000001", "13900000002"}));
    EXPECT_EQ(r.modem.calls()[0].number, "13900000002");

    // Every attempt is in the rescue record, with its channel, recipient and result.
    ASSERT_TRUE(eventually([&] { return r.notified(a.id).size() >= 7; }, std::chrono::seconds(15)));
    std::set<std::string> targets;
    for (auto& s : r.notified(a.id)) targets.insert(s.target);
    for (const char* t : {"值班群", "院长钉钉", "市平台推送", "大厅广播", "值班短信 → 13800000001",
                          "值班短信 → 13900000002", "值班电话 → 13900000002"})
        EXPECT_TRUE(targets.count(t)) << t;
    bool rang = false;
    for (auto& s : r.notified(a.id)) rang = rang || s.note.find("已振铃") != std::string::npos;
    EXPECT_TRUE(rang) << "a ring is an alert even unanswered, and the record says so";
    for (auto& s : r.notified(a.id))
        EXPECT_EQ(caregate::testing::latin_words(s.target + " " + s.note), "") << s.target << " " << s.note;
}

TEST(Notifier, AcknowledgingStopsTheChainAndTheLoudspeaker) {
    Rig r;
    auto a = r.press();
    ASSERT_TRUE(r.receiver.wait_for(3, std::chrono::seconds(10)));
    ASSERT_TRUE(eventually([&] { return r.speaker_count() >= 1; }));
    r.advance_s(20);  // the loudspeaker repeats while nobody answers
    ASSERT_TRUE(eventually([&] { return r.speaker_count() >= 2; }));
    r.alarms->acknowledge(a.id, "staff:li");
    r.advance_s(120);
    // Wait until the lanes have looked at the new time: the rows are settled, none pending.
    ASSERT_TRUE(eventually([&] { return r.rows("state IN ('pending','sending')") == 0; }));
    EXPECT_EQ(r.rows("state='cancelled' AND channel IN ('duty_sms','duty_call')"), 3)
        << "two phones to text, one to ring: none of them";
    // The loudspeaker's row is closed too, so no repeat can come.
    EXPECT_EQ(r.rows("channel='hall_speaker' AND state IN ('cancelled','sent')"), 1);
    EXPECT_TRUE(r.modem.sms().empty());
    EXPECT_TRUE(r.modem.calls().empty());
}

TEST(Notifier, UnpluggedModemAndARestartMidChainLoseNothingAndSendNothingTwice) {
    Rig r;
    auto a = r.press();
    ASSERT_TRUE(r.receiver.wait_for(3, std::chrono::seconds(10)));
    r.modem.unplug();
    r.advance_s(60);
    // The SMS attempts fail and are recorded, to be retried.
    ASSERT_TRUE(eventually([&] {
        for (auto& s : r.notified(a.id))
            if (s.target.rfind("值班短信", 0) == 0 && s.note.find("重试") != std::string::npos) return true;
        return false;
    }));
    for (auto& s : r.notified(a.id))  // the failures too are told in Chinese
        EXPECT_EQ(caregate::testing::latin_words(s.target + " " + s.note), "") << s.target << " " << s.note;
    r.open();  // the box restarts mid-chain
    r.modem.replug();
    r.advance_s(60);
    ASSERT_TRUE(r.modem.wait_for_sms(2, std::chrono::seconds(15)));
    ASSERT_TRUE(r.modem.wait_for_calls(1, std::chrono::seconds(20)));
    ASSERT_TRUE(eventually([&] { return r.rows("state IN ('pending','sending')") == 1; }))
        << "only the loudspeaker's repeat is left";
    r.advance_s(300);
    r.alarms->acknowledge(a.id, "staff:li");
    ASSERT_TRUE(eventually([&] { return r.rows("state IN ('pending','sending')") == 0; }));
    EXPECT_EQ(r.receiver.received().size(), 3u) << "the chat, robot and webhook were not sent again";
    EXPECT_EQ(r.modem.sms().size(), 2u) << "one SMS per phone";
    EXPECT_EQ(r.modem.calls().size(), 1u);
}

TEST(Notifier, AnSmsReplyOfOneAcknowledges) {
    Rig r("    default:\n      - {after_s: 0, notify: [duty_sms]}\n");
    auto a = r.press();
    ASSERT_TRUE(r.modem.wait_for_sms(2, std::chrono::seconds(10)));
    r.modem.inject_incoming_sms("+8613900000002", "1");
    r.advance_s(6);  // replies are read every 5 s
    ASSERT_TRUE(eventually([&] { return r.alarms->get(a.id)->state == "acknowledged"; }));
    auto steps = r.alarms->get(a.id)->steps;
    bool by_sms = false;
    for (auto& s : steps) by_sms = by_sms || (s.step == "acknowledged" && s.actor == "sms:+8613900000002");
    EXPECT_TRUE(by_sms);
    EXPECT_EQ(r.modem.stored_sms(), 0u) << "the reply was read and deleted";
}

TEST(Notifier, AChannelFailingForTheSupervisionTimeIsAnAlarmAndRecovers) {
    Rig r("    default:\n      - {after_s: 0, notify: [duty_chat]}\n    channel_offline: []\n");
    r.receiver.fail_next(1000, 200, R"({"errcode":45009,"errmsg":"api freq out of limit"})");
    auto a = r.press();
    ASSERT_TRUE(eventually([&] { return r.notified(a.id).size() >= 1; }));
    EXPECT_NE(r.notified(a.id)[0].note.find("45009"), std::string::npos) << r.notified(a.id)[0].note;
    for (int i = 0; i < 8 && !r.alarms->find_open("channel_offline", "channel:duty_chat"); ++i) {
        size_t before = r.notified(a.id).size();
        r.advance_s(60);
        ASSERT_TRUE(eventually([&] { return r.notified(a.id).size() > before; }));
    }
    auto off = r.alarms->find_open("channel_offline", "channel:duty_chat");
    ASSERT_TRUE(off) << "a chat robot failing for 60 s is an alarm";
    EXPECT_NE(off->detail["reason"].get<std::string>().find("45009"), std::string::npos);
    r.receiver.fail_next(0, 200, "");
    r.advance_s(60);
    ASSERT_TRUE(eventually([&] { return !r.alarms->find_open("channel_offline", "channel:duty_chat"); }))
        << "the next delivery that works closes it";
}

// A chat robot that answers with more than the reply cap: the attempt fails as "reply too long" and
// is not retried (the body is not read as the vendor's answer, which would have retried forever).
TEST(Notifier, AReplyOverTheSizeCapIsAFailureThatSaysSo) {
    Rig r("    default:\n      - {after_s: 0, notify: [duty_chat]}\n");
    r.receiver.fail_next(1, 200, std::string(200 * 1024, 'x'));
    auto a = r.press();
    ASSERT_TRUE(eventually([&] { return r.rows("channel='duty_chat' AND state='failed'") == 1; }))
        << r.rows("channel='duty_chat'");
    auto steps = r.notified(a.id);
    ASSERT_EQ(steps.size(), 1u);
    EXPECT_EQ(steps[0].note, "失败：接收方的回复过长，已停止读取");
}

TEST(Notifier, NobodyOnDutyIsWrittenInTheRescueRecord) {
    Rig r("    default:\n      - {after_s: 0, notify: [duty_sms]}\n");
    r.store->write([](sqlite3* db) { exec(db, "DELETE FROM duty_shifts"); });
    auto a = r.press();
    bool noted = false;
    auto recorded = r.alarms->get(a.id);
    for (auto& s : recorded->steps) noted = noted || s.note.find("无人值班") != std::string::npos;
    EXPECT_TRUE(noted);
    ASSERT_TRUE(r.modem.wait_for_sms(1, std::chrono::seconds(10)));
    EXPECT_EQ(r.modem.sms()[0].to, "13900000002") << "the fixed number is still told";
}

TEST(NotifyConfig, RefusesPlainHttpAwayFromLoopbackAndUnknownChannels) {
    auto expect_error = [](const std::string& notify, const std::string& msg) {
        try {
            config::parse_config("site: {id: t, name: x}\nnotify:\n" + notify, "n.yaml");
            FAIL() << notify;
        } catch (const config::ConfigError& e) {
            EXPECT_NE(std::string(e.what()).find(msg), std::string::npos) << e.what();
        }
    };
    expect_error("  channels: [{id: c, type: wecom, url: 'http://qyapi.weixin.qq.com/x'}]\n", "https://");
    expect_error("  channels: [{id: c, type: dingtalk, url: 'https://oapi.dingtalk.com/robot/send'}]\n",
                 "secret_file");
    expect_error("  channels: [{id: c, type: sms, modem: /dev/ttyUSB2, to: [abc]}]\n", "not a phone number");
    expect_error("  channels: [{id: c, type: pager}]\n", "must be one of");
    expect_error("  escalation: {default: [{after_s: 0, notify: [nope]}]}\n", "'nope' is not defined");
    expect_error("  escalation: {meteor: []}\n", "not an alarm kind");
    expect_error("  channels: [{id: c, type: webhook, url: 'https://x', secret: abc}]\n",
                 "never written inline");
    // Found by fuzz/site_config: these used to escape as other exceptions or overflow the stack.
    expect_error("  escalation: {[k]: []}\n", "a key must be a plain name");
    expect_error(
        "  channels: [{id: c, type: wecom, url: 'http://localhost/" + std::string(30000, 'a') + "'}]\n",
        "longer than 2048");
    try {
        config::parse_config("site: {id: t, name: x}\n[k]: 1\n", "n.yaml");
        FAIL();
    } catch (const config::ConfigError& e) {
        EXPECT_EQ(e.line(), 2);
    }
    EXPECT_THROW(config::parse_config("site: {id: t, name: x}\ngate: {fever_c: .nan}\n", "n.yaml"),
                 config::ConfigError)
        << "NaN passes < and >, not the range check";
    auto ok = config::parse_config(
        "site: {id: t, name: x}\nnotify:\n  channels: [{id: c, type: wecom, url: 'http://127.0.0.1:9/x'}]\n"
        "  escalation: {default: [{after_s: 0, notify: [c]}], smoke: [{after_s: 0, notify: [c]}]}\n",
        "n.yaml");
    ASSERT_NE(ok.notify.chain_for("fall"), nullptr);
    EXPECT_EQ(ok.notify.chain_for("smoke"), &ok.notify.escalation[1].second);
}
