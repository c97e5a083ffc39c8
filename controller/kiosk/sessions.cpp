#include "controller/kiosk/sessions.hpp"

#include <sodium.h>

#include <stdexcept>

namespace caregate {

namespace {
std::string sha256_hex(const std::string& token) {
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, reinterpret_cast<const unsigned char*>(token.data()), token.size());
    char hex[2 * crypto_hash_sha256_BYTES + 1];
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    return hex;
}
constexpr int64_t kSeenWriteMs = 60'000;  // last_seen reaches the disk at most once a minute
}  // namespace

std::string random_token() {
    unsigned char b[32];
    randombytes_buf(b, sizeof b);
    char hex[65];
    sodium_bin2hex(hex, sizeof hex, b, sizeof b);
    return hex;
}

SessionStore::SessionStore(Store& store, const Clock& clock, int64_t idle_ms)
    : store_(store), clock_(clock), idle_ms_(idle_ms) {
    if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
    int64_t now = clock_.now_ms();
    store_.write([&](sqlite3* db) {
        // Ended while the box was off, or their account was disabled meanwhile: gone.
        Stmt del(db,
                 "DELETE FROM kiosk_sessions WHERE expires_at<? OR last_seen<? OR staff_id NOT IN "
                 "(SELECT id FROM staff WHERE active=1)");
        del.bind(1, now).bind(2, now - idle_ms_).run();
        Stmt s(
            db,
            "SELECT k.token_sha256, k.id, k.csrf, k.client, k.created_at, k.last_seen, k.expires_at, s.id, "
            "s.username, s.display_name, s.role, s.active, COALESCE(s.phone,'') FROM kiosk_sessions k JOIN "
            "staff s ON s.id=k.staff_id");
        while (s.step()) {
            Session x;
            x.id = s.str(1);
            x.csrf = s.str(2);
            x.client = s.str(3);
            x.created_ms = s.i64(4);
            x.last_seen_ms = s.i64(5);
            x.expires_ms = s.i64(6);
            x.who = StaffMember{s.i64(7), s.str(8), s.str(9), s.str(10), s.i64(11) != 0, s.str(12)};
            stored_seen_[s.str(0)] = x.last_seen_ms;
            by_hash_[s.str(0)] = std::move(x);
        }
    });
}

std::pair<std::string, Session> SessionStore::open(const StaffMember& who, int64_t max_ms,
                                                   const std::string& client) {
    int64_t now = clock_.now_ms();
    Session s{who, random_token(), now + max_ms, random_token().substr(0, 12), now, now, client};
    std::string token = random_token();
    std::string hash = sha256_hex(token);
    std::lock_guard<std::mutex> lock(mu_);
    store_.write([&](sqlite3* db) {
        Stmt i(db,
               "INSERT INTO kiosk_sessions(token_sha256, id, staff_id, csrf, client, created_at, last_seen, "
               "expires_at) VALUES(?,?,?,?,?,?,?,?)");
        i.bind(1, hash).bind(2, s.id).bind(3, who.id).bind(4, s.csrf).bind(5, client);
        i.bind(6, now).bind(7, now).bind(8, s.expires_ms).run();
    });
    by_hash_[hash] = s;
    stored_seen_[hash] = now;
    return {token, s};
}

std::optional<Session> SessionStore::use(const std::string& token) {
    if (token.empty()) return std::nullopt;
    std::string hash = sha256_hex(token);
    std::lock_guard<std::mutex> lock(mu_);
    auto it = by_hash_.find(hash);
    if (it == by_hash_.end()) return std::nullopt;
    int64_t now = clock_.now_ms();
    if (it->second.expires_ms < now || now - it->second.last_seen_ms > idle_ms_) {
        store_.write([&](sqlite3* db) { forget(db, hash); });
        return std::nullopt;
    }
    it->second.last_seen_ms = now;
    if (now - stored_seen_[hash] >= kSeenWriteMs) {
        store_.write([&](sqlite3* db) {
            Stmt u(db, "UPDATE kiosk_sessions SET last_seen=? WHERE token_sha256=?");
            u.bind(1, now).bind(2, hash).run();
        });
        stored_seen_[hash] = now;
    }
    return it->second;
}

void SessionStore::forget(sqlite3* db, const std::string& hash) {
    Stmt d(db, "DELETE FROM kiosk_sessions WHERE token_sha256=?");
    d.bind(1, hash).run();
    by_hash_.erase(hash);
    stored_seen_.erase(hash);
}

void SessionStore::end(const std::string& token) {
    std::string hash = sha256_hex(token);
    std::lock_guard<std::mutex> lock(mu_);
    store_.write([&](sqlite3* db) { forget(db, hash); });
}

std::optional<bool> SessionStore::end_by_id(const std::string& id,
                                            const std::function<bool(const Session&)>& allowed) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [hash, s] : by_hash_) {
        if (s.id != id) continue;
        if (!allowed(s)) return false;
        std::string h = hash;  // forget() erases the entry the reference points into
        store_.write([&](sqlite3* db) { forget(db, h); });
        return true;
    }
    return std::nullopt;
}

int SessionStore::end_all_of(const std::string& username, const std::string& except_id) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> ending;
    for (auto& [hash, s] : by_hash_)
        if (s.who.username == username && s.id != except_id) ending.push_back(hash);
    if (!ending.empty())
        store_.write([&](sqlite3* db) {
            for (auto& h : ending) forget(db, h);
        });
    return int(ending.size());
}

std::vector<Session> SessionStore::list() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Session> out;
    for (auto& [hash, s] : by_hash_) out.push_back(s);
    return out;
}

}  // namespace caregate
