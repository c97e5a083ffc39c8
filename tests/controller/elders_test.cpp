// 一人一档 (issue #19): the 身份证号 check (GB 11643), its agreement with the birth date, uniqueness among
// active elders and masking in lists; 停用 with a reason and 重新启用; search by any part of a name, card
// or phone; migration 12 on an existing store; the roster import from .csv and .xlsx (bounded: size,
// rows, uncompressed size, no DTDs) with row-and-column reasons and re-import as an update; .xlsx
// exports and the kiosk routes (history paging, the check-in time of day, a visit's own time).
#include <gtest/gtest.h>
#include <httplib.h>
#include <iconv.h>
#include <zip.h>

#include "controller/kiosk/http_server.hpp"
#include "controller/kiosk/kiosk.hpp"
#include "controller/kiosk/live_feed.hpp"
#include "controller/people/checkins.hpp"
#include "controller/people/records.hpp"
#include "controller/people/roster.hpp"
#include "controller/people/roster_import.hpp"
#include "controller/people/spreadsheet.hpp"
#include "controller/people/staff.hpp"
#include "tests/controller/kiosk_rig.hpp"
#include "tests/support/test_support.hpp"

using namespace caregate;
using nlohmann::json;

namespace {

// Valid numbers (check characters computed by GB 11643), made up for the tests.
const std::string kId1948 = "110105194805020027";  // 1948-05-02, 女
const std::string kId1950 = "110105195003070019";  // 1950-03-07, 男
const std::string kId1942 = "440304194211180032";  // 1942-11-18, 男
const std::string kIdX = "11010519491231002X";     // 1949-12-31, 女, check character X

// 2026-11-24 10:00 in China (UTC+8).
constexpr int64_t kNow = 1'795'485'600'000;

struct Site {
    caregate::testing::TempDir dir;
    ManualClock clock{kNow};
    Store store{dir.file("s.db")};
    Roster roster{store, clock};
    int64_t add(const std::string& name, const std::string& id = "", const std::string& phone = "",
                const std::string& card = "") {
        Elder e;
        e.name = name;
        e.id_number = id;
        e.phone = phone;
        e.card_no = card;
        return roster.save(e, "test").id;
    }
    int64_t count(const std::string& sql) {
        return store.read([&](sqlite3* db) {
            Stmt s(db, sql);
            s.step();
            return s.i64(0);
        });
    }
};

std::string field_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const ElderFieldError& e) {
        return e.field + "|" + e.problem;
    }
    return "";
}

// A zip archive (an .xlsx or a forged one) from name → content, written with libzip.
std::string make_zip(const std::vector<std::pair<std::string, std::string>>& entries) {
    caregate::testing::TempDir d;
    std::string path = d.file("x.zip");
    int err = 0;
    zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
    EXPECT_NE(z, nullptr);
    std::vector<std::string> keep;
    keep.reserve(entries.size());
    for (auto& [name, content] : entries) {
        keep.push_back(content);
        zip_source_t* src = zip_source_buffer(z, keep.back().data(), keep.back().size(), 0);
        zip_file_add(z, name.c_str(), src, ZIP_FL_OVERWRITE);
    }
    EXPECT_EQ(zip_close(z), 0);
    return caregate::testing::read_file(path);
}

std::string workbook_with_sheet(const std::string& sheet_xml) {
    return make_zip(
        {{"[Content_Types].xml", "<?xml version=\"1.0\"?><Types/>"},
         {"xl/workbook.xml",
          "<?xml version=\"1.0\"?><workbook xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/"
          "2006/relationships\"><sheets><sheet name=\"S\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>"},
         {"xl/_rels/workbook.xml.rels",
          "<?xml version=\"1.0\"?><Relationships><Relationship Id=\"rId1\" "
          "Target=\"worksheets/sheet1.xml\"/></Relationships>"},
         {"xl/worksheets/sheet1.xml", sheet_xml}});
}

std::string to_gb18030(const std::string& utf8) {
    iconv_t cd = iconv_open("GB18030", "UTF-8");
    std::string out(utf8.size() * 2, '\0');
    char* src = const_cast<char*>(utf8.data());
    char* dst = out.data();
    size_t sl = utf8.size(), dl = out.size();
    iconv(cd, &src, &sl, &dst, &dl);
    iconv_close(cd);
    out.resize(out.size() - dl);
    return out;
}

}  // namespace

TEST(ElderIdNumber, TheCheckCharacterTheLengthAndTheBirthDateAreChecked) {
    for (auto& id : {kId1948, kId1950, kId1942, kIdX}) EXPECT_FALSE(id_number_problem(id)) << id;
    EXPECT_FALSE(id_number_problem("11010519491231002x")) << "a lower-case x is the same X";
    auto wrong = id_number_problem("110105194805020028");
    ASSERT_TRUE(wrong);
    EXPECT_NE(wrong->find("校验位不对"), std::string::npos) << *wrong;
    EXPECT_NE(id_number_problem("11010519480502002")->find("应为 18 位"), std::string::npos);
    EXPECT_NE(id_number_problem("1101051948050200A7")->find("前 17 位须为数字"), std::string::npos);
    EXPECT_NE(id_number_problem("110105194802300027")->find("出生日期"), std::string::npos) << "30 February";
    EXPECT_EQ(id_number_birth_date(kId1948), "1948-05-02");
    EXPECT_EQ(id_number_gender(kId1948), "女");
    EXPECT_EQ(id_number_gender(kId1950), "男");
    EXPECT_EQ(mask_id_number(kId1948), "110***********0027");
}

TEST(ElderIdNumber, FillsTheBirthDateAndGenderAndRefusesADisagreement) {
    Site s;
    auto e = *s.roster.get(s.add("张桂英", "11010519491231002x"));
    EXPECT_EQ(e.id_number, kIdX) << "stored with a capital X";
    EXPECT_EQ(e.birth_date, "1949-12-31");
    EXPECT_EQ(e.gender, "女");

    Elder other;
    other.name = "王大山";
    other.id_number = kId1950;
    other.birth_date = "1950-03-08";
    EXPECT_EQ(field_of([&] { s.roster.save(other, "t"); }),
              "出生日期|与身份证号中的出生日期 1950-03-07 不一致，请核对其中之一");
    other.birth_date = "";
    other.gender = "女";
    EXPECT_NE(field_of([&] { s.roster.save(other, "t"); }).find("性别|与身份证号不符"), std::string::npos);
    other.gender = "";
    other.id_number = "110105195003070018";
    EXPECT_NE(field_of([&] { s.roster.save(other, "t"); }).find("身份证号|校验位不对"), std::string::npos);
    // The audit log never holds the number.
    EXPECT_EQ(s.count("SELECT COUNT(*) FROM audit_log WHERE detail LIKE '%1101051949%'"), 0);
}

TEST(ElderIdNumber, UniqueAmongActiveEldersAndCardsNamedInChinese) {
    Site s;
    int64_t a = s.add("张桂英", kId1948, "", "A1001");
    std::string dup = field_of([&] { s.add("张桂英二", kId1948); });
    EXPECT_NE(dup.find("身份证号|已登记给在册长者 张桂英"), std::string::npos) << dup;
    std::string card = field_of([&] { s.add("李福生", "", "", "A1001"); });
    EXPECT_EQ(card, "卡号|A1001 已被 张桂英 使用，请换一个或先修改 张桂英 的档案");
    EXPECT_EQ(card.find("UNIQUE"), std::string::npos);

    // A deactivated elder's number may be given to a new record (a person who came back is better
    // reactivated, but the number does not block the desk); the old record cannot then come back.
    s.roster.deactivate(a, "去世", "2026-11-20", "", "admin");
    int64_t b = s.add("张桂英", kId1948, "", "");
    EXPECT_NE(b, a);
    std::string back = field_of([&] { s.roster.reactivate(a, "admin"); });
    EXPECT_NE(back.find("身份证号|已登记给在册长者 张桂英"), std::string::npos) << back;
}

TEST(ElderDeactivation, AReasonAndADayLeaveEveryActiveListKeepTheRecordsAndAreAudited) {
    Site s;
    int64_t a = s.add("张桂英", kId1948);
    s.add("李福生");
    EXPECT_EQ(field_of([&] { s.roster.deactivate(a, "出国", "", "", "admin"); }),
              "停用原因|须为 离开中心、去世、迁出 或 其他");
    EXPECT_EQ(field_of([&] { s.roster.deactivate(a, "迁出", "2026-11-25", "", "admin"); }),
              "停用日期|不能晚于今天");
    auto e = s.roster.deactivate(a, "迁出", "2026-11-20", "随子女去外地", "admin");
    EXPECT_FALSE(e.active);
    EXPECT_EQ(e.deactivated_reason, "迁出");
    EXPECT_EQ(e.deactivated_on, "2026-11-20");
    EXPECT_EQ(e.deactivated_by, "admin");
    EXPECT_EQ(s.roster.list("", 500, ElderStatus::active).size(), 1u);
    EXPECT_EQ(s.roster.list("", 500, ElderStatus::inactive).size(), 1u);
    EXPECT_EQ(s.roster.list("", 500, ElderStatus::all).size(), 2u);
    EXPECT_FALSE(s.roster.find_by_card("x"));
    EXPECT_EQ(
        s.count("SELECT COUNT(*) FROM audit_log WHERE action='elder.deactivate' AND detail LIKE '%迁出%'"),
        1);
    // Check-ins refuse a deactivated elder (the door and the desk).
    Outbox outbox{"t", "r"};
    auto cfg = config::parse_config("site: {id: t, name: x}\nzones: [{id: hall, name: h}]\n", "x.yaml");
    Occupancy occ{s.store, s.clock, cfg};
    CheckinService checkins{s.store, s.clock, outbox, occ, 30, "hall"};
    CheckIn c;
    c.elder_id = a;
    EXPECT_THROW(checkins.record(c), std::invalid_argument);

    auto back = s.roster.reactivate(a, "admin");
    EXPECT_TRUE(back.active);
    EXPECT_EQ(back.deactivated_reason, "");
    EXPECT_EQ(s.count("SELECT COUNT(*) FROM audit_log WHERE action='elder.reactivate'"), 1);
}

TEST(ElderSearch, AnyPartOfTheNameCardOrEitherPhoneWhateverItsCaseOrDashes) {
    Site s;
    int64_t a = s.add("张桂英", "", "138-0013-8000", "AB1002");
    Elder b;
    b.name = "李福生";
    b.emergency_phone = "139 0013 9000";
    b.emergency_contact = "李强";
    int64_t bid = s.roster.save(b, "t").id;
    s.add("王秀兰", kId1942);
    auto ids = [&](const std::string& q) {
        std::vector<int64_t> out;
        for (auto& e : s.roster.list(q)) out.push_back(e.id);
        return out;
    };
    EXPECT_EQ(ids("桂"), std::vector<int64_t>{a});
    EXPECT_EQ(ids("ab10"), std::vector<int64_t>{a}) << "card, case-insensitive, a part";
    EXPECT_EQ(ids("00138"), std::vector<int64_t>{a}) << "own phone by its digits";
    EXPECT_EQ(ids("0013-8"), std::vector<int64_t>{a});
    EXPECT_EQ(ids("9000"), std::vector<int64_t>{bid}) << "emergency phone";
    EXPECT_EQ(ids("0013"), (std::vector<int64_t>{a, bid}));
    EXPECT_EQ(ids(kId1942).size(), 1u) << "a whole 身份证号";
    EXPECT_TRUE(ids("1942").empty()) << "not a part of one";
    EXPECT_TRUE(ids("%").empty()) << "a typed % is not a wildcard";
}

TEST(ElderMigration, TwelveKeepsTheEldersOfAnEarlierStore) {
    caregate::testing::TempDir dir;
    std::string path = dir.file("old.db");
    {
        sqlite3* db = nullptr;
        ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
        for (auto& m : migrations())
            if (m.version <= 11) {
                if (m.rebuilds_tables) sqlite3_exec(db, "PRAGMA foreign_keys=OFF", nullptr, nullptr, nullptr);
                ASSERT_EQ(sqlite3_exec(db, m.sql, nullptr, nullptr, nullptr), SQLITE_OK) << m.version;
            }
        sqlite3_exec(
            db,
            "PRAGMA user_version=11; INSERT INTO elders(uuid, name, id_number, phone, active, created_at, "
            "updated_at) VALUES('u1', '张桂英', '123', '13800000000', 0, 1, 1)",
            nullptr, nullptr, nullptr);
        sqlite3_close(db);
    }
    Store store(path, 1000, false);
    ASSERT_EQ(store.schema_version(), 11);
    EXPECT_EQ(store.migrate(), latest_schema_version() - 11) << "12 and every later one";
    ManualClock clock{kNow};
    Roster roster(store, clock);
    auto e = roster.get(1);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->name, "张桂英");
    EXPECT_EQ(e->id_number, "123") << "kept as it was; checked only when changed";
    EXPECT_FALSE(e->active);
    EXPECT_EQ(e->deactivated_reason, "");
    e->phone = "13900000000";
    EXPECT_NO_THROW(roster.save(*e, "t")) << "an old unchecked number does not block other edits";
}

TEST(RosterImport, ACsvWithColumnsInAnyOrderSaysEachBadRowAndImportsOnlyTheGoodOnes) {
    Site s;
    s.add("已在册", "", "", "C9");
    std::string csv =
        "\xEF\xBB\xBF"
        "身份证号,姓名*,电话,出生日期,类别,卡号,籍贯\n" +
        kId1948 + ",张桂英,13800000000,1948/5/2,独居、低保,C1,湖南\n" + kId1950 +
        ",王大山,,1950年3月7日,,C2,\n" + "110105194805020028,错校验,,,,,\n" +  // row 4: check character
        kId1942 + ",,,,,,\n" +                                                 // row 5: no name
        ",重卡,,,,C9,\n" +                                                // row 6: card held by another elder
        kId1948 + ",张桂英重复,,,,,\n" +                                  // row 7: same number as row 2
        "\n" + "11010519491231002x,赵淑珍,\"139,0000\",,,\"C\"\"3\",\n";  // row 9: comma in a phone
    auto plan = plan_elder_import(s.roster, csv);
    EXPECT_EQ(plan.columns,
              (std::vector<std::string>{"身份证号", "姓名", "电话", "出生日期", "类别", "卡号"}));
    ASSERT_EQ(plan.warnings.size(), 1u);
    EXPECT_EQ(plan.warnings[0], "第 1 行 列“籍贯”不认识，已忽略");
    ASSERT_EQ(plan.rows.size(), 7u);
    auto errors = [&](int line) {
        for (auto& r : plan.rows)
            if (r.line == line) return r.errors.empty() ? std::string() : r.errors[0];
        return std::string("no row");
    };
    EXPECT_EQ(errors(2), "");
    EXPECT_EQ(errors(3), "");
    EXPECT_EQ(errors(4), "第 4 行 身份证号 校验位不对，请核对最后一位和前面各位是否抄错");
    EXPECT_EQ(errors(5), "第 5 行 姓名 必填，请补上姓名");
    EXPECT_EQ(errors(6), "第 6 行 卡号 C9 已被 已在册 使用，请换一个或先修改 已在册 的档案");
    EXPECT_EQ(errors(7), "第 7 行 身份证号 与第 2 行重复，同一位老人只填一行");
    EXPECT_EQ(errors(9), "第 9 行 电话 只能含数字、空格、+、- 和括号");
    EXPECT_EQ(plan.valid(), 2u);
    EXPECT_EQ(plan.to_json()["rows"][0]["id_number"], "110***********0028") << "masked in the preview";

    auto r = apply_elder_import(s.roster, plan, "admin");
    EXPECT_EQ(r.created, 2u);
    EXPECT_EQ(r.refused, 5u);
    auto zhang = *s.roster.find_by_id_number(kId1948);
    EXPECT_EQ(zhang.birth_date, "1948-05-02");
    EXPECT_EQ(zhang.categories, (std::vector<std::string>{"独居", "低保"}));
    EXPECT_EQ(zhang.gender, "女");

    // The same people again: updated, not added twice; an empty cell keeps what the record has.
    std::string again = "姓名,身份证号,电话\n张桂英," + kId1948 + ",\n王大山," + kId1950 + ",13911112222\n";
    auto plan2 = plan_elder_import(s.roster, again);
    EXPECT_EQ(plan2.valid(), 2u);
    EXPECT_EQ(plan2.rows[0].action, "update");
    auto r2 = apply_elder_import(s.roster, plan2, "admin");
    EXPECT_EQ(r2.updated, 2u);
    EXPECT_EQ(r2.created, 0u);
    EXPECT_EQ(s.count("SELECT COUNT(*) FROM elders"), 3);
    EXPECT_EQ(s.roster.find_by_id_number(kId1950)->phone, "13911112222");
    EXPECT_EQ(s.roster.find_by_id_number(kId1948)->phone, "13800000000");
}

TEST(RosterImport, ExcelSavesOfChineseWindowsAndXlsxWorkbooksAreRead) {
    Site s;
    auto plan = plan_elder_import(s.roster, to_gb18030("姓名,性别\n刘桂芳,女\n"));
    ASSERT_EQ(plan.rows.size(), 1u);
    EXPECT_EQ(plan.rows[0].elder.name, "刘桂芳") << "GB18030 CSV";

    // An .xlsx written by libxlsxwriter (shared strings, numbers), the way staff fill the template.
    std::string xlsx =
        sheet::write_xlsx("名册", {{"备注"}, {"姓名"}, {"出生日期"}, {"身份证号"}, {"卡号"}},
                          {{"", "陈阿婆", 17655, kId1948, 1003}, {"", "错", "", "1.10105E+17", ""}});
    auto t = sheet::read_xlsx(xlsx);
    ASSERT_GE(t.size(), 3u);
    EXPECT_EQ(t[0][1], "姓名");
    auto p = plan_elder_import(s.roster, xlsx);
    ASSERT_EQ(p.rows.size(), 2u);
    EXPECT_TRUE(p.rows[0].errors.empty()) << p.rows[0].errors[0];
    EXPECT_EQ(p.rows[0].elder.birth_date, "1948-05-02") << "an Excel date serial";
    EXPECT_EQ(p.rows[0].elder.card_no, "1003");
    ASSERT_FALSE(p.rows[1].errors.empty());
    EXPECT_NE(p.rows[1].errors[0].find("第 3 行 身份证号 被 Excel 存成了数字"), std::string::npos)
        << p.rows[1].errors[0];

    // The template opens and names every column.
    auto tpl = sheet::read_xlsx(elder_import_template());
    EXPECT_EQ(tpl[0], elder_import_columns());
    EXPECT_TRUE(plan_elder_import(s.roster, elder_import_template()).rows[0].errors.empty());
}

TEST(RosterImport, FilesAreBoundedBeforeAndWhileTheyAreRead) {
    Site s;
    auto msg = [&](const std::string& bytes, const sheet::Limits& l = elder_import_limits()) {
        try {
            sheet::read_table(bytes, l);
        } catch (const sheet::SheetError& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    EXPECT_NE(msg(std::string(5 * 1024 * 1024, 'a')).find("文件过大"), std::string::npos);
    std::string rows = "姓名\n";
    for (int i = 0; i < 10'001; ++i) rows += "x\n";
    EXPECT_NE(msg(rows).find("超过 10000 行"), std::string::npos);
    EXPECT_NE(msg(std::string("\xD0\xCF\x11\xE0", 4) + "old").find("旧版 Excel 文件"), std::string::npos);
    EXPECT_NE(msg("PK\x03\x04 not really").find("不是有效的 Excel 文件"), std::string::npos);

    // A zip bomb: 30 MB of one letter compresses to a few tens of KB.
    std::string bomb = workbook_with_sheet("<worksheet><sheetData><row r=\"1\"><c t=\"inlineStr\"><is><t>" +
                                           std::string(30 * 1024 * 1024, 'a') +
                                           "</t></is></c></row></sheetData></worksheet>");
    EXPECT_LT(bomb.size(), 1024u * 1024);
    EXPECT_NE(msg(bomb).find("解压后过大"), std::string::npos) << msg(bomb);
    // Entities: a billion laughs is refused for its DTD, nothing expanded.
    std::string laughs = workbook_with_sheet(
        "<?xml version=\"1.0\"?><!DOCTYPE w [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b "
        "\"&a;&a;&a;&a;&a;&a;&a;&a;\">]>"
        "<worksheet><sheetData><row r=\"1\"><c "
        "t=\"inlineStr\"><is><t>&b;</t></is></c></row></sheetData></worksheet>");
    EXPECT_NE(msg(laughs).find("不允许的内容"), std::string::npos) << msg(laughs);
    // A row number far past the limit is refused before anything is allocated for it.
    EXPECT_NE(
        msg(workbook_with_sheet("<worksheet><sheetData><row r=\"900000\"><c t=\"inlineStr\"><is><t>x</t></is>"
                                "</c></row></sheetData></worksheet>"))
            .find("超过 10000 行"),
        std::string::npos);
    // A well-formed inline-string sheet is read.
    auto t = sheet::read_xlsx(workbook_with_sheet(
        "<worksheet><sheetData><row r=\"1\"><c r=\"B1\" t=\"inlineStr\"><is><t>姓名</t></is></c></row>"
        "<row r=\"2\"><c r=\"B2\" "
        "t=\"inlineStr\"><is><r><t>张</t></r><r><t>三</t></r></is></c></row></sheetData>"
        "</worksheet>"));
    ASSERT_EQ(t.size(), 2u);
    EXPECT_EQ(t[1][1], "张三");
}

TEST(VisitTime, NotInTheFutureNorOverAMonthOldUnlessAnAdminRecordsIt) {
    EXPECT_NO_THROW(Records::check_visit_time(kNow - 3600'000, kNow, false));
    EXPECT_NO_THROW(Records::check_visit_time(kNow + 30'000, kNow, false))
        << "a phone's clock a little ahead";
    EXPECT_THROW(Records::check_visit_time(kNow + 3600'000, kNow, true), std::invalid_argument);
    int64_t old = kNow - 32LL * 24 * 3600'000;
    EXPECT_THROW(Records::check_visit_time(old, kNow, false), std::invalid_argument);
    EXPECT_NO_THROW(Records::check_visit_time(old, kNow, true));
}

TEST(Spreadsheet, ContentDispositionNamesTheFileInChineseAndAscii) {
    EXPECT_EQ(
        sheet::content_disposition("签到记录.xlsx", "checkins.xlsx"),
        "attachment; filename=\"checkins.xlsx\"; filename*=UTF-8''%E7%AD%BE%E5%88%B0%E8%AE%B0%E5%BD%95.xlsx");
}

namespace {

struct Rig : caregate::testing::KioskRig {
    Rig()
        : KioskRig(
              "site: {id: t1, name: 测试中心, timezone: Asia/Shanghai}\nzones: [{id: hall, name: "
              "大厅}]\nkiosk: "
              "{port: 0}\n",
              kNow) {
        start();
        staff.add("nurse", "王护士", "staff", "nurse-password", "test");
        nurse = login("nurse", "nurse-password");
        cookie = nurse.cookie;
        csrf = nurse.csrf;
    }
    Login nurse;
    std::string cookie, csrf;
    httplib::Result get(const std::string& path) { return KioskRig::get(nurse, path); }
    httplib::Result post(const std::string& path, const json& body) {
        return send(nurse, "POST", path, body);
    }
    void checkin_at(int64_t elder, int64_t ts) {
        store.write([&](sqlite3* db) {
            Stmt s(db,
                   "INSERT INTO checkins(uuid, elder_id, ts, direction, method, zone) "
                   "VALUES(lower(hex(randomblob(16))),"
                   "?, ?, 'in', 'staff', 'hall')");
            s.bind(1, elder).bind(2, ts).run();
        });
    }
};

}  // namespace

TEST(ElderRoutes, ListsMaskTheIdNumberThePageShowsItAndTheHistoryPages) {
    Rig r;
    auto created =
        r.post("/api/elders", {{"name", "张桂英"}, {"id_number", kId1948}, {"phone", "13800000000"}});
    ASSERT_EQ(created->status, 201) << created->body;
    int64_t id = json::parse(created->body)["id"];
    auto list = json::parse(r.get("/api/elders?q=0000")->body);
    ASSERT_EQ(list.size(), 1u);
    EXPECT_EQ(list[0]["id_number"], "110***********0027");
    EXPECT_EQ(r.get("/api/elders")->body.find(kId1948), std::string::npos) << "never in a list";
    EXPECT_EQ(json::parse(r.get("/api/elders/" + std::to_string(id))->body)["id_number"], kId1948);

    auto bad = r.post("/api/elders", {{"name", "李"}, {"id_number", "110105194805020028"}});
    EXPECT_EQ(bad->status, 400);
    EXPECT_EQ(json::parse(bad->body)["error"], "身份证号 校验位不对，请核对最后一位和前面各位是否抄错");

    // 25 check-ins: pages of 10, newest first, then 更多 until none is left.
    for (int i = 0; i < 25; ++i) r.checkin_at(id, kNow - int64_t(i + 1) * 3600'000);
    std::vector<int64_t> seen;
    std::string q = "/api/elders/" + std::to_string(id) + "/history?kind=checkins&limit=10";
    json page = json::parse(r.get(q)->body);
    for (;;) {
        for (auto& x : page["items"]) seen.push_back(x["ts"]);
        if (page["next"].is_null()) break;
        page = json::parse(r.get(q + "&before=" + std::to_string(page["next"]["before"].get<int64_t>()) +
                                 "&before_id=" + std::to_string(page["next"]["before_id"].get<int64_t>()))
                               ->body);
    }
    ASSERT_EQ(seen.size(), 25u);
    EXPECT_TRUE(std::is_sorted(seen.rbegin(), seen.rend()));
    EXPECT_EQ(r.get("/api/elders/" + std::to_string(id) + "/history?kind=checkins&limit=1000")->status, 400);
    EXPECT_EQ(r.get("/api/elders/" + std::to_string(id) + "/history?kind=secrets")->status, 400);

    // The time of day: 2026-11-24 from 06:00 to 08:59 local holds the check-ins at 06, 07 and 08 h.
    auto rows = json::parse(r.get("/api/checkins?date=2026-11-24&time_from=06:00&time_to=08:59")->body);
    ASSERT_EQ(rows.size(), 3u);
    auto crossing =
        json::parse(r.get("/api/checkins?from=2026-11-23&to=2026-11-24&time_from=22:00&time_to=01:59")->body);
    EXPECT_EQ(crossing.size(), 4u) << "22, 23, 00 and 01 h of the 23rd/24th";
    EXPECT_EQ(r.get("/api/checkins?from=2026-01-01&to=2026-11-24")->status, 400) << "over a quarter";
    EXPECT_EQ(r.get("/api/checkins?date=2026-11-24&time_from=25:00")->status, 400);

    // A visit at its own time; not in the future; not over a month old for staff.
    auto v = r.post("/api/visits", {{"elder_id", id}, {"method", "电话"}, {"at", "2026-11-23T15:30"}});
    ASSERT_EQ(v->status, 201) << v->body;
    EXPECT_EQ(json::parse(v->body)["ts"], kNow - 18LL * 3600'000 - 30 * 60'000) << "15:30 Beijing time";
    auto future = r.post("/api/visits", {{"elder_id", id}, {"method", "电话"}, {"at", "2026-11-24T12:00"}});
    EXPECT_EQ(json::parse(future->body)["error"], "探访时间不能晚于现在");
    auto old = r.post("/api/visits", {{"elder_id", id}, {"method", "电话"}, {"at", "2026-10-01T09:00"}});
    EXPECT_EQ(old->status, 400);

    // Deactivated: gone from the active list, still on its page with the reason.
    ASSERT_EQ(r.post("/api/elders/" + std::to_string(id) + "/deactivate", {{"reason", "去世"}})->status, 200);
    EXPECT_TRUE(json::parse(r.get("/api/elders?status=active")->body).empty());
    auto p = json::parse(r.get("/api/elders/" + std::to_string(id))->body);
    EXPECT_EQ(p["deactivated"]["reason"], "去世");
    EXPECT_EQ(p["deactivated"]["on"], "2026-11-24");
}

TEST(ElderRoutes, EveryTableDownloadsAsAnXlsxWithAChineseFileName) {
    Rig r;
    r.post("/api/elders", {{"name", "张桂英"}, {"id_number", kId1948}});
    for (auto path : {"/api/elders?format=xlsx", "/api/checkins?format=xlsx", "/api/services?format=xlsx",
                      "/api/visits?format=xlsx", "/api/export/alarms", "/api/elders/import-template"}) {
        auto res = r.get(path);
        ASSERT_EQ(res->status, 200) << path << res->body;
        EXPECT_EQ(res->get_header_value("Content-Type"), sheet::kXlsxType) << path;
        // (httplib's client decodes the %-escapes of a header: the browser test reads the raw name.)
        std::string cd = res->get_header_value("Content-Disposition");
        EXPECT_EQ(cd.rfind("attachment; filename=\"", 0), 0u) << cd;
        EXPECT_NE(cd.find(".xlsx\"; filename*=UTF-8''"), std::string::npos) << cd;
        auto t = sheet::read_xlsx(res->body);
        ASSERT_FALSE(t.empty()) << path;
    }
    auto roster = sheet::read_xlsx(r.get("/api/elders?format=xlsx")->body);
    EXPECT_EQ(roster[0][1], "姓名");
    EXPECT_EQ(roster[1][1], "张桂英");
    EXPECT_EQ(roster[1][4], "110***********0027") << "masked for staff";
    EXPECT_NE(r.get("/api/elders/import-template")
                  ->get_header_value("Content-Disposition")
                  .find("长者名册导入模板.xlsx"),
              std::string::npos);
    EXPECT_EQ(r.get("/api/export/meals")->status, 404) << "no meals at this site";
}
