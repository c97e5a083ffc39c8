// Staff accounts: Argon2id password hashes (libsodium), roles, lockout after repeated failures.
// There is no default account: the first admin is created with `caregate staff add`.
#pragma once

#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "controller/core/clock.hpp"
#include "controller/core/store.hpp"

namespace caregate {

struct StaffMember {
    int64_t id = 0;
    std::string username;
    std::string display_name;
    std::string role;  // staff, admin
    bool active = true;
    std::string phone;  // for @duty notifications (SMS, voice); "" = none
};

enum class LoginResult { ok, bad_credentials, locked, busy };

// Someone whose duty shift covers a moment; reachable when active and with a phone. The one rule
// for who "@duty" is: the notifier texts and rings them, the kiosk's 值班 page shows them.
struct OnShift {
    int64_t staff_id = 0;
    std::string display_name;
    std::string phone;
    bool active = true;
    bool reachable() const { return active && !phone.empty(); }
};
std::vector<OnShift> on_shift(sqlite3* db, int weekday, int minute);

class StaffAccounts {
public:
    static constexpr int kMaxFailures = 5;
    static constexpr int64_t kLockMs = 15 * 60 * 1000;

    StaffAccounts(Store& store, const Clock& clock) : store_(store), clock_(clock) {}
    // Throws std::invalid_argument for a taken name, a bad role or a password under 8 characters.
    StaffMember add(const std::string& username, const std::string& display_name, const std::string& role,
                    const std::string& password, const std::string& actor);
    LoginResult login(const std::string& username, const std::string& password, StaffMember* out);
    void set_password(const std::string& username, const std::string& password, const std::string& actor);
    void set_active(const std::string& username, bool active, const std::string& actor);
    // staff or admin; throws std::invalid_argument for another role, an unknown account, or taking the
    // admin role from the last active admin.
    void set_role(const std::string& username, const std::string& role, const std::string& actor);
    // Digits with an optional leading +, 5-20 characters, or "" to clear (throws std::invalid_argument
    // otherwise); nullopt when there is no staff account with that id.
    std::optional<StaffMember> set_phone(int64_t id, const std::string& phone, const std::string& actor);
    std::vector<StaffMember> list();
    bool any_admin();

    // At most this many password checks run at once (Argon2id takes 64 MiB each): 80 logins at once
    // cost 128 MiB, not 5 GB. A check that cannot start within kHashWaitMs answers busy.
    static constexpr int kConcurrentHashes = 2;
    static constexpr int kHashWaitMs = 5000;

private:
    bool acquire_hash_slot();
    void release_hash_slot();
    Store& store_;
    const Clock& clock_;
    std::mutex hash_mu_;
    std::condition_variable hash_cv_;
    int hashing_ = 0;
};

}  // namespace caregate
