// The SQLite store: one file, WAL, synchronous=FULL, forward-only migrations. Every decision is
// committed here before it is announced anywhere else.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace caregate {

class StoreError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A prepared statement; bind with 1-based indexes, step() returns true while rows come.
class Stmt {
public:
    Stmt(sqlite3* db, const std::string& sql);
    ~Stmt();
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;
    Stmt(Stmt&& o) noexcept : db_(o.db_), st_(o.st_) { o.st_ = nullptr; }

    Stmt& bind(int i, int64_t v);
    Stmt& bind(int i, int v) { return bind(i, static_cast<int64_t>(v)); }
    Stmt& bind(int i, double v);
    Stmt& bind(int i, const std::string& v);
    Stmt& bind(int i, const char* v) { return bind(i, std::string(v)); }
    Stmt& bind_blob(int i, const void* data, size_t n);
    Stmt& bind_null(int i);
    template <typename T>
    Stmt& bind(int i, const std::optional<T>& v) {
        return v ? bind(i, *v) : bind_null(i);
    }
    bool step();
    void run() {
        while (step()) {
        }
    }
    void reset();

    int64_t i64(int col) const { return sqlite3_column_int64(st_, col); }
    double f64(int col) const { return sqlite3_column_double(st_, col); }
    std::string str(int col) const;
    std::vector<uint8_t> blob(int col) const;
    bool is_null(int col) const { return sqlite3_column_type(st_, col) == SQLITE_NULL; }
    std::optional<int64_t> opt_i64(int col) const {
        return is_null(col) ? std::nullopt : std::optional<int64_t>(i64(col));
    }
    std::optional<double> opt_f64(int col) const {
        return is_null(col) ? std::nullopt : std::optional<double>(f64(col));
    }
    int columns() const { return sqlite3_column_count(st_); }
    std::string column_name(int col) const { return sqlite3_column_name(st_, col); }

private:
    sqlite3* db_;
    sqlite3_stmt* st_ = nullptr;
};

struct Migration {
    int version;
    const char* name;
    const char* sql;
    // Rebuilds a table that others reference (SQLite's way to change a CHECK): run with foreign keys
    // off, and checked with foreign_key_check before it commits.
    bool rebuilds_tables = false;
};
const std::vector<Migration>& migrations();
int latest_schema_version();

class Store {
public:
    // Opens (creating the directory's file if needed) and, with migrate=true, applies pending
    // migrations. Throws StoreError naming the path on permission problems or a newer schema.
    explicit Store(const std::string& path, int busy_timeout_ms = 5000, bool migrate = true);
    ~Store();
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    const std::string& path() const { return path_; }
    int schema_version();
    // Applies pending migrations; returns how many were applied.
    int migrate();

    // Runs fn inside BEGIN IMMEDIATE ... COMMIT under the store's lock; rolls back on exception.
    template <typename F>
    auto write(F&& fn) -> decltype(fn(std::declval<sqlite3*>())) {
        std::lock_guard<std::recursive_mutex> lock(mu_);
        exec("BEGIN IMMEDIATE");
        try {
            if constexpr (std::is_void_v<decltype(fn(db_))>) {
                fn(db_);
                exec("COMMIT");
            } else {
                auto r = fn(db_);
                exec("COMMIT");
                return r;
            }
        } catch (...) {
            sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
            throw;
        }
    }
    // As write(), but committed without waiting for the disk (synchronous=NORMAL for this transaction
    // only). In WAL mode that never corrupts the file; the transaction becomes durable with the next
    // ordinary write() (which syncs the log it follows) or the next checkpoint. For high-volume rows
    // whose loss in a power cut costs little (CCTV motion events), never for a decision anyone acts on.
    template <typename F>
    auto write_relaxed(F&& fn) -> decltype(fn(std::declval<sqlite3*>())) {
        std::lock_guard<std::recursive_mutex> lock(mu_);
        exec("PRAGMA synchronous=NORMAL");
        struct Restore {
            Store* s;
            ~Restore() { sqlite3_exec(s->db_, "PRAGMA synchronous=FULL", nullptr, nullptr, nullptr); }
        } restore{this};
        return write(std::forward<F>(fn));
    }
    // Runs fn with the connection for reads (no transaction of its own).
    template <typename F>
    auto read(F&& fn) -> decltype(fn(std::declval<sqlite3*>())) {
        std::lock_guard<std::recursive_mutex> lock(mu_);
        return fn(db_);
    }

    void exec(const std::string& sql);
    // Copies the write-ahead log into the database file and empties it (after a deletion that must
    // not linger there); false when a reader in another process kept part of it for now.
    bool checkpoint();
    // Online backup to `out` with the SQLite backup API.
    void backup_to(const std::string& out);
    std::string integrity_check();
    // Appends to audit_log (inside the caller's write transaction when given its db).
    static void audit(sqlite3* db, const std::string& actor, const std::string& action,
                      const std::string& subject, const std::string& detail_json, int64_t ts_ms);

private:
    std::string path_;
    sqlite3* db_ = nullptr;
    std::recursive_mutex mu_;
};

int64_t last_insert_id(sqlite3* db);
void exec(sqlite3* db, const std::string& sql);

}  // namespace caregate
