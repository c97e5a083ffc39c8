// Forward-only schema migrations. Never edit a released migration: add a new one.
#include "controller/core/store.hpp"

namespace caregate {

const std::vector<Migration>& migrations() {
    static const std::vector<Migration> list = {
        {1, "foundation: elders, staff, audit log, outbox", R"SQL(
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- 一人一档: identity data, kept apart from face templates.
CREATE TABLE elders (
  id INTEGER PRIMARY KEY,
  uuid TEXT NOT NULL UNIQUE,
  external_id TEXT UNIQUE,             -- the city's roster id, for downlink upserts
  name TEXT NOT NULL,
  gender TEXT CHECK (gender IN ('男','女','')) DEFAULT '',
  birth_date TEXT,
  phone TEXT,
  card_no TEXT UNIQUE,
  id_number TEXT,
  address TEXT,
  emergency_contact TEXT,
  emergency_phone TEXT,
  categories TEXT NOT NULL DEFAULT '[]', -- JSON array: 独居 空巢 留守 失能 重残 计生特殊 低保 特困
  family_notify INTEGER NOT NULL DEFAULT 0,
  liveness_exempt INTEGER NOT NULL DEFAULT 0,
  consent_by TEXT,                      -- staff who recorded the separate face consent
  consent_at INTEGER,
  notes TEXT,
  active INTEGER NOT NULL DEFAULT 1,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE staff (
  id INTEGER PRIMARY KEY,
  username TEXT NOT NULL UNIQUE,
  display_name TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('staff','admin')),
  password_hash TEXT NOT NULL,
  failed_logins INTEGER NOT NULL DEFAULT 0,
  locked_until INTEGER NOT NULL DEFAULT 0,
  active INTEGER NOT NULL DEFAULT 1,
  created_at INTEGER NOT NULL
);
CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY,
  ts INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  subject TEXT NOT NULL,
  detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_ts ON audit_log(ts);
-- Durable uplink backlog: written in the same transaction as the record it reports.
CREATE TABLE outbox (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,              -- message id = the record's uuid
  kind TEXT NOT NULL,
  priority INTEGER NOT NULL DEFAULT 1,  -- 0 low (droppable under the cap), 1 normal, 2 safety
  payload TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  sent_at INTEGER,
  attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX outbox_unsent ON outbox(sent_at, seq);
)SQL"},
        {2, "devices and alarms with an append-only rescue record", R"SQL(
CREATE TABLE devices (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  zone TEXT,
  online INTEGER,
  reason TEXT,
  battery REAL,
  last_seen INTEGER,
  errors INTEGER NOT NULL DEFAULT 0,
  updated_at INTEGER NOT NULL
);
CREATE TABLE alarms (
  id INTEGER PRIMARY KEY,
  uuid TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL CHECK (kind IN ('call','fall','fever','over_capacity','device_offline','camera_offline','storage')),
  source TEXT NOT NULL,                 -- device, camera or zone id
  zone TEXT,
  elder_id INTEGER REFERENCES elders(id),
  state TEXT NOT NULL CHECK (state IN ('raised','acknowledged','dispatched','resolved','cancelled')),
  level INTEGER NOT NULL DEFAULT 0,     -- escalation level
  presses INTEGER NOT NULL DEFAULT 1,
  detail TEXT NOT NULL DEFAULT '{}',
  raised_at INTEGER NOT NULL,
  acked_at INTEGER,
  dispatched_at INTEGER,
  closed_at INTEGER,
  next_deadline INTEGER                 -- when the next escalation is due (survives restarts)
);
CREATE INDEX alarms_open ON alarms(state) WHERE state NOT IN ('resolved','cancelled');
CREATE INDEX alarms_raised ON alarms(raised_at);
CREATE TABLE alarm_steps (
  id INTEGER PRIMARY KEY,
  uuid TEXT NOT NULL UNIQUE,
  alarm_id INTEGER NOT NULL REFERENCES alarms(id),
  ts INTEGER NOT NULL,
  step TEXT NOT NULL,                   -- raised, repeated, acknowledged, dispatched, escalated, resolved, cancelled, note
  actor TEXT NOT NULL,
  target TEXT,                          -- dispatch target: 110 120 119 family city_hotline staff
  note TEXT,
  level INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX alarm_steps_alarm ON alarm_steps(alarm_id, ts);
CREATE TRIGGER alarm_steps_append_only_u BEFORE UPDATE ON alarm_steps
  BEGIN SELECT RAISE(ABORT, 'alarm_steps is append-only'); END;
CREATE TRIGGER alarm_steps_append_only_d BEFORE DELETE ON alarm_steps
  BEGIN SELECT RAISE(ABORT, 'alarm_steps is append-only'); END;
)SQL"},
        {3, "faces, check-ins and occupancy", R"SQL(
-- Encrypted 128-d descriptors (XChaCha20-Poly1305); no names here, only the elder's row id.
CREATE TABLE face_templates (
  id INTEGER PRIMARY KEY,
  elder_id INTEGER NOT NULL REFERENCES elders(id) ON DELETE CASCADE,
  nonce BLOB NOT NULL,
  ciphertext BLOB NOT NULL,
  quality REAL,
  created_at INTEGER NOT NULL
);
CREATE INDEX face_templates_elder ON face_templates(elder_id);
CREATE TABLE checkins (
  id INTEGER PRIMARY KEY,
  uuid TEXT NOT NULL UNIQUE,
  elder_id INTEGER NOT NULL REFERENCES elders(id),
  ts INTEGER NOT NULL,
  direction TEXT NOT NULL CHECK (direction IN ('in','out')),
  method TEXT NOT NULL,                 -- face, staff, card, id
  camera_id TEXT,
  zone TEXT,
  temperature REAL,
  distance REAL,
  actor TEXT
);
CREATE INDEX checkins_ts ON checkins(ts);
CREATE INDEX checkins_elder ON checkins(elder_id, ts);
CREATE TABLE visitor_events (
  id INTEGER PRIMARY KEY,
  ts INTEGER NOT NULL,
  camera_id TEXT NOT NULL
);
CREATE TABLE occupancy_adjustments (
  id INTEGER PRIMARY KEY,
  ts INTEGER NOT NULL,
  zone TEXT NOT NULL,
  delta INTEGER NOT NULL,
  source TEXT NOT NULL,                 -- checkin, counter, staff, reset
  actor TEXT
);
CREATE INDEX occupancy_zone_ts ON occupancy_adjustments(zone, ts);
)SQL"},
        {4, "service and home-visit records", R"SQL(
CREATE TABLE service_records (
  id INTEGER PRIMARY KEY,
  uuid TEXT NOT NULL UNIQUE,
  elder_id INTEGER NOT NULL REFERENCES elders(id),
  ts INTEGER NOT NULL,
  service TEXT NOT NULL CHECK (service IN ('助餐','助浴','助洁','文体娱乐','代办代购','医疗保健','心理慰藉','技能培训','康复辅具租赁')),
  staff TEXT NOT NULL,
  notes TEXT
);
CREATE INDEX service_records_ts ON service_records(ts);
CREATE TABLE visit_records (
  id INTEGER PRIMARY KEY,
  uuid TEXT NOT NULL UNIQUE,
  elder_id INTEGER NOT NULL REFERENCES elders(id),
  ts INTEGER NOT NULL,
  method TEXT NOT NULL,                 -- 上门 电话 视频
  visitor TEXT NOT NULL,
  health TEXT, safety TEXT, needs TEXT, follow_up TEXT
);
CREATE INDEX visit_records_ts ON visit_records(ts);
)SQL"},
        {5, "CCTV event index", R"SQL(
CREATE TABLE cctv_events (
  id INTEGER PRIMARY KEY,
  camera_id TEXT NOT NULL,
  label TEXT NOT NULL,                  -- motion, person, face
  start_ts INTEGER NOT NULL,
  end_ts INTEGER,
  score REAL,
  zone TEXT,
  elder_id INTEGER,
  alarm_id INTEGER,
  snapshot TEXT,
  thumbnail TEXT,
  clip TEXT
);
CREATE INDEX cctv_events_time ON cctv_events(start_ts);
CREATE INDEX cctv_events_camera_time ON cctv_events(camera_id, start_ts);
CREATE INDEX cctv_events_label_time ON cctv_events(label, start_ts);
CREATE INDEX cctv_events_elder_time ON cctv_events(elder_id, start_ts) WHERE elder_id IS NOT NULL;
)SQL"},
        {6, "door decisions", R"SQL(
-- Every gate decision, including refusals (fever, full) that leave no check-in row.
CREATE TABLE door_events (
  id INTEGER PRIMARY KEY,
  ts INTEGER NOT NULL,
  elder_id INTEGER,
  camera_id TEXT,
  decision TEXT NOT NULL,               -- allow refuse wait remeasure visitor
  reason TEXT NOT NULL,
  temperature REAL,
  unmeasured INTEGER NOT NULL DEFAULT 0,
  actor TEXT
);
CREATE INDEX door_events_ts ON door_events(ts);
)SQL"},
        {7, "face templates name the model that made them (templates of another model need re-enrollment)",
         R"SQL(
ALTER TABLE face_templates ADD COLUMN model TEXT NOT NULL DEFAULT 'dlib_resnet/128';
)SQL"},
        {8, "alarm kinds of the building and the channels; who was told of an alarm; the duty roster",
         R"SQL(
CREATE TABLE alarms_v8 (
  id INTEGER PRIMARY KEY,
  uuid TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL CHECK (kind IN ('call','fall','fever','over_capacity','device_offline','camera_offline',
    'storage','long_occupancy','channel_offline','smoke','gas','water_leak','electrical_fault','tamper')),
  source TEXT NOT NULL,
  zone TEXT,
  elder_id INTEGER REFERENCES elders(id),
  state TEXT NOT NULL CHECK (state IN ('raised','acknowledged','dispatched','resolved','cancelled')),
  level INTEGER NOT NULL DEFAULT 0,
  presses INTEGER NOT NULL DEFAULT 1,
  detail TEXT NOT NULL DEFAULT '{}',
  raised_at INTEGER NOT NULL,
  acked_at INTEGER,
  dispatched_at INTEGER,
  closed_at INTEGER,
  next_deadline INTEGER
);
INSERT INTO alarms_v8 SELECT id, uuid, kind, source, zone, elder_id, state, level, presses, detail, raised_at,
  acked_at, dispatched_at, closed_at, next_deadline FROM alarms;
DROP TABLE alarms;
ALTER TABLE alarms_v8 RENAME TO alarms;
CREATE INDEX alarms_open ON alarms(state) WHERE state NOT IN ('resolved','cancelled');
CREATE INDEX alarms_raised ON alarms(raised_at);
-- One row per alarm, channel and recipient: planned when the alarm is raised (same transaction), so
-- a restart loses none and sends none twice. Every attempt is also a 'notified' step of the alarm.
CREATE TABLE notifications (
  id INTEGER PRIMARY KEY,
  alarm_id INTEGER NOT NULL REFERENCES alarms(id),
  step INTEGER NOT NULL,                -- escalation step, 0-based
  channel TEXT NOT NULL,
  recipient TEXT NOT NULL,              -- phone number; '' for a chat group or the loudspeaker
  due_at INTEGER NOT NULL,
  next_try INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending','sending','sent','failed','cancelled')),
  attempts INTEGER NOT NULL DEFAULT 0,
  result TEXT,
  updated_at INTEGER NOT NULL,
  UNIQUE (alarm_id, channel, recipient)
);
CREATE INDEX notifications_due ON notifications(channel, next_try) WHERE state IN ('pending','sending');
ALTER TABLE staff ADD COLUMN phone TEXT;
-- 值班表: who is on duty when (local time), for @duty recipients.
CREATE TABLE duty_shifts (
  id INTEGER PRIMARY KEY,
  staff_id INTEGER NOT NULL REFERENCES staff(id),
  weekday INTEGER NOT NULL CHECK (weekday BETWEEN 1 AND 7),   -- 1 Monday … 7 Sunday
  start_min INTEGER NOT NULL CHECK (start_min BETWEEN 0 AND 1439),
  end_min INTEGER NOT NULL CHECK (end_min BETWEEN 1 AND 1440),  -- a night shift is two rows
  CHECK (end_min > start_min)
);
CREATE INDEX duty_shifts_day ON duty_shifts(weekday);
)SQL",
         true},
        {9, "what devices say about themselves; readings of electrical detectors and meters", R"SQL(
-- Conditions a device reports (device page): tampered with, battery low. NULL: never reported.
ALTER TABLE devices ADD COLUMN tamper INTEGER;
ALTER TABLE devices ADD COLUMN battery_low INTEGER;
ALTER TABLE devices ADD COLUMN model TEXT;
-- Numeric readings kept per minute (count, min, max, mean, last), per device and state.
CREATE TABLE readings (
  device_id TEXT NOT NULL,
  state TEXT NOT NULL,           -- residual_current_ma, cable_temp_c, voltage_v, current_a, power_w, energy_kwh, ...
  minute INTEGER NOT NULL,       -- UTC epoch ms of the minute's start
  n INTEGER NOT NULL,
  min REAL NOT NULL,
  max REAL NOT NULL,
  mean REAL NOT NULL,
  last REAL NOT NULL,
  PRIMARY KEY (device_id, state, minute)
) WITHOUT ROWID;
CREATE INDEX readings_minute ON readings(minute);
)SQL"},
        {10, "care that notices: visit tiers and visitors, life events, absence reasons, meals", R"SQL(
-- Per elder: the visit tier (NULL: from the roster categories by care.tiers; 'none': not visited),
-- the named visitor (staff user name or a volunteer's name), the meal subsidy category (NULL: from
-- the roster by meals.categories) and special diets (JSON array: 糖尿病 软食 清真 …).
CREATE TABLE care_profiles (
  elder_id INTEGER PRIMARY KEY REFERENCES elders(id),
  tier TEXT CHECK (tier IN ('weekly','fortnightly','monthly','quarterly','none')),
  visitor TEXT,
  meal_category TEXT,
  diets TEXT NOT NULL DEFAULT '[]',
  updated_at INTEGER NOT NULL
);
-- What happened to an elder (出院 丧偶 新近独居 跌倒 住院 生病 其他): some make a visit due in 24 h.
CREATE TABLE life_events (
  id INTEGER PRIMARY KEY,
  elder_id INTEGER NOT NULL REFERENCES elders(id),
  day TEXT NOT NULL,                    -- local date it happened, YYYY-MM-DD
  kind TEXT NOT NULL,
  note TEXT,
  recorded_by TEXT NOT NULL,
  recorded_at INTEGER NOT NULL
);
CREATE INDEX life_events_elder ON life_events(elder_id, day);
-- A known reason for not coming (住院 外出 家人照顾 生病 其他), local dates inclusive.
CREATE TABLE absence_reasons (
  id INTEGER PRIMARY KEY,
  elder_id INTEGER NOT NULL REFERENCES elders(id),
  from_day TEXT NOT NULL,
  to_day TEXT NOT NULL,
  reason TEXT NOT NULL,
  note TEXT,
  recorded_by TEXT NOT NULL,
  recorded_at INTEGER NOT NULL
);
CREATE INDEX absence_reasons_elder ON absence_reasons(elder_id, to_day);
-- Why an elder on the visit list was not visited in a month (the monthly report lists it).
CREATE TABLE visit_misses (
  elder_id INTEGER NOT NULL REFERENCES elders(id),
  month TEXT NOT NULL,                  -- YYYY-MM
  reason TEXT NOT NULL,
  recorded_by TEXT NOT NULL,
  recorded_at INTEGER NOT NULL,
  PRIMARY KEY (elder_id, month)
);
-- 助餐: the menu of a session, and the meals taken (one per elder and session).
CREATE TABLE meal_menus (
  day TEXT NOT NULL,
  session TEXT NOT NULL,
  dishes TEXT NOT NULL,
  updated_by TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (day, session)
);
CREATE TABLE meals (
  id INTEGER PRIMARY KEY,
  uuid TEXT NOT NULL UNIQUE,            -- also the uuid of its 助餐 service record
  elder_id INTEGER NOT NULL REFERENCES elders(id),
  day TEXT NOT NULL,
  session TEXT NOT NULL,
  ts INTEGER NOT NULL,
  method TEXT NOT NULL CHECK (method IN ('face','card','staff')),
  category TEXT NOT NULL,
  pays REAL NOT NULL,
  subsidy REAL NOT NULL,
  actor TEXT NOT NULL,
  UNIQUE (elder_id, day, session)
);
CREATE INDEX meals_day ON meals(day, session);
-- Reminders of overdue visits sent to their visitor: one per day, visitor, channel and recipient.
CREATE TABLE care_reminders (
  id INTEGER PRIMARY KEY,
  day TEXT NOT NULL,
  visitor TEXT NOT NULL,
  channel TEXT NOT NULL,
  recipient TEXT NOT NULL,
  text TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending','sent','failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  result TEXT,
  updated_at INTEGER NOT NULL,
  UNIQUE (day, visitor, channel, recipient)
);
CREATE INDEX visit_records_elder ON visit_records(elder_id, ts);
)SQL"},
        {11, "door screens paired by an admin", R"SQL(
-- Door screens (门口屏): each holds a long-lived token (only its hash is kept here), revocable.
CREATE TABLE door_displays (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  token_hash TEXT NOT NULL UNIQUE,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  last_seen INTEGER,
  revoked_at INTEGER
);
-- One-time pairing codes an admin hands to a new door screen; valid 10 minutes.
CREATE TABLE door_pairing_codes (
  code_hash TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  created_by TEXT NOT NULL,
  expires_at INTEGER NOT NULL
);
)SQL"},
        {12, "elders: 停用 with a reason and date, 身份证号 lookups, each elder's records by elder", R"SQL(
-- 停用 (left the center, deceased, moved): the elder leaves every list of active elders; the records
-- stay. 身份证号 (id_number, since 1) is checked (GB 11643) and unique among active elders by the
-- roster; the index serves that check and the import's upsert.
ALTER TABLE elders ADD COLUMN deactivated_reason TEXT;
ALTER TABLE elders ADD COLUMN deactivated_on TEXT;
ALTER TABLE elders ADD COLUMN deactivated_note TEXT;
ALTER TABLE elders ADD COLUMN deactivated_by TEXT;
CREATE INDEX elders_id_number ON elders(id_number) WHERE id_number IS NOT NULL AND id_number <> '';
CREATE INDEX service_records_elder ON service_records(elder_id, ts);
CREATE INDEX alarms_elder ON alarms(elder_id, raised_at) WHERE elder_id IS NOT NULL;
CREATE INDEX meals_elder ON meals(elder_id, ts);
)SQL"},
        {13, "staff logins that survive a restart", R"SQL(
-- One row per kiosk login. The cookie's token is never stored, only its SHA-256: a copy of the
-- database does not log anyone in. Ended logins (logout, revoke, password change, disabled account,
-- idle or too old) are deleted.
CREATE TABLE kiosk_sessions (
  token_sha256 TEXT PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  staff_id INTEGER NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
  csrf TEXT NOT NULL,
  client TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
)SQL"},
    };
    return list;
}

int latest_schema_version() { return migrations().back().version; }

}  // namespace caregate
