// Alarm lifecycle, escalation on an injected clock, restart with open alarms, append-only record.
#include "controller/alarms/alarms.hpp"

#include <gtest/gtest.h>

#include "config/config.hpp"
#include "controller/core/bus.hpp"
#include "controller/core/metrics.hpp"
#include "controller/people/checkins.hpp"
#include "controller/rules.hpp"
#include "tests/support/test_support.hpp"

using namespace caregate;
using caregate::testing::TempDir;

namespace {

const int64_t kT0 = 1'790'000'000'000;

struct Fixture {
    TempDir dir;
    ManualClock clock{kT0};
    Outbox outbox{"t1", "r1"};
    std::unique_ptr<Store> store = std::make_unique<Store>(dir.file("a.db"));
    std::unique_ptr<AlarmService> alarms = make();
    std::vector<std::string> announced;
    std::vector<int> escalations;

    std::unique_ptr<AlarmService> make() {
        auto a = std::make_unique<AlarmService>(*store, clock, outbox, AlarmPolicy{60, 900});
        a->on_announce(
            [this](const Alarm& al, const AlarmStep& s) { announced.push_back(al.kind + ":" + s.step); });
        a->on_escalate([this](const Alarm&, int level) { escalations.push_back(level); });
        return a;
    }
    int64_t outbox_count(const std::string& kind) {
        return store->read([&](sqlite3* db) {
            Stmt s(db, "SELECT COUNT(*) FROM outbox WHERE kind=?");
            s.bind(1, kind).step();
            return s.i64(0);
        });
    }
};

// The rules engine on a fixture's store and clock, for a site config.
struct RulesRig {
    RulesRig(Fixture& f, const config::SiteConfig& cfg)
        : occ(*f.store, f.clock, cfg),
          checkins(*f.store, f.clock, f.outbox, occ, 30, "hall"),
          rules(cfg, bus, *f.store, f.clock, *f.alarms, checkins, metrics) {}
    Bus bus;
    Metrics metrics;
    Occupancy occ;
    CheckinService checkins;
    RulesEngine rules;
};

TEST(Alarms, PressAckDispatchResolveLeavesTheFullRecord) {
    Fixture f;
    auto a = f.alarms->raise("call", "bath_call_1", "bath", "device:bath_call_1");
    EXPECT_EQ(a.state, "raised");
    EXPECT_EQ(*a.next_deadline, kT0 + 60'000);
    f.clock.advance_ms(12'000);
    f.alarms->acknowledge(a.id, "王护士");
    f.clock.advance_ms(30'000);
    f.alarms->dispatch(a.id, "120", "王护士", "疑似骨折");
    f.alarms->dispatch(a.id, "family", "王护士");
    f.clock.advance_ms(600'000);
    auto done = f.alarms->resolve(a.id, "送医", "李主任");
    EXPECT_EQ(done.state, "resolved");
    auto full = *f.alarms->get(a.id);
    std::vector<std::string> steps;
    for (auto& s : full.steps) steps.push_back(s.step + "/" + s.actor + "/" + s.target);
    EXPECT_EQ(steps, (std::vector<std::string>{"raised/device:bath_call_1/", "acknowledged/王护士/",
                                               "dispatched/王护士/120", "dispatched/王护士/family",
                                               "resolved/李主任/"}));
    EXPECT_EQ(*full.acked_at, kT0 + 12'000);
    EXPECT_EQ(*full.dispatched_at, kT0 + 42'000);
    EXPECT_EQ(*full.closed_at, kT0 + 642'000);
    EXPECT_FALSE(full.next_deadline);
    EXPECT_EQ(full.detail["outcome"], "送医");
    EXPECT_EQ(f.announced.size(), 5u);
    EXPECT_EQ(f.outbox_count("alarm"), 1);
    EXPECT_EQ(f.outbox_count("alarm_step"), 5);
}

TEST(Alarms, RepeatedPressesJoinTheOpenAlarm) {
    Fixture f;
    auto a = f.alarms->raise("call", "b1", "bath", "device:b1");
    auto b = f.alarms->raise("call", "b1", "bath", "device:b1");
    auto c = f.alarms->raise("call", "b2", "bath", "device:b2");
    EXPECT_EQ(a.id, b.id);
    EXPECT_NE(a.id, c.id);
    EXPECT_EQ(b.presses, 2);
    EXPECT_EQ(f.alarms->list(true).size(), 2u);
    f.alarms->resolve(a.id, "误触", "staff");
    auto d = f.alarms->raise("call", "b1", "bath", "device:b1");
    EXPECT_NE(d.id, a.id) << "a press after resolution is a new alarm";
}

TEST(Alarms, ACallAfterTheAlarmWasAcknowledgedIsANewAlarmLinkedToTheEarlierOne) {
    Fixture f;
    auto fall = f.alarms->raise("fall", "radar", "bath", "device:radar");
    f.alarms->acknowledge(fall.id, "王护士");
    f.announced.clear();
    auto again = f.alarms->raise("fall", "radar", "bath", "device:radar");
    EXPECT_NE(again.id, fall.id) << "a second fall after the answer is not folded into the first";
    EXPECT_EQ(again.state, "raised");
    EXPECT_EQ(again.detail["follows"], fall.id);
    EXPECT_EQ(f.announced, (std::vector<std::string>{"fall:raised"})) << "announced as new: banner, sound";
    auto record = *f.alarms->get(again.id);
    EXPECT_NE(record.steps[0].note.find("#" + std::to_string(fall.id)), std::string::npos);
    // Until someone answers the new one, more presses join it.
    EXPECT_EQ(f.alarms->raise("fall", "radar", "bath", "device:radar").id, again.id);
    EXPECT_EQ(f.alarms->list(true).size(), 2u) << "both stay open until resolved";
    EXPECT_EQ(f.outbox_count("alarm"), 2);

    // A device fault is not a person calling: it stays one alarm however often it repeats.
    auto off = f.alarms->raise("device_offline", "radar", "bath", "system");
    f.alarms->acknowledge(off.id, "王护士");
    EXPECT_EQ(f.alarms->raise("device_offline", "radar", "bath", "system").id, off.id);
}

TEST(Alarms, TheFamilyNoticeNamesTheKindInChinese) {
    Fixture f;
    f.store->exec(
        "INSERT INTO elders(uuid, name, family_notify, created_at, updated_at) VALUES('e1', '张桂英', 1, 0, "
        "0)");
    f.alarms->raise("fall", "radar", "bath", "device:radar", nlohmann::json::object(), 1);
    std::string text = f.store->read([](sqlite3* db) {
        Stmt s(db, "SELECT payload FROM outbox WHERE kind='family_notice'");
        return s.step() ? s.str(0) : std::string();
    });
    EXPECT_NE(text.find("张桂英 在照料中心触发了跌倒报警"), std::string::npos) << text;
    EXPECT_EQ(text.find("fall报警"), std::string::npos) << text;
}

TEST(Alarms, EscalatesWhenNobodyAnswersAndAgainWhenUnresolved) {
    Fixture f;
    auto a = f.alarms->raise("fall", "radar", "bath", "device:radar");
    f.clock.advance_ms(59'999);
    EXPECT_EQ(f.alarms->tick(), 0);
    f.clock.advance_ms(1);
    EXPECT_EQ(f.alarms->tick(), 1);
    EXPECT_EQ(f.alarms->get(a.id)->level, 1);
    EXPECT_EQ(f.alarms->tick(), 0) << "one escalation per deadline";
    f.alarms->acknowledge(a.id, "staff");
    f.clock.set_ms(kT0 + 900'000 - 1);
    EXPECT_EQ(f.alarms->tick(), 0);
    f.clock.set_ms(kT0 + 900'000);
    EXPECT_EQ(f.alarms->tick(), 1);
    auto after = *f.alarms->get(a.id);
    EXPECT_EQ(after.level, 2);
    EXPECT_FALSE(after.next_deadline);
    f.clock.advance_ms(10'000'000);
    EXPECT_EQ(f.alarms->tick(), 0);
    EXPECT_EQ(f.escalations, (std::vector<int>{1, 2}));
    EXPECT_NE(after.steps.back().note.find("900 秒内未处置完毕"), std::string::npos);
}

TEST(Alarms, AcknowledgedInTimeDoesNotEscalateUntilResolveTimeout) {
    Fixture f;
    auto a = f.alarms->raise("call", "b1", "bath", "device:b1");
    f.clock.advance_ms(30'000);
    f.alarms->acknowledge(a.id, "staff");
    f.clock.advance_ms(100'000);
    EXPECT_EQ(f.alarms->tick(), 0);
    EXPECT_EQ(f.alarms->get(a.id)->level, 0);
}

TEST(Alarms, RestartKeepsOpenAlarmsAndTheirTimers) {
    Fixture f;
    auto a = f.alarms->raise("call", "b1", "bath", "device:b1");
    f.alarms.reset();
    f.store.reset();  // the process "dies" with the alarm open
    f.clock.advance_ms(61'000);
    f.store = std::make_unique<Store>(f.dir.file("a.db"));
    f.alarms = f.make();
    EXPECT_EQ(f.alarms->tick(), 1) << "the ack deadline passed while we were down";
    auto after = *f.alarms->get(a.id);
    EXPECT_EQ(after.level, 1);
    EXPECT_EQ(after.state, "raised");
}

TEST(Alarms, DeviceResetCancelsAndStepsAreAppendOnly) {
    Fixture f;
    auto a = f.alarms->raise("call", "b1", "bath", "device:b1");
    auto c = f.alarms->cancel_from_device("b1");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->state, "cancelled");
    EXPECT_FALSE(f.alarms->cancel_from_device("b1")) << "nothing open any more";
    EXPECT_THROW(f.store->write([](sqlite3* db) { exec(db, "UPDATE alarm_steps SET actor='x'"); }),
                 StoreError);
    EXPECT_THROW(f.store->write([](sqlite3* db) { exec(db, "DELETE FROM alarm_steps"); }), StoreError);
    EXPECT_EQ(f.alarms->get(a.id)->steps.size(), 2u);
}

TEST(Alarms, RefusesImpossibleTransitionsWithAReason) {
    Fixture f;
    auto a = f.alarms->raise("call", "b1", "bath", "device:b1");
    EXPECT_THROW(f.alarms->dispatch(a.id, "911", "x"), AlarmError);
    EXPECT_THROW(f.alarms->resolve(a.id, "", "x"), AlarmError);
    EXPECT_THROW(f.alarms->acknowledge(999, "x"), AlarmError);
    f.alarms->resolve(a.id, "ok", "x");
    try {
        f.alarms->acknowledge(a.id, "x");
        FAIL();
    } catch (const AlarmError& e) {
        EXPECT_NE(std::string(e.what()).find("这条报警已处置"), std::string::npos);
    }
    EXPECT_THROW(f.alarms->raise("meteor", "b1", "", "x"), StoreError)
        << "unknown kinds are refused by the schema";
}

TEST(Rules, DeviceEventsBecomeAlarmsAndHealthRecords) {
    Fixture f;
    auto cfg = config::parse_config(
        "site: {id: t1, name: x}\nzones: [{id: bath, name: 浴室, private: true}]\n"
        "mqtt_devices: [{id: sos1, topic: zigbee2mqtt/sos1, kind: call_button, zone: bath, model: "
        "ts0215a_sos}]\n",
        "x.yaml");
    RulesRig rig(f, cfg);
    RulesEngine& rules = rig.rules;
    rules.handle(ButtonPressed{"sos1", "", "call", kT0});
    rules.handle(ButtonPressed{"sos1", "", "call", kT0});
    auto open = f.alarms->list(true);
    ASSERT_EQ(open.size(), 1u);
    EXPECT_EQ(open[0].zone, "bath") << "zone comes from the device's config";
    EXPECT_EQ(open[0].presses, 2);
    rules.handle(ButtonReset{"sos1", kT0});
    EXPECT_TRUE(f.alarms->list(true).empty());

    rules.handle(DeviceHealth{"sos1", "call_button", "", false, "no message for 90 s", std::nullopt, kT0});
    ASSERT_TRUE(f.alarms->find_open("device_offline", "sos1"));
    rules.handle(DeviceHealth{"sos1", "call_button", "", true, "", 12.0, kT0});
    EXPECT_FALSE(f.alarms->find_open("device_offline", "sos1")) << "recovery closes the offline alarm";
    auto low = f.store->read([](sqlite3* db) {
        Stmt s(db, "SELECT COUNT(*) FROM audit_log WHERE action='device.low_battery'");
        s.step();
        return s.i64(0);
    });
    EXPECT_EQ(low, 1);
    auto battery = f.store->read([](sqlite3* db) {
        Stmt s(db, "SELECT battery, online FROM devices WHERE id='sos1'");
        EXPECT_TRUE(s.step());
        return s.f64(0) + 1000 * s.i64(1);
    });
    EXPECT_DOUBLE_EQ(battery, 1012.0);
}

}  // namespace

// A bus whose link is down silences every call point on it: one alarm that names them all (by the
// names staff know), every device recorded offline, and the alarm closed when the link is back.
TEST(Rules, ABusDownIsOneAlarmNamingEveryDeviceOnIt) {
    Fixture f;
    auto cfg = config::parse_config(
        "site: {id: t1, name: x}\nzones: [{id: bath, name: 浴室, private: true}]\n"
        "buses: [{id: b1, type: tcp, host: 127.0.0.1, devices: ["
        "{id: c1, name: 一号卫生间呼叫器, kind: call_button, zone: bath, unit_id: 1, points: [{address: 0, "
        "meaning: call}]},"
        "{id: c2, name: 二号卫生间呼叫器, kind: call_button, zone: bath, unit_id: 2, points: [{address: 0, "
        "meaning: call}]}]}]\n",
        "x.yaml");
    RulesRig rig(f, cfg);
    RulesEngine& rules = rig.rules;
    rules.handle(BusHealth{"b1", false, "link down for 1000 ms: Connection refused", {"c1", "c2"}, kT0});
    rules.handle(BusHealth{"b1", false, "link down for 1000 ms: Connection refused", {"c1", "c2"}, kT0});
    auto open = f.alarms->list(true);
    ASSERT_EQ(open.size(), 1u);
    EXPECT_EQ(open[0].kind, "device_offline");
    EXPECT_EQ(open[0].source, "bus:b1");
    ASSERT_EQ(open[0].detail["devices"].size(), 2u);
    EXPECT_EQ(open[0].detail["devices"][1]["name"], "二号卫生间呼叫器");
    EXPECT_EQ(cfg.device_name("bus:b1"), "1 号设备总线（其上全部设备）");
    auto offline = f.store->read([](sqlite3* db) {
        Stmt s(db, "SELECT COUNT(*) FROM devices WHERE online=0 AND id IN ('c1','c2')");
        s.step();
        return s.i64(0);
    });
    EXPECT_EQ(offline, 2);
    rules.handle(BusHealth{"b1", true, "link restored", {"c1", "c2"}, kT0 + 5000});
    EXPECT_TRUE(f.alarms->list(true).empty()) << "the restored link closes the alarm";
    auto a = f.alarms->get(open[0].id);
    EXPECT_EQ(a->detail["outcome"], "总线连接已恢复");
}

// Someone in the bathroom for longer than the zone's limit without a break: long_occupancy, with the
// same lifecycle as any alarm; the room reported free closes it.
TEST(Rules, ABathroomOccupiedPastItsLimitIsAnAlarm) {
    Fixture f;
    auto cfg = config::parse_config(
        "site: {id: t1, name: x}\ngate: {quiet_from_hour: 21, quiet_to_hour: 7}\n"
        "zones: [{id: bath, name: 浴室, private: true, long_occupancy_min: 20, long_occupancy_night_min: "
        "30}]\n"
        "mqtt_devices: [{id: pir1, topic: z/pir1, kind: occupancy, zone: bath, model: zigbee_occupancy}]\n",
        "x.yaml");
    RulesRig rig(f, cfg);
    RulesEngine& rules = rig.rules;
    f.clock.set_ms(1796191401000);  // 14:03 in Beijing: the day limit
    rules.handle(PresenceReported{"pir1", "", true, f.clock.now_ms()});
    f.clock.advance_ms(19 * 60000);
    rules.handle(PresenceReported{"pir1", "", true, f.clock.now_ms()});  // still occupied: same stay
    rules.tick();
    EXPECT_FALSE(f.alarms->find_open("long_occupancy", "pir1")) << "19 min is within the limit";
    f.clock.advance_ms(2 * 60000);
    rules.tick();
    auto a = f.alarms->find_open("long_occupancy", "pir1");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->zone, "bath");
    EXPECT_EQ(a->detail["limit_min"], 20);
    rules.tick();
    EXPECT_EQ(f.alarms->list(true).size(), 1u) << "one alarm per stay";
    rules.handle(PresenceReported{"pir1", "", false, f.clock.now_ms()});
    EXPECT_FALSE(f.alarms->find_open("long_occupancy", "pir1")) << "the room is free again";

    // At night the limit is longer.
    f.clock.set_ms(1796191401000 + 9 * 3600000LL);  // 23:03 in Beijing
    rules.handle(PresenceReported{"pir1", "", true, f.clock.now_ms()});
    f.clock.advance_ms(25 * 60000);
    rules.tick();
    EXPECT_FALSE(f.alarms->find_open("long_occupancy", "pir1"));
    f.clock.advance_ms(6 * 60000);
    rules.tick();
    EXPECT_TRUE(f.alarms->find_open("long_occupancy", "pir1"));
}

// A "reset" (from the call point, or anyone able to publish on its topic) never closes an alarm that
// staff have answered: that takes staff, and the rescue record says the reset came.
TEST(Alarms, AResetNeverCancelsAnAnsweredAlarm) {
    Fixture f;
    auto a = f.alarms->raise("call", "b1", "bath", "device:b1");
    f.alarms->acknowledge(a.id, "staff:li");
    f.alarms->dispatch(a.id, "120", "staff:li");
    auto after = f.alarms->cancel_from_device("b1");
    ASSERT_TRUE(after);
    EXPECT_EQ(after->state, "dispatched");
    auto rec = f.alarms->get(a.id);
    EXPECT_EQ(rec->state, "dispatched");
    EXPECT_EQ(rec->steps.back().step, "note");
    EXPECT_NE(rec->steps.back().note.find("复位"), std::string::npos);
}
