#include "controller/cctv/cctv_index.hpp"

#include <algorithm>
#include <filesystem>
#include <set>

#include "controller/core/log.hpp"

namespace fs = std::filesystem;

namespace caregate {

using nlohmann::json;

namespace {
const char* kCols =
    "e.id, e.camera_id, e.label, e.start_ts, e.end_ts, e.score, e.zone, e.elder_id, e.alarm_id, e.snapshot, "
    "e.thumbnail, e.clip, el.name";
const int64_t kDay = 86'400'000;

int64_t size_of(const fs::path& p) {
    std::error_code ec;
    auto n = fs::file_size(p, ec);
    return ec ? 0 : static_cast<int64_t>(n);
}
}  // namespace

json event_json(const Stmt& s) {
    auto opt_str = [&](int c) { return s.is_null(c) ? json(nullptr) : json(s.str(c)); };
    return {{"id", s.i64(0)},
            {"camera_id", s.str(1)},
            {"label", s.str(2)},
            {"start_ts", s.i64(3)},
            {"end_ts", s.is_null(4) ? json(nullptr) : json(s.i64(4))},
            {"score", s.f64(5)},
            {"zone", s.str(6)},
            {"elder_id", s.is_null(7) ? json(nullptr) : json(s.i64(7))},
            {"alarm_id", s.is_null(8) ? json(nullptr) : json(s.i64(8))},
            {"snapshot", opt_str(9)},
            {"thumbnail", opt_str(10)},
            {"clip", opt_str(11)},
            {"elder_name", opt_str(12)}};
}

EventIndex::EventIndex(Store& store, const Clock& clock, config::Cctv policy, std::string media_dir)
    : store_(store), clock_(clock), policy_(policy), media_dir_(std::move(media_dir)) {}

// Motion and person events are the bulk of the index and not decisions: they are written without
// their own fsync (Store::write_relaxed); an alarm's or check-in's commit makes them durable too.
int64_t EventIndex::event_started(const cctv::CctvEvent& e) {
    return store_.write_relaxed([&](sqlite3* db) {
        Stmt s(db, "INSERT INTO cctv_events(camera_id, label, start_ts, score, zone) VALUES(?,?,?,?,?)");
        s.bind(1, e.camera_id).bind(2, e.label).bind(3, e.start_ms).bind(4, e.score).bind(5, e.zone).run();
        return last_insert_id(db);
    });
}

void EventIndex::event_updated(const cctv::CctvEvent& e) {
    store_.write_relaxed([&](sqlite3* db) {
        Stmt s(db, "UPDATE cctv_events SET end_ts=?, score=?, snapshot=?, thumbnail=?, clip=? WHERE id=?");
        s.bind(1, e.end_ms).bind(2, e.score);
        e.snapshot.empty() ? s.bind_null(3) : s.bind(3, e.snapshot);
        e.thumbnail.empty() ? s.bind_null(4) : s.bind(4, e.thumbnail);
        e.clip.empty() ? s.bind_null(5) : s.bind(5, e.clip);
        s.bind(6, e.id).run();
    });
}

int64_t EventIndex::record_face(const std::string& camera, const std::string& zone,
                                std::optional<int64_t> elder_id, double score, int64_t ts) {
    return store_.write([&](sqlite3* db) {
        Stmt s(db,
               "INSERT INTO cctv_events(camera_id, label, start_ts, end_ts, score, zone, elder_id) "
               "VALUES(?, 'face', ?, ?, ?, ?, ?)");
        s.bind(1, camera).bind(2, ts).bind(3, ts).bind(4, score).bind(5, zone).bind(6, elder_id).run();
        return last_insert_id(db);
    });
}

void EventIndex::ingest(const std::vector<cctv::CctvEvent>& events) {
    store_.write([&](sqlite3* db) {
        Stmt s(
            db,
            "INSERT INTO cctv_events(camera_id, label, start_ts, end_ts, score, zone, snapshot, thumbnail) "
            "VALUES(?,?,?,?,?,?,?,?)");
        for (auto& e : events) {
            s.bind(1, e.camera_id).bind(2, e.label).bind(3, e.start_ms).bind(4, e.end_ms).bind(5, e.score);
            s.bind(6, e.zone);
            e.snapshot.empty() ? s.bind_null(7) : s.bind(7, e.snapshot);
            e.thumbnail.empty() ? s.bind_null(8) : s.bind(8, e.thumbnail);
            s.run();
            s.reset();
        }
    });
}

std::vector<json> EventIndex::query(const EventQuery& q) {
    std::string sql = std::string("SELECT ") + kCols +
                      " FROM cctv_events e LEFT JOIN elders el ON el.id=e.elder_id WHERE 1";
    // Every filter uses an index: (camera, start), (label, start), (elder, start) or (start).
    if (!q.camera.empty()) sql += " AND e.camera_id=:camera";
    if (!q.label.empty()) sql += " AND e.label=:label";
    if (q.elder_id) sql += " AND e.elder_id=:elder";
    if (q.from_ms) sql += " AND e.start_ts>=:from";
    if (q.to_ms) sql += " AND e.start_ts<:to";
    if (q.before_id > 0) sql += " AND e.id<:before";
    sql += " ORDER BY e.start_ts DESC, e.id DESC LIMIT :limit";
    return store_.read([&](sqlite3* db) {
        Stmt s(db, sql);
        int i = 1;
        if (!q.camera.empty()) s.bind(i++, q.camera);
        if (!q.label.empty()) s.bind(i++, q.label);
        if (q.elder_id) s.bind(i++, *q.elder_id);
        if (q.from_ms) s.bind(i++, *q.from_ms);
        if (q.to_ms) s.bind(i++, *q.to_ms);
        if (q.before_id > 0) s.bind(i++, q.before_id);
        s.bind(i++, std::clamp(q.limit, 1, 1000));
        std::vector<json> out;
        while (s.step()) out.push_back(event_json(s));
        return out;
    });
}

std::vector<json> EventIndex::near_alarm(int64_t alarm_id, int64_t window_ms, const config::SiteConfig& cfg) {
    auto alarm = store_.read([&](sqlite3* db) -> std::optional<std::pair<int64_t, std::string>> {
        Stmt s(db, "SELECT raised_at, zone FROM alarms WHERE id=?");
        s.bind(1, alarm_id);
        if (!s.step()) return std::nullopt;
        return std::make_pair(s.i64(0), s.str(1));
    });
    if (!alarm) return {};
    // Cameras watching the alarm's zone; a private zone (bath) has none, so take every camera:
    // "what happened in the corridor when the bathroom call came".
    std::set<std::string> cams;
    for (auto& c : cfg.cameras)
        if (c.zone == alarm->second) cams.insert(c.id);
    std::vector<json> out;
    EventQuery q;
    q.from_ms = alarm->first - window_ms;
    q.to_ms = alarm->first + window_ms;
    q.limit = 200;
    for (auto& e : query(q))
        if (cams.empty() || cams.count(e["camera_id"].get<std::string>())) out.push_back(e);
    return out;
}

int EventIndex::forget_elder(int64_t elder_id) {
    std::vector<std::string> files;
    int deleted = store_.write([&](sqlite3* db) {
        Stmt m(
            db,
            "SELECT COALESCE(snapshot,''), COALESCE(thumbnail,''), COALESCE(clip,'') FROM cctv_events WHERE "
            "elder_id=? AND label='face' AND alarm_id IS NULL");
        m.bind(1, elder_id);
        while (m.step())
            for (int c = 0; c < 3; ++c)
                if (!m.str(c).empty()) files.push_back(m.str(c));
        Stmt d(db, "DELETE FROM cctv_events WHERE elder_id=? AND label='face' AND alarm_id IS NULL");
        d.bind(1, elder_id).run();
        int n = sqlite3_changes(db);
        Stmt u(db, "UPDATE cctv_events SET elder_id=NULL WHERE elder_id=?");
        u.bind(1, elder_id).run();
        return n;
    });
    std::error_code ec;
    for (auto& f : files)
        if (f.find("..") == std::string::npos) fs::remove(fs::path(media_dir_) / f, ec);
    return deleted;
}

int EventIndex::link_to_alarm(int64_t alarm_id, const std::vector<int64_t>& ids) {
    return store_.write([&](sqlite3* db) {
        Stmt s(db, "UPDATE cctv_events SET alarm_id=? WHERE id=? AND alarm_id IS NULL");
        int n = 0;
        for (auto id : ids) {
            s.bind(1, alarm_id).bind(2, id).run();
            n += sqlite3_changes(db);
            s.reset();
        }
        return n;
    });
}

int64_t EventIndex::media_bytes() const {
    int64_t total = 0;
    std::error_code ec;
    if (!fs::exists(media_dir_, ec)) return 0;
    for (auto it = fs::recursive_directory_iterator(media_dir_, ec); it != fs::recursive_directory_iterator();
         it.increment(ec))
        if (it->is_regular_file(ec)) total += size_of(it->path());
    return total;
}

RetentionReport EventIndex::apply_retention() {
    RetentionReport r;
    int64_t now = clock_.now_ms();
    struct Victim {
        int64_t id;
        std::vector<std::string> files;
    };
    auto remove_files = [&](const std::vector<std::string>& files) {
        for (auto& f : files) {
            if (f.empty()) continue;
            fs::path p = fs::path(media_dir_) / f;
            int64_t n = size_of(p);
            std::error_code ec;
            if (fs::remove(p, ec)) {
                r.bytes_freed += n;
                r.media_deleted++;
            }
        }
    };
    // 1. Age: per label; alarm-linked events by alarm_days.
    std::vector<Victim> expired = store_.read([&](sqlite3* db) {
        std::vector<Victim> v;
        Stmt s(
            db,
            "SELECT id, COALESCE(snapshot,''), COALESCE(thumbnail,''), COALESCE(clip,'') FROM cctv_events "
            "WHERE "
            "(alarm_id IS NULL AND ((label='motion' AND start_ts<?1) OR (label='person' AND start_ts<?2) OR "
            "(label='face' AND start_ts<?3))) OR (alarm_id IS NOT NULL AND start_ts<?4)");
        s.bind(1, now - policy_.motion_days * kDay).bind(2, now - policy_.person_days * kDay);
        s.bind(3, now - policy_.face_days * kDay).bind(4, now - policy_.alarm_days * kDay);
        while (s.step()) v.push_back({s.i64(0), {s.str(1), s.str(2), s.str(3)}});
        return v;
    });
    for (auto& v : expired) remove_files(v.files);
    store_.write([&](sqlite3* db) {
        Stmt d(db, "DELETE FROM cctv_events WHERE id=?");
        for (auto& v : expired) {
            d.bind(1, v.id).run();
            d.reset();
        }
    });
    r.expired_events = static_cast<int>(expired.size());

    // 2. Quota: oldest media first, alarm-linked last; the index rows stay (media = NULL).
    int64_t quota = int64_t(policy_.quota_mb) * 1024 * 1024;
    r.media_bytes = media_bytes();
    if (r.media_bytes > quota) {
        int64_t over = r.media_bytes - quota;
        std::vector<Victim> oldest = store_.read([&](sqlite3* db) {
            std::vector<Victim> v;
            Stmt s(db,
                   "SELECT id, COALESCE(snapshot,''), COALESCE(thumbnail,''), COALESCE(clip,'') FROM "
                   "cctv_events "
                   "WHERE snapshot IS NOT NULL OR clip IS NOT NULL ORDER BY (alarm_id IS NOT NULL), start_ts "
                   "LIMIT 5000");
            while (s.step()) v.push_back({s.i64(0), {s.str(1), s.str(2), s.str(3)}});
            return v;
        });
        std::vector<int64_t> cleared;
        for (auto& v : oldest) {
            if (over <= 0) break;
            int64_t before = r.bytes_freed;
            remove_files(v.files);
            over -= r.bytes_freed - before;
            cleared.push_back(v.id);
        }
        store_.write([&](sqlite3* db) {
            Stmt u(db, "UPDATE cctv_events SET snapshot=NULL, thumbnail=NULL, clip=NULL WHERE id=?");
            for (auto id : cleared) {
                u.bind(1, id).run();
                u.reset();
            }
        });
        r.media_bytes = media_bytes();
    }
    if (r.expired_events || r.media_deleted)
        logger("cctv")->info("retention: {} events expired, {} media files deleted ({} bytes)",
                             r.expired_events, r.media_deleted, r.bytes_freed);
    return r;
}

}  // namespace caregate
