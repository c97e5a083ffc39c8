// The typed site configuration. Loaded from YAML by load_config(); every field has a default
// documented in config/README.md. Secrets are never inline: only paths to files holding them.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "devices/model_library.hpp"

namespace caregate::config {

// A validation error that names file, line, column and key path.
class ConfigError : public std::runtime_error {
public:
    ConfigError(std::string file, int line, int column, std::string key, const std::string& what);
    const std::string& file() const { return file_; }
    int line() const { return line_; }
    int column() const { return column_; }
    const std::string& key() const { return key_; }

private:
    std::string file_;
    int line_;
    int column_;
    std::string key_;
};

struct Site {
    std::string id;  // [a-z0-9_-]+, used in MQTT topics
    std::string name;
    std::string region = "default";
    std::string timezone = "Asia/Shanghai";
};

struct Store {
    std::string path = "/var/lib/caregate/caregate.db";
    std::string media_dir;  // default: <dir of path>/media
    int busy_timeout_ms = 5000;
};

struct Log {
    std::string level = "info";  // trace, debug, info, warn, error
};

struct Kiosk {
    std::string bind = "127.0.0.1";
    int port = 8080;
    int max_sse_clients = 64;
    std::string static_dir;     // default: built-in search path
    int session_idle_min = 30;  // a login unused this long ends
    int session_max_h = 12;     // and every login ends after this long
    // HTTPS: the site certificate and its key (PEM). Without them the kiosk serves plain HTTP,
    // which the loader allows only on a loopback bind or with allow_plain_http.
    std::string tls_cert_file;
    std::string tls_key_file;
    bool allow_plain_http = false;
    bool https() const { return !tls_cert_file.empty(); }
};

struct Mqtt {
    bool enabled = true;
    std::string uri = "tcp://127.0.0.1:1883";
    std::string client_id;  // default: caregate-<site.id>
    std::string username;
    std::string password_file;
    std::string ca_file;  // ssl:// or mqtts://: the CA of the broker's certificate (default: the system's)
    int keepalive_s = 30;
};

struct Zone {
    std::string id;
    std::string name;
    int capacity = 0;         // 0 = unlimited
    bool is_private = false;  // toilet / bath: no camera may watch it
    int warn_percent = 90;
    // A door counter (Modbus counter_in/counter_out device, or a camera with count_line) that drives
    // this zone's occupancy instead of check-ins and check-outs ("" = check-ins drive it).
    std::string counter;
    // A presence sensor or door contact in this zone reporting "occupied" this long without a break
    // is a long_occupancy alarm (someone may have fallen in the bathroom); 0 = never.
    int long_occupancy_min = 20;
    int long_occupancy_night_min = 30;  // during gate.quiet hours (night), when a stay may be longer
};

// A radiometric thermal camera beside an entrance camera (自动测温 by thermal image): 16-bit raw
// frames, raw→°C linear, and the homography that maps RGB pixels onto thermal pixels.
struct ThermalSource {
    std::string source;  // a 16-bit PNG/TIFF file (re-read when it changes), a folder (newest
                         // file), /dev/videoN (Y16) or a URL
    double gain = 0.01;  // celsius = raw * gain + offset (default: centikelvin)
    double offset = -273.15;
    std::vector<double> homography{1, 0, 0, 0, 1, 0, 0, 0, 1};  // row-major 3×3, RGB → thermal
    double percentile = 0.9;
    double ambient_coeff = 0.0;
    double ambient_ref_c = 25.0;
    int max_age_ms = 1000;  // a thermal frame older than this is not paired with a face
    int stall_s = 10;       // no frame for this long → thermometer offline
};

struct Camera {
    std::string id;
    std::string name;
    std::string source;  // file path, /dev/videoN, rtsp://...
    std::string zone;
    std::string role = "cctv";  // entrance, exit, cctv, canteen (a face takes a meal)
    double fps = 5.0;
    int width = 640;
    int height = 480;
    bool faces = false;                  // run the face pipeline on this camera
    bool loop = false;                   // file sources: restart at end (demo)
    std::vector<std::vector<int>> mask;  // polygons as flat x,y lists (privacy masks)
    std::optional<ThermalSource> thermal;
    // People counting by line crossing: [x1, y1, x2, y2] in frame pixels; walking from A to B, the
    // side on your left is "in". Counts go to the zone whose `counter` names this camera.
    std::vector<int> count_line;
    // The device id of its thermal readings ("<id>.thermal"), as the gate and the kiosk name it.
    std::string thermal_id() const { return id + ".thermal"; }
};

struct Checkin {
    int interval_minutes = 30;
};

struct Face {
    bool enabled = true;
    // MobileFaceNet (.tflite, the default) or dlib's ResNet (.dat); see docs/face-accuracy.md.
    std::string recognition_model = "/usr/share/caregate/models/MobileFaceNet.tflite";
    std::string landmark_model = "/usr/share/dlib/shape_predictor_68_face_landmarks.dat";
    std::string key_file = "/var/lib/caregate/face.key";  // 32-byte XChaCha20-Poly1305 key
    double threshold = 0;  // Euclidean match distance; 0: the model's calibrated default
    double margin = 0.05;  // best must beat second-best identity by this much
    // A door decides over a track, never one frame: this many embeddings of the same elder, with
    // other elders at most a third as many, before the elder is greeted.
    int decide_frames = 3;
    int min_face_px = 60;
    double min_sharpness = 40.0;  // Laplacian variance
    bool liveness = false;        // blink check
    bool keep_enrollment_photos = false;
    int detect_width = 640;
    std::string mmod_model;  // dlib's CNN face detector (.dat); empty: the HOG detector
    // The same CNN, used only on an enrollment photo in which HOG found no face (the package installs
    // it here); empty or not there: such a photo is refused as before.
    std::string photo_detector_model = "/usr/share/caregate/models/mmod_human_face_detector.dat";
};

struct Alarms {
    int ack_timeout_s = 60;
    int resolve_timeout_s = 900;
    double low_battery_percent = 20;
};

// One meaning of a register bit or value: what event it produces.
struct Point {
    std::string table = "discrete_inputs";  // coils, discrete_inputs, holding_registers, input_registers
    int address = 0;
    int count = 1;
    double scale = 1.0;  // value = raw * scale (registers)
    std::string
        meaning;       // call, cancel, fall, cord_pulled, temperature, counter_in, counter_out, output,
                       // or a device-model state (smoke, residual_current_ma, ...: devices/model_library.hpp)
    int channel = -1;  // which bit (for di modules); -1: the register value itself
    // Register decoding: "" (legacy: signed 16-bit, or signed 32-bit when count is 2), u16, s16, u32,
    // s32, f32. 32-bit values are high word first unless words_big_endian is false.
    std::string type;
    bool words_big_endian = true;
    std::optional<double> min, max;                  // plausible range; outside → counted invalid
    std::optional<double> alarm_above, clear_below;  // electrical thresholds (electrical_fault)
};

struct ModbusDevice {
    std::string id;
    std::string name;
    std::string model;  // a device-model id: its registers become the points (empty: points as written)
    std::string kind;   // call_button, pull_cord, fall_sensor, ir_thermometer, di_module, do_module, ...
    std::string zone;
    int unit_id = 1;
    int poll_ms = 100;
    int debounce_ms = 30;  // contact bounce and induced spikes are < 10 ms; a press lasts > 100 ms
    int max_silence_s = 30;
    std::vector<Point> points;
};

struct Bus {
    std::string id;
    std::string type;  // rtu or tcp
    // RTU
    std::string device;
    int baud = 9600;
    std::string parity = "N";
    int data_bits = 8;
    int stop_bits = 1;
    bool rs485 = false;
    // TCP
    std::string host;
    int port = 502;
    int response_timeout_ms = 250;  // 3 missed polls within 1 s at 100 ms polling
    int byte_timeout_ms = 100;
    int retries = 2;
    std::vector<ModbusDevice> devices;
};

struct MqttDevice {
    std::string id;
    std::string name;
    std::string topic;  // e.g. zigbee2mqtt/bath1_sos or caregate/<site>/sensor/<id>
    std::string model;  // generic, ts0215a_sos, mir_he200_fall, ... (see devices/README.md)
    std::string kind;   // call_button, fall_sensor, thermometer, occupancy
    std::string zone;
    int max_silence_s = 0;  // 0: rely on availability only (default: from the model's power supply)
    bool battery = false;
    std::map<std::string, double> thresholds;  // state → alarm_above, overriding the model's
};

struct City {
    bool enabled = false;
    std::string uri = "ssl://city.example:8883";
    std::string client_id;
    std::string ca_file;
    std::string cert_file;
    std::string key_file;
    std::string hmac_key_file;
    int inflight = 64;
    int daily_summary_hour = 23;
};

struct Gate {
    double fever_c = 37.3;
    double offset_c = 0.0;  // skin-to-body
    bool require_temperature = false;
    std::string thermometer_offline_policy = "flag";  // flag or staff
    int pairing_window_ms = 3000;
    int reset_hour = 3;
    std::string thermometer;     // device id whose readings screen the door ("" = first ir_thermometer)
    std::string door_relay;      // do_module device id pulsed on allow ("" = none)
    bool epidemic_mode = false;  // also require today's signed 承诺书 (staff confirms in the kiosk)
    bool speech = true;          // spoken greeting at the door
    int quiet_from_hour = 21;    // no speech from this local hour...
    int quiet_to_hour = 7;       // ...until this one
    int dining_limit = 0;        // meal-time cap for the dining zone (0: its capacity)
    std::string dining_zone = "dining";
};

struct Cctv {
    int motion_days = 7;  // retention per label
    int person_days = 14;
    int face_days = 30;     // snapshots of recognised elders too (PIPL: no longer than needed)
    int alarm_days = 180;   // events linked to an alarm are kept longest
    int quota_mb = 20000;   // media quota: oldest media first beyond it
    int min_free_mb = 500;  // below this free space recording stops and a storage alarm is raised
    bool clips = false;     // write short clips with pre/post-roll
    int pre_roll_s = 2;
    int post_roll_s = 3;
    int end_gap_ms = 3000;  // an event ends after this long without activity
    int stall_s = 10;       // no frame for this long → camera_offline
    int black_s = 10;       // a black/covered picture for this long → camera_offline
    double min_area = 0.004;
    int sensitivity = 16;
};

// A way to tell a person about an alarm (see notify/README.md).
struct NotifyChannel {
    std::string id;
    std::string name;         // as staff read it ("值班短信"); default: the type's Chinese name
    std::string type;         // wecom, dingtalk, webhook, sms, voice, speaker
    std::string url;          // wecom, dingtalk, webhook: https:// (http:// only to loopback, for tests)
    std::string secret_file;  // dingtalk signing secret, webhook HMAC key
    std::string ca_file;      // extra CA bundle for the HTTPS peer ("" = the system's)
    std::string modem;        // sms, voice: the modem's AT port (/dev/ttyUSB2)
    // Phone numbers, or @duty (the phones of the staff on duty now) and @family (the emergency
    // contact of the elder the alarm is about). Chat robots: the mobiles to @-mention.
    std::vector<std::string> to;
    int ring_s = 30;        // voice: let it ring this long
    int repeat_s = 30;      // speaker: announce again this often until someone answers
    int timeout_ms = 5000;  // HTTP connect/read/write
};

struct EscalationStep {
    int after_s = 0;                  // after the alarm was raised, if nobody has acknowledged it by then
    std::vector<std::string> notify;  // channel ids
};

struct Notify {
    std::vector<NotifyChannel> channels;
    // Alarm kind (call, fall, smoke, device_offline, …) or "default" → its steps. A kind listed with
    // no steps is told to nobody beyond the kiosk.
    std::vector<std::pair<std::string, std::vector<EscalationStep>>> escalation;
    std::string kiosk_url;      // https://… the staff's phones reach the kiosk at: the link in messages
    int supervision_s = 300;    // a channel failing (or a modem without signal) this long → an alarm
    bool sms_reply_ack = true;  // an SMS reply "1" from a notified phone acknowledges the alarm
    const std::vector<EscalationStep>* chain_for(const std::string& alarm_kind) const;
    bool has_own_chain(const std::string& alarm_kind) const;  // not only the default
    const NotifyChannel* find_channel(const std::string& id) const;
};

// Care that notices (探访关爱, 缺勤关怀): who is visited how often, and when a regular attendee's
// absence becomes a task. Defaults follow seed 001 (Meizhou); see config/README.md.
struct CareTierRule {
    std::string tier;              // weekly, fortnightly, monthly, quarterly
    std::vector<std::string> all;  // every one of these categories (or 高龄) ...
    std::vector<std::string> any;  // ... and at least one of these (empty: no condition)
};

struct Care {
    std::vector<CareTierRule> tiers;  // first match wins; an elder matching none is not on the list
    int old_age = 80;                 // 高龄: this age or older (a pseudo-category in the rules)
    // Life events that make a visit due within 24 h of being recorded.
    std::vector<std::string> visit_after = {"出院", "丧偶", "新近独居", "跌倒"};
    int absence_days = 2;         // expected days missed in a row without a reason → 缺勤关怀
    int pattern_days = 56;        // check-in history the usual pattern is learned from
    double expected_share = 0.5;  // a weekday is expected when attended on at least this share of them
    int min_attended_days = 6;    // fewer days in the history: not a regular attendee
    int arrival_grace_min = 120;  // today counts as missed this long after the usual arrival
    double drop_ratio = 0.5;      // last 14 days under this share of the usual → attendance drop
    int remind_hour = 8;          // overdue visits are sent to their visitor at this local hour
    std::vector<std::string> remind_channels;  // notify channel ids (sms, wecom, dingtalk, webhook)
};

struct MealSession {
    std::string id;                  // lunch, dinner
    std::string name;                // 午餐
    int start_min = 0, end_min = 0;  // local minutes of the day a face or card takes this meal
};

struct MealCategory {
    std::string id;                // dibao, over80, standard
    std::string name;              // 低保, 80岁以上, 标准
    double pays = 0;               // what the elder pays per meal (yuan)
    double subsidy = 0;            // what the city owes per meal (yuan)
    std::vector<std::string> any;  // an elder with one of these categories ...
    int min_age = 0;               // ... or at least this old (0: no age rule) is in it; first match
};

struct Meals {
    std::vector<MealSession> sessions;  // default: lunch 10:30–13:30, dinner 16:30–19:00
    std::vector<MealCategory>
        categories;  // default: 低保/特困 free, 80+ and standard; the last is the fallback
    const MealSession* at_minute(int minute) const;
    const MealSession* find_session(const std::string& id) const;
    const MealCategory* find_category(const std::string& id) const;
};

struct SiteConfig {
    std::string source_file;
    Site site;
    Store store;
    Log log;
    Kiosk kiosk;
    Mqtt mqtt;
    Checkin checkin;
    Face face;
    Alarms alarms;
    Gate gate;
    City city;
    Cctv cctv;
    Notify notify;
    Care care;
    Meals meals;
    std::vector<Zone> zones;
    std::vector<Camera> cameras;
    std::vector<Bus> buses;
    std::vector<MqttDevice> mqtt_devices;
    // The device-model library: the shipped folder, then the site's device_library folders.
    std::vector<std::string> device_library;
    std::shared_ptr<const devices::DeviceLibrary> models;

    const Zone* find_zone(const std::string& id) const;
    // The names staff know a zone or a device (call point, sensor, camera, thermometer) by, as the
    // site config gives them; the id when the config names none.
    std::string zone_name(const std::string& id) const;
    std::string device_name(const std::string& id) const;
};

// Parses and validates; throws ConfigError (missing file → line 0).
SiteConfig load_config(const std::string& path);
SiteConfig parse_config(const std::string& yaml_text, const std::string& file_name);

// A normalized one-screen summary for `caregate check-config`.
std::string summarize(const SiteConfig& cfg);

// Reads a secret file (trailing newline stripped); errors name the file.
std::string read_secret_file(const std::string& path);

}  // namespace caregate::config
