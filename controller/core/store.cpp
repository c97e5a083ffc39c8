#include "controller/core/store.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace fs = std::filesystem;

namespace caregate {

namespace {
[[noreturn]] void fail(sqlite3* db, const std::string& what) {
    throw StoreError(what + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
}
}  // namespace

Stmt::Stmt(sqlite3* db, const std::string& sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size()), &st_, nullptr) != SQLITE_OK)
        fail(db, "SQL error in '" + sql.substr(0, 80) + "'");
}
Stmt::~Stmt() {
    if (st_) sqlite3_finalize(st_);
}
Stmt& Stmt::bind(int i, int64_t v) {
    sqlite3_bind_int64(st_, i, v);
    return *this;
}
Stmt& Stmt::bind(int i, double v) {
    sqlite3_bind_double(st_, i, v);
    return *this;
}
Stmt& Stmt::bind(int i, const std::string& v) {
    sqlite3_bind_text(st_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
}
Stmt& Stmt::bind_blob(int i, const void* data, size_t n) {
    sqlite3_bind_blob(st_, i, data, static_cast<int>(n), SQLITE_TRANSIENT);
    return *this;
}
Stmt& Stmt::bind_null(int i) {
    sqlite3_bind_null(st_, i);
    return *this;
}
bool Stmt::step() {
    int rc = sqlite3_step(st_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail(db_, "SQL step failed");
}
void Stmt::reset() {
    sqlite3_reset(st_);
    sqlite3_clear_bindings(st_);
}
std::string Stmt::str(int col) const {
    auto* p = sqlite3_column_text(st_, col);
    return p ? std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(st_, col)) : std::string();
}
std::vector<uint8_t> Stmt::blob(int col) const {
    auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(st_, col));
    return p ? std::vector<uint8_t>(p, p + sqlite3_column_bytes(st_, col)) : std::vector<uint8_t>();
}

void exec(sqlite3* db, const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
        std::string msg = err ? err : "unknown error";
        sqlite3_free(err);
        throw StoreError("SQL error: " + msg);
    }
}

int64_t last_insert_id(sqlite3* db) { return sqlite3_last_insert_rowid(db); }

Store::Store(const std::string& path, int busy_timeout_ms, bool do_migrate) : path_(path) {
    fs::path p(path);
    fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
    std::error_code ec;
    if (!fs::exists(dir, ec)) {
        fs::create_directories(dir, ec);
        if (ec)
            throw StoreError("cannot create database directory " + dir.string() + ": " + ec.message() +
                             " (create it, or set store.path to a writable place)");
    }
    if (::access(dir.c_str(), W_OK) != 0)
        throw StoreError("database directory " + dir.string() + " is not writable by this user (" +
                         std::strerror(errno) + "); fix its owner/permissions or set store.path");
    if (fs::exists(p, ec) && ::access(p.c_str(), R_OK | W_OK) != 0)
        throw StoreError("database file " + path + " is not readable and writable (" + std::strerror(errno) +
                         ")");

    if (sqlite3_open_v2(path.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        nullptr) != SQLITE_OK) {
        std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
        sqlite3_close(db_);
        db_ = nullptr;
        throw StoreError("cannot open database " + path + ": " + msg);
    }
    sqlite3_busy_timeout(db_, busy_timeout_ms);
    try {
        exec("PRAGMA journal_mode=WAL");
        exec("PRAGMA synchronous=FULL");
        exec("PRAGMA foreign_keys=ON");
        exec("PRAGMA secure_delete=ON");  // deleted face templates and records are overwritten on disk
        int v = schema_version();
        if (v > latest_schema_version())
            throw StoreError("database " + path + " has schema version " + std::to_string(v) +
                             ", newer than this caregate supports (" +
                             std::to_string(latest_schema_version()) +
                             "); install the newer caregate or restore a backup");
        if (do_migrate) migrate();
    } catch (...) {
        sqlite3_close(db_);
        db_ = nullptr;
        throw;
    }
}

Store::~Store() {
    if (db_) sqlite3_close(db_);
}

void Store::exec(const std::string& sql) {
    // One connection for every thread: not in the middle of another thread's transaction.
    std::lock_guard<std::recursive_mutex> lock(mu_);
    caregate::exec(db_, sql);
}

bool Store::checkpoint() {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    Stmt s(db_, "PRAGMA wal_checkpoint(TRUNCATE)");
    return s.step() && s.i64(0) == 0;  // busy, log frames, checkpointed frames
}

int Store::schema_version() {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    Stmt s(db_, "PRAGMA user_version");
    s.step();
    return static_cast<int>(s.i64(0));
}

int Store::migrate() {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    int applied = 0;
    for (const auto& m : migrations()) {
        if (m.version <= schema_version()) continue;
        // The pragma is a no-op inside a transaction, so it is switched around it.
        if (m.rebuilds_tables) exec("PRAGMA foreign_keys=OFF");
        try {
            write([&](sqlite3* db) {
                caregate::exec(db, m.sql);
                if (m.rebuilds_tables) {
                    Stmt fk(db, "PRAGMA foreign_key_check");
                    if (fk.step())
                        throw StoreError(std::string("migration ") + std::to_string(m.version) +
                                         " would break a reference from table " + fk.str(0));
                }
                caregate::exec(db, "PRAGMA user_version=" + std::to_string(m.version));
            });
        } catch (...) {
            if (m.rebuilds_tables) exec("PRAGMA foreign_keys=ON");
            throw;
        }
        if (m.rebuilds_tables) exec("PRAGMA foreign_keys=ON");
        applied++;
    }
    return applied;
}

void Store::backup_to(const std::string& out) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    sqlite3* dst = nullptr;
    if (sqlite3_open(out.c_str(), &dst) != SQLITE_OK) {
        std::string msg = dst ? sqlite3_errmsg(dst) : "out of memory";
        sqlite3_close(dst);
        throw StoreError("cannot create backup file " + out + ": " + msg);
    }
    sqlite3_backup* b = sqlite3_backup_init(dst, "main", db_, "main");
    if (!b) {
        std::string msg = sqlite3_errmsg(dst);
        sqlite3_close(dst);
        throw StoreError("backup to " + out + " failed: " + msg);
    }
    int rc;
    do {
        rc = sqlite3_backup_step(b, 256);
        if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) sqlite3_sleep(20);
    } while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
    sqlite3_backup_finish(b);
    std::string msg = sqlite3_errmsg(dst);
    sqlite3_close(dst);
    if (rc != SQLITE_DONE) throw StoreError("backup to " + out + " failed: " + msg);
}

std::string Store::integrity_check() {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    Stmt s(db_, "PRAGMA integrity_check");
    std::string out;
    while (s.step()) out += s.str(0);
    return out;
}

void Store::audit(sqlite3* db, const std::string& actor, const std::string& action,
                  const std::string& subject, const std::string& detail_json, int64_t ts_ms) {
    Stmt s(db, "INSERT INTO audit_log(ts, actor, action, subject, detail) VALUES(?,?,?,?,?)");
    s.bind(1, ts_ms).bind(2, actor).bind(3, action).bind(4, subject).bind(5, detail_json).run();
}

}  // namespace caregate
