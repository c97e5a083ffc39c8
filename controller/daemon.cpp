#include "controller/daemon.hpp"

#include <httplib.h>
#include <signal.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "controller/alarms/alarms.hpp"
#include "controller/alarms/notifier.hpp"
#include "controller/announcer.hpp"
#include "controller/care/meals.hpp"
#include "controller/care/planner.hpp"
#include "controller/care/reminders.hpp"
#include "controller/cctv/camera_worker.hpp"
#include "controller/cctv/cctv_index.hpp"
#include "controller/cctv/live_view.hpp"
#include "controller/city/exchange.hpp"
#include "controller/city/outbox.hpp"
#include "controller/city/uplink.hpp"
#include "controller/core/bus.hpp"
#include "controller/core/log.hpp"
#include "controller/core/metrics.hpp"
#include "controller/core/store.hpp"
#include "controller/door/door_speaker.hpp"
#include "controller/door/face_service.hpp"
#include "controller/door/gate.hpp"
#include "controller/door/thermal_camera.hpp"
#include "controller/kiosk/http_server.hpp"
#include "controller/kiosk/kiosk.hpp"
#include "controller/kiosk/live_feed.hpp"
#include "controller/people/checkins.hpp"
#include "controller/people/occupancy.hpp"
#include "controller/people/records.hpp"
#include "controller/people/roster.hpp"
#include "controller/people/staff.hpp"
#include "controller/rules.hpp"
#include "devices/modbus_poller.hpp"
#include "devices/mqtt_link.hpp"
#include "devices/mqtt_sensors.hpp"
#include "vision/capture.hpp"

namespace caregate {

using nlohmann::json;

namespace {
// The thread that waits for the signals (the one that called block_signals()). A signal handler can
// reach nothing else, so this is the one process-wide variable: written once, before any thread of
// ours starts.
std::atomic<pid_t> signal_thread{0};

// Threads that exist before main() (OpenBLAS starts its pool when the library loads) never blocked
// these signals, and the kernel may hand a process-wide SIGTERM or SIGHUP to one of them. Without a
// handler that ends the process on the spot; with this one the signal goes to the waiting thread,
// where it is blocked and stays pending until sigtimedwait takes it.
void forward_signal(int sig) {
    int saved = errno;
    pid_t to = signal_thread.load();
    if (to > 0 && to != gettid()) syscall(SYS_tgkill, getpid(), to, sig);
    errno = saved;
}
}  // namespace

void block_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    signal_thread = gettid();
    struct sigaction sa {};
    sa.sa_handler = forward_signal;
    sigfillset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaction(sig, &sa, nullptr);
}

struct Daemon::Parts {
    config::SiteConfig cfg;
    SystemClock clock;
    Metrics metrics;
    Bus bus;
    std::unique_ptr<Store> store;
    std::unique_ptr<Outbox> outbox;
    std::unique_ptr<AlarmService> alarms;
    std::unique_ptr<Occupancy> occupancy;
    std::unique_ptr<CheckinService> checkins;
    std::unique_ptr<RulesEngine> rules;
    std::unique_ptr<Roster> roster;
    std::unique_ptr<StaffAccounts> staff;
    std::unique_ptr<Records> records;
    std::unique_ptr<care::CarePlanner> care;
    std::unique_ptr<care::MealService> meals;
    // The kiosk's live pictures; declared before the HTTP server and the cameras, which use it.
    std::unique_ptr<LiveView> live;
    std::unique_ptr<HttpServer> http;
    std::unique_ptr<LiveFeed> feed;
    std::unique_ptr<Gate> gate;
    std::unique_ptr<DoorSpeaker> speaker;
    std::unique_ptr<Notifier> notifier;
    std::unique_ptr<care::CareReminders> reminders;  // after the notifier it sends through
    std::mutex announcement_mu;
    std::optional<std::pair<int64_t, std::string>> announcement;  // the loudspeaker's latest
    std::unique_ptr<Kiosk> kiosk;
    std::unique_ptr<EventIndex> events;
    std::unique_ptr<FaceService> faces;
    std::unique_ptr<city::CityUplink> uplink;
    std::unique_ptr<city::Downlink> downlink;
    std::string last_summary_date;
    std::unique_ptr<devices::MqttSensorBridge> sensors;
    std::unique_ptr<devices::MqttLink> mqtt;
    std::vector<std::unique_ptr<devices::ModbusBusPoller>> pollers;
    std::unique_ptr<Announcer> announcer;
    std::vector<std::unique_ptr<ThermalCamera>> thermals;  // before cameras: they read from these
    std::vector<std::unique_ptr<CameraWorker>> cameras;
    Heartbeats heartbeats;  // camera (and face) workers; stalled ones fail /healthz and the watchdog
    std::atomic<bool> storage_low{false};
    // The first check always reports: a storage alarm left open before a restart clears once there
    // is space again.
    std::atomic<bool> storage_reported{false};
    // Housekeeping (retention, storage check) on its own thread, off the signal/watchdog loop.
    std::thread housekeeper;
    std::mutex hk_mu;
    std::condition_variable hk_cv;
    bool hk_stop = false;
    int64_t started_ms = 0;

    // The kiosk's event search: "camera=..&label=..&date=YYYY-MM-DD&before=ID" or "alarm=ID".
    // A zone's head count moved outside check-ins (door counter, staff correction), committed:
    // over capacity is an alarm whoever walked in, back under clears it; then it is announced.
    void occupancy_moved(const ZoneOccupancy& z, const std::string& by) {
        if (z.capacity > 0 && z.count > z.capacity)
            alarms->raise("over_capacity", z.zone, z.zone, by,
                          json{{"count", z.count}, {"capacity", z.capacity}});
        else if (z.level != "full")
            alarms->clear("over_capacity", z.zone, "人数已回到容量以内");
        bus.publish(OccupancyChanged{z.zone, z.count, z.capacity, z.level, clock.now_ms()});
    }

    // A face at the canteen camera takes the elder's meal of the session open now (idempotent per
    // elder and session); the same face seen again within a minute is not written again.
    std::map<int64_t, int64_t> meal_faces;  // elder → last time; the rules thread only
    void take_meal_by_face(int64_t elder_id, const std::string& camera_id) {
        int64_t now = clock.now_ms();
        auto& last = meal_faces[elder_id];
        if (now - last < 60'000) return;
        last = now;
        if (meal_faces.size() > 10000) meal_faces.clear();
        try {
            // The actor is what staff read in the meal list and the 助餐 record: the camera by its name.
            auto m = meals->take(elder_id, "face", "刷脸（" + cfg.device_name(camera_id) + "）");
            if (!m.already)
                logger("meals")->info("{} took {} by face at {}", m.elder_name, m.session_name, camera_id);
        } catch (const care::MealRefused& e) {
            logger("meals")->debug("no meal for elder {} at {}: {}", elder_id, camera_id, e.what());
        } catch (const std::exception& e) {
            logger("meals")->warn("meal by face failed for elder {} at {}: {}", elder_id, camera_id,
                                  e.what());
        }
    }

    nlohmann::json cctv_search(const std::string& query) {
        std::map<std::string, std::string> q;
        size_t pos = 0;
        while (pos < query.size()) {
            size_t amp = query.find('&', pos);
            std::string kv = query.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
            size_t eq = kv.find('=');
            if (eq != std::string::npos) q[kv.substr(0, eq)] = kv.substr(eq + 1);
            if (amp == std::string::npos) break;
            pos = amp + 1;
        }
        nlohmann::json cams = nlohmann::json::array();
        for (auto& cam : cfg.cameras) cams.push_back(cam.id);
        if (q.count("alarm")) {
            auto list = events->near_alarm(std::stoll(q["alarm"]), 5 * 60 * 1000, cfg);
            return {{"events", list}, {"more", false}, {"cameras", cams}};
        }
        EventQuery eq;
        eq.camera = q["camera"];
        eq.label = q["label"];
        eq.limit = 48;
        if (!q["before"].empty()) eq.before_id = std::stoll(q["before"]);
        if (!q["elder"].empty()) eq.elder_id = std::stoll(q["elder"]);
        int y, m, d;
        if (std::sscanf(q["date"].c_str(), "%d-%d-%d", &y, &m, &d) == 3) {
            std::tm tm{};
            tm.tm_year = y - 1900;
            tm.tm_mon = m - 1;
            tm.tm_mday = d;
            eq.from_ms = int64_t(timegm(&tm)) * 1000 - local_offset_ms(cfg.site.timezone);
            eq.to_ms = *eq.from_ms + 86400000;
        }
        auto list = events->query(eq);
        return {{"events", list}, {"more", list.size() == size_t(eq.limit)}, {"cameras", cams}};
    }

    // At city.daily_summary_hour (local time), once a day.
    void daily_summary_if_due() {
        if (!uplink) return;
        int64_t off = local_offset_ms(cfg.site.timezone);
        int64_t local = clock.now_ms() + off;
        if ((local / 3600000) % 24 != cfg.city.daily_summary_hour) return;
        time_t t = static_cast<time_t>(local / 1000);
        std::tm tm{};
        gmtime_r(&t, &tm);
        char date[16];
        std::strftime(date, sizeof date, "%Y-%m-%d", &tm);
        if (last_summary_date == date) return;
        last_summary_date = date;
        try {
            city::queue_daily_summary(*store, *outbox, date, off, clock.now_ms());
        } catch (const std::exception& e) {
            logger("city")->error("daily summary failed: {}", e.what());
        }
    }

    bool check_storage() {
        struct statvfs st {};
        bool ok = true;
        if (statvfs(cfg.store.media_dir.c_str(), &st) == 0)
            ok = int64_t(st.f_bavail) * int64_t(st.f_frsize) >= int64_t(cfg.cctv.min_free_mb) * 1024 * 1024;
        bool was_low = storage_low.exchange(!ok);
        if (was_low == !ok && storage_reported.exchange(true)) return ok;
        bus.publish(DeviceHealth{"storage", "storage", "", ok,
                                 ok ? ""
                                    : "录像存储空间不足 " + std::to_string(cfg.cctv.min_free_mb) +
                                          " MB，已停止录像：请清理或更换存储",
                                 std::nullopt, clock.now_ms()});
        return ok;
    }
};

Daemon::Daemon(config::SiteConfig cfg) : p_(std::make_unique<Parts>()) {
    p_->cfg = std::move(cfg);
    auto& c = p_->cfg;
    p_->store = std::make_unique<Store>(c.store.path, c.store.busy_timeout_ms);
    p_->outbox = std::make_unique<Outbox>(c.site.id, c.site.region);
    p_->alarms = std::make_unique<AlarmService>(
        *p_->store, p_->clock, *p_->outbox, AlarmPolicy{c.alarms.ack_timeout_s, c.alarms.resolve_timeout_s});
    p_->occupancy = std::make_unique<Occupancy>(*p_->store, p_->clock, c);
    std::string default_zone = c.zones.empty() ? "hall" : c.zones.front().id;
    p_->checkins = std::make_unique<CheckinService>(*p_->store, p_->clock, *p_->outbox, *p_->occupancy,
                                                    c.checkin.interval_minutes, default_zone);
    p_->rules = std::make_unique<RulesEngine>(c, p_->bus, *p_->store, p_->clock, *p_->alarms, *p_->checkins,
                                              p_->metrics);

    auto& bus = p_->bus;
    p_->alarms->on_announce([&bus, parts = p_.get()](const Alarm& a, const AlarmStep& s) {
        bus.publish(AlarmChanged{a.id, a.kind, a.state, to_json(s).dump(), s.ts_ms});
        if (s.step == "raised" && parts->notifier) parts->notifier->wake();
    });
    p_->checkins->on_announce([&bus](const CheckIn& ci) {
        bus.publish(CheckInRecorded{ci.id, ci.elder_id, ci.elder_name, ci.direction, ci.method, ci.ts_ms});
    });

    p_->http = std::make_unique<HttpServer>(HttpOptions{c.kiosk.bind, c.kiosk.port, c.kiosk.max_sse_clients,
                                                        c.kiosk.static_dir, c.kiosk.tls_cert_file,
                                                        c.kiosk.tls_key_file});
    auto& srv = p_->http->routes();
    Parts* parts = p_.get();
    p_->roster = std::make_unique<Roster>(*p_->store, p_->clock);
    p_->staff = std::make_unique<StaffAccounts>(*p_->store, p_->clock);
    p_->records = std::make_unique<Records>(*p_->store, p_->clock, *p_->outbox);
    p_->care = std::make_unique<care::CarePlanner>(c, *p_->store, p_->clock);
    p_->meals = std::make_unique<care::MealService>(c, *p_->store, p_->clock, *p_->outbox);
    p_->feed = std::make_unique<LiveFeed>(p_->bus, static_cast<size_t>(c.kiosk.max_sse_clients));
    p_->gate = std::make_unique<Gate>(c, *p_->store, p_->clock, *p_->roster, *p_->checkins, *p_->occupancy,
                                      *p_->alarms);
    if (c.gate.speech && DoorSpeaker::available())
        p_->speaker = std::make_unique<DoorSpeaker>(c.store.media_dir + "/door");
    Gate* gate = p_->gate.get();
    // Who is told of an alarm beyond the kiosk. The loudspeaker is the door speaker's voice.
    p_->notifier = std::make_unique<Notifier>(
        c, *p_->store, p_->clock, *p_->alarms, [parts = p_.get()](int64_t seq, const std::string& text) {
            {
                std::lock_guard<std::mutex> lock(parts->announcement_mu);
                parts->announcement = std::make_pair(seq, text);
            }
            if (parts->speaker) parts->speaker->say(seq, text);
        });
    p_->alarms->set_follow_up(p_->notifier.get());
    p_->reminders = std::make_unique<care::CareReminders>(c, *p_->store, p_->clock, *p_->care, *p_->notifier);
    // A door counter moves the head count; over capacity is an alarm whoever walked in.
    p_->rules->on_count([parts = p_.get()](const OccupancyCount& e) {
        for (auto& z : parts->occupancy->counted(e.device_id, e.delta))
            parts->occupancy_moved(z, "counter:" + e.device_id);
    });
    p_->rules->on_temperature([gate](const TemperatureReading& t) { gate->temperature(t); });
    if (c.city.enabled) {
        city::UplinkOptions uo;
        uo.uri = c.city.uri;
        uo.client_id = c.city.client_id;
        uo.region = c.site.region;
        uo.site = c.site.id;
        uo.ca_file = c.city.ca_file;
        uo.cert_file = c.city.cert_file;
        uo.key_file = c.city.key_file;
        uo.inflight = c.city.inflight;
        p_->uplink = std::make_unique<city::CityUplink>(*p_->store, p_->clock, uo);
        // Reconnect backoff reaches 60 s and a connect may take its timeout on top: 3 min of silence.
        p_->uplink->set_heartbeat(p_->heartbeats.add("uplink", "市级平台上传", 180'000));
        std::string key = c.city.hmac_key_file.empty() ? "" : config::read_secret_file(c.city.hmac_key_file);
        p_->downlink = std::make_unique<city::Downlink>(*p_->store, p_->clock, *p_->roster, key, c.site.id);
        auto* down = p_->downlink.get();
        p_->uplink->on_command([down](const std::string& payload) { down->handle(payload); });
        p_->uplink->on_cap_exceeded([parts = p_.get()](int64_t dropped) {
            parts->bus.publish(DeviceHealth{
                "city_uplink", "storage", "", false,
                "uplink backlog over its cap: " + std::to_string(dropped) + " low-priority messages dropped",
                std::nullopt, parts->clock.now_ms()});
        });
    }
    p_->rules->on_health([gate, parts = p_.get()](const DeviceHealth& h) {
        gate->device_health(h);
        if (parts->uplink && h.kind != "storage") city::queue_device_health(*parts->store, *parts->outbox, h);
    });
    p_->gate->on_decision([parts = p_.get()](const GateDecision& d) {
        parts->feed->broadcast("door", to_json(d).dump());
        if (d.decision == "allow" && parts->announcer) parts->announcer->door_allowed();
        if (parts->speaker && !quiet_hours(d.ts_ms, local_offset_ms(parts->cfg.site.timezone),
                                           parts->cfg.gate.quiet_from_hour, parts->cfg.gate.quiet_to_hour))
            parts->speaker->say(d.seq, d.message);
    });
    std::error_code ec;
    std::filesystem::create_directories(c.store.media_dir, ec);
    p_->events = std::make_unique<EventIndex>(*p_->store, p_->clock, c.cctv, c.store.media_dir);
    // A missing or corrupt model stops start-up here, with the file and the fix named.
    if (c.face.enabled) {
        p_->faces = std::make_unique<FaceService>(c, *p_->store, p_->clock, *p_->roster, &p_->bus);
        p_->faces->on_forget([parts = p_.get()](int64_t elder_id) { parts->events->forget_elder(elder_id); });
    }
    p_->live = std::make_unique<LiveView>(c);
    for (auto& cam : c.cameras) {
        if (cam.thermal) {
            p_->thermals.push_back(std::make_unique<ThermalCamera>(cam, p_->bus, p_->clock));
            if (p_->faces) p_->faces->attach_thermal(cam.id, p_->thermals.back().get());
        }
        p_->cameras.push_back(
            std::make_unique<CameraWorker>(cam, c.cctv, *p_->events, p_->bus, p_->faces.get(),
                                           [parts = p_.get()] { return !parts->storage_low; }));
        p_->cameras.back()->set_live_view(p_->live.get());
        // A network open and a read may each take the 5 s capture timeout; files and V4L2 do not.
        std::string name = cam.name.empty() ? cam.id : cam.name;
        p_->cameras.back()->set_heartbeat(p_->heartbeats.add(
            "camera:" + cam.id, (cam.faces && p_->faces ? "人脸识别与监控（" : "监控摄像头（") + name + "）",
            vision::is_stream_source(cam.source) ? 15000 : 6000));
    }
    logger("devices")->info("{} device models from {}", c.models->all().size(), [&] {
        std::string dirs;
        for (auto& d : c.models->dirs()) dirs += (dirs.empty() ? "" : ", ") + d;
        return dirs;
    }());
    for (auto& note : c.models->notes()) logger("devices")->info("device models: {}", note);
    for (auto& b : c.buses) {
        p_->pollers.push_back(std::make_unique<devices::ModbusBusPoller>(b, p_->bus, p_->clock));
        // A cycle over many silent units on a slow serial line can take tens of seconds; 2 min of
        // silence is a stuck thread, not a slow bus.
        p_->pollers.back()->set_heartbeat(
            p_->heartbeats.add("modbus:" + b.id, "呼叫与报警设备总线（" + b.id + "）", 120'000));
    }
    if (c.mqtt.enabled) {
        p_->sensors = std::make_unique<devices::MqttSensorBridge>(c, p_->bus, p_->clock);
        p_->sensors->set_heartbeat(p_->heartbeats.add("mqtt", "无线传感器接入", 30'000));
        devices::MqttLinkOptions mo;
        mo.uri = c.mqtt.uri;
        mo.client_id = c.mqtt.client_id;
        mo.username = c.mqtt.username;
        if (!c.mqtt.password_file.empty()) mo.password = config::read_secret_file(c.mqtt.password_file);
        mo.ca_file = c.mqtt.ca_file;
        mo.keepalive_s = c.mqtt.keepalive_s;
        mo.status_topic = "caregate/" + c.site.id + "/status";
        mo.subscriptions = p_->sensors->topics();
        auto* sensors = p_->sensors.get();
        p_->mqtt = std::make_unique<devices::MqttLink>(
            mo, [sensors](const std::string& t, const std::string& m) { sensors->enqueue(t, m); });
    }
    p_->announcer = std::make_unique<Announcer>(
        c, p_->bus, *p_->occupancy,
        [parts = p_.get()](const std::string& topic, const std::string& payload, bool retain) {
            if (parts->mqtt) parts->mqtt->publish(topic, payload, 1, retain);
        },
        [parts = p_.get()](const std::string& device, bool on) {
            for (auto& poller : parts->pollers)
                if (poller->has_device(device)) poller->set_output(device, on);
        });
    p_->announcer->set_escalated_open([parts = p_.get()] {
        for (auto& a : parts->alarms->list(true))
            if (a.level >= 1) return true;
        return false;
    });
    p_->alarms->on_escalate(
        [parts = p_.get()](const Alarm&, int level) { parts->announcer->escalated(level); });
    p_->rules->on_face([gate, parts = p_.get()](const FaceSeen& f) {
        parts->events->record_face(f.camera_id, f.zone, f.elder_id, 1.0 - f.distance, f.ts_ms);
        if (f.role == "canteen") {  // a meal, never a check-in; strangers are simply not served by face
            if (f.elder_id && f.live) parts->take_meal_by_face(*f.elder_id, f.camera_id);
        } else if (f.role == "exit" && f.elder_id && f.live) {  // check-out from an exit camera
            CheckIn c;
            c.elder_id = *f.elder_id;
            c.direction = "out";
            c.method = "face";
            c.camera_id = f.camera_id;
            c.zone = f.zone;
            c.distance = f.distance;
            c.ts_ms = f.ts_ms;
            parts->checkins->record(c);
        } else {
            gate->face(f);
        }
    });
    KioskParts kp{c,
                  *p_->store,
                  p_->clock,
                  *p_->alarms,
                  *p_->checkins,
                  *p_->occupancy,
                  *p_->roster,
                  *p_->staff,
                  *p_->records,
                  *p_->feed,
                  p_->faces.get(),
                  p_->gate.get(),
                  p_->speaker.get(),
                  {},
                  c.store.media_dir,
                  {},
                  nullptr,
                  {}};
    kp.cctv_events = [parts = p_.get()](const std::string& query) { return parts->cctv_search(query); };
    kp.heartbeats = &p_->heartbeats;
    kp.live_view = p_->live.get();
    kp.care = p_->care.get();
    kp.meals = p_->meals.get();
    kp.announcement = [parts = p_.get()] {
        std::lock_guard<std::mutex> lock(parts->announcement_mu);
        return parts->announcement;
    };
    kp.occupancy_changed = [parts = p_.get()](const ZoneOccupancy& z) { parts->occupancy_moved(z, "staff"); };
    p_->kiosk = std::make_unique<Kiosk>(kp, srv);
    srv.Get("/healthz", [parts](const httplib::Request&, httplib::Response& res) {
        json j = {{"status", "ok"},
                  {"site", parts->cfg.site.id},
                  {"schema_version", parts->store->schema_version()},
                  {"uptime_s", (parts->clock.now_ms() - parts->started_ms) / 1000}};
        auto stalled = parts->heartbeats.stalled();
        if (!stalled.empty()) {  // a stuck worker is not a healthy box, whatever else still answers
            j["status"] = "stalled";
            for (auto& w : stalled)
                j["stalled"].push_back({{"name", w.name}, {"silent_s", w.silent_ms / 1000}});
            res.status = 503;
        }
        res.set_content(j.dump(), "application/json");
    });
    srv.Get("/metrics", [parts](const httplib::Request&, httplib::Response& res) {
        res.set_content(parts->metrics.render(), "text/plain; version=0.0.4");
    });

    auto& m = p_->metrics;
    m.gauge(
        "caregate_bus_published_total", "Events published on the in-process bus",
        [parts] {
            return std::vector<std::pair<std::string, double>>{{"", double(parts->bus.published())}};
        },
        "counter");
    m.gauge(
        "caregate_bus_dropped_total", "Events dropped because a subscriber queue was full",
        [parts] {
            return std::vector<std::pair<std::string, double>>{{"", double(parts->bus.dropped())}};
        },
        "counter");
    m.gauge("caregate_alarms_open", "Open alarms by kind", [parts] {
        std::vector<std::pair<std::string, double>> out;
        parts->store->read([&](sqlite3* db) {
            Stmt s(db,
                   "SELECT kind, COUNT(*) FROM alarms WHERE state NOT IN ('resolved','cancelled') GROUP BY "
                   "kind");
            while (s.step()) out.push_back({"kind=\"" + s.str(0) + "\"", double(s.i64(1))});
        });
        return out;
    });
    m.gauge("caregate_outbox_pending", "Uplink messages not yet acknowledged by the city broker", [parts] {
        double n = parts->store->read([](sqlite3* db) {
            Stmt s(db, "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL");
            s.step();
            return double(s.i64(0));
        });
        return std::vector<std::pair<std::string, double>>{{"", n}};
    });
    m.gauge(
        "caregate_modbus_errors_total", "Modbus errors per device (timeouts, CRC, exceptions)",
        [parts] {
            std::vector<std::pair<std::string, double>> out;
            for (auto& p : parts->pollers)
                for (auto& d : p->stats()) out.push_back({"device=\"" + d.id + "\"", double(d.errors)});
            return out;
        },
        "counter");
    m.gauge(
        "caregate_mqtt_payloads_total", "MQTT sensor messages by outcome",
        [parts] {
            std::vector<std::pair<std::string, double>> out;
            if (!parts->sensors) return out;
            auto s = parts->sensors->stats();
            out.push_back({"outcome=\"received\"", double(s.received)});
            out.push_back({"outcome=\"malformed\"", double(s.malformed)});
            out.push_back({"outcome=\"unknown_topic\"", double(s.unknown_topic)});
            out.push_back({"outcome=\"out_of_range\"", double(s.out_of_range)});
            out.push_back({"outcome=\"dropped\"", double(s.dropped)});
            return out;
        },
        "counter");
    m.gauge("caregate_city_uplink", "City uplink: acknowledged, published, resent, dropped", [parts] {
        std::vector<std::pair<std::string, double>> out;
        if (!parts->uplink) return out;
        auto s = parts->uplink->stats();
        out.push_back({"what=\"acknowledged\"", double(s.sent)});
        out.push_back({"what=\"published\"", double(s.published)});
        out.push_back({"what=\"resent\"", double(s.resent)});
        out.push_back({"what=\"dropped_low_priority\"", double(s.dropped_low_priority)});
        out.push_back({"what=\"connected\"", s.connected ? 1.0 : 0.0});
        return out;
    });
    m.gauge("caregate_zone_occupancy", "People in each zone", [parts] {
        std::vector<std::pair<std::string, double>> out;
        for (auto& z : parts->occupancy->all()) out.push_back({"zone=\"" + z.zone + "\"", double(z.count)});
        return out;
    });
}

Daemon::~Daemon() = default;

int Daemon::run() {
    auto log = logger("daemon");
    auto& c = p_->cfg;
    p_->started_ms = p_->clock.now_ms();
    p_->rules->start();
    p_->feed->start();
    for (auto& t : p_->thermals) t->start();
    for (auto& cam : p_->cameras) cam->start();
    p_->announcer->start();
    p_->notifier->start();
    p_->reminders->start();
    if (p_->uplink) p_->uplink->start();
    for (auto& poller : p_->pollers) poller->start();
    if (p_->sensors) p_->sensors->start();
    if (p_->mqtt) p_->mqtt->start();
    p_->housekeeper = std::thread([parts = p_.get()] {
        int64_t last_retention = 0;
        std::unique_lock<std::mutex> lock(parts->hk_mu);
        while (!parts->hk_stop) {
            lock.unlock();
            parts->check_storage();
            parts->daily_summary_if_due();
            int64_t now = parts->clock.now_ms();
            if (now - last_retention > 10 * 60 * 1000) {
                last_retention = now;
                try {
                    parts->events->apply_retention();
                } catch (const std::exception& e) {
                    logger("cctv")->error("retention failed: {}", e.what());
                }
            }
            lock.lock();
            parts->hk_cv.wait_for(lock, std::chrono::seconds(5), [parts] { return parts->hk_stop; });
        }
    });
    p_->http->start();
    // Slow clients holding every connection thread make the kiosk silent: then this stalls, /healthz
    // and the overview name it and the watchdog restarts the box.
    p_->http->supervise(p_->heartbeats.add("http", "员工终端网页服务", 30'000));
    if (!p_->staff->any_admin())
        log->warn("no admin account yet: create one with `caregate staff add NAME --role admin --config {}`",
                  c.source_file);
    log->info("caregate {} started: site={} kiosk={}://{}:{}/ db={} schema={}", CAREGATE_VERSION, c.site.id,
              c.kiosk.https() ? "https" : "http", c.kiosk.bind, p_->http->port(), c.store.path,
              p_->store->schema_version());

    uint64_t watchdog_usec = 0;
    bool watchdog = sd_watchdog_enabled(0, &watchdog_usec) > 0;
    sd_notifyf(0, "READY=1\nSTATUS=serving site %s on port %d", c.site.id.c_str(), p_->http->port());

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    std::string reported_stall;
    long interval_ms = watchdog ? static_cast<long>(watchdog_usec / 2000) : 1000;
    if (interval_ms <= 0) interval_ms = 1000;
    for (;;) {
        timespec ts{interval_ms / 1000, (interval_ms % 1000) * 1000000L};
        int sig = sigtimedwait(&set, nullptr, &ts);
        // The watchdog is fed only while every worker beats: systemd restarts a box whose face or
        // camera thread is stuck, instead of keeping a door that no longer decides.
        auto stalled = p_->heartbeats.stalled();
        if (stalled.empty()) {
            if (watchdog) sd_notify(0, "WATCHDOG=1");
            reported_stall.clear();
        } else if (reported_stall != stalled.front().name) {
            reported_stall = stalled.front().name;
            log->error("worker {} has not made progress for {} s: health check failing, watchdog not fed",
                       stalled.front().name, stalled.front().silent_ms / 1000);
        }
        if (sig == SIGHUP) {
            sd_notify(0, "RELOADING=1");
            try {
                auto fresh = config::load_config(c.source_file);
                init_logging(fresh.log.level);
                c.log = fresh.log;
                p_->checkins->set_interval_minutes(fresh.checkin.interval_minutes);
                c.checkin = fresh.checkin;
                // Device models: MQTT payload mappings apply at the next message; Modbus register maps
                // were expanded into each bus's points at start and change with a restart.
                for (auto& note : fresh.models->notes()) log->info("device models: {}", note);
                if (p_->sensors) p_->sensors->set_library(fresh.models);
                log->info(
                    "reloaded {}: log level, check-in interval and the MQTT device models ({}) applied; "
                    "other changes need a restart",
                    c.source_file, fresh.models->all().size());
            } catch (const std::exception& e) {
                log->error("reload refused, keeping the running config: {}", e.what());
            }
            sd_notify(0, "READY=1");
        } else if (sig == SIGTERM || sig == SIGINT) {
            log->info("stopping on {}", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            break;
        }
    }
    sd_notify(0, "STOPPING=1");
    // A worker stuck in a library call cannot be joined: past the deadline the process ends anyway
    // (every record is already committed), so SIGTERM is honoured within 5 s.
    std::mutex down_mu;
    std::condition_variable down_cv;
    bool down = false;
    std::thread deadline([&] {
        std::unique_lock<std::mutex> lock(down_mu);
        if (down_cv.wait_for(lock, std::chrono::milliseconds(4000), [&] { return down; })) return;
        std::string stuck;
        for (auto& w : p_->heartbeats.stalled()) stuck += " " + w.name;
        log->error("shutdown did not finish within 4 s (stuck:{}); exiting now",
                   stuck.empty() ? " unknown" : stuck);
        spdlog::shutdown();
        _exit(3);
    });
    {
        std::lock_guard<std::mutex> lock(p_->hk_mu);
        p_->hk_stop = true;
    }
    p_->hk_cv.notify_all();
    if (p_->housekeeper.joinable()) p_->housekeeper.join();
    for (auto& cam : p_->cameras) cam->stop();
    for (auto& t : p_->thermals) t->stop();
    if (p_->mqtt) p_->mqtt->stop();
    if (p_->uplink) p_->uplink->stop();
    if (p_->sensors) p_->sensors->stop();
    for (auto& poller : p_->pollers) poller->stop();
    p_->announcer->stop();
    p_->reminders->stop();
    p_->notifier->stop();
    p_->feed->stop();   // ends the SSE streams so the HTTP pool can drain
    p_->live->close();  // and the live pictures' streams
    p_->http->stop();
    p_->rules->stop();
    p_->bus.close_all();
    {
        std::lock_guard<std::mutex> lock(down_mu);
        down = true;
    }
    down_cv.notify_all();
    deadline.join();
    log->info("stopped");
    return 0;
}

}  // namespace caregate
