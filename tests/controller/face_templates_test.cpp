// Face templates at rest: encrypted, bound to their elder, deleted for real on request.
#include "controller/people/face_templates.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <map>

#include "controller/people/face_enrollment.hpp"
#include "controller/people/roster.hpp"
#include "tests/support/test_support.hpp"

using namespace caregate;
using caregate::testing::TempDir;

namespace {

const std::string kModel = "mobilefacenet/192";

Descriptor sample(float seed, size_t dim = 192) {
    Descriptor d(dim);
    for (size_t i = 0; i < d.size(); ++i) d[i] = seed + 0.001f * float(i);
    return d;
}

FaceKey new_key(const TempDir& dir) {
    FaceKey::create(dir.file("k"));
    return FaceKey::load(dir.file("k"));
}

// Two elders on the roster and the template store, with a key of its own.
struct TwoElders {
    TempDir dir;
    SystemClock clock;
    Store store{dir.file("f.db")};
    Roster roster{store, clock};
    TemplateStore ts{store, clock, new_key(dir)};
    int64_t a, b;
    TwoElders(const std::string& name_a, const std::string& name_b) : a(add(name_a)), b(add(name_b)) {}
    int64_t add(const std::string& name) {
        Elder e;
        e.name = name;
        return roster.save(e, "t").id;
    }
};

TEST(FaceTemplates, EncryptedAtRestAndRoundTrip) {
    TempDir dir;
    FaceKey::create(dir.file("face.key"));
    SystemClock clock;
    Store store(dir.file("f.db"));
    Roster roster(store, clock);
    Elder e;
    e.name = "张桂英";
    auto id = roster.save(e, "t").id;
    TemplateStore ts(store, clock, FaceKey::load(dir.file("face.key")));
    auto d = sample(0.123f);
    store.write([&](sqlite3* db) { ts.add(db, id, d, 0.9, kModel); });
    auto all = ts.load_all(kModel);
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(all[0].descriptor, d);
    EXPECT_EQ(ts.count(id, kModel), 1);

    // No float of the descriptor appears in the database file in plaintext.
    store.exec("PRAGMA wal_checkpoint(FULL)");
    std::string bytes =
        caregate::testing::read_file(dir.file("f.db")) + caregate::testing::read_file(dir.file("f.db-wal"));
    std::string plain(reinterpret_cast<const char*>(d.data()), 16);
    EXPECT_EQ(bytes.find(plain), std::string::npos);
}

TEST(FaceTemplates, WrongKeyOrMovedRowIsRefused) {
    TempDir dir;
    FaceKey::create(dir.file("a.key"));
    FaceKey::create(dir.file("b.key"));
    SystemClock clock;
    Store store(dir.file("f.db"));
    Roster roster(store, clock);
    Elder a, b;
    a.name = "a";
    b.name = "b";
    auto ida = roster.save(a, "t").id, idb = roster.save(b, "t").id;
    TemplateStore ts(store, clock, FaceKey::load(dir.file("a.key")));
    store.write([&](sqlite3* db) { ts.add(db, ida, sample(1), 1, kModel); });
    TemplateStore wrong(store, clock, FaceKey::load(dir.file("b.key")));
    EXPECT_THROW(wrong.load_all(kModel), std::runtime_error);
    store.exec("UPDATE face_templates SET elder_id=" + std::to_string(idb));
    EXPECT_THROW(ts.load_all(kModel), std::runtime_error)
        << "a template moved to another elder must not decrypt";
}

// One template changed outside CareGate does not stop the others loading (the door's gallery must
// still follow the store: a forget would otherwise never reach it); every one failing is a wrong key.
TEST(FaceTemplates, OneTamperedTemplateIsLeftOutAndTheOthersLoad) {
    TwoElders site("a", "b");
    auto& store = site.store;
    auto& ts = site.ts;
    const int64_t ida = site.a, idb = site.b;
    int64_t bad = 0;
    store.write([&](sqlite3* db) {
        ts.add(db, ida, sample(1), 1, kModel);
        bad = ts.add(db, idb, sample(2), 1, kModel);
    });
    store.exec("UPDATE face_templates SET ciphertext=randomblob(length(ciphertext)) WHERE id=" +
               std::to_string(bad));
    std::vector<int64_t> unreadable;
    auto all = ts.load_all(kModel, &unreadable);
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(all[0].elder_id, ida);
    EXPECT_EQ(unreadable, std::vector<int64_t>{bad});
    store.exec("UPDATE face_templates SET ciphertext=randomblob(length(ciphertext))");
    try {
        ts.load_all(kModel);
        FAIL() << "no template decrypts: a wrong key, not a bad row";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("face.key_file"), std::string::npos) << e.what();
    }
}

TEST(FaceTemplates, TemplatesOfAnotherModelAreNotLoadedAndTheElderNeedsReEnrollment) {
    TwoElders site("张桂英", "李福生");
    auto& store = site.store;
    auto& ts = site.ts;
    const int64_t ida = site.a, idb = site.b;
    auto& clock = site.clock;
    store.write([&](sqlite3* db) {
        ts.add(db, ida, sample(1, 128), 1, "dlib_resnet/128");  // enrolled before the model changed
        ts.add(db, idb, sample(2, 128), 1, "dlib_resnet/128");
        ts.add(db, idb, sample(3), 1, kModel);  // enrolled again since
    });
    auto now = ts.load_all(kModel);
    ASSERT_EQ(now.size(), 1u);
    EXPECT_EQ(now[0].elder_id, idb);
    EXPECT_EQ(now[0].descriptor.size(), 192u);
    EXPECT_EQ(ts.load_all("dlib_resnet/128").at(0).descriptor.size(), 128u);
    auto stale = ts.needing_reenrollment(kModel);
    ASSERT_EQ(stale.size(), 1u);
    EXPECT_EQ(stale.begin()->second, "张桂英");
    // Staff see it: the elder is on the renewal list, and has no template the door can use.
    auto renew = ts.renewals(kModel, 0.83, clock.now_ms());
    ASSERT_EQ(renew.size(), 1u);
    EXPECT_EQ(renew[0].elder_id, ida);
    EXPECT_EQ(renew[0].reason, "model_changed");
    EXPECT_EQ(ts.count(ida, kModel), 0) << "templates the door cannot compare are not counted";
    EXPECT_EQ(ts.count(idb, kModel), 1);
}

// An elder's face that changes (illness, weight lost) shows first as door distances rising above
// their own: they are listed for renewal while the door still names them, not only once the
// distances near the threshold. A steady distance, however high, is the elder's own and not a rise;
// with too few check-ins to tell a baseline from the latest, only nearness to the threshold counts.
TEST(FaceTemplates, DistancesRisenAboveTheEldersOwnFirstOnesAskForRenewal) {
    TempDir dir;
    FaceKey::create(dir.file("k"));
    ManualClock clock{1'700'000'000'000};
    Store store(dir.file("f.db"));
    Roster roster(store, clock);
    TemplateStore ts(store, clock, FaceKey::load(dir.file("k")));
    std::map<std::string, int64_t> id;
    for (auto name : {"变了", "一直如此", "快认不出", "来得少"}) {
        Elder e;
        e.name = name;
        id[name] = roster.save(e, "t").id;
        store.write([&](sqlite3* db) { ts.add(db, id[name], sample(float(id[name])), 1, kModel); });
    }
    int64_t t = clock.now_ms() + 1;
    auto visits = [&](const std::string& name, int n, double distance) {
        store.write([&](sqlite3* db) {
            for (int i = 0; i < n; ++i, ++t)
                Stmt(db,
                     "INSERT INTO checkins(uuid, elder_id, ts, direction, method, distance) "
                     "VALUES(?,?,?,'in','face',?)")
                    .bind(1, name + std::to_string(t))
                    .bind(2, id[name])
                    .bind(3, t)
                    .bind(4, distance)
                    .step();
        });
    };
    visits("变了", 5, 0.40);   // just after the enrollment
    visits("变了", 10, 0.66);  // lately: still named (threshold 0.83), but far above her own
    visits("一直如此", 15, 0.66);
    visits("快认不出", 6, 0.75);
    visits("来得少", 5, 0.40);
    visits("来得少", 5, 0.66);
    std::map<int64_t, TemplateRenewal> renew;
    for (auto& r : ts.renewals(kModel, 0.83, clock.now_ms())) renew[r.elder_id] = r;
    ASSERT_EQ(renew.count(id["变了"]), 1u);
    EXPECT_EQ(renew[id["变了"]].reason, "distance_rising");
    EXPECT_NEAR(renew[id["变了"]].baseline_distance.value_or(0), 0.40, 1e-9);
    EXPECT_NEAR(renew[id["变了"]].recent_distance.value_or(0), 0.66, 1e-9);
    EXPECT_EQ(renew.count(id["一直如此"]), 0u) << "a steady distance is not a rise";
    ASSERT_EQ(renew.count(id["快认不出"]), 1u);
    EXPECT_EQ(renew[id["快认不出"]].reason, "distance_rising");
    EXPECT_FALSE(renew[id["快认不出"]].baseline_distance) << "6 check-ins: no baseline apart from the latest";
    EXPECT_EQ(renew.count(id["来得少"]), 0u) << "10 check-ins: the baseline would overlap the latest";
    EXPECT_EQ(renew.size(), 2u);
}

TEST(FaceTemplates, ForgetDeletesAndAudits) {
    TempDir dir;
    FaceKey::create(dir.file("k"));
    SystemClock clock;
    Store store(dir.file("f.db"));
    Roster roster(store, clock);
    Elder e;
    e.name = "x";
    auto id = roster.save(e, "t").id;
    TemplateStore ts(store, clock, FaceKey::load(dir.file("k")));
    store.write([&](sqlite3* db) {
        for (int i = 0; i < 3; ++i) ts.add(db, id, sample(float(i)), 1, kModel);
    });
    EXPECT_EQ(ts.forget(id, "李主任"), 3);
    EXPECT_EQ(ts.count(id, kModel), 0);
    EXPECT_TRUE(ts.load_all(kModel).empty());
    auto audited = store.read([](sqlite3* db) {
        Stmt s(db, "SELECT actor FROM audit_log WHERE action='face.forget'");
        return s.step() ? s.str(0) : std::string();
    });
    EXPECT_EQ(audited, "李主任");
}

TEST(FaceTemplates, KeyFileErrorsSayHowToFixThem) {
    try {
        FaceKey::load("/nonexistent/face.key");
        FAIL();
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("head -c 32 /dev/urandom > /nonexistent/face.key"),
                  std::string::npos);
    }
    TempDir dir;
    caregate::testing::write_file(dir.file("short"), "abc");
    ::chmod(dir.file("short").c_str(), 0600);
    EXPECT_THROW(FaceKey::load(dir.file("short")), std::runtime_error);
    caregate::testing::write_file(dir.file("hex"), std::string(64, 'a') + "\n");
    ::chmod(dir.file("hex").c_str(), 0600);
    EXPECT_NO_THROW(FaceKey::load(dir.file("hex")));
    // A raw 32-byte key may end in a line-feed or carriage-return byte; it is still 32 bytes.
    for (char last : {'\n', '\r'}) {
        caregate::testing::write_file(dir.file("raw"), std::string(31, '\x5a') + last);
        ::chmod(dir.file("raw").c_str(), 0600);
        EXPECT_NO_THROW(FaceKey::load(dir.file("raw"))) << int(last);
    }
}

}  // namespace

// Whoever reads the key reads every template: a key others can read stops start-up, naming the fix.
TEST(FaceKey, AKeyReadableByOthersIsRefused) {
    TempDir dir;
    FaceKey::create(dir.file("face.key"));
    EXPECT_NO_THROW(FaceKey::load(dir.file("face.key")));
    ::chmod(dir.file("face.key").c_str(), 0644);
    try {
        FaceKey::load(dir.file("face.key"));
        FAIL() << "a world-readable key was accepted";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("chmod 600 " + dir.file("face.key")), std::string::npos)
            << e.what();
    }
}

// The point staff tap on a photo reaches the box as "x,y" in a query parameter: anything but two
// plain non-negative integers within a photo's size is refused, never wrapped or half-read.
TEST(FacePick, OnlyTwoPlainCoordinatesAreAPoint) {
    auto p = parse_face_pick("237,120");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->x, 237);
    EXPECT_EQ(p->y, 120);
    EXPECT_TRUE(parse_face_pick("0,0"));
    EXPECT_TRUE(parse_face_pick("1000000,1000000"));
    for (const char* bad : {"",
                            ",",
                            "1",
                            "1,",
                            ",1",
                            "-1,2",
                            "1,-2",
                            "+1,2",
                            "1,2,3",
                            "1;2",
                            " 1,2",
                            "1,2 ",
                            "1.5,2",
                            "0x10,2",
                            "1000001,2",
                            "1,1000001",
                            "99999999999,1",
                            "1,99999999999",
                            "00000000000000001,1",
                            "1,2\n"})
        EXPECT_FALSE(parse_face_pick(bad)) << '"' << bad << '"';
}
