// Staff logins (sessions) that survive a restart of the box: kept in memory for every request and
// written to `kiosk_sessions` (migration 13) keyed by the SHA-256 of the cookie's token, so a copy of
// the database logs no one in. A login ends after `idle_ms` unused or at its absolute end; ending it
// (logout, revoke, password change, a disabled account) deletes its row.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "controller/core/clock.hpp"
#include "controller/core/store.hpp"
#include "controller/people/staff.hpp"

namespace caregate {

struct Session {
    StaffMember who;
    std::string csrf;
    int64_t expires_ms = 0;  // absolute end (kiosk.session_max_h)
    std::string id;          // public handle for listing and revoking (never the cookie's token)
    int64_t created_ms = 0;
    int64_t last_seen_ms = 0;  // idle end = last_seen + kiosk.session_idle_min
    std::string client;        // address it logged in from
};

class SessionStore {
public:
    // Loads the stored logins still valid at now, of accounts still active (their current name and
    // role, not those at login).
    SessionStore(Store& store, const Clock& clock, int64_t idle_ms);
    // A new login for `who`: its cookie token (random, 256 bits) and the session.
    std::pair<std::string, Session> open(const StaffMember& who, int64_t max_ms, const std::string& client);
    // The valid login behind a cookie token, marked used now; nullopt (and ended) when idle or expired.
    std::optional<Session> use(const std::string& token);
    void end(const std::string& token);
    // Ends the login with this public id if `allowed` says so; nullopt: no such login.
    std::optional<bool> end_by_id(const std::string& id, const std::function<bool(const Session&)>& allowed);
    // Ends every login of an account (password changed, disabled); returns how many.
    int end_all_of(const std::string& username, const std::string& except_id = "");
    std::vector<Session> list();

private:
    void forget(sqlite3* db, const std::string& hash);
    Store& store_;
    const Clock& clock_;
    int64_t idle_ms_;
    std::mutex mu_;
    std::map<std::string, Session> by_hash_;
    std::map<std::string, int64_t> stored_seen_;  // last_seen as written: rewritten at most once a minute
};

// 32 random bytes as 64 hex characters.
std::string random_token();

}  // namespace caregate
