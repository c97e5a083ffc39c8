#include "controller/people/face_templates.hpp"

#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "controller/core/log.hpp"

namespace caregate {

FaceKey FaceKey::load(const std::string& path) {
    if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
    std::ifstream f(path, std::ios::binary);
    if (!f)
        throw std::runtime_error("face template key " + path +
                                 " cannot be read; create one with: head -c 32 /dev/urandom > " + path +
                                 " && chmod 600 " + path + " (or set face.key_file)");
    // Whoever reads the key reads every face template: it must be private to the service's user.
    // (systemd credentials are managed by systemd, which grants the service alone read access.)
    const char* creds = std::getenv("CREDENTIALS_DIRECTORY");
    bool systemd_credential = creds && *creds && path.rfind(std::string(creds) + "/", 0) == 0;
    struct stat st {};
    if (!systemd_credential && ::stat(path.c_str(), &st) == 0) {
        if (st.st_mode & 077)
            throw std::runtime_error("face template key " + path + " is readable by others (mode " +
                                     [&] {
                                         char m[8];
                                         std::snprintf(m, sizeof m, "%04o", unsigned(st.st_mode & 07777));
                                         return std::string(m);
                                     }() +
                                     "); fix with: chmod 600 " + path);
        if (st.st_uid != ::geteuid())
            throw std::runtime_error("face template key " + path + " belongs to uid " +
                                     std::to_string(st.st_uid) + ", not to the user caregate runs as (uid " +
                                     std::to_string(::geteuid()) + "); fix with: chown caregate " + path);
    }
    std::stringstream ss;
    ss << f.rdbuf();
    std::string raw = ss.str();
    // A binary key is exactly 32 bytes and may end in 0x0a or 0x0d; only a hex key has a line end to drop.
    if (raw.size() != 32)
        while (!raw.empty() && (raw.back() == '\n' || raw.back() == '\r')) raw.pop_back();
    FaceKey k;
    if (raw.size() == 32) {
        std::memcpy(k.key_.data(), raw.data(), 32);
    } else if (raw.size() == 64 &&
               sodium_hex2bin(k.key_.data(), 32, raw.c_str(), 64, nullptr, nullptr, nullptr) == 0) {
    } else {
        throw std::runtime_error("face template key " + path +
                                 " must hold 32 bytes (or 64 hex characters), found " +
                                 std::to_string(raw.size()) + " bytes");
    }
    return k;
}

void FaceKey::create(const std::string& path) {
    if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
    unsigned char k[32];
    randombytes_buf(k, sizeof k);
    // Written as hex so the file survives editors and copy/paste; load() also takes 32 raw bytes.
    char hex[65];
    sodium_bin2hex(hex, sizeof hex, k, sizeof k);
    sodium_memzero(k, sizeof k);
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << hex << '\n';
    sodium_memzero(hex, sizeof hex);
    if (!f) throw std::runtime_error("cannot write face template key " + path);
    f.close();
    chmod(path.c_str(), 0600);
}

int64_t TemplateStore::add(sqlite3* db, int64_t elder_id, const Descriptor& d, double quality,
                           const std::string& model) {
    unsigned char nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
    randombytes_buf(nonce, sizeof nonce);
    const size_t bytes = d.size() * sizeof(float);
    std::vector<unsigned char> ct(bytes + crypto_aead_xchacha20poly1305_ietf_ABYTES);
    unsigned long long ct_len = 0;
    // The elder id is authenticated data: a template moved to another elder's row fails to decrypt.
    std::string ad = std::to_string(elder_id);
    crypto_aead_xchacha20poly1305_ietf_encrypt(
        ct.data(), &ct_len, reinterpret_cast<const unsigned char*>(d.data()), bytes,
        reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nullptr, nonce, key_.data());
    Stmt s(db,
           "INSERT INTO face_templates(elder_id, nonce, ciphertext, quality, created_at, model) "
           "VALUES(?,?,?,?,?,?)");
    s.bind(1, elder_id).bind_blob(2, nonce, sizeof nonce).bind_blob(3, ct.data(), ct_len).bind(4, quality);
    s.bind(5, clock_.now_ms()).bind(6, model).run();
    int64_t id = last_insert_id(db);
    changed(db);  // a running daemon loads it (enrolled from the CLI)
    return id;
}

std::vector<StoredTemplate> TemplateStore::load_all(const std::string& model,
                                                    std::vector<int64_t>* unreadable) {
    return store_.read([&](sqlite3* db) {
        std::vector<StoredTemplate> out;
        std::vector<int64_t> failed;
        Stmt s(db,
               "SELECT t.id, t.elder_id, t.nonce, t.ciphertext, COALESCE(t.quality,0) FROM face_templates t "
               "JOIN elders e ON e.id=t.elder_id WHERE e.active=1 AND t.model=? ORDER BY t.id");
        s.bind(1, model);
        while (s.step()) {
            StoredTemplate t;
            t.id = s.i64(0);
            t.elder_id = s.i64(1);
            auto nonce = s.blob(2);
            auto ct = s.blob(3);
            t.quality = s.f64(4);
            t.model = model;
            std::string ad = std::to_string(t.elder_id);
            unsigned long long len = 0;
            // Plaintext is at most the ciphertext; a whole number of floats is checked after.
            t.descriptor.resize(ct.size() / sizeof(float) + 1);
            if (nonce.size() != crypto_aead_xchacha20poly1305_ietf_NPUBBYTES ||
                crypto_aead_xchacha20poly1305_ietf_decrypt(
                    reinterpret_cast<unsigned char*>(t.descriptor.data()), &len, nullptr, ct.data(),
                    ct.size(), reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nonce.data(),
                    key_.data()) != 0 ||
                len == 0 || len % sizeof(float) != 0) {
                failed.push_back(t.id);
                continue;
            }
            t.descriptor.resize(len / sizeof(float));
            out.push_back(std::move(t));
        }
        if (out.empty() && !failed.empty())
            throw std::runtime_error("face templates cannot be decrypted (" + std::to_string(failed.size()) +
                                     ", the first is " + std::to_string(failed.front()) +
                                     "): wrong face.key_file, or the database was tampered with");
        if (unreadable) *unreadable = std::move(failed);
        return out;
    });
}

std::map<int64_t, std::string> TemplateStore::needing_reenrollment(const std::string& model) {
    return store_.read([&](sqlite3* db) {
        std::map<int64_t, std::string> out;
        Stmt s(
            db,
            "SELECT e.id, e.name FROM elders e WHERE e.active=1 AND EXISTS (SELECT 1 FROM face_templates t "
            "WHERE t.elder_id=e.id) AND NOT EXISTS (SELECT 1 FROM face_templates t WHERE t.elder_id=e.id "
            "AND t.model=?) ORDER BY e.id");
        s.bind(1, model);
        while (s.step()) out[s.i64(0)] = s.str(1);
        return out;
    });
}

std::vector<TemplateRenewal> TemplateStore::renewals(const std::string& model, double threshold,
                                                     int64_t now_ms) {
    constexpr int64_t kYearMs = 365LL * 24 * 3600 * 1000;
    constexpr int64_t kNotRecognisedWindowMs = 30LL * 24 * 3600 * 1000;
    constexpr int64_t kNotRecognisedArrivals = 3;
    // Distance rising: the median of the latest kRecentCheckins face check-ins (at least
    // kMinCheckins) near the threshold, or risen well above the elder's own first kBaselineCheckins
    // after the enrollment and past kRisenNear of the threshold: a face that changed (illness,
    // weight lost) is renewed before the door stops naming it. Judgement, not measured on door data.
    constexpr size_t kMinCheckins = 5;
    constexpr int64_t kRecentCheckins = 10;
    constexpr int64_t kBaselineCheckins = 5;
    constexpr double kNearThreshold = 0.85, kRisenNear = 0.7, kRise = 0.15;
    auto median = [](std::vector<double> v) {
        std::nth_element(v.begin(), v.begin() + long(v.size() / 2), v.end());
        return v[v.size() / 2];
    };
    auto out = store_.read([&](sqlite3* db) {
        std::vector<TemplateRenewal> out;
        Stmt s(
            db,
            "SELECT e.id, e.name, MAX(t.created_at) FROM elders e JOIN face_templates t ON t.elder_id=e.id "
            "WHERE e.active=1 AND t.model=? GROUP BY e.id ORDER BY e.id");
        s.bind(1, model);
        while (s.step()) {
            TemplateRenewal r;
            r.elder_id = s.i64(0);
            r.name = s.str(1);
            r.newest_template_ms = s.i64(2);
            // The elder's face distances since the newest template: the latest, or the first.
            auto distances = [&](const char* order, int64_t limit) {
                Stmt d(db, std::string("SELECT distance FROM checkins WHERE elder_id=? AND method='face' AND "
                                       "distance IS NOT NULL AND ts>=? ORDER BY ts ") +
                               order + " LIMIT ?");
                d.bind(1, r.elder_id);
                d.bind(2, r.newest_template_ms);
                d.bind(3, limit);
                std::vector<double> out;
                while (d.step()) out.push_back(d.f64(0));
                return out;
            };
            auto recent = distances("DESC", kRecentCheckins);
            if (recent.size() >= kMinCheckins) r.recent_distance = median(recent);
            // The elder's own distances at the door after the enrollment: the baseline a rise is
            // measured from, once there are enough check-ins that it and the latest do not overlap.
            auto early = distances("ASC", kBaselineCheckins);
            Stmt n(
                db,
                "SELECT COUNT(*) FROM checkins WHERE elder_id=? AND method='face' AND distance IS NOT NULL "
                "AND ts>=?");
            n.bind(1, r.elder_id);
            n.bind(2, r.newest_template_ms);
            n.step();
            if (n.i64(0) >= kBaselineCheckins + kRecentCheckins) r.baseline_distance = median(early);
            // An elder the door no longer knows leaves no face check-ins to judge by: arrivals
            // checked in another way, and none by face, say it instead.
            Stmt a(db,
                   "SELECT COUNT(*), COALESCE(SUM(method='face'),0) FROM checkins WHERE elder_id=? AND "
                   "direction='in' AND ts>=?");
            a.bind(1, r.elder_id);
            a.bind(2, std::max(r.newest_template_ms, now_ms - kNotRecognisedWindowMs));
            a.step();
            bool never_by_face = a.i64(0) >= kNotRecognisedArrivals && a.i64(1) == 0;
            if (never_by_face) r.checkins_not_by_face = int(a.i64(0));
            if (now_ms - r.newest_template_ms > kYearMs)
                r.reason = "old_templates";
            else if (r.recent_distance &&
                     (*r.recent_distance >= kNearThreshold * threshold ||
                      (r.baseline_distance && *r.recent_distance >= kRisenNear * threshold &&
                       *r.recent_distance - *r.baseline_distance >= kRise * threshold)))
                r.reason = "distance_rising";
            else if (never_by_face)
                r.reason = "not_recognised";
            if (!r.reason.empty()) out.push_back(std::move(r));
        }
        return out;
    });
    for (auto& [id, name] : needing_reenrollment(model)) {
        TemplateRenewal r;
        r.elder_id = id;
        r.name = name;
        r.reason = "model_changed";  // newest_template_ms stays 0: none of this model
        out.push_back(std::move(r));
    }
    return out;
}

void TemplateStore::changed(sqlite3* db) {
    exec(db,
         "INSERT INTO settings(key, value) VALUES('face.gallery_generation', '1') ON CONFLICT(key) DO UPDATE "
         "SET value=CAST(CAST(value AS INTEGER) + 1 AS TEXT)");
}

int64_t TemplateStore::generation() {
    return store_.read([&](sqlite3* db) { return generation(db); });
}

int64_t TemplateStore::generation(sqlite3* db) {
    Stmt s(db, "SELECT CAST(value AS INTEGER) FROM settings WHERE key='face.gallery_generation'");
    return s.step() ? s.i64(0) : 0;
}

int TemplateStore::forget(int64_t elder_id, const std::string& actor) {
    int n = store_.write([&](sqlite3* db) {
        // The freed pages are zeroed, not left in the file (templates are encrypted, but deleted
        // means gone).
        exec(db, "PRAGMA secure_delete=ON");
        Stmt s(db, "DELETE FROM face_templates WHERE elder_id=?");
        s.bind(1, elder_id).run();
        int n = sqlite3_changes(db);
        changed(db);
        Store::audit(db, actor, "face.forget", "elder:" + std::to_string(elder_id),
                     "{\"templates\":" + std::to_string(n) + "}", clock_.now_ms());
        return n;
    });
    // Out of the write-ahead log too, so the old pages do not linger there.
    if (!store_.checkpoint())
        logger("face")->warn(
            "elder {}'s deleted face templates stay in the database's write-ahead log until the next "
            "checkpoint: another program (a backup, the CLI) was reading the database",
            elder_id);
    return n;
}

int TemplateStore::count(int64_t elder_id, const std::string& model) {
    return store_.read([&](sqlite3* db) {
        Stmt s(db, "SELECT COUNT(*) FROM face_templates WHERE elder_id=? AND model=?");
        s.bind(1, elder_id).bind(2, model).step();
        return static_cast<int>(s.i64(0));
    });
}

}  // namespace caregate
