// A kiosk as the API tests drive it: the site's services on a store in a temp folder, an injected
// clock, the Kiosk on a real HTTP server on a port of the kernel's choosing, and staff logins.
// Tests that need more parts (care, meals, faces) change parts() before start().
#pragma once

#include <httplib.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "config/config.hpp"
#include "controller/alarms/alarms.hpp"
#include "controller/city/outbox.hpp"
#include "controller/core/bus.hpp"
#include "controller/core/clock.hpp"
#include "controller/core/store.hpp"
#include "controller/kiosk/http_server.hpp"
#include "controller/kiosk/kiosk.hpp"
#include "controller/kiosk/live_feed.hpp"
#include "controller/people/checkins.hpp"
#include "controller/people/occupancy.hpp"
#include "controller/people/records.hpp"
#include "controller/people/roster.hpp"
#include "controller/people/staff.hpp"
#include "tests/support/test_support.hpp"

namespace caregate::testing {

class KioskRig {
public:
    // `yaml`: the site config; check-ins without a zone count in `checkin_zone`.
    explicit KioskRig(const std::string& yaml, int64_t now_ms = 1'796'191'401'000,
                      const std::string& checkin_zone = "hall");
    ~KioskRig() { http.stop(); }
    KioskParts parts();
    void start() { start(parts()); }
    void start(const KioskParts& p);  // makes the Kiosk and serves it

    struct Login {
        std::string cookie, csrf;
        int status = 0;
    };
    Login login(const std::string& user, const std::string& password);
    httplib::Result get(const Login& l, const std::string& path);
    // POST, PUT or DELETE with the login's cookie and CSRF token.
    httplib::Result send(const Login& l, const std::string& method, const std::string& path,
                         const nlohmann::json& body);

    TempDir dir;
    config::SiteConfig cfg;
    ManualClock clock;
    Store store;
    Outbox outbox;
    Bus bus;
    AlarmService alarms;
    Occupancy occ;
    CheckinService checkins;
    Roster roster;
    StaffAccounts staff;
    Records records;
    LiveFeed feed;
    HttpServer http;
    std::unique_ptr<Kiosk> kiosk;
};

}  // namespace caregate::testing
