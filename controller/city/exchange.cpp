#include "controller/city/exchange.hpp"

#include <mqtt/async_client.h>
#include <sodium.h>

#include <ctime>
#include <thread>

#include "controller/city/schema.hpp"
#include "controller/core/log.hpp"
#include "controller/core/uuid.hpp"

namespace caregate::city {

using nlohmann::json;

json daily_summary(Store& store, const std::string& date, int64_t off) {
    std::tm tm{};
    int y = 0, m = 0, d = 0;
    if (std::sscanf(date.c_str(), "%d-%d-%d", &y, &m, &d) != 3)
        throw std::invalid_argument("date must look like 2026-11-24");
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    int64_t from = int64_t(timegm(&tm)) * 1000 - off, to = from + 86'400'000;
    json j = {{"date", date}};
    store.read([&](sqlite3* db) {
        Stmt c(db,
               "SELECT COUNT(*), COUNT(DISTINCT elder_id) FROM checkins WHERE direction='in' AND ts>=? AND "
               "ts<?");
        c.bind(1, from).bind(2, to).step();
        j["checkins"] = c.i64(0);
        j["unique_elders"] = c.i64(1);
        json services = json::object();
        Stmt s(db, "SELECT service, COUNT(*) FROM service_records WHERE ts>=? AND ts<? GROUP BY service");
        s.bind(1, from).bind(2, to);
        while (s.step()) services[s.str(0)] = s.i64(1);
        j["services"] = services;
        Stmt v(db, "SELECT COUNT(*) FROM visit_records WHERE ts>=? AND ts<?");
        v.bind(1, from).bind(2, to).step();
        j["visits"] = v.i64(0);
        json alarms = json::array();
        Stmt a(db,
               "SELECT kind, COUNT(*), AVG(acked_at-raised_at)/1000.0, MAX(acked_at-raised_at)/1000.0, "
               "AVG(CASE WHEN state='resolved' THEN closed_at-raised_at END)/1000.0 FROM alarms "
               "WHERE raised_at>=? AND raised_at<? GROUP BY kind ORDER BY kind");
        a.bind(1, from).bind(2, to);
        while (a.step())
            alarms.push_back({{"kind", a.str(0)},
                              {"count", a.i64(1)},
                              {"avg_ack_s", a.is_null(2) ? json(nullptr) : json(a.f64(2))},
                              {"max_ack_s", a.is_null(3) ? json(nullptr) : json(a.f64(3))},
                              {"avg_resolve_s", a.is_null(4) ? json(nullptr) : json(a.f64(4))}});
        j["alarms"] = alarms;
        Stmt dv(db, "SELECT COUNT(*), COALESCE(SUM(online=1),0), COALESCE(SUM(online=0),0) FROM devices");
        dv.step();
        j["devices"] = {{"total", dv.i64(0)}, {"online", dv.i64(1)}, {"offline", dv.i64(2)}};
    });
    return j;
}

void queue_daily_summary(Store& store, const Outbox& outbox, const std::string& date, int64_t off,
                         int64_t now) {
    auto data = daily_summary(store, date, off);
    store.write([&](sqlite3* db) {
        outbox.put(db, "daily_summary", "daily-" + outbox.site() + "-" + date, now, data, Priority::low);
    });
}

void queue_device_health(Store& store, const Outbox& outbox, const DeviceHealth& h) {
    json data = {{"device_id", h.device_id}, {"kind", h.kind},     {"zone", h.zone},
                 {"online", h.online},       {"reason", h.reason}, {"ts", h.ts_ms}};
    data["battery"] = h.battery ? json(*h.battery) : json(nullptr);
    store.write(
        [&](sqlite3* db) { outbox.put(db, "device_health", new_uuid(), h.ts_ms, data, Priority::low); });
}

std::string command_hmac(const json& cmd, const std::string& key) {
    std::string msg = cmd.value("id", "") + "\n" + std::to_string(cmd.value("ts", int64_t(0))) + "\n" +
                      cmd.value("cmd", "") + "\n" + (cmd.contains("data") ? cmd["data"].dump() : "null");
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(key.data()), key.size());
    crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(msg.data()), msg.size());
    crypto_auth_hmacsha256_final(&st, mac);
    char hex[2 * sizeof mac + 1];
    sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
    return hex;
}

CommandResult Downlink::handle(const std::string& payload) {
    auto refuse = [&](const std::string& why) {
        refused_++;
        logger("city")->warn("downlink command refused: {}", why);
        return CommandResult{false, why};
    };
    if (sodium_init() < 0) return refuse("libsodium unavailable");
    auto j = json::parse(payload, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return refuse("not a JSON object");
    for (auto k : {"id", "cmd", "hmac"})
        if (!j.contains(k) || !j[k].is_string()) return refuse(std::string("missing or non-string ") + k);
    if (!j.contains("ts") || !j["ts"].is_number_integer()) return refuse("missing ts");
    if (!j.contains("data") || !j["data"].is_object()) return refuse("missing data object");
    if (key_.empty()) return refuse("no city.hmac_key_file configured: commands cannot be authenticated");
    std::string expect = command_hmac(j, key_);
    std::string got = j["hmac"].get<std::string>();
    if (got.size() != expect.size() || sodium_memcmp(got.data(), expect.data(), expect.size()) != 0)
        return refuse("bad HMAC for command " + j["id"].get<std::string>());
    int64_t age = clock_.now_ms() - j["ts"].get<int64_t>();
    if (age > max_age_ms_ || age < -max_age_ms_)
        return refuse("command " + j["id"].get<std::string>() + " is stale");
    std::string id = j["id"].get<std::string>(), cmd = j["cmd"].get<std::string>();
    bool seen = store_.read([&](sqlite3* db) {
        Stmt s(db, "SELECT 1 FROM settings WHERE key=?");
        s.bind(1, "city.cmd." + id);
        return s.step();
    });
    if (seen) return refuse("command " + id + " was already applied (replay)");
    try {
        const json& d = j["data"];
        if (cmd == "roster.upsert") {
            std::string ext = d.value("external_id", "");
            if (ext.empty()) return refuse("roster.upsert needs data.external_id");
            Elder e;
            if (auto existing = roster_.find_by_external_id(ext)) e = *existing;
            update_from_json(e, d);
            e.external_id = ext;
            e.active = true;
            roster_.save(e, "city");
        } else if (cmd == "roster.delete") {
            auto e = roster_.find_by_external_id(d.value("external_id", ""));
            if (e) roster_.deactivate(e->id, "city");
        } else if (cmd == "notice") {
            if (!d.contains("text") || !d["text"].is_string()) return refuse("notice needs data.text");
        } else {
            return refuse("unknown command '" + cmd + "'");
        }
        store_.write([&](sqlite3* db) {
            Stmt s(db, "INSERT INTO settings(key, value) VALUES(?, ?)");
            s.bind(1, "city.cmd." + id).bind(2, j.dump()).run();
            Store::audit(db, "city", "city." + cmd, id, d.dump(), clock_.now_ms());
        });
    } catch (const std::exception& e) {
        return refuse("command " + id + " invalid: " + e.what());
    }
    return {true, ""};
}

int run_city_receiver(const std::string& uri, const std::string& region, const std::string& db_path,
                      const std::string& schemas_dir, std::atomic<bool>& stop, ReceiverStats* out_stats) {
    SchemaSet schemas(schemas_dir);
    Store store(db_path, 5000, false);
    store.exec(
        "CREATE TABLE IF NOT EXISTS messages (id TEXT PRIMARY KEY, kind TEXT NOT NULL, site TEXT NOT NULL, "
        "ts INTEGER, "
        "payload TEXT NOT NULL, received_at INTEGER NOT NULL);"
        "CREATE TABLE IF NOT EXISTS rejected (n INTEGER PRIMARY KEY, topic TEXT, reason TEXT, payload "
        "TEXT);");
    ReceiverStats local;
    ReceiverStats& stats = out_stats ? *out_stats : local;
    std::mutex mu;
    mqtt::async_client client(uri, "caregate-city-receiver-" + region);
    client.set_message_callback([&](mqtt::const_message_ptr m) {
        std::lock_guard<std::mutex> lock(mu);
        stats.received++;
        auto j = json::parse(m->get_payload_str(), nullptr, false);
        std::string err = j.is_discarded() ? "not JSON" : schemas.validate_message(j);
        if (err.empty()) {
            std::string kind = m->get_topic().substr(m->get_topic().rfind('/') + 1);
            bool fresh = store.write([&](sqlite3* db) {
                Stmt s(db,
                       "INSERT OR IGNORE INTO messages(id, kind, site, ts, payload, received_at) "
                       "VALUES(?,?,?,?,?,?)");
                s.bind(1, j["id"].get<std::string>()).bind(2, kind).bind(3, j["site"].get<std::string>());
                s.bind(4, j["ts"].get<int64_t>()).bind(5, m->get_payload_str()).bind(6, now_ms()).run();
                return sqlite3_changes(db) > 0;
            });
            fresh ? stats.stored++ : stats.duplicates++;
        } else {
            stats.invalid++;
            store.write([&](sqlite3* db) {
                Stmt s(db, "INSERT INTO rejected(topic, reason, payload) VALUES(?,?,?)");
                s.bind(1, m->get_topic()).bind(2, err).bind(3, m->get_payload_str().substr(0, 2000)).run();
            });
            logger("receiver")->warn("rejected message on {}: {}", m->get_topic(), err);
        }
    });
    auto co = mqtt::connect_options_builder()
                  .clean_session(false)
                  .automatic_reconnect(std::chrono::milliseconds(200), std::chrono::seconds(5))
                  .finalize();
    client.set_connected_handler([&](const std::string&) { client.subscribe("city/" + region + "/+/+", 1); });
    while (!stop && !client.is_connected()) {
        try {
            client.connect(co)->wait_for(3000);
        } catch (const mqtt::exception&) {
            std::this_thread::sleep_for(std::chrono::milliseconds(300));
        }
    }
    while (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    try {
        client.disconnect()->wait_for(2000);
    } catch (const mqtt::exception&) {
    }
    return 0;
}

}  // namespace caregate::city
