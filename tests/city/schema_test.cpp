// The JSON Schemas in docs/schemas: the small validator's own rules, every message kind the box
// produces validating, and a cross-check with a complete implementation (Python jsonschema).
#include "controller/city/schema.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "config/config.hpp"
#include "controller/alarms/alarms.hpp"
#include "controller/care/meals.hpp"
#include "controller/city/exchange.hpp"
#include "controller/people/checkins.hpp"
#include "controller/people/records.hpp"
#include "tests/city/city_test_support.hpp"

using namespace caregate;
using nlohmann::json;

namespace ct = caregate::testing;

namespace {

std::string check(const char* schema, const char* value) {
    return city::validate(json::parse(schema), json::parse(value));
}

TEST(CitySchemaValidator, TypesRequiredAndProperties) {
    EXPECT_EQ(check(R"({"type":"integer"})", "3"), "");
    EXPECT_EQ(check(R"({"type":"integer"})", "3.0"), "") << "a whole float is an integer in JSON Schema";
    EXPECT_NE(check(R"({"type":"integer"})", "3.5"), "");
    EXPECT_NE(check(R"({"type":"string"})", "3"), "");
    EXPECT_EQ(check(R"({"type":["string","null"]})", "null"), "");
    EXPECT_NE(check(R"({"type":"object","required":["a"]})", "{}"), "");
    EXPECT_EQ(check(R"({"type":"object","properties":{"a":{"type":"boolean"}}})", R"({"a":true,"b":1})"), "");
    auto e = check(
        R"({"type":"object","properties":{"a":{"type":"object","properties":{"b":{"type":"string"}}}}})",
        R"({"a":{"b":1}})");
    EXPECT_NE(e.find("a.b"), std::string::npos) << "the error names the path: " << e;
    EXPECT_NE(check(R"({"properties":{"a":{}},"additionalProperties":false})", R"({"a":1,"b":2})"), "");
    EXPECT_EQ(check(R"({"properties":{"a":{}},"additionalProperties":false})", R"({"a":1})"), "");
}

TEST(CitySchemaValidator, ValuesArraysAndAlternatives) {
    EXPECT_EQ(check(R"({"enum":["in","out"]})", R"("in")"), "");
    EXPECT_NE(check(R"({"enum":["in","out"]})", R"("up")"), "");
    EXPECT_EQ(check(R"({"const":"caregate"})", R"("caregate")"), "");
    EXPECT_NE(check(R"({"const":"caregate"})", R"("other")"), "");
    EXPECT_NE(check(R"({"minimum":0})", "-1"), "");
    EXPECT_NE(check(R"({"maximum":1})", "1.5"), "");
    EXPECT_EQ(check(R"({"minimum":0,"maximum":1})", "0.5"), "");
    EXPECT_NE(check(R"({"pattern":"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"})", R"("2026-9-1")"), "");
    EXPECT_EQ(check(R"({"pattern":"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"})", R"("2026-09-01")"), "");
    EXPECT_NE(check(R"({"minLength":3})", R"("ab")"), "");
    EXPECT_EQ(check(R"({"minLength":2})", R"("张三")"), "") << "length counts characters, not bytes";
    EXPECT_NE(check(R"({"maxLength":2})", R"("张三丰")"), "");
    EXPECT_NE(check(R"({"items":{"type":"string"}})", R"(["a",1])"), "");
    EXPECT_EQ(check(R"({"items":{"type":"string"}})", R"(["a","b"])"), "");
    const char* one = R"({"oneOf":[{"type":"string"},{"type":"integer","minimum":0}]})";
    EXPECT_EQ(check(one, R"("x")"), "");
    EXPECT_EQ(check(one, "3"), "");
    EXPECT_NE(check(one, "-3"), "");
    EXPECT_NE(check(R"({"oneOf":[{"type":"number"},{"type":"integer"}]})", "3"), "")
        << "more than one matches";
}

// Records of every kind, made by the real services, as the daemon makes them.
void produce_every_kind(Store& store, ManualClock& clock, const Outbox& out) {
    auto cfg = config::parse_config("site: {id: t1, name: x}\nzones: [{id: hall, name: h}]\n", "x.yaml");
    Roster roster(store, clock);
    Elder e;
    e.name = "张桂英";
    e.family_notify = true;
    e.categories = {"低保", "独居"};
    auto id = roster.save(e, "t").id;
    Occupancy occ(store, clock, cfg);
    CheckinService checkins(store, clock, out, occ, 30, "hall");
    CheckIn c;
    c.elder_id = id;
    checkins.record(c);
    AlarmService alarms(store, clock, out, AlarmPolicy{60, 900});
    auto a = alarms.raise("fall", "radar", "bath", "device:radar", json::object(), id);
    alarms.acknowledge(a.id, "王护士");
    alarms.dispatch(a.id, "120", "王护士");
    clock.advance_ms(1'000'000);
    alarms.tick();
    alarms.resolve(a.id, "送医", "王护士");
    auto b = alarms.raise("call", "button-1", "hall", "device:button-1");
    alarms.cancel_from_device("button-1");
    (void)b;
    Records records(store, clock, out);
    records.add_service({0, "", id, "", 0, "助餐", "", ""}, "t");
    records.add_visit({0, "", id, "", 0, "上门", "王护士", "好", "安全", "助餐", "下周再访"}, "t");
    // A meal is a 助餐 service record with its session, category and subsidy.
    auto all_day = config::parse_config(
        "site: {id: t1, name: x}\nmeals: {sessions: [{id: lunch, name: 午餐, from: \"00:00\", to: "
        "\"24:00\"}]}\n",
        "x.yaml");
    care::MealService meals(all_day, store, clock, out);
    meals.take(id, "card", "t");
    store.exec(
        "INSERT INTO devices(id, kind, zone, online, updated_at) VALUES('radar','fall_sensor','bath',0,1)");
    city::queue_device_health(store, out,
                              {"radar", "fall_sensor", "bath", false, "silent", 15.0, clock.now_ms()});
    city::queue_device_health(store, out,
                              {"cam-1", "camera", "door", true, "", std::nullopt, clock.now_ms()});
    city::queue_daily_summary(store, out, "2026-09-21", 8 * 3600 * 1000, clock.now_ms());
    city::queue_daily_summary(store, out, "2026-09-21", 8 * 3600 * 1000, clock.now_ms());  // idempotent
}

TEST(CitySchemas, EveryMessageWeProduceValidates) {
    ct::TempDir dir;
    ManualClock clock{1'790'000'000'000};
    Store store(dir.file("s.db"));
    Outbox out("t1", "wz");
    produce_every_kind(store, clock, out);

    city::SchemaSet schemas(CAREGATE_SCHEMAS_DIR);
    std::map<std::string, int> kinds;
    std::ofstream dump(dir.file("messages.jsonl"));
    store.read([&](sqlite3* db) {
        Stmt s(db, "SELECT kind, payload FROM outbox ORDER BY seq");
        while (s.step()) {
            auto msg = json::parse(s.str(1));
            EXPECT_EQ(schemas.validate_message(msg), "") << s.str(1);
            EXPECT_EQ(msg["schema"], "caregate." + s.str(0) + "/1");
            kinds[s.str(0)]++;
            if (s.str(0) == "daily_summary") {
                int meals = 0;
                for (auto& [cat, m] : msg["data"]["meals_by_category"].items())
                    meals += m["meals"].get<int>();
                EXPECT_EQ(meals, 1) << "the meal of the day is in its summary: " << s.str(1);
            }
            dump << s.str(1) << "\n";
        }
    });
    dump.close();
    for (auto k : {"checkin", "alarm", "alarm_step", "service", "visit", "family_notice", "device_health",
                   "daily_summary"})
        EXPECT_GT(kinds[k], 0) << k;
    EXPECT_EQ(kinds["daily_summary"], 1) << "a recomputed summary has the same id";
    EXPECT_EQ(kinds["family_notice"], 2) << "check-in and alarm, for an elder whose family opted in";

    // The same messages against a complete draft-07 implementation, so our subset validator is not
    // the only judge of schemas a city team will use with their own tools.
    // Debian's interpreter, not whatever python3 is first on PATH: scripts/setup installs the module
    // for it. Missing means a broken setup, and that fails here rather than skipping.
    const std::string python = "/usr/bin/python3";
    ASSERT_EQ(ct::run(python + " -c 'import jsonschema'"), 0)
        << "python3-jsonschema is not installed for /usr/bin/python3: run scripts/setup";
    ct::write_file(dir.file("check.py"), R"PY(
import json, sys, glob, os, jsonschema
d = sys.argv[1]
schemas = {os.path.basename(f)[:-5]: json.load(open(f)) for f in glob.glob(d + "/*.json")}
for s in schemas.values():
    jsonschema.Draft7Validator.check_schema(s)
n = 0
for line in open(sys.argv[2]):
    m = json.loads(line)
    jsonschema.validate(m, schemas["envelope"], cls=jsonschema.Draft7Validator)
    kind = m["schema"][len("caregate."):-len("/1")]
    jsonschema.validate(m["data"], schemas[kind], cls=jsonschema.Draft7Validator)
    n += 1
print("validated", n)
)PY");
    std::string output;
    EXPECT_EQ(ct::run(python + " " + dir.file("check.py") + " " + CAREGATE_SCHEMAS_DIR + " " +
                          dir.file("messages.jsonl"),
                      &output),
              0)
        << output;
}

TEST(CitySchemas, WhatDoesNotFitIsRejected) {
    city::SchemaSet schemas(CAREGATE_SCHEMAS_DIR);
    json bad = Outbox::envelope("t1", "checkin", "x1234567", 1'790'000'000'000, {{"id", "x"}});
    EXPECT_NE(schemas.validate_message(bad), "") << "checkin data without its fields";
    bad = Outbox::envelope("T 1", "checkin", "x1234567", 1'790'000'000'000, json::object());
    EXPECT_NE(schemas.validate_message(bad), "") << "site id";
    bad = Outbox::envelope("t1", "selfie", "x1234567", 1'790'000'000'000, json::object());
    EXPECT_NE(schemas.validate_message(bad), "") << "unknown kind";
    bad = json::parse(
        R"({"schema":"caregate.device_health/1","id":"x1234567","site":"t1","ts":1790000000000})");
    EXPECT_NE(schemas.validate_message(bad), "") << "no data";
}

TEST(CitySchemas, DownlinkCommandSchemaMatchesWhatTheBoxAccepts) {
    std::ifstream in(std::string(CAREGATE_SCHEMAS_DIR) + "/command.json");
    json schema = json::parse(in);
    auto cmd = [](const std::string& name, json data) {
        json j = {{"site", "t1"},
                  {"id", "cmd-20261124-0001"},
                  {"ts", int64_t(1'790'000'000'000)},
                  {"cmd", name},
                  {"data", data}};
        j["hmac"] = city::command_hmac(j, "k");
        return j;
    };
    EXPECT_EQ(city::validate(schema, cmd("roster.upsert", {{"external_id", "WZ-1"},
                                                           {"name", "张桂英"},
                                                           {"gender", "女"},
                                                           {"categories", {"低保", "特困"}}})),
              "");
    EXPECT_EQ(city::validate(schema, cmd("roster.delete", {{"external_id", "WZ-1"}})), "");
    EXPECT_EQ(city::validate(schema, cmd("notice", {{"text", "停水通知"}, {"level", "warning"}})), "");
    EXPECT_NE(city::validate(schema, cmd("notice", {{"title", "无正文"}})), "");
    EXPECT_NE(city::validate(schema, cmd("roster.upsert",
                                         {{"external_id", "WZ-1"}, {"name", "x"}, {"categories", {"富裕"}}})),
              "");
    EXPECT_NE(city::validate(schema, cmd("format.disk", json::object())), "");
}

}  // namespace
