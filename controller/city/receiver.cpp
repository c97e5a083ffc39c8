#include "controller/city/receiver.hpp"

#include <mqtt/async_client.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "controller/city/schema.hpp"
#include "controller/core/clock.hpp"
#include "controller/core/log.hpp"
#include "controller/core/store.hpp"

namespace caregate::city {

using nlohmann::json;

namespace {

// The kind is the last topic level: city/<region>/<site>/<kind>. The envelope's schema must agree.
std::string topic_kind(const std::string& topic) { return topic.substr(topic.rfind('/') + 1); }

class Sink {
public:
    Sink(const ReceiverOptions& o, ReceiverStats& stats)
        : schemas_(o.schemas_dir), store_(o.db_path, 5000, false), stats_(stats) {
        store_.exec(
            "CREATE TABLE IF NOT EXISTS messages (id TEXT PRIMARY KEY, kind TEXT NOT NULL, site TEXT NOT "
            "NULL, "
            "ts INTEGER, payload TEXT NOT NULL, received_at INTEGER NOT NULL);"
            "CREATE INDEX IF NOT EXISTS messages_site_kind ON messages(site, kind, ts);"
            "CREATE TABLE IF NOT EXISTS rejected (n INTEGER PRIMARY KEY, topic TEXT, reason TEXT, payload "
            "TEXT, "
            "received_at INTEGER);");
        // WAL + NORMAL survives a crash of this process (what the tests do to it); a city deployment
        // that must survive power loss as well keeps FULL, at a lower message rate.
        store_.exec("PRAGMA synchronous=NORMAL");
    }

    // Called on Paho's thread. Storing here, before returning, is deliberate: Paho sends the PUBACK
    // only after this returns, so the broker forgets a message only once it is in our database.
    void on_message(const std::string& topic, const std::string& payload) {
        std::lock_guard<std::mutex> lock(mu_);
        stats_.received++;
        auto j = json::parse(payload, nullptr, false);
        std::string err = j.is_discarded() ? "not JSON" : schemas_.validate_message(j);
        std::string kind = topic_kind(topic);
        if (err.empty() && j["schema"].get<std::string>() != "caregate." + kind + "/1")
            err = "schema " + j["schema"].get<std::string>() + " does not match the topic";
        if (err.empty()) {
            bool fresh = store_.write([&](sqlite3* db) {
                Stmt s(db,
                       "INSERT OR IGNORE INTO messages(id, kind, site, ts, payload, received_at) "
                       "VALUES(?,?,?,?,?,?)");
                s.bind(1, j["id"].get<std::string>()).bind(2, kind).bind(3, j["site"].get<std::string>());
                s.bind(4, j["ts"].get<int64_t>()).bind(5, payload).bind(6, now_ms()).run();
                return sqlite3_changes(db) > 0;
            });
            fresh ? stats_.stored++ : stats_.duplicates++;
            return;
        }
        stats_.invalid++;
        store_.write([&](sqlite3* db) {
            Stmt s(db, "INSERT INTO rejected(topic, reason, payload, received_at) VALUES(?,?,?,?)");
            s.bind(1, topic).bind(2, err).bind(3, payload.substr(0, 2000)).bind(4, now_ms()).run();
        });
        logger("receiver")->warn("rejected message on {}: {}", topic, err);
    }

private:
    std::mutex mu_;
    SchemaSet schemas_;
    Store store_;
    ReceiverStats& stats_;
};

}  // namespace

int run_city_receiver(const ReceiverOptions& o, std::atomic<bool>& stop, ReceiverStats* out_stats) {
    ReceiverStats local;
    ReceiverStats& stats = out_stats ? *out_stats : local;
    std::unique_ptr<Sink> sink;
    try {
        sink = std::make_unique<Sink>(o, stats);
    } catch (const std::exception& e) {
        logger("receiver")->error("city receiver cannot start: {}", e.what());
        return 1;
    }
    std::string client_id = o.client_id.empty() ? "caregate-city-receiver-" + o.region : o.client_id;
    mqtt::async_client client(o.uri, client_id, mqtt::create_options(MQTTVERSION_3_1_1, 1000));
    client.set_message_callback([&](mqtt::const_message_ptr m) {
        try {
            sink->on_message(m->get_topic(), m->get_payload_str());
        } catch (const std::exception& e) {  // a full disk must not kill Paho's thread
            logger("receiver")->error("cannot store message on {}: {}", m->get_topic(), e.what());
        }
    });
    // city/<region>/<site>/<kind>: exactly four levels, so the downlink city/<region>/<site>/cmd/…
    // (five or more) is never received here.
    std::string filter = "city/" + o.region + "/+/+";
    // Never wait on a token inside a Paho callback: the SUBACK is read by the thread we would block.
    struct SubscribeListener : mqtt::iaction_listener {
        ReceiverStats& stats;
        explicit SubscribeListener(ReceiverStats& s) : stats(s) {}
        void on_success(const mqtt::token&) override { stats.subscribed = true; }
        void on_failure(const mqtt::token&) override { logger("receiver")->warn("subscription refused"); }
    } sub_listener(stats);
    client.set_connected_handler([&](const std::string&) {
        try {
            client.subscribe(filter, 1, nullptr, sub_listener);
        } catch (const mqtt::exception& e) {
            logger("receiver")->warn("cannot subscribe to {}: {}", filter, e.what());
        }
    });
    client.set_connection_lost_handler([&](const std::string&) { stats.subscribed = false; });
    auto b = mqtt::connect_options_builder()
                 .clean_session(false)  // queued messages wait for us at the broker while we are away
                 .keep_alive_interval(std::chrono::seconds(30))
                 .automatic_reconnect(std::chrono::milliseconds(200), std::chrono::seconds(5));
    if (o.uri.rfind("ssl://", 0) == 0 || o.uri.rfind("mqtts://", 0) == 0) {
        auto ssl =
            mqtt::ssl_options_builder().trust_store(o.ca_file).enable_server_cert_auth(true).verify(true);
        if (!o.cert_file.empty()) ssl.key_store(o.cert_file).private_key(o.key_file);
        b.ssl(ssl.finalize());
    }
    auto co = b.finalize();
    while (!stop && !client.is_connected()) {
        try {
            client.connect(co)->wait_for(5000);
        } catch (const mqtt::exception& e) {
            logger("receiver")->warn("cannot connect to {}: {}", o.uri, e.what());
            std::this_thread::sleep_for(std::chrono::milliseconds(300));
        }
    }
    while (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    try {
        client.disconnect()->wait_for(2000);
    } catch (const mqtt::exception&) {
    }
    try {
        client.disable_callbacks();
    } catch (const mqtt::exception&) {  // refused while a reconnect is in progress: the client's
    }                                   // destruction below stops its callbacks as well
    return 0;
}

int run_city_receiver(const std::string& uri, const std::string& region, const std::string& db_path,
                      const std::string& schemas_dir, std::atomic<bool>& stop, ReceiverStats* stats) {
    ReceiverOptions o;
    o.uri = uri;
    o.region = region;
    o.db_path = db_path;
    o.schemas_dir = schemas_dir;
    return run_city_receiver(o, stop, stats);
}

}  // namespace caregate::city
