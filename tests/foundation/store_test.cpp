// The store: migrations, refusal of newer databases, crash safety under SIGKILL, backup.
#include "controller/core/store.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <spdlog/sinks/ostream_sink.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <future>
#include <set>
#include <sstream>
#include <thread>

#include "controller/core/bus.hpp"
#include "controller/core/log.hpp"
#include "tests/support/test_support.hpp"

using namespace caregate;
using caregate::testing::Pause;
using caregate::testing::TempDir;

namespace {

int64_t count(Store& s, const std::string& table) {
    return s.read([&](sqlite3* db) {
        Stmt st(db, "SELECT COUNT(*) FROM " + table);
        st.step();
        return st.i64(0);
    });
}

TEST(Store, FreshDatabaseIsAtLatestSchemaWithWalAndFullSync) {
    TempDir dir;
    Store s(dir.file("a.db"));
    EXPECT_EQ(s.schema_version(), latest_schema_version());
    s.read([](sqlite3* db) {
        Stmt j(db, "PRAGMA journal_mode");
        j.step();
        EXPECT_EQ(j.str(0), "wal");
        Stmt sy(db, "PRAGMA synchronous");
        sy.step();
        EXPECT_EQ(sy.i64(0), 2);  // FULL
        Stmt fk(db, "PRAGMA foreign_keys");
        fk.step();
        EXPECT_EQ(fk.i64(0), 1);
    });
}

TEST(Store, MigratesAnOlderDatabaseKeepingItsRows) {
    TempDir dir;
    std::string path = dir.file("old.db");
    {
        // Build a version-1 database as an older caregate left it, with data in it.
        sqlite3* db = nullptr;
        ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
        exec(db, migrations().at(0).sql);
        exec(db, "PRAGMA user_version=1");
        exec(db,
             "INSERT INTO elders(uuid, name, gender, categories, created_at, updated_at) "
             "VALUES('u-1', '张桂英', '女', '[\"独居\"]', 1, 1)");
        exec(db,
             "INSERT INTO audit_log(ts, actor, action, subject) VALUES(1, 'admin', 'elder.create', "
             "'elder:1')");
        sqlite3_close(db);
    }
    Store s(path, 1000, false);
    EXPECT_EQ(s.schema_version(), 1);
    EXPECT_EQ(s.migrate(), latest_schema_version() - 1);
    EXPECT_EQ(s.schema_version(), latest_schema_version());
    EXPECT_EQ(count(s, "elders"), 1);
    EXPECT_EQ(count(s, "audit_log"), 1);
    EXPECT_EQ(count(s, "alarms"), 0);  // new tables exist
    EXPECT_EQ(s.integrity_check(), "ok");
}

TEST(Store, RefusesADatabaseFromANewerCaregate) {
    TempDir dir;
    std::string path = dir.file("new.db");
    {
        Store s(path);
        s.exec("PRAGMA user_version=" + std::to_string(latest_schema_version() + 7));
    }
    try {
        Store s(path);
        FAIL() << "opened a newer database";
    } catch (const StoreError& e) {
        std::string w = e.what();
        EXPECT_NE(w.find(path), std::string::npos) << w;
        EXPECT_NE(w.find(std::to_string(latest_schema_version() + 7)), std::string::npos) << w;
        EXPECT_NE(w.find("(" + std::to_string(latest_schema_version()) + ")"), std::string::npos) << w;
    }
}

TEST(Store, UnwritableDirectoryIsNamed) {
    // /proc refuses new files even for root, so this holds whoever runs the test.
    try {
        Store s("/proc/caregate-test/x.db");
        FAIL();
    } catch (const StoreError& e) {
        EXPECT_NE(std::string(e.what()).find("/proc/caregate-test"), std::string::npos) << e.what();
    }
}

TEST(Store, FailedMigrationOrWriteRollsBackAndKeepsData) {
    TempDir dir;
    Store s(dir.file("r.db"));
    s.write([](sqlite3* db) { exec(db, "INSERT INTO settings(key, value) VALUES('a', '1')"); });
    EXPECT_THROW(s.write([](sqlite3* db) {
        exec(db, "INSERT INTO settings(key, value) VALUES('b', '2')");
        exec(db, "INSERT INTO settings(key, value) VALUES('a', 'dup')");  // violates the primary key
    }),
                 StoreError);
    EXPECT_EQ(count(s, "settings"), 1);
}

// Store::exec takes the store's lock like every other use of its one connection: a statement from
// another thread waits for a write transaction under way instead of running inside it, and so is not
// rolled back with it.
TEST(Store, AStatementFromAnotherThreadWaitsForTheWriteUnderWay) {
    TempDir dir;
    Store s(dir.file("x.db"));
    Pause inside;
    auto writing = std::async(std::launch::async, [&] {
        try {
            s.write([&](sqlite3* db) {
                exec(db, "INSERT INTO settings(key, value) VALUES('a', '1')");
                inside.wait_here();
                throw std::runtime_error("given up: rolled back");
            });
        } catch (const std::runtime_error&) {
        }
    });
    EXPECT_TRUE(inside.arrived(std::chrono::seconds(30)));
    auto other =
        std::async(std::launch::async, [&] { s.exec("INSERT INTO settings(key, value) VALUES('b', '2')"); });
    EXPECT_EQ(other.wait_for(std::chrono::milliseconds(500)), std::future_status::timeout)
        << "the statement ran inside another thread's transaction";
    inside.release();
    writing.get();
    other.get();
    EXPECT_EQ(count(s, "settings"), 1) << "the other thread's row was rolled back with the write";
}

// CCTV events are written without their own fsync; everything after them is back to FULL, also
// after a relaxed write that failed and was rolled back.
TEST(Store, ARelaxedWriteIsCommittedAndLeavesTheNextWritesFullySynced) {
    TempDir dir;
    Store s(dir.file("x.db"));
    auto sync_level = [&] {
        return s.read([](sqlite3* db) {
            Stmt sy(db, "PRAGMA synchronous");
            sy.step();
            return sy.i64(0);
        });
    };
    int level_inside = -1;
    s.write_relaxed([&](sqlite3* db) {
        exec(db, "INSERT INTO settings(key, value) VALUES('motion', '1')");
        Stmt sy(db, "PRAGMA synchronous");
        sy.step();
        level_inside = int(sy.i64(0));
    });
    EXPECT_EQ(level_inside, 1) << "NORMAL inside the relaxed transaction";
    EXPECT_EQ(sync_level(), 2) << "FULL again after it";
    EXPECT_THROW(s.write_relaxed([](sqlite3* db) {
        exec(db, "INSERT INTO settings(key, value) VALUES('motion2', '1')");
        exec(db, "INSERT INTO settings(key, value) VALUES('motion', 'dup')");
    }),
                 StoreError);
    EXPECT_EQ(sync_level(), 2) << "FULL again after a rolled-back relaxed write";
    EXPECT_EQ(count(s, "settings"), 1);
    // A second process sees the relaxed row: it is committed, not only in this connection's memory.
    Store other(dir.file("x.db"));
    EXPECT_EQ(count(other, "settings"), 1);
}

TEST(Store, CommittedRowsSurviveSigkillMidWriteLoop) {
    TempDir dir;
    std::string path = dir.file("crash.db");
    { Store init(path); }
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        Store s(path);
        for (int64_t i = 1;; ++i) {
            s.write([&](sqlite3* db) {
                Stmt st(
                    db,
                    "INSERT INTO audit_log(ts, actor, action, subject, detail) VALUES(?, 'w', 'x', 'y', ?)");
                st.bind(1, i).bind(2, std::string(200, 'z')).run();
            });
            // Reported only after COMMIT returned: each reported id must be on disk.
            if (write(fds[1], &i, sizeof i) != sizeof i) _exit(1);
        }
    }
    close(fds[1]);
    std::set<int64_t> committed;
    int64_t id;
    while (committed.size() < 300 && read(fds[0], &id, sizeof id) == sizeof id) committed.insert(id);
    kill(pid, SIGKILL);
    while (read(fds[0], &id, sizeof id) == sizeof id) committed.insert(id);
    int st;
    waitpid(pid, &st, 0);
    close(fds[0]);
    ASSERT_TRUE(WIFSIGNALED(st));

    Store s(path);
    EXPECT_EQ(s.integrity_check(), "ok");
    std::set<int64_t> stored;
    s.read([&](sqlite3* db) {
        Stmt q(db, "SELECT ts FROM audit_log");
        while (q.step()) stored.insert(q.i64(0));
    });
    for (int64_t c : committed) ASSERT_TRUE(stored.count(c)) << "committed row " << c << " lost";
    EXPECT_GE(stored.size(), 300u);
}

// After a deletion the write-ahead log is copied into the database and emptied; a reader in another
// process holding part of it is reported, and the next checkpoint completes.
TEST(Store, ACheckpointSaysWhenAReaderKeptTheLog) {
    TempDir dir;
    Store store(dir.file("c.db"));
    store.write([](sqlite3* db) {
        exec(db, "INSERT INTO audit_log(ts,actor,action,subject,detail) VALUES(1,'t','a','s','{}')");
    });
    EXPECT_TRUE(store.checkpoint());
    EXPECT_EQ(std::filesystem::file_size(dir.file("c.db-wal")), 0u) << "the log was emptied";
    sqlite3* reader = nullptr;
    ASSERT_EQ(sqlite3_open(dir.file("c.db").c_str(), &reader), SQLITE_OK);
    store.write([](sqlite3* db) {
        exec(db, "INSERT INTO audit_log(ts,actor,action,subject,detail) VALUES(2,'t','a','s','{}')");
    });
    exec(reader, "BEGIN");
    exec(reader, "SELECT COUNT(*) FROM audit_log");  // a read transaction on the log as it is
    store.write([](sqlite3* db) {
        exec(db, "INSERT INTO audit_log(ts,actor,action,subject,detail) VALUES(3,'t','a','s','{}')");
    });
    EXPECT_FALSE(store.checkpoint()) << "a reader kept part of the log";
    exec(reader, "COMMIT");
    sqlite3_close(reader);
    EXPECT_TRUE(store.checkpoint());
}

TEST(Store, OnlineBackupIsACompleteCopy) {
    TempDir dir;
    Store s(dir.file("live.db"));
    s.write([](sqlite3* db) {
        for (int i = 0; i < 100; ++i)
            exec(db, "INSERT INTO audit_log(ts, actor, action, subject) VALUES(" + std::to_string(i) +
                         ",'a','b','c')");
    });
    s.backup_to(dir.file("copy.db"));
    Store copy(dir.file("copy.db"));
    EXPECT_EQ(count(copy, "audit_log"), 100);
    EXPECT_EQ(copy.integrity_check(), "ok");
    EXPECT_THROW(s.backup_to("/proc/nope/copy.db"), StoreError);
}

TEST(Bus, FullQueueDropsAndCounts) {
    Bus bus;
    auto sub = bus.subscribe("slow", 3);
    for (int i = 0; i < 5; ++i) bus.publish(ButtonPressed{"b" + std::to_string(i), "", "call", i});
    EXPECT_EQ(sub->depth(), 3u);
    EXPECT_EQ(sub->dropped(), 2u);
    EXPECT_EQ(bus.dropped(), 2u);
    auto e = sub->next(std::chrono::milliseconds(10));
    ASSERT_TRUE(e);
    EXPECT_EQ(std::get<ButtonPressed>(*e).device_id, "b0");
    sub->close();
    while (sub->next(std::chrono::milliseconds(1))) {
    }
    EXPECT_FALSE(sub->next(std::chrono::milliseconds(1)));
}

}  // namespace

// A newline in a logged field (an elder's name, a payload) cannot forge a second log line.
TEST(Logging, ControlCharactersInAMessageStayOnItsLine) {
    std::ostringstream out;
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
    spdlog::logger log("forge-test", sink);
    log.set_formatter(caregate::one_line_formatter());
    log.info("elder {} checked in",
             "王奶奶\n2026-12-02T10:00:00.000+0800 info alarms: alarm 9 resolved\r\x1b[2J");
    std::string line = out.str();
    ASSERT_FALSE(line.empty());
    EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1) << line;
    EXPECT_EQ(line.back(), '\n');
    EXPECT_NE(line.find("王奶奶\\n2026-12-02"), std::string::npos) << line;
    EXPECT_NE(line.find("\\x1b[2J"), std::string::npos) << line;
    EXPECT_NE(line.find("info forge-test: elder"), std::string::npos) << line;
}
