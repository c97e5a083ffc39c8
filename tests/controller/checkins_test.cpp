// Check-ins: one per interval, occupancy follows and never goes negative, uplink rows written with them.
#include "controller/people/checkins.hpp"

#include <gtest/gtest.h>

#include "config/config.hpp"
#include "controller/people/roster.hpp"
#include "tests/support/test_support.hpp"

using namespace caregate;
using caregate::testing::TempDir;

namespace {

const int64_t kT0 = 1'790'000'000'000;  // 2026-09-21 (UTC)

struct Fixture {
    TempDir dir;
    ManualClock clock{kT0};
    Outbox outbox{"t1", "r1"};
    config::SiteConfig cfg = config::parse_config(
        "site: {id: t1, name: x}\nzones: [{id: hall, name: 大厅, capacity: 2}]\ngate: {reset_hour: 3}\n",
        "x.yaml");
    Store store{dir.file("c.db")};
    Occupancy occ{store, clock, cfg};
    CheckinService svc{store, clock, outbox, occ, 30, "hall"};
    Roster roster{store, clock};

    int64_t elder(const std::string& name, bool family = false) {
        Elder e;
        e.name = name;
        e.family_notify = family;
        return roster.save(e, "test").id;
    }
    CheckIn req(int64_t id, const std::string& dir = "in") {
        CheckIn c;
        c.elder_id = id;
        c.direction = dir;
        c.method = "face";
        return c;
    }
    int64_t outbox_count(const std::string& kind) {
        return store.read([&](sqlite3* db) {
            Stmt s(db, "SELECT COUNT(*) FROM outbox WHERE kind=?");
            s.bind(1, kind).step();
            return s.i64(0);
        });
    }
};

TEST(Checkins, OnePerIntervalThenANewOne) {
    Fixture f;
    auto id = f.elder("张桂英");
    EXPECT_TRUE(f.svc.record(f.req(id)));
    f.clock.advance_ms(29 * 60'000);
    EXPECT_FALSE(f.svc.record(f.req(id))) << "a repeat sighting inside the interval";
    f.clock.advance_ms(2 * 60'000);
    EXPECT_TRUE(f.svc.record(f.req(id)));
    EXPECT_EQ(f.svc.list(0, kT0 * 2).size(), 2u);
    EXPECT_EQ(f.outbox_count("checkin"), 2);
}

TEST(Checkins, OccupancyFollowsAndNeverGoesNegative) {
    Fixture f;
    auto a = f.elder("张桂英"), b = f.elder("李福生");
    f.svc.record(f.req(a));
    f.svc.record(f.req(b));
    EXPECT_EQ(f.occ.count("hall"), 2);
    EXPECT_EQ(f.occ.zone("hall").level, "full");
    f.svc.record(f.req(a, "out"));
    EXPECT_EQ(f.occ.count("hall"), 1);
    EXPECT_FALSE(f.svc.is_inside(a));
    EXPECT_TRUE(f.svc.is_inside(b));
    f.store.write([&](sqlite3* db) { f.occ.adjust(db, "hall", -5, "staff", "王护士"); });
    EXPECT_EQ(f.occ.count("hall"), 0);
    f.store.write([&](sqlite3* db) { f.occ.adjust(db, "hall", -1, "staff", "王护士"); });
    EXPECT_EQ(f.occ.count("hall"), 0);
}

TEST(Checkins, OccupancyResetsAtTheConfiguredLocalHour) {
    Fixture f;
    // 02:00 local (UTC+8) on some day.
    int64_t day = 24LL * 3600 * 1000;
    int64_t local_midnight = (kT0 + 8 * 3600 * 1000) / day * day - 8 * 3600 * 1000;
    f.clock.set_ms(local_midnight + 2 * 3600 * 1000);
    f.svc.record(f.req(f.elder("a")));
    EXPECT_EQ(f.occ.count("hall"), 1);
    f.clock.set_ms(local_midnight + 3 * 3600 * 1000 - 1);
    EXPECT_EQ(f.occ.count("hall"), 1);
    f.clock.set_ms(local_midnight + 3 * 3600 * 1000);
    EXPECT_EQ(f.occ.count("hall"), 0) << "the new day starts at reset_hour";
}

TEST(Checkins, FamilyNoticeOnlyForOptedInElders) {
    Fixture f;
    f.svc.record(f.req(f.elder("a", true)));
    f.svc.record(f.req(f.elder("b", false)));
    EXPECT_EQ(f.outbox_count("family_notice"), 1);
}

TEST(Checkins, UnknownOrInactiveEldersAreRefused) {
    Fixture f;
    EXPECT_THROW(f.svc.record(f.req(999)), std::invalid_argument);
    auto id = f.elder("a");
    f.roster.deactivate(id, "admin");
    EXPECT_THROW(f.svc.record(f.req(id)), std::invalid_argument);
    auto bad = f.req(f.elder("b"), "sideways");
    EXPECT_THROW(f.svc.record(bad), std::invalid_argument);
    EXPECT_EQ(f.outbox_count("checkin"), 0);
}

}  // namespace

namespace {
TEST(Occupancy, AZoneWithADoorCounterFollowsTheCounterNotCheckIns) {
    TempDir dir;
    ManualClock clock{kT0};
    Outbox outbox{"t1", "r1"};
    auto cfg = config::parse_config(
        "site: {id: t1, name: x}\n"
        "zones: [{id: hall, name: 大厅, capacity: 2, counter: door}, {id: dining, name: 餐厅}]\n"
        "cameras: [{id: door, source: x.avi, zone: hall, role: entrance, count_line: [320, 0, 320, 480]}]\n",
        "x.yaml");
    Store store{dir.file("c.db")};
    Occupancy occ{store, clock, cfg};
    CheckinService svc{store, clock, outbox, occ, 30, "hall"};
    Roster roster{store, clock};
    Elder e;
    e.name = "张桂英";
    CheckIn c;
    c.elder_id = roster.save(e, "t").id;
    ASSERT_TRUE(svc.record(c));
    EXPECT_EQ(occ.count("hall"), 0) << "the counter, not the check-in, counts people through the door";
    occ.counted("door", +1);
    occ.counted("door", +1);
    EXPECT_EQ(occ.count("hall"), 2);
    EXPECT_EQ(occ.zone("hall").level, "full");
    for (int i = 0; i < 4; ++i) occ.counted("door", -1);
    EXPECT_EQ(occ.count("hall"), 0) << "never below zero";
    occ.counted("somewhere-else", +1);
    EXPECT_EQ(occ.count("dining"), 0);
}

TEST(Occupancy, StaffCorrectionsSetTheCountAndAreAudited) {
    Fixture f;
    auto id = f.elder("张桂英");
    ASSERT_TRUE(f.svc.record(f.req(id)));
    auto z = f.occ.correct("hall", 2, "王护士", "两位长者从侧门进来");
    EXPECT_EQ(z.count, 2);
    EXPECT_EQ(z.level, "full");
    EXPECT_EQ(f.occ.correct("hall", 0, "王护士", "下午散场").count, 0);
    auto audit = f.store.read([](sqlite3* db) {
        Stmt s(
            db,
            "SELECT actor || '|' || action || '|' || detail FROM audit_log WHERE action='occupancy.correct' "
            "ORDER BY id");
        std::vector<std::string> rows;
        while (s.step()) rows.push_back(s.str(0));
        return rows;
    });
    ASSERT_EQ(audit.size(), 2u);
    EXPECT_NE(audit[0].find("王护士|occupancy.correct|"), std::string::npos) << audit[0];
    EXPECT_NE(audit[0].find("\"from\":1"), std::string::npos) << audit[0];
    EXPECT_NE(audit[0].find("侧门"), std::string::npos) << audit[0];
    EXPECT_THROW(f.occ.correct("hall", -1, "王护士", "x"), std::invalid_argument);
    EXPECT_THROW(f.occ.correct("hall", 1, "王护士", ""), std::invalid_argument);
    EXPECT_THROW(f.occ.correct("garden", 1, "王护士", "x"), std::invalid_argument);
    EXPECT_EQ(f.occ.count("hall"), 0) << "a refused correction changes nothing";
}

TEST(Occupancy, AZoneCounterMustBeAbleToCount) {
    try {
        config::parse_config(
            "site: {id: t1, name: x}\nzones: [{id: hall, name: 大厅, counter: door}]\n"
            "cameras: [{id: door, source: x.avi, zone: hall}]\n",
            "x.yaml");
        FAIL();
    } catch (const config::ConfigError& e) {
        EXPECT_EQ(e.line(), 2);
        EXPECT_EQ(e.key(), "zones[0].counter");
        EXPECT_NE(std::string(e.what()).find("count_line"), std::string::npos) << e.what();
    }
    EXPECT_THROW(
        config::parse_config("site: {id: t1, name: x}\nzones: [{id: hall, name: 大厅}]\n"
                             "cameras: [{id: door, source: x.avi, zone: hall, count_line: [1, 2, 3]}]\n",
                             "x.yaml"),
        config::ConfigError);
}
}  // namespace
