#include "controller/kiosk/door_displays.hpp"

#include <sodium.h>

#include <nlohmann/json.hpp>
#include <stdexcept>

namespace caregate {

namespace {
std::string digest(const std::string& secret) {
    unsigned char h[32];
    crypto_generichash(h, sizeof h, reinterpret_cast<const unsigned char*>(secret.data()), secret.size(),
                       nullptr, 0);
    char hex[65];
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    return hex;
}

// Codes are typed or read aloud: no 0/O or 1/I, case and the dash do not matter.
std::string normalize_code(const std::string& code) {
    std::string out;
    for (char c : code) {
        if (c == '-' || c == ' ') continue;
        out += static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
    }
    return out;
}
}  // namespace

std::string DoorDisplays::new_code(const std::string& name, const std::string& actor) {
    if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
    if (name.empty() || name.size() > 64)
        throw std::invalid_argument("请给门口屏起个名字（最多约 20 个汉字）");
    static const char alphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";  // 32 symbols
    std::string code;
    for (int i = 0; i < 8; ++i) code += alphabet[randombytes_uniform(32)];
    int64_t now = clock_.now_ms();
    store_.write([&](sqlite3* db) {
        exec(db, "DELETE FROM door_pairing_codes WHERE expires_at < " + std::to_string(now));
        Stmt s(db, "INSERT INTO door_pairing_codes(code_hash, name, created_by, expires_at) VALUES(?,?,?,?)");
        s.bind(1, digest(code)).bind(2, name).bind(3, actor).bind(4, now + kCodeLifetimeMs).run();
        Store::audit(db, actor, "door.pairing_code", "door:" + name, "{}", now);
        return 0;
    });
    return code.substr(0, 4) + "-" + code.substr(4);
}

std::optional<std::string> DoorDisplays::pair(const std::string& code) {
    if (code.size() > 32) return std::nullopt;
    std::string key = digest(normalize_code(code));
    int64_t now = clock_.now_ms();
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    char hex[65];
    sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
    std::string token = hex;
    bool ok = store_.write([&](sqlite3* db) {
        Stmt s(db, "SELECT name, created_by, expires_at FROM door_pairing_codes WHERE code_hash=?");
        s.bind(1, key);
        if (!s.step()) return false;
        std::string name = s.str(0), by = s.str(1);
        bool fresh = s.i64(2) >= now;
        Stmt del(db, "DELETE FROM door_pairing_codes WHERE code_hash=?");
        del.bind(1, key).run();  // used or expired: gone either way
        if (!fresh) return false;
        Stmt ins(db, "INSERT INTO door_displays(name, token_hash, created_by, created_at) VALUES(?,?,?,?)");
        ins.bind(1, name).bind(2, digest(token)).bind(3, by).bind(4, now).run();
        Store::audit(db, by, "door.paired", "door:" + std::to_string(last_insert_id(db)),
                     nlohmann::json{{"name", name}}.dump(), now);
        return true;
    });
    if (!ok) return std::nullopt;
    return token;
}

bool DoorDisplays::valid(const std::string& token) {
    if (token.size() != 64) return false;
    std::string key = digest(token);
    int64_t now = clock_.now_ms();
    auto seen = store_.read([&](sqlite3* db) -> std::optional<std::pair<int64_t, int64_t>> {
        Stmt s(
            db,
            "SELECT id, COALESCE(last_seen, 0) FROM door_displays WHERE token_hash=? AND revoked_at IS NULL");
        s.bind(1, key);
        if (!s.step()) return std::nullopt;
        return std::make_pair(s.i64(0), s.i64(1));
    });
    if (!seen) return false;
    if (now - seen->second > 60'000)  // polled every second: written at most once a minute
        store_.write([&](sqlite3* db) {
            Stmt u(db, "UPDATE door_displays SET last_seen=? WHERE id=?");
            u.bind(1, now).bind(2, seen->first).run();
            return 0;
        });
    return true;
}

std::vector<DoorDisplay> DoorDisplays::list() {
    return store_.read([&](sqlite3* db) {
        std::vector<DoorDisplay> out;
        Stmt s(
            db,
            "SELECT id, name, created_by, created_at, last_seen, revoked_at FROM door_displays ORDER BY id");
        while (s.step()) {
            DoorDisplay d;
            d.id = s.i64(0);
            d.name = s.str(1);
            d.created_by = s.str(2);
            d.created_at = s.i64(3);
            if (!s.is_null(4)) d.last_seen = s.i64(4);
            if (!s.is_null(5)) d.revoked_at = s.i64(5);
            out.push_back(d);
        }
        return out;
    });
}

bool DoorDisplays::revoke(int64_t id, const std::string& actor) {
    int64_t now = clock_.now_ms();
    return store_.write([&](sqlite3* db) {
        Stmt s(db, "UPDATE door_displays SET revoked_at=? WHERE id=? AND revoked_at IS NULL");
        s.bind(1, now).bind(2, id).run();
        bool changed = sqlite3_changes(db) > 0;
        if (changed) Store::audit(db, actor, "door.revoked", "door:" + std::to_string(id), "{}", now);
        return changed;
    });
}

}  // namespace caregate
