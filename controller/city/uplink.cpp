#include "controller/city/uplink.hpp"

#include <mqtt/async_client.h>

#include "controller/core/log.hpp"

namespace caregate::city {

std::string topic_for(const std::string& region, const std::string& site, const std::string& kind) {
    return "city/" + region + "/" + site + "/" + kind;
}

struct CityUplink::Listener : public mqtt::iaction_listener {
    CityUplink* owner;
    explicit Listener(CityUplink* o) : owner(o) {}
    void on_success(const mqtt::token& tok) override {
        owner->acked(static_cast<int64_t>(reinterpret_cast<intptr_t>(tok.get_user_context())));
    }
    void on_failure(const mqtt::token& tok) override {
        // Not acknowledged: it is sent again, from the oldest unacknowledged row.
        {
            std::lock_guard<std::mutex> lock(owner->ack_mu_);
            owner->acks_.emplace_back(
                static_cast<int64_t>(reinterpret_cast<intptr_t>(tok.get_user_context())), false);
        }
        owner->reconnected_ = true;
        owner->cv_.notify_all();
    }
};

CityUplink::CityUplink(Store& store, const Clock& clock, UplinkOptions opts)
    : store_(store), clock_(clock), opts_(std::move(opts)), listener_(std::make_unique<Listener>(this)) {
    mqtt::create_options co(MQTTVERSION_3_1_1, opts_.inflight * 2 + 16);
    client_ = std::make_unique<mqtt::async_client>(opts_.uri, opts_.client_id, co);
    client_->set_connected_handler([this](const std::string&) {
        connected_ = true;
        reconnected_ = true;
        cv_.notify_all();
        try {
            if (command_) client_->subscribe(topic_for(opts_.region, opts_.site, "cmd/#"), 1);
        } catch (const mqtt::exception& e) {
            logger("city")->warn("cannot subscribe to commands: {}", e.what());
        }
        logger("city")->info("uplink connected to {}", opts_.uri);
    });
    client_->set_message_callback([this](mqtt::const_message_ptr m) {
        if (command_) command_(m->get_payload_str());
    });
    client_->set_connection_lost_handler([this](const std::string& cause) {
        connected_ = false;
        logger("city")->warn("uplink to {} lost: {}", opts_.uri, cause);
    });
}

CityUplink::~CityUplink() { stop(); }

void CityUplink::connect() {
    auto b = mqtt::connect_options_builder()
                 .clean_session(false)  // persistent session: the broker keeps our QoS 1 state
                 .keep_alive_interval(std::chrono::seconds(30))  // the worker reconnects, with backoff
                 .connect_timeout(std::chrono::seconds(5));
    if (opts_.uri.rfind("ssl://", 0) == 0 || opts_.uri.rfind("mqtts://", 0) == 0) {
        auto ssl = mqtt::ssl_options_builder().trust_store(opts_.ca_file).enable_server_cert_auth(true);
        if (!opts_.cert_file.empty()) ssl.key_store(opts_.cert_file).private_key(opts_.key_file);
        b.ssl(ssl.finalize());
    }
    try {
        // Wait for this attempt to finish either way: a second connect while one is pending makes
        // two sessions with one client id, and the broker then drops them in turn.
        client_->connect(b.finalize())->wait();
    } catch (const mqtt::exception& e) {
        logger("city")->warn("uplink cannot connect to {}: {}", opts_.uri, e.what());
    }
}

void CityUplink::start() {
    thread_ = std::thread([this] { loop(); });
}

void CityUplink::stop() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (stop_) return;
        stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    try {
        if (client_->is_connected()) client_->disconnect()->wait_for(2000);
    } catch (const mqtt::exception&) {
    }
    client_->disable_callbacks();  // no Paho callback may reach a half-destroyed uplink
}

UplinkStats CityUplink::stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    UplinkStats s = stats_;
    s.connected = connected_;
    return s;
}

int64_t CityUplink::pending() {
    return store_.read([](sqlite3* db) {
        Stmt s(db, "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL");
        s.step();
        return s.i64(0);
    });
}

void CityUplink::acked(int64_t seq) {
    {
        std::lock_guard<std::mutex> lock(ack_mu_);
        acks_.emplace_back(seq, true);
    }
    cv_.notify_all();
}

int64_t CityUplink::enforce_cap() {
    int64_t dropped = store_.write([&](sqlite3* db) {
        Stmt c(db, "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL");
        c.step();
        int64_t over = c.i64(0) - opts_.max_rows;
        if (over <= 0) return int64_t(0);
        // Only low-priority kinds (statistics, device health) may go; never alarms or check-ins.
        Stmt d(db,
               "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE sent_at IS NULL AND priority=0 "
               "ORDER BY seq LIMIT ?)");
        d.bind(1, over).run();
        return int64_t(sqlite3_changes(db));
    });
    if (dropped > 0) {
        {
            std::lock_guard<std::mutex> lock(mu_);
            stats_.dropped_low_priority += uint64_t(dropped);
        }
        logger("city")->error("uplink backlog over its cap of {} rows: dropped {} low-priority messages",
                              opts_.max_rows, dropped);
        if (cap_alert_) cap_alert_(dropped);
    }
    return dropped;
}

int CityUplink::purge_sent(int64_t older_than_ms) {
    return store_.write([&](sqlite3* db) {
        Stmt d(db, "DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ?");
        d.bind(1, clock_.now_ms() - older_than_ms).run();
        return sqlite3_changes(db);
    });
}

void CityUplink::loop() {
    auto log = logger("city");
    int64_t last_housekeeping = 0;
    int64_t last_progress = clock_.now_ms();
    int backoff_ms = 500;
    for (;;) {
        {
            std::lock_guard<std::mutex> lock(mu_);
            if (stop_) return;
        }
        if (!client_->is_connected()) {
            connected_ = false;
            connect();
            if (!client_->is_connected()) {
                std::unique_lock<std::mutex> lock(mu_);
                cv_.wait_for(lock, std::chrono::milliseconds(backoff_ms), [&] { return stop_; });
                backoff_ms = std::min(backoff_ms * 2, 60000);
                continue;
            }
            backoff_ms = 500;
        }
        {
            // A PUBACK that never comes (lost with a connection Paho has already replaced) must not
            // hold a window slot forever: after 10 s without progress, send the window again.
            std::lock_guard<std::mutex> lock(mu_);
            if (inflight_.empty())
                last_progress = clock_.now_ms();
            else if (clock_.now_ms() - last_progress > 10'000) {
                log->warn("uplink: {} messages unacknowledged for 10 s; sending them again",
                          inflight_.size());
                last_progress = clock_.now_ms();
                reconnected_ = true;
            }
        }
        if (reconnected_.exchange(false)) {
            // Whatever was in flight may never be acknowledged: send it again from the oldest.
            std::lock_guard<std::mutex> lock(mu_);
            if (!inflight_.empty()) stats_.resent += inflight_.size();
            inflight_.clear();
            cursor_ = 0;
        }
        // Mark acknowledged rows in one transaction.
        std::deque<std::pair<int64_t, bool>> results;
        {
            std::lock_guard<std::mutex> lock(ack_mu_);
            results.swap(acks_);
        }
        if (!results.empty()) {
            int64_t now = clock_.now_ms();
            size_t acked_n = 0;
            store_.write([&](sqlite3* db) {
                Stmt u(db, "UPDATE outbox SET sent_at=? WHERE seq=? AND sent_at IS NULL");
                for (auto [seq, ok] : results) {
                    if (!ok) continue;
                    u.bind(1, now).bind(2, seq).run();
                    u.reset();
                    acked_n++;
                }
            });
            std::lock_guard<std::mutex> lock(mu_);
            for (auto [seq, ok] : results) inflight_.erase(seq);
            stats_.sent += acked_n;
            last_progress = now;
        }
        // Fill the in-flight window, oldest first (alarm steps stay in order), paging by seq.
        size_t room;
        int64_t from;
        {
            std::lock_guard<std::mutex> lock(mu_);
            room = inflight_.size() < size_t(opts_.inflight) ? size_t(opts_.inflight) - inflight_.size() : 0;
            from = cursor_;
        }
        if (room > 0 && connected_) {
            struct Row {
                int64_t seq;
                std::string kind, payload;
            };
            std::vector<Row> rows = store_.read([&](sqlite3* db) {
                std::vector<Row> r;
                Stmt s(db,
                       "SELECT seq, kind, payload FROM outbox WHERE sent_at IS NULL AND seq > ? ORDER BY seq "
                       "LIMIT ?");
                s.bind(1, from).bind(2, int64_t(room));
                while (s.step()) r.push_back({s.i64(0), s.str(1), s.str(2)});
                return r;
            });
            for (auto& r : rows) {
                try {
                    {
                        std::lock_guard<std::mutex> lock(mu_);
                        inflight_.insert(r.seq);
                        cursor_ = std::max(cursor_, r.seq);
                        stats_.published++;
                    }
                    auto msg =
                        mqtt::make_message(topic_for(opts_.region, opts_.site, r.kind), r.payload, 1, false);
                    client_->publish(msg, reinterpret_cast<void*>(static_cast<intptr_t>(r.seq)), *listener_);
                } catch (const mqtt::exception& e) {
                    std::lock_guard<std::mutex> lock(mu_);
                    inflight_.erase(r.seq);
                    cursor_ = std::min(cursor_, r.seq - 1);
                    log->warn("uplink publish failed: {}", e.what());
                    break;
                }
            }
        }
        int64_t now = clock_.now_ms();
        if (now - last_housekeeping > 60'000) {
            last_housekeeping = now;
            enforce_cap();
            purge_sent(7LL * 86'400'000);
        }
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait_for(lock, std::chrono::milliseconds(100), [&] {
            if (stop_) return true;
            std::lock_guard<std::mutex> acks_lock(ack_mu_);  // never held while taking mu_: no cycle
            return !acks_.empty();
        });
    }
}

}  // namespace caregate::city
