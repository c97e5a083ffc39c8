// Downlink commands: authenticated by HMAC, refused when malformed, forged, stale or replayed, applied
// idempotently; the documented HMAC recipe checked against Python; and a command through the broker.
#include <gtest/gtest.h>
#include <mqtt/async_client.h>

#include <atomic>

#include "controller/city/exchange.hpp"
#include "controller/people/roster.hpp"
#include "tests/city/city_test_support.hpp"

using namespace caregate;
using namespace caregate::citytest;
using namespace std::chrono_literals;
using nlohmann::json;

namespace ct = caregate::testing;

namespace {

json upsert(const std::string& id, const std::string& name, int64_t ts,
            const std::string& key = "city-secret") {
    json j = {
        {"site", "t1"},
        {"id", id},
        {"ts", ts},
        {"cmd", "roster.upsert"},
        {"data",
         {{"external_id", "WZ-001"}, {"name", name}, {"gender", "女"}, {"categories", {"低保", "独居"}}}}};
    j["hmac"] = city::command_hmac(j, key);
    return j;
}

TEST(CityDownlink, AuthenticatedIdempotentAndRefusedWhenNot) {
    ct::TempDir dir;
    ManualClock clock{1'790'000'000'000};
    Store store(dir.file("s.db"));
    Roster roster(store, clock);
    city::Downlink down(store, clock, roster, "city-secret", "t1");
    auto c1 = upsert("cmd-0001", "张桂英", clock.now_ms());
    EXPECT_TRUE(down.handle(c1.dump()).applied);
    auto e = roster.find_by_external_id("WZ-001");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->categories, (std::vector<std::string>{"低保", "独居"}));
    EXPECT_NE(down.handle(c1.dump()).error.find("replay"), std::string::npos);
    auto c2 = upsert("cmd-0002", "张桂英（改）", clock.now_ms());
    EXPECT_TRUE(down.handle(c2.dump()).applied);
    EXPECT_EQ(roster.list().size(), 1u) << "an upsert updates the same elder";
    EXPECT_EQ(roster.find_by_external_id("WZ-001")->name, "张桂英（改）");

    auto forged = upsert("cmd-0003", "假", clock.now_ms(), "guessed-key");
    EXPECT_NE(down.handle(forged.dump()).error.find("bad HMAC"), std::string::npos);
    auto tampered = upsert("cmd-0004", "x", clock.now_ms());
    tampered["data"]["name"] = "篡改";
    EXPECT_NE(down.handle(tampered.dump()).error.find("bad HMAC"), std::string::npos);
    auto stale = upsert("cmd-0005", "x", clock.now_ms() - 3'600'000);
    EXPECT_NE(down.handle(stale.dump()).error.find("stale"), std::string::npos);
    auto future = upsert("cmd-0006", "x", clock.now_ms() + 3'600'000);
    EXPECT_NE(down.handle(future.dump()).error.find("stale"), std::string::npos);
    EXPECT_FALSE(down.handle("{not json").applied);
    EXPECT_FALSE(down.handle("[1,2]").applied);
    EXPECT_FALSE(down.handle(std::string("\xff\xfe\x00", 3)).applied);
    EXPECT_FALSE(down.handle(R"({"id":"x","ts":1,"cmd":"roster.upsert","data":{},"hmac":"00"})").applied);
    json unsigned_cmd = upsert("cmd-0007", "x", clock.now_ms());
    unsigned_cmd.erase("hmac");
    EXPECT_FALSE(down.handle(unsigned_cmd.dump()).applied);
    json bad_field = {{"site", "t1"},
                      {"id", "cmd-0008"},
                      {"ts", clock.now_ms()},
                      {"cmd", "roster.upsert"},
                      {"data", {{"external_id", "WZ-002"}, {"name", "李"}, {"gender", "unknown"}}}};
    bad_field["hmac"] = city::command_hmac(bad_field, "city-secret");
    EXPECT_FALSE(down.handle(bad_field.dump()).applied) << "authentic but invalid: refused";
    json unknown = {{"site", "t1"},
                    {"id", "cmd-0009"},
                    {"ts", clock.now_ms()},
                    {"cmd", "format.disk"},
                    {"data", json::object()}};
    unknown["hmac"] = city::command_hmac(unknown, "city-secret");
    EXPECT_NE(down.handle(unknown.dump()).error.find("unknown command"), std::string::npos);
    EXPECT_EQ(down.refused(), 12u);
    EXPECT_FALSE(roster.find_by_external_id("WZ-002"));

    json del = {{"site", "t1"},
                {"id", "cmd-0010"},
                {"ts", clock.now_ms()},
                {"cmd", "roster.delete"},
                {"data", {{"external_id", "WZ-001"}}}};
    del["hmac"] = city::command_hmac(del, "city-secret");
    EXPECT_TRUE(down.handle(del.dump()).applied);
    EXPECT_FALSE(roster.find_by_external_id("WZ-001")->active);
    EXPECT_EQ(down.applied(), 3u);

    // A box with no key configured refuses everything rather than trusting the broker alone.
    city::Downlink keyless(store, clock, roster, "", "t1");
    EXPECT_FALSE(keyless.handle(upsert("cmd-0011", "x", clock.now_ms()).dump()).applied);
}

TEST(CityDownlink, NoticesAreKeptForTheKioskUntilTheyExpire) {
    ct::TempDir dir;
    ManualClock clock{1'790'000'000'000};
    Store store(dir.file("s.db"));
    Roster roster(store, clock);
    city::Downlink down(store, clock, roster, "k", "t1");
    auto notice = [&](const std::string& id, const std::string& text, int64_t until) {
        json j = {{"site", "t1"},
                  {"id", id},
                  {"ts", clock.now_ms()},
                  {"cmd", "notice"},
                  {"data", {{"title", "通知"}, {"text", text}, {"until", until}}}};
        j["hmac"] = city::command_hmac(j, "k");
        return down.handle(j.dump());
    };
    EXPECT_TRUE(notice("n-0001", "重阳节活动 10 月 29 日上午", 0).applied);
    EXPECT_TRUE(notice("n-0002", "今天下午停电检修", clock.now_ms() + 3'600'000).applied);
    EXPECT_FALSE(notice("n-0003", "", 0).applied) << "empty text";
    auto list = city::current_notices(store, clock.now_ms());
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[0]["id"], "n-0002") << "newest first";
    EXPECT_EQ(list[1]["text"], "重阳节活动 10 月 29 日上午");
    clock.advance_ms(2 * 3'600'000);
    EXPECT_EQ(city::current_notices(store, clock.now_ms()).size(), 1u) << "expired notice hidden";
}

// The recipe in docs/city-exchange.md, done the way a city team would: Python's json and hmac.
TEST(CityDownlink, DocumentedHmacRecipeMatchesPython) {
    ct::TempDir dir;
    json cmd = {{"site", "lucheng-wuma"},
                {"id", "cmd-20261124-0001"},
                {"ts", int64_t(1'790'000'000'000)},
                {"cmd", "roster.upsert"},
                {"data",
                 {{"external_id", "WZ-LC-000123"},
                  {"name", "张桂英"},
                  {"categories", {"低保", "独居"}},
                  {"family_notify", true},
                  {"address", "鹿城区 \"五马\" 街道\n2 号"},
                  {"score", 1.5},
                  {"nested", {{"b", 1}, {"a", nullptr}}}}}};
    ct::write_file(dir.file("cmd.json"), cmd.dump(2));
    ct::write_file(dir.file("sign_cmd.py"), R"PY(
import hmac, hashlib, json, sys
c = json.load(open(sys.argv[1], encoding="utf-8"))
data = json.dumps(c["data"], separators=(",", ":"), sort_keys=True, ensure_ascii=False)
msg = c["site"] + "\n" + c["id"] + "\n" + str(c["ts"]) + "\n" + c["cmd"] + "\n" + data
print(hmac.new(b"city-secret", msg.encode("utf-8"), hashlib.sha256).hexdigest(), end="")
)PY");
    std::string out;
    ASSERT_EQ(ct::run("python3 " + dir.file("sign_cmd.py") + " " + dir.file("cmd.json"), &out), 0) << out;
    EXPECT_EQ(out, city::command_hmac(cmd, "city-secret"));
}

TEST(CityDownlink, CommandsThroughTheBrokerReachTheRoster) {
    ct::TempDir dir;
    Broker broker;
    SystemClock clock;
    Store store(dir.file("s.db"));
    Roster roster(store, clock);
    city::Downlink down(store, clock, roster, "city-secret", "t1");
    city::CityUplink up(store, clock, uplink_options(broker.uri()));
    // Probes (before the commands) and an end marker (after them) are counted here and never reach
    // the downlink: the uplink shows no "subscribed" state, so the test looks for their effect.
    std::atomic<int> probes{0}, ends{0};
    up.on_command([&](const std::string& p) {
        if (p == "probe")
            probes++;
        else if (p == "end")
            ends++;
        else
            down.handle(p);
    });
    up.start();
    ASSERT_TRUE(wait_until([&] { return up.stats().connected; }, 10s));

    mqtt::async_client city(broker.uri(), "city-platform");
    city.connect()->wait();
    // The subscription is sent right after CONNACK: it is in place once a probe comes back.
    bool subscribed = false;
    for (auto end = std::chrono::steady_clock::now() + 10s;
         !subscribed && std::chrono::steady_clock::now() < end;) {
        city.publish("city/wz/t1/cmd/probe", "probe", 1, false)->wait();
        subscribed = wait_until([&] { return probes > 0; }, 200ms);
    }
    ASSERT_TRUE(subscribed) << "the uplink never subscribed to its commands";
    auto good = upsert("cmd-1001", "王秀兰", clock.now_ms());
    city.publish("city/wz/t1/cmd/roster", good.dump(), 1, false)->wait();
    city.publish("city/wz/t1/cmd/roster", good.dump(), 1, false)->wait();  // delivered twice
    city.publish("city/wz/t1/cmd/roster", "garbage", 1, false)->wait();
    city.publish("city/wz/t2/cmd/roster", upsert("cmd-1002", "别站", clock.now_ms()).dump(), 1, false)
        ->wait();
    // A positive control instead of a quiet period: the marker is published last, and the broker
    // delivers one publisher's messages in order, so once it is handled everything before it that
    // was going to arrive (another site's command included) has.
    city.publish("city/wz/t1/cmd/roster", "end", 1, false)->wait();
    ASSERT_TRUE(wait_until([&] { return ends > 0; }, 10s));
    ASSERT_TRUE(wait_until([&] { return down.applied() + down.refused() >= 3; }, 10s));
    EXPECT_EQ(down.applied(), 1u);
    EXPECT_EQ(down.refused(), 2u) << "the duplicate and the garbage";
    EXPECT_EQ(roster.find_by_external_id("WZ-001")->name, "王秀兰");
    EXPECT_EQ(up.stats().commands, 3u + uint64_t(probes) + uint64_t(ends))
        << "another site's commands are not ours";
    city.disconnect()->wait();
}

}  // namespace

// A command signed for one site is refused by another sharing the key, and a hostile payload (too
// big, too deep) is refused before it is parsed or authenticated — the daemon lives.
TEST(CityDownlink, ACommandForAnotherSiteAndHostilePayloadsAreRefused) {
    ct::TempDir dir;
    Store store(dir.file("d.db"));
    ManualClock clock(1'790'000'000'000);
    Roster roster(store, clock);
    city::Downlink down(store, clock, roster, "city-secret", "t2");
    auto cmd = upsert("cmd-0100", "张桂英", clock.now_ms());  // signed for t1
    auto r = down.handle(cmd.dump());
    EXPECT_FALSE(r.applied);
    EXPECT_NE(r.error.find("for site 't1'"), std::string::npos) << r.error;
    cmd["site"] = "t2";  // re-addressed without the key: the MAC no longer matches
    EXPECT_NE(down.handle(cmd.dump()).error.find("bad HMAC"), std::string::npos);
    std::string deep = std::string(200000, '[') + std::string(200000, ']');
    EXPECT_NE(down.handle(deep).error.find("over the limit"), std::string::npos);
    std::string nested = "{\"site\":\"t2\",\"data\":" + std::string(5000, '[') + std::string(5000, ']') + "}";
    EXPECT_NE(down.handle(nested).error.find("deeper"), std::string::npos);
    EXPECT_EQ(down.refused(), 4u);
}
