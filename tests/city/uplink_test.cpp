// The uplink against a real Mosquitto: rows are marked sent only on PUBACK; a broker restart and a
// SIGKILLed sender in the middle of a burst still leave the receiver with every record exactly once.
#include <gtest/gtest.h>
#include <signal.h>

#include "tests/city/city_test_support.hpp"

using namespace caregate;
using namespace caregate::citytest;
using namespace std::chrono_literals;
using nlohmann::json;

namespace ct = caregate::testing;

namespace {

const char* kUnsent = "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL";

TEST(CityUplink, RowsAreMarkedSentOnlyAfterTheBrokerAcknowledges) {
    ct::TempDir dir;
    Broker broker;
    Receiver rx(broker.uri(), dir.file("rx.db"));
    SystemClock clock;
    Store store(dir.file("site.db"));
    Outbox out("t1", "wz");
    fill(store, out, 10);
    city::CityUplink up(store, clock, uplink_options(broker.uri()));
    up.start();
    ASSERT_TRUE(wait_until([&] { return up.pending() == 0; }, 20s));

    // A broker that answers nothing: the uplink publishes a window's worth, and marks none of it.
    broker.pause();
    fill(store, out, 200, 10);
    uint64_t published_before = up.stats().published;
    ASSERT_TRUE(wait_until([&] { return up.stats().published >= published_before + 64; }, 5s));
    // The scenario: the broker stays silent for a second, and the uplink must do nothing more in it
    // (no mark, no publish beyond its window). A negative check: with the broker paused no message can
    // serve as a positive control, so this is a quiet period, not a wait for the code under test.
    std::this_thread::sleep_for(1s);
    EXPECT_EQ(count_rows(store, kUnsent), 200) << "nothing marked sent without its PUBACK";
    EXPECT_EQ(up.stats().published, published_before + 64) << "the in-flight window bounds what is sent";

    broker.resume();
    ASSERT_TRUE(wait_until([&] { return up.pending() == 0; }, 30s));
    ASSERT_TRUE(wait_until([&] { return rx.count() == 210; }, 10s)) << rx.count();
    EXPECT_EQ(up.stats().sent, 210u);
    EXPECT_EQ(rx.stats.invalid, 0u);
    EXPECT_EQ(count_rows(store, "SELECT COUNT(*) FROM outbox WHERE sent_at < created_at"), 0);
}

TEST(CityUplink, BrokerStoppedAndRestartedDuringABurstEveryRecordExactlyOnce) {
    ct::TempDir dir;
    Broker broker;
    Receiver rx(broker.uri(), dir.file("rx.db"));
    SystemClock clock;
    Store store(dir.file("site.db"));
    Outbox out("t1", "wz");
    fill(store, out, 3000);
    city::CityUplink up(store, clock, uplink_options(broker.uri()));
    up.start();
    ASSERT_TRUE(wait_until([&] { return up.pending() < 2500; }, 20s));
    broker.stop();
    fill(store, out, 1000, 3000);  // the box keeps recording while the city is unreachable
    EXPECT_TRUE(wait_until([&] { return !up.stats().connected; }, 10s)) << "the uplink sees the broker go";
    EXPECT_GT(up.pending(), 0);
    EXPECT_FALSE(up.stats().connected);
    broker.start();
    ASSERT_TRUE(wait_until([&] { return up.pending() == 0; }, 60s)) << up.pending() << "\n" << broker.log();
    ASSERT_TRUE(wait_until([&] { return rx.count() == 4000; }, 30s)) << rx.count() << "\n" << broker.log();
    // A positive control instead of a quiet period: one more record, sent after all the others. The
    // broker delivers the uplink's messages in order, so once the receiver has stored it, whatever
    // was published before it (resends included) has been received and judged.
    fill(store, out, 1, 4000);
    ASSERT_TRUE(wait_until([&] { return rx.count("id='record-1004000'") == 1; }, 30s)) << rx.count();
    EXPECT_EQ(rx.count("id<>'record-1004000'"), 4000) << "every record exactly once after dedupe";
    EXPECT_EQ(rx.stats.invalid, 0u);
}

TEST(CityUplink, SenderKilledWithSigkillMidBurstResendsAfterRestart) {
    ct::TempDir dir;
    Broker broker;
    Receiver rx(broker.uri(), dir.file("rx.db"));
    std::string db = dir.file("site.db");
    {
        Store store(db);
        fill(store, Outbox("t1", "wz"), 10000);
    }
    {
        ct::Process sender({CAREGATE_CITY_SENDER, db, broker.uri(), "caregate-wz-t1"},
                           dir.file("sender.log"));
        Store probe(db);
        ASSERT_TRUE(wait_until(
            [&] { return count_rows(probe, "SELECT COUNT(*) FROM outbox WHERE sent_at IS NOT NULL") > 2000; },
            60s));
        sender.signal(SIGKILL);
        EXPECT_EQ(sender.wait(5s), 128 + SIGKILL);
    }
    SystemClock clock;
    Store store(db);
    EXPECT_GT(count_rows(store, kUnsent), 0) << "killed mid-burst";
    city::CityUplink up(store, clock, uplink_options(broker.uri()));
    up.start();
    ASSERT_TRUE(wait_until([&] { return up.pending() == 0; }, 60s));
    ASSERT_TRUE(wait_until([&] { return rx.count() == 10000; }, 30s)) << rx.count();
    // A positive control instead of a quiet period (see the broker-restart test): one record more.
    fill(store, Outbox("t1", "wz"), 1, 10000);
    ASSERT_TRUE(wait_until([&] { return rx.count("id='record-1010000'") == 1; }, 30s)) << rx.count();
    EXPECT_EQ(rx.count("id<>'record-1010000'"), 10000) << "every record exactly once after dedupe";
    EXPECT_EQ(rx.stats.invalid, 0u);
}

TEST(CityUplink, StorageCapDropsOnlyLowPriorityOldestFirstAndAlerts) {
    ct::TempDir dir;
    SystemClock clock;
    Store store(dir.file("s.db"));
    Outbox out("t1", "wz");
    store.write([&](sqlite3* db) {
        for (int i = 0; i < 50; ++i) {
            out.put(db, "device_health", "low-" + std::to_string(100 + i), 1, json::object(), Priority::low);
            out.put(db, "daily_summary", "sum-" + std::to_string(100 + i), 1, json::object(), Priority::low);
            out.put(db, "alarm", "alarm-" + std::to_string(i), 1, json::object(), Priority::safety);
            out.put(db, "checkin", "ci-" + std::to_string(i), 1, json::object(), Priority::normal);
        }
    });
    auto o = uplink_options("tcp://127.0.0.1:1");  // never connected: the cap works offline
    o.max_rows = 150;
    city::CityUplink up(store, clock, o);
    int64_t alerted = 0;
    up.on_cap_exceeded([&](int64_t n) { alerted = n; });
    EXPECT_EQ(up.enforce_cap(), 50);
    EXPECT_EQ(alerted, 50);
    EXPECT_EQ(up.stats().cap_alerts, 1u);
    EXPECT_EQ(up.stats().dropped_low_priority, 50u);
    auto left = [&](const std::string& kind) {
        return count_rows(store, "SELECT COUNT(*) FROM outbox WHERE kind='" + kind + "'");
    };
    EXPECT_EQ(left("alarm"), 50);
    EXPECT_EQ(left("checkin"), 50);
    EXPECT_EQ(left("device_health") + left("daily_summary"), 50);
    // Oldest first across the low kinds (they were interleaved): the first 25 of each went.
    EXPECT_EQ(count_rows(store, "SELECT COUNT(*) FROM outbox WHERE id IN ('low-124','sum-124')"), 0);
    EXPECT_EQ(count_rows(store, "SELECT COUNT(*) FROM outbox WHERE id IN ('low-125','sum-125')"), 2);

    // Over the cap with only alarms and check-ins left: nothing may go, though the alert still sounds.
    o.max_rows = 10;
    store.exec("DELETE FROM outbox WHERE priority=0");
    city::CityUplink strict(store, clock, o);
    int64_t strict_alert = -1;
    strict.on_cap_exceeded([&](int64_t n) { strict_alert = n; });
    EXPECT_EQ(strict.enforce_cap(), 0);
    EXPECT_EQ(strict_alert, 0) << "the alert sounds though nothing may be dropped";
    EXPECT_EQ(strict.enforce_cap(), 0);
    EXPECT_EQ(strict.stats().cap_alerts, 1u) << "once per excursion over the cap";
    EXPECT_EQ(left("alarm") + left("checkin"), 100);
}

TEST(CityUplink, PurgeSentDeletesOnlyOldAcknowledgedRows) {
    ct::TempDir dir;
    ManualClock clock{1'790'000'000'000};
    Store store(dir.file("s.db"));
    fill(store, Outbox("t1", "wz"), 30);
    store.exec("UPDATE outbox SET sent_at=1789000000000 WHERE seq<=10");             // long ago
    store.exec("UPDATE outbox SET sent_at=1789999999000 WHERE seq>10 AND seq<=20");  // a second ago
    city::CityUplink up(store, clock, uplink_options("tcp://127.0.0.1:1"));
    EXPECT_EQ(up.purge_sent(86'400'000), 10);
    EXPECT_EQ(count_rows(store, "SELECT COUNT(*) FROM outbox"), 20);
    EXPECT_EQ(up.pending(), 10);
}

}  // namespace
