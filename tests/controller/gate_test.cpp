// The door decision: identity + temperature + capacity, with reasons, alarms and re-measure.
#include "controller/door/gate.hpp"

#include <gtest/gtest.h>

#include "config/config.hpp"
#include "controller/door/door_speaker.hpp"
#include "tests/support/test_support.hpp"

using namespace caregate;
using caregate::testing::run;
using caregate::testing::TempDir;

namespace {

const int64_t kT0 = 1'790'000'000'000;  // 2026-09-21 22:13 Beijing time

struct Fixture {
    explicit Fixture(const std::string& gate_yaml = "", int capacity = 40)
        : cfg(config::parse_config(
              "site: {id: t1, name: x}\n"
              "zones: [{id: hall, name: 活动大厅, capacity: " +
                  std::to_string(capacity) +
                  "}]\n"
                  "buses: [{id: b, type: tcp, host: 127.0.0.1, devices: [{id: thermo, kind: ir_thermometer, "
                  "unit_id: 3, "
                  "points: [{table: input_registers, address: 15, scale: 0.1, meaning: temperature}]}]}]\n" +
                  gate_yaml,
              "x.yaml")) {}
    config::SiteConfig cfg;
    TempDir dir;
    ManualClock clock{kT0};
    Outbox outbox{"t1", "r1"};
    Store store{dir.file("g.db")};
    Occupancy occ{store, clock, cfg};
    CheckinService checkins{store, clock, outbox, occ, 30, "hall"};
    AlarmService alarms{store, clock, outbox, AlarmPolicy{60, 900}};
    Roster roster{store, clock};
    Gate gate{cfg, store, clock, roster, checkins, occ, alarms};

    int64_t elder(const std::string& name, const std::string& gender = "女",
                  const std::string& birth = "1950-03-01") {
        Elder e;
        e.name = name;
        e.gender = gender;
        e.birth_date = birth;
        return roster.save(e, "t").id;
    }
    FaceSeen face(std::optional<int64_t> id) {
        FaceSeen f;
        f.camera_id = "door";
        f.zone = "hall";
        f.role = "entrance";
        f.elder_id = id;
        f.distance = 0.3;
        f.ts_ms = clock.now_ms();
        return f;
    }
    TemperatureReading temp(double c) { return {"thermo", c, clock.now_ms(), std::nullopt}; }
    int checkin_count() { return static_cast<int>(checkins.list(0, kT0 * 2).size()); }
};

TEST(Gate, NormalTemperatureLetsTheElderInAndStoresIt) {
    Fixture f;
    auto id = f.elder("张桂英");
    f.gate.temperature(f.temp(36.6));
    auto d = f.gate.face(f.face(id));
    ASSERT_TRUE(d);
    EXPECT_EQ(d->decision, "allow");
    EXPECT_EQ(d->message, "张奶奶，晚上好！体温 36.6℃，请进");
    auto rows = f.checkins.list(0, kT0 * 2);
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_DOUBLE_EQ(*rows[0].temperature, 36.6);
    EXPECT_EQ(rows[0].method, "face");
}

TEST(Gate, FaceFirstThenTemperatureIsPaired) {
    Fixture f;
    auto id = f.elder("李福生", "男", "1960-01-01");
    auto d = f.gate.face(f.face(id));
    EXPECT_EQ(d->decision, "wait");
    EXPECT_EQ(d->reason, "measure");
    f.clock.advance_ms(4000);
    auto d2 = f.gate.temperature(f.temp(36.4));
    ASSERT_TRUE(d2);
    EXPECT_EQ(d2->decision, "allow");
    EXPECT_EQ(d2->message.substr(0, std::string("李叔叔").size()), "李叔叔");
    EXPECT_EQ(f.checkin_count(), 1);
}

TEST(Gate, FeverIsRemeasuredOnceThenRefusedWithAnAlarm) {
    Fixture f;
    auto id = f.elder("张桂英");
    f.gate.temperature(f.temp(38.0));
    auto d = f.gate.face(f.face(id));
    EXPECT_EQ(d->decision, "remeasure");
    f.clock.advance_ms(5000);
    auto d2 = f.gate.temperature(f.temp(38.0));
    ASSERT_TRUE(d2);
    EXPECT_EQ(d2->decision, "refuse");
    EXPECT_EQ(d2->reason, "fever");
    EXPECT_EQ(f.checkin_count(), 0);
    auto open = f.alarms.list(true);
    ASSERT_EQ(open.size(), 1u);
    EXPECT_EQ(open[0].kind, "fever");
    EXPECT_EQ(*open[0].elder_id, id);
    EXPECT_DOUBLE_EQ(open[0].detail["temperature"].get<double>(), 38.0);
    auto stored = f.store.read([](sqlite3* db) {
        Stmt s(db, "SELECT temperature FROM door_events WHERE decision='refuse'");
        EXPECT_TRUE(s.step());
        return s.f64(0);
    });
    EXPECT_DOUBLE_EQ(stored, 38.0);
}

TEST(Gate, ARemeasureThatIsNormalLetsTheElderIn) {
    Fixture f;
    auto id = f.elder("张桂英");
    f.gate.temperature(f.temp(37.5));
    EXPECT_EQ(f.gate.face(f.face(id))->decision, "remeasure");
    f.clock.advance_ms(3000);
    auto d = f.gate.temperature(f.temp(36.8));
    EXPECT_EQ(d->decision, "allow");
    EXPECT_TRUE(f.alarms.list(true).empty());
}

TEST(Gate, ImplausibleReadingAsksToMeasureAgain) {
    Fixture f;
    auto id = f.elder("张桂英");
    f.gate.face(f.face(id));
    auto d = f.gate.temperature(f.temp(25.0));
    EXPECT_EQ(d->decision, "remeasure");
    EXPECT_EQ(d->reason, "implausible");
    EXPECT_EQ(f.gate.temperature(f.temp(36.5))->decision, "allow");
}

TEST(Gate, FullHallMakesTheElderWait) {
    Fixture f("", 1);
    auto a = f.elder("张桂英"), b = f.elder("王秀兰");
    f.gate.temperature(f.temp(36.5));
    EXPECT_EQ(f.gate.face(f.face(a))->decision, "allow");
    f.clock.advance_ms(1000);
    f.gate.temperature(f.temp(36.5));
    auto d = f.gate.face(f.face(b));
    EXPECT_EQ(d->decision, "wait");
    EXPECT_EQ(d->reason, "full");
    EXPECT_NE(d->message.find("请稍候"), std::string::npos);
    EXPECT_TRUE(f.alarms.find_open("over_capacity", "hall"));
}

TEST(Gate, ThermometerOfflineFlagsOrAsksStaff) {
    {
        Fixture f;
        auto id = f.elder("张桂英");
        f.gate.device_health({"thermo", "ir_thermometer", "hall", false, "no answer", std::nullopt, kT0});
        auto d = f.gate.face(f.face(id));
        EXPECT_EQ(d->decision, "allow");
        EXPECT_TRUE(d->unmeasured);
        EXPECT_NE(d->message.find("还未测温"), std::string::npos);
    }
    {
        Fixture f("gate: {thermometer_offline_policy: staff}\n");
        auto id = f.elder("张桂英");
        f.gate.device_health({"thermo", "ir_thermometer", "hall", false, "no answer", std::nullopt, kT0});
        auto d = f.gate.face(f.face(id));
        EXPECT_EQ(d->decision, "wait");
        EXPECT_EQ(d->reason, "thermometer_offline");
        EXPECT_EQ(f.checkin_count(), 0);
        auto o = f.gate.staff_override(id, "allow", "额温枪复测 36.5", 36.5, "王护士");
        EXPECT_EQ(o.decision, "allow");
        EXPECT_EQ(f.checkin_count(), 1);
        EXPECT_THROW(f.gate.staff_override(id, "allow", "", std::nullopt, "王护士"), std::invalid_argument);
    }
}

TEST(Gate, AnElderWaitingAtAThermometerThatGoesOfflineIsDecidedByThePolicy) {
    Fixture f;
    auto id = f.elder("张桂英");
    auto wait = f.gate.face(f.face(id));
    ASSERT_EQ(wait->reason, "measure");
    auto d =
        f.gate.device_health({"thermo", "ir_thermometer", "hall", false, "no answer", std::nullopt, kT0});
    ASSERT_TRUE(d);
    EXPECT_EQ(d->decision, "allow");
    EXPECT_TRUE(d->unmeasured);
    EXPECT_EQ(f.checkin_count(), 1);
    // Another device's health, or the thermometer coming back, decides nothing.
    EXPECT_FALSE(f.gate.device_health({"other", "call_button", "hall", false, "x", std::nullopt, kT0}));
    EXPECT_FALSE(f.gate.device_health({"thermo", "ir_thermometer", "hall", true, "", std::nullopt, kT0}));
}

TEST(Gate, AThermalReadingOfOneElderIsNeverAnotherElders) {
    Fixture f;
    auto a = f.elder("张桂英"), b = f.elder("李福生", "男");
    // B's feverish forehead, measured by the thermal camera, then A is recognised: not A's reading.
    f.gate.temperature({"thermo", 38.5, f.clock.now_ms(), b});
    auto d = f.gate.face(f.face(a));
    EXPECT_EQ(d->reason, "measure");
    // Still waiting: B's next reading does not decide for A either; A's own does.
    EXPECT_FALSE(f.gate.temperature({"thermo", 38.6, f.clock.now_ms(), b}));
    auto own = f.gate.temperature({"thermo", 36.4, f.clock.now_ms(), a});
    ASSERT_TRUE(own);
    EXPECT_EQ(own->decision, "allow");
    EXPECT_EQ(own->elder_id, a);
}

TEST(Gate, UnknownFacesAreVisitorsAndLeaveNoCheckIn) {
    Fixture f;
    auto d = f.gate.face(f.face(std::nullopt));
    EXPECT_EQ(d->decision, "visitor");
    EXPECT_EQ(f.checkin_count(), 0);
    auto cctv = f.face(f.elder("x"));
    cctv.role = "cctv";
    EXPECT_FALSE(f.gate.face(cctv)) << "only entrance cameras decide at the door";
}

TEST(Gate, EpidemicModeNeedsTodaysCommitment) {
    Fixture f("gate: {epidemic_mode: true}\n");
    auto id = f.elder("张桂英");
    f.gate.temperature(f.temp(36.5));
    auto d = f.gate.face(f.face(id));
    EXPECT_EQ(d->reason, "commitment");
    f.gate.confirm_commitment(id, "王护士");
    f.gate.temperature(f.temp(36.5));
    EXPECT_EQ(f.gate.face(f.face(id))->decision, "allow");
}

TEST(Gate, LivenessFailureWaitsUnlessTheElderIsExempt) {
    Fixture f;
    auto id = f.elder("张桂英");
    auto seen = f.face(id);
    seen.live = false;
    EXPECT_EQ(f.gate.face(seen)->reason, "liveness");
    auto e = *f.roster.get(id);
    e.liveness_exempt = true;
    f.roster.save(e, "t");
    f.gate.temperature(f.temp(36.5));
    EXPECT_EQ(f.gate.face(seen)->decision, "allow");
}

TEST(Door, HonorificsAndQuietHours) {
    Elder e;
    e.name = "王秀兰";
    e.gender = "女";
    e.birth_date = "1940-05-01";
    EXPECT_EQ(honorific(e, kT0), "王奶奶");
    e.birth_date = "1962-05-01";
    EXPECT_EQ(honorific(e, kT0), "王阿姨");
    e.gender = "";
    EXPECT_EQ(honorific(e, kT0), "王秀兰");
    int64_t off = 8 * 3600 * 1000;
    EXPECT_TRUE(quiet_hours(kT0, off, 21, 7));  // 22:13 local
    EXPECT_FALSE(quiet_hours(kT0, off, 23, 7));
    EXPECT_FALSE(quiet_hours(kT0, off, 8, 22));
    EXPECT_TRUE(quiet_hours(kT0, off, 22, 23));
    EXPECT_EQ(greeting_time(kT0, "Asia/Shanghai"), "晚上好");
}

TEST(DoorVoice, NumbersAndUnitsAreSpokenAsChinese) {
    EXPECT_EQ(spoken_chinese("体温 36.6℃，请进"), "体温 三十六点六度，请进");
    EXPECT_EQ(spoken_chinese("活动大厅人已满（40/40）"), "活动大厅人已满（四十比四十）");
    EXPECT_EQ(spoken_chinese("10 12 105 1000 1010 20000 30500"),
              "十 十二 一百零五 一千 一千零一十 二万 三万零五百");
    EXPECT_EQ(spoken_chinese("0 7 37.25"), "零 七 三十七点二五");
    EXPECT_EQ(spoken_chinese("13800000001"), "一三八零零零零零零零一") << "a phone number, digit by digit";
}

// Every kind of door sentence, through the voice the box uses: espeak-ng's phonemes must not switch
// to English for any of it (Debian's plain cmn voice reads 奶奶 as "nai three nai one").
TEST(DoorVoice, EveryDoorSentenceIsSpokenInMandarinNotEnglish) {
    ASSERT_TRUE(DoorSpeaker::available()) << "espeak-ng missing: run scripts/setup";
    const std::string who = "王奶奶，";
    std::vector<std::string> sentences = {
        who + "上午好，体温 36.6℃，请进",
        who + "体温 37.8℃ 偏高，请再测一次",
        who + "体温 38.3℃，请在门口稍候，工作人员马上过来",
        who + "请先到前台签署今日健康承诺书",
        who + "活动大厅人已满（40/40），请稍候",
        "您好，欢迎光临！请到前台登记",
        "王爷爷，请看着屏幕眨一眨眼",
        "李叔叔，请工作人员协助测温",
        "张阿姨，没有测到体温，请再测一次",
        "王秀兰，测温仪暂不可用，请工作人员协助测温",
        "王奶奶，请跟随工作人员",
        "紧急呼叫，3号卫生间呼叫器（3号卫生间），请工作人员立即前往",  // the loudspeaker's alarm
    };
    for (auto& s : sentences) {
        std::string ipa;
        std::string spoken = spoken_chinese(s);
        ASSERT_EQ(run("espeak-ng -v cmn-latn-pinyin -q --ipa -- '" + spoken + "'", &ipa), 0) << ipa;
        EXPECT_EQ(ipa.find("(en)"), std::string::npos) << s << " → " << ipa;
        EXPECT_EQ(spoken.find_first_of("0123456789"), std::string::npos) << spoken;
        EXPECT_FALSE(ipa.empty());
    }
    // And the check can fail: the plain voice does switch to English.
    std::string plain;
    run("espeak-ng -v cmn -q --ipa -- '王奶奶'", &plain);
    EXPECT_NE(plain.find("(en)"), std::string::npos) << plain;
}

// Spoken greetings name people and temperatures: an old file is deleted when the next is written.
TEST(DoorVoice, OldSpeechFilesAreDeleted) {
    ASSERT_TRUE(DoorSpeaker::available()) << "espeak-ng missing: run scripts/setup";
    TempDir dir;
    DoorSpeaker speaker(dir.file("door"), "cmn-latn-pinyin", 0);  // keep nothing older than the newest
    auto wait_for = [&](int64_t seq) {
        auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (!speaker.wav(seq) && std::chrono::steady_clock::now() < end)
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        return speaker.wav(seq).has_value();
    };
    speaker.say(1, "王奶奶，上午好，体温 36.6℃，请进");
    ASSERT_TRUE(wait_for(1));
    speaker.say(2, "李爷爷，上午好，体温 36.5℃，请进");
    ASSERT_TRUE(wait_for(2));
    EXPECT_FALSE(speaker.wav(1)) << "the earlier greeting's file is gone";
}

}  // namespace

TEST(Gate, AStaffOverrideNeverLetsAFeverIn) {
    Fixture f;
    auto id = f.elder("王秀英");
    try {
        f.gate.staff_override(id, "allow", "人工测温", 38.3, "王护士");
        FAIL() << "a fever measured by hand was let in";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("体温 38.3℃ 发热"), std::string::npos) << e.what();
    }
    EXPECT_EQ(f.gate.staff_override(id, "allow", "人工测温 36.5", 36.5, "王护士").decision, "allow");
    EXPECT_EQ(f.gate.staff_override(id, "refuse", "请跟随工作人员", std::nullopt, "王护士").decision,
              "refuse");
    EXPECT_THROW(f.gate.staff_override(id, "allow", "", 36.5, "王护士"), std::invalid_argument);
}
