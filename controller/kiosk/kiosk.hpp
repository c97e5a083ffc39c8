// The staff kiosk's HTTP API (JSON) and pages. Every write needs a session cookie and the
// session's CSRF token, and lands in the audit log; admin-only routes check the role.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "config/config.hpp"
#include "controller/alarms/alarms.hpp"
#include "controller/core/heartbeat.hpp"
#include "controller/door/door_speaker.hpp"
#include "controller/door/gate.hpp"
#include "controller/kiosk/door_displays.hpp"
#include "controller/kiosk/live_feed.hpp"
#include "controller/kiosk/sessions.hpp"
#include "controller/people/checkins.hpp"
#include "controller/people/face_enrollment.hpp"
#include "controller/people/face_templates.hpp"
#include "controller/people/occupancy.hpp"
#include "controller/people/records.hpp"
#include "controller/people/roster.hpp"
#include "controller/people/staff.hpp"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace caregate {

class LiveView;
namespace care {
class CarePlanner;
class MealService;
}  // namespace care

struct KioskParts {
    const config::SiteConfig& cfg;
    Store& store;
    const Clock& clock;
    AlarmService& alarms;
    CheckinService& checkins;
    Occupancy& occupancy;
    Roster& roster;
    StaffAccounts& staff;
    Records& records;
    LiveFeed& feed;
    FaceEnrollment* faces = nullptr;
    Gate* gate = nullptr;
    DoorSpeaker* speaker = nullptr;
    // CCTV event search (query string → {"events": [...], "more": bool, "cameras": [...]}).
    std::function<nlohmann::json(const std::string& query)> cctv_events;
    // Media files (snapshots, thumbnails) by their stored relative path.
    std::string media_dir;
    // A staff correction changed a zone's head count (committed): announce it.
    std::function<void(const ZoneOccupancy&)> occupancy_changed;
    // Worker threads that stopped beating (the overview shows them, e.g. 人脸识别已停止).
    const Heartbeats* heartbeats = nullptr;
    // The loudspeaker's latest alarm announcement {seq, text}, played by the door screen too.
    std::function<std::optional<std::pair<int64_t, std::string>>()> announcement;
    // The cameras' live pictures (controller/kiosk/camera_routes.cpp); null: no live view.
    LiveView* live_view = nullptr;
    // 探访关爱, 缺勤关怀 and 助餐 (controller/kiosk/care_routes.cpp); null: not offered.
    care::CarePlanner* care = nullptr;
    care::MealService* meals = nullptr;
};

class Kiosk {
public:
    Kiosk(KioskParts parts, httplib::Server& server);
    // Static pages are served from here (index.html, door.html, assets).
    static std::string find_static_dir(const std::string& configured);

private:
    void routes(httplib::Server& s);
    // /api/cameras and each camera's live picture (controller/kiosk/camera_routes.cpp).
    void camera_routes(httplib::Server& s);
    // Worklist, care profiles, life events, coverage and meals (controller/kiosk/care_routes.cpp).
    void care_routes(httplib::Server& s);
    // The roster, each elder's page and records, roster import, check-in search, services, visits and
    // the .xlsx exports (controller/kiosk/elder_routes.cpp).
    void elder_routes(httplib::Server& s);
    // Face enrollment (photos or the door camera), forgetting, templates to renew (face_routes.cpp).
    void face_routes(httplib::Server& s);
    std::optional<Session> session(const httplib::Request& req);
    // Returns the session for a write with a valid CSRF token, or fills res with 401/403.
    std::optional<Session> writer(const httplib::Request& req, httplib::Response& res, bool admin = false);
    // Before the body is read: its size against the route's cap, and a session for every write.
    bool admit(const httplib::Request& req, httplib::Response& res);
    std::optional<Session> reader(const httplib::Request& req, httplib::Response& res);
    // The door page's data: for a staff login or a paired door screen (cookie cg_door); 401 otherwise.
    bool door_allowed(const httplib::Request& req, httplib::Response& res);
    nlohmann::json overview();
    nlohmann::json alarm_json(const Alarm& a) const;
    nlohmann::json monthly_report(const std::string& month);
    nlohmann::json duty();

    KioskParts p_;
    std::string static_dir_;
    DoorDisplays doors_{p_.store, p_.clock};
    std::mutex mu_;
    SessionStore sessions_{p_.store, p_.clock, int64_t(p_.cfg.kiosk.session_idle_min) * 60000};
    // Failed logins per "user:<name>" and "addr:<client>": {first failure in the window, count}.
    std::map<std::string, std::pair<int64_t, int>> login_failures_;
};

// "2026-11" → [start, end) in UTC ms for the site's local month.
std::pair<int64_t, int64_t> local_month_range(const std::string& month, const std::string& timezone);

}  // namespace caregate
