#include "controller/people/staff.hpp"

#include <sodium.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <stdexcept>

namespace caregate {

namespace {
std::string hash_password(const std::string& password) {
    if (password.size() < 8) throw std::invalid_argument("密码至少 8 个字符，请换一个更长的密码");
    if (password.size() > 256) throw std::invalid_argument("密码过长（最多 256 个字符）");
    if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
    char out[crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str_alg(out, password.c_str(), password.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0)
        throw std::runtime_error("out of memory while hashing the password");
    return out;
}
}  // namespace

StaffMember StaffAccounts::add(const std::string& username, const std::string& display_name,
                               const std::string& role, const std::string& password,
                               const std::string& actor) {
    static const std::regex re("[A-Za-z0-9_.-]{2,32}");
    if (!std::regex_match(username, re))
        throw std::invalid_argument("用户名须为 2 到 32 个字符，只能用英文字母、数字、下划线、点或减号");
    if (role != "staff" && role != "admin") throw std::invalid_argument("角色须为 工作人员 或 管理员");
    std::string hash = hash_password(password);
    int64_t now = clock_.now_ms();
    return store_.write([&](sqlite3* db) {
        Stmt f(db, "SELECT 1 FROM staff WHERE username=?");
        f.bind(1, username);
        if (f.step()) throw std::invalid_argument("这个用户名已被使用，请换一个");
        Stmt s(
            db,
            "INSERT INTO staff(username, display_name, role, password_hash, created_at) VALUES(?,?,?,?,?)");
        s.bind(1, username)
            .bind(2, display_name.empty() ? username : display_name)
            .bind(3, role)
            .bind(4, hash);
        s.bind(5, now).run();
        StaffMember m{
            last_insert_id(db), username, display_name.empty() ? username : display_name, role, true, ""};
        Store::audit(db, actor, "staff.create", "staff:" + username, nlohmann::json{{"role", role}}.dump(),
                     now);
        return m;
    });
}

std::vector<OnShift> on_shift(sqlite3* db, int weekday, int minute) {
    Stmt s(db,
           "SELECT DISTINCT s.id, s.display_name, COALESCE(s.phone,''), s.active FROM duty_shifts d "
           "JOIN staff s ON s.id=d.staff_id WHERE d.weekday=? AND d.start_min<=? AND d.end_min>? "
           "ORDER BY s.display_name, s.id");
    s.bind(1, weekday).bind(2, minute).bind(3, minute);
    std::vector<OnShift> out;
    while (s.step()) out.push_back({s.i64(0), s.str(1), s.str(2), s.i64(3) != 0});
    return out;
}

bool StaffAccounts::acquire_hash_slot() {
    std::unique_lock<std::mutex> lock(hash_mu_);
    if (!hash_cv_.wait_for(lock, std::chrono::milliseconds(kHashWaitMs),
                           [&] { return hashing_ < kConcurrentHashes; }))
        return false;
    hashing_++;
    return true;
}

void StaffAccounts::release_hash_slot() {
    {
        std::lock_guard<std::mutex> lock(hash_mu_);
        hashing_--;
    }
    hash_cv_.notify_one();
}

LoginResult StaffAccounts::login(const std::string& username, const std::string& password, StaffMember* out) {
    if (sodium_init() < 0) return LoginResult::bad_credentials;
    if (password.size() > 1024) return LoginResult::bad_credentials;  // nobody types that; nothing to hash
    if (!acquire_hash_slot()) return LoginResult::busy;
    struct Slot {
        StaffAccounts* s;
        ~Slot() { s->release_hash_slot(); }
    } slot{this};
    int64_t now = clock_.now_ms();
    struct Row {
        StaffMember m;
        std::string hash;
        int64_t locked_until = 0;
    };
    auto row = store_.read([&](sqlite3* db) -> std::optional<Row> {
        Stmt s(db,
               "SELECT id, username, display_name, role, active, password_hash, locked_until, "
               "COALESCE(phone,'') FROM staff WHERE username=?");
        s.bind(1, username);
        if (!s.step()) return std::nullopt;
        return Row{{s.i64(0), s.str(1), s.str(2), s.str(3), s.i64(4) != 0, s.str(7)}, s.str(5), s.i64(6)};
    });
    if (!row || !row->m.active) {
        // Same work as a real check, so a missing user cannot be told apart by timing.
        static const std::string dummy = hash_password("not-a-real-password");
        (void)!crypto_pwhash_str_verify(dummy.c_str(), password.c_str(), password.size());
        return LoginResult::bad_credentials;
    }
    if (row->locked_until > now) return LoginResult::locked;
    bool ok = crypto_pwhash_str_verify(row->hash.c_str(), password.c_str(), password.size()) == 0;
    return store_.write([&](sqlite3* db) {
        if (ok) {
            Stmt s(db, "UPDATE staff SET failed_logins=0, locked_until=0 WHERE id=?");
            s.bind(1, row->m.id).run();
            Store::audit(db, username, "staff.login", "staff:" + username, "{}", now);
            if (out) *out = row->m;
            return LoginResult::ok;
        }
        Stmt s(db,
               "UPDATE staff SET failed_logins=failed_logins+1, locked_until=CASE WHEN failed_logins+1>=? "
               "THEN ? "
               "ELSE locked_until END WHERE id=? RETURNING failed_logins");
        s.bind(1, kMaxFailures).bind(2, now + kLockMs).bind(3, row->m.id);
        s.step();
        int64_t failures = s.i64(0);
        s.run();
        Store::audit(db, username, "staff.login_failed", "staff:" + username,
                     nlohmann::json{{"failures", failures}}.dump(), now);
        return failures >= kMaxFailures ? LoginResult::locked : LoginResult::bad_credentials;
    });
}

void StaffAccounts::set_password(const std::string& username, const std::string& password,
                                 const std::string& actor) {
    // Hashing takes 64 MiB: it waits for a slot like a login does.
    if (!acquire_hash_slot()) throw std::runtime_error("系统繁忙，请稍后再试");
    std::string hash;
    try {
        hash = hash_password(password);
    } catch (...) {
        release_hash_slot();
        throw;
    }
    release_hash_slot();
    store_.write([&](sqlite3* db) {
        Stmt s(db, "UPDATE staff SET password_hash=?, failed_logins=0, locked_until=0 WHERE username=?");
        s.bind(1, hash).bind(2, username).run();
        if (sqlite3_changes(db) == 0) throw std::invalid_argument("工作人员账号不存在，请刷新页面");
        Store::audit(db, actor, "staff.password", "staff:" + username, "{}", clock_.now_ms());
    });
}

void StaffAccounts::set_active(const std::string& username, bool active, const std::string& actor) {
    store_.write([&](sqlite3* db) {
        Stmt s(db, "UPDATE staff SET active=? WHERE username=?");
        s.bind(1, active ? 1 : 0).bind(2, username).run();
        if (sqlite3_changes(db) == 0) throw std::invalid_argument("工作人员账号不存在，请刷新页面");
        Store::audit(db, actor, active ? "staff.enable" : "staff.disable", "staff:" + username, "{}",
                     clock_.now_ms());
    });
}

void StaffAccounts::set_role(const std::string& username, const std::string& role, const std::string& actor) {
    if (role != "staff" && role != "admin") throw std::invalid_argument("角色只能是工作人员或管理员");
    store_.write([&](sqlite3* db) {
        Stmt f(db, "SELECT role FROM staff WHERE username=?");
        f.bind(1, username);
        if (!f.step()) throw std::invalid_argument("工作人员账号不存在，请刷新页面");
        if (f.str(0) == role) return;
        if (role == "staff") {
            Stmt a(db, "SELECT COUNT(*) FROM staff WHERE role='admin' AND active=1 AND username<>?");
            a.bind(1, username);
            if (a.step() && a.i64(0) == 0)
                throw std::invalid_argument("这是最后一个管理员账号：请先把另一个账号设为管理员");
        }
        Stmt s(db, "UPDATE staff SET role=? WHERE username=?");
        s.bind(1, role).bind(2, username).run();
        Store::audit(db, actor, "staff.role", "staff:" + username, nlohmann::json{{"role", role}}.dump(),
                     clock_.now_ms());
    });
}

std::optional<StaffMember> StaffAccounts::set_phone(int64_t id, const std::string& phone,
                                                    const std::string& actor) {
    static const std::regex re("\\+?[0-9]+");
    if (!phone.empty() && (phone.size() < 5 || phone.size() > 20 || !std::regex_match(phone, re)))
        throw std::invalid_argument("手机号须为 5 到 20 位数字，可以 + 开头；留空为清除");
    return store_.write([&](sqlite3* db) -> std::optional<StaffMember> {
        Stmt f(db, "SELECT id, username, display_name, role, active FROM staff WHERE id=?");
        f.bind(1, id);
        if (!f.step()) return std::nullopt;
        StaffMember m{f.i64(0), f.str(1), f.str(2), f.str(3), f.i64(4) != 0, phone};
        Stmt s(db, "UPDATE staff SET phone=? WHERE id=?");
        phone.empty() ? s.bind_null(1) : s.bind(1, phone);
        s.bind(2, id).run();
        Store::audit(db, actor, "staff.phone", "staff:" + m.username, nlohmann::json{{"phone", phone}}.dump(),
                     clock_.now_ms());
        return m;
    });
}

std::vector<StaffMember> StaffAccounts::list() {
    return store_.read([](sqlite3* db) {
        std::vector<StaffMember> out;
        Stmt s(db,
               "SELECT id, username, display_name, role, active, COALESCE(phone,'') FROM staff ORDER BY "
               "username");
        while (s.step()) out.push_back({s.i64(0), s.str(1), s.str(2), s.str(3), s.i64(4) != 0, s.str(5)});
        return out;
    });
}

bool StaffAccounts::any_admin() {
    return store_.read([](sqlite3* db) {
        Stmt s(db, "SELECT 1 FROM staff WHERE role='admin' AND active=1 LIMIT 1");
        return s.step();
    });
}

}  // namespace caregate
