#include "controller/city/exchange.hpp"

#include <sodium.h>

#include <ctime>
#include <map>
#include <optional>
#include <thread>

#include "controller/core/bounded_json.hpp"
#include "controller/core/log.hpp"
#include "controller/core/uuid.hpp"
#include "controller/people/statistics.hpp"

namespace caregate::city {

using nlohmann::json;

namespace {

// Online fraction of each device over [from, to), from the device_health history the outbox keeps
// (a row per change, kept a week after it is sent). The state at `from` is the last change before
// it; a device with no change before the day starts in the opposite of its first change that day,
// and one with no change at all is taken at its current status for the whole day.
json device_uptime(sqlite3* db, int64_t from, int64_t to) {
    struct Dev {
        std::string kind;
        bool now_online;
        std::vector<std::pair<int64_t, bool>> changes;
        std::optional<bool> before;
    };
    std::map<std::string, Dev> devs;
    Stmt dv(db, "SELECT id, kind, COALESCE(online, 0) FROM devices ORDER BY id");
    while (dv.step()) devs[dv.str(0)] = Dev{dv.str(1), dv.i64(2) != 0, {}, std::nullopt};
    Stmt ev(
        db,
        "SELECT json_extract(payload,'$.data.device_id'), json_extract(payload,'$.data.online'), "
        "json_extract(payload,'$.data.ts') AS t FROM outbox WHERE kind='device_health' AND created_at < ? "
        "ORDER BY t, seq");
    ev.bind(1, to);
    while (ev.step()) {
        auto it = devs.find(ev.str(0));
        if (it == devs.end()) continue;  // a device since removed from the registry
        int64_t t = ev.i64(2);
        bool on = ev.i64(1) != 0;
        if (t < from)
            it->second.before = on;
        else if (t < to)
            it->second.changes.emplace_back(t, on);
    }
    json uptime = json::array();
    int64_t online = 0;
    std::map<std::string, std::pair<double, int>> by_kind;
    for (auto& [id, d] : devs) {
        bool state = d.before ? *d.before : (d.changes.empty() ? d.now_online : !d.changes.front().second);
        int64_t t = from, on_ms = 0;
        for (auto& [ts, on] : d.changes) {
            if (state) on_ms += ts - t;
            t = ts;
            state = on;
        }
        if (state) on_ms += to - t;
        double frac = double(on_ms) / double(to - from);
        uptime.push_back({{"device_id", id}, {"kind", d.kind}, {"online_fraction", frac}});
        by_kind[d.kind].first += frac;
        by_kind[d.kind].second++;
        online += d.now_online ? 1 : 0;
    }
    json kinds = json::object();
    for (auto& [k, v] : by_kind) kinds[k] = v.first / v.second;
    return {{"total", int64_t(devs.size())},
            {"online", online},
            {"offline", int64_t(devs.size()) - online},
            {"online_fraction_by_kind", kinds},
            {"uptime", uptime}};
}

}  // namespace

std::optional<std::string> summary_date_due(int64_t now_ms, int64_t off, int hour,
                                            const std::string& last_done) {
    int64_t local = now_ms + off;
    if ((local / 3'600'000) % 24 < hour) return std::nullopt;
    time_t t = static_cast<time_t>(local / 1000 - 86'400);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char date[16];
    std::strftime(date, sizeof date, "%Y-%m-%d", &tm);
    if (last_done >= date) return std::nullopt;
    return std::string(date);
}

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
        j.update(activity_between(db, from, to));
        j["devices"] = device_uptime(db, from, to);
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
    std::string msg = cmd.value("site", "") + "\n" + cmd.value("id", "") + "\n" +
                      std::to_string(cmd.value("ts", int64_t(0))) + "\n" + cmd.value("cmd", "") + "\n" +
                      (cmd.contains("data") ? cmd["data"].dump() : "null");
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
    // Bounded before anything is parsed or authenticated: a command is a few KB.
    std::string why;
    auto parsed = parse_bounded_json(payload, JsonLimits{64 * 1024, 8}, &why);
    if (!parsed) return refuse(why);
    json j = std::move(*parsed);
    if (!j.is_object()) return refuse("not a JSON object");
    for (auto k : {"site", "id", "cmd", "hmac"})
        if (!j.contains(k) || !j[k].is_string()) return refuse(std::string("missing or non-string ") + k);
    if (!j.contains("ts") || !j["ts"].is_number_integer()) return refuse("missing ts");
    if (!j.contains("data") || !j["data"].is_object()) return refuse("missing data object");
    if (key_.empty()) return refuse("no city.hmac_key_file configured: commands cannot be authenticated");
    std::string expect = command_hmac(j, key_);
    std::string got = j["hmac"].get<std::string>();
    if (got.size() != expect.size() || sodium_memcmp(got.data(), expect.data(), expect.size()) != 0)
        return refuse("bad HMAC for command " + j["id"].get<std::string>());
    if (j["site"].get<std::string>() != site_)
        return refuse("command " + j["id"].get<std::string>() + " is for site '" +
                      j["site"].get<std::string>() + "', this is '" + site_ + "'");
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
            if (!d.contains("text") || !d["text"].is_string() || d["text"].get<std::string>().empty())
                return refuse("notice needs data.text");
            for (auto k : {"title", "level"})
                if (d.contains(k) && !d[k].is_string())
                    return refuse(std::string("notice ") + k + " must be a string");
            if (d.contains("until") && !d["until"].is_number_integer())
                return refuse("notice until must be epoch ms");
        } else {
            return refuse("unknown command '" + cmd + "'");
        }
        int64_t now = clock_.now_ms();
        store_.write([&](sqlite3* db) {
            if (cmd == "notice") {
                // Kept in settings (no table of its own): the 50 newest unexpired notices, newest first.
                json list = json::array();
                Stmt g(db, "SELECT value FROM settings WHERE key='city.notices'");
                if (g.step()) list = json::parse(g.str(0), nullptr, false);
                if (!list.is_array()) list = json::array();
                json kept = json::array();
                kept.push_back({{"id", id},
                                {"title", d.value("title", "")},
                                {"text", d["text"]},
                                {"level", d.value("level", "info")},
                                {"until", d.value("until", int64_t(0))},
                                {"received_at", now}});
                for (auto& n : list)
                    if (kept.size() < 50 && n.is_object() &&
                        (n.value("until", int64_t(0)) == 0 || n.value("until", int64_t(0)) > now))
                        kept.push_back(n);
                Stmt p(db,
                       "INSERT INTO settings(key, value) VALUES('city.notices', ?) "
                       "ON CONFLICT(key) DO UPDATE SET value=excluded.value");
                p.bind(1, kept.dump()).run();
            }
            // Applied ids are needed only while a replay could still pass the age check.
            Stmt old(db,
                     "DELETE FROM settings WHERE key LIKE 'city.cmd.%' AND json_extract(value,'$.ts') < ?");
            old.bind(1, now - 2 * max_age_ms_).run();
            Stmt s(db, "INSERT INTO settings(key, value) VALUES(?, ?)");
            s.bind(1, "city.cmd." + id).bind(2, j.dump()).run();
            Store::audit(db, "city", "city." + cmd, id, d.dump(), now);
        });
    } catch (const std::exception& e) {
        return refuse("command " + id + " invalid: " + e.what());
    }
    applied_++;
    return {true, ""};
}

json current_notices(Store& store, int64_t now_ms) {
    json out = json::array();
    store.read([&](sqlite3* db) {
        Stmt g(db, "SELECT value FROM settings WHERE key='city.notices'");
        if (!g.step()) return;
        auto list = json::parse(g.str(0), nullptr, false);
        if (!list.is_array()) return;
        for (auto& n : list)
            if (n.is_object() && (n.value("until", int64_t(0)) == 0 || n.value("until", int64_t(0)) > now_ms))
                out.push_back(n);
    });
    return out;
}

}  // namespace caregate::city
