#include "controller/city/uplink.hpp"

#include <mqtt/async_client.h>

#include "controller/core/log.hpp"

namespace caregate::city {

namespace {
// A city platform sends a handful of commands a day; a flood beyond this is refused, not buffered.
constexpr size_t kMaxQueuedCommands = 1000;
}  // namespace

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
    make_client();
}

// A new Paho client for every connection attempt after the first. Paho's in-memory session (the
// PUBLISHes it would resend on its own after a reconnect) is not needed, since the outbox resends
// every unacknowledged row, and it is harmful: against a restarted Mosquitto that restored our
// persistent session, Paho's resends got the connection closed as "malformed packet" on every
// reconnect. The broker-side session (clean_session=false) is kept: same client id.
void CityUplink::make_client() {
    drop_client();
    // max_buffered_messages > 0: Paho refuses publish() while reconnecting otherwise, even connected.
    mqtt::create_options co(MQTTVERSION_3_1_1, opts_.inflight * 2 + 16);
    client_ = std::make_unique<mqtt::async_client>(opts_.uri, opts_.client_id, co);  // no Paho persistence
    // The handlers use the client they belong to, never client_, which the worker may be replacing.
    mqtt::async_client* c = client_.get();
    c->set_connected_handler([this, c](const std::string&) {
        connected_ = true;
        reconnected_ = true;
        cv_.notify_all();
        try {
            if (command_) c->subscribe(topic_for(opts_.region, opts_.site, "cmd/#"), 1);
        } catch (const mqtt::exception& e) {
            logger("city")->warn("cannot subscribe to commands: {}", e.what());
        }
        logger("city")->info("uplink connected to {}", opts_.uri);
    });
    // Paho's thread only queues: the handler writes to SQLite, which may wait on the store's lock.
    c->set_message_callback([this](mqtt::const_message_ptr m) {
        {
            std::lock_guard<std::mutex> lock(ack_mu_);
            if (commands_.size() >= kMaxQueuedCommands) {
                dropped_commands_++;
                return;
            }
            commands_.push_back(m->get_payload_str());
            queued_commands_++;
        }
        cv_.notify_all();
    });
    c->set_connection_lost_handler([this](const std::string& cause) {
        connected_ = false;
        logger("city")->warn("uplink to {} lost: {}", opts_.uri, cause);
    });
}

CityUplink::~CityUplink() { stop(); }

// Destroys the client while every member its callbacks touch is still alive.
void CityUplink::drop_client() {
    if (!client_) return;
    try {
        client_->disable_callbacks();
    } catch (const mqtt::exception&) {
        // Paho refuses while a connect is in progress; destroying the client stops its callbacks too.
    }
    client_.reset();
}

void CityUplink::connect() {
    auto b = mqtt::connect_options_builder()
                 .clean_session(false)  // persistent session: the broker keeps our QoS 1 state
                 .keep_alive_interval(std::chrono::seconds(30))  // the worker reconnects, with backoff
                 .connect_timeout(std::chrono::seconds(5));
    if (opts_.uri.rfind("ssl://", 0) == 0 || opts_.uri.rfind("mqtts://", 0) == 0) {
        auto ssl =
            mqtt::ssl_options_builder().trust_store(opts_.ca_file).enable_server_cert_auth(true).verify(true);
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
    drop_client();  // no Paho callback may reach a half-destroyed uplink
}

UplinkStats CityUplink::stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    UplinkStats s = stats_;
    s.connected = connected_;
    s.commands = queued_commands_;
    s.commands_dropped = dropped_commands_;
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

// Weeks offline: the backlog may grow past the cap. Only low-priority kinds (statistics, device
// health) may go, oldest first; alarms and check-ins are never dropped, even if that leaves the
// backlog over the cap. The alert fires once per excursion over the cap, not every minute.
int64_t CityUplink::enforce_cap() {
    int64_t backlog = 0;
    int64_t dropped = store_.write([&](sqlite3* db) {
        Stmt c(db, "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL");
        c.step();
        backlog = c.i64(0);
        int64_t over = backlog - opts_.max_rows;
        if (over <= 0) return int64_t(0);
        Stmt d(db,
               "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE sent_at IS NULL AND priority=0 "
               "ORDER BY seq LIMIT ?)");
        d.bind(1, over).run();
        return int64_t(sqlite3_changes(db));
    });
    bool over = backlog > opts_.max_rows;
    bool first = over && !over_cap_.exchange(over);
    if (!over) over_cap_ = false;
    if (dropped > 0 || first) {
        {
            std::lock_guard<std::mutex> lock(mu_);
            stats_.dropped_low_priority += uint64_t(dropped);
            if (first) stats_.cap_alerts++;
        }
        logger("city")->error(
            "uplink backlog of {} rows over its cap of {}: dropped {} low-priority messages (never alarms or "
            "check-ins)",
            backlog, opts_.max_rows, dropped);
        if (first && cap_alert_) cap_alert_(dropped);
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

// Marks acknowledged rows in one transaction. A late PUBACK for a copy sent before a reconnect is
// harmless: the row is already marked, and `changes` counts each row once.
void CityUplink::mark_acknowledged() {
    std::deque<std::pair<int64_t, bool>> results;
    {
        std::lock_guard<std::mutex> lock(ack_mu_);
        results.swap(acks_);
    }
    if (results.empty()) return;
    int64_t now = clock_.now_ms();
    int64_t marked = store_.write([&](sqlite3* db) {
        int64_t n = 0;
        Stmt u(db, "UPDATE outbox SET sent_at=? WHERE seq=? AND sent_at IS NULL");
        for (auto [seq, ok] : results) {
            if (!ok) continue;
            u.bind(1, now).bind(2, seq).run();
            n += sqlite3_changes(db);
            u.reset();
        }
        return n;
    });
    std::lock_guard<std::mutex> lock(mu_);
    for (auto [seq, ok] : results) inflight_.erase(seq);
    stats_.sent += uint64_t(marked);
    if (stats_.pending >= marked) stats_.pending -= marked;
}

// Fills the in-flight window, oldest first (so the steps of an alarm go out in order), reading one
// page of at most `room` rows by seq: the backlog is never loaded whole, however long it is.
void CityUplink::fill_window() {
    size_t room;
    int64_t from;
    {
        std::lock_guard<std::mutex> lock(mu_);
        room = inflight_.size() < size_t(opts_.inflight) ? size_t(opts_.inflight) - inflight_.size() : 0;
        from = cursor_;
    }
    if (room == 0 || !connected_) return;
    struct Row {
        int64_t seq;
        std::string kind, payload;
    };
    std::vector<Row> rows = store_.read([&](sqlite3* db) {
        std::vector<Row> r;
        Stmt s(
            db,
            "SELECT seq, kind, payload FROM outbox WHERE sent_at IS NULL AND seq > ? ORDER BY seq LIMIT ?");
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
            auto msg = mqtt::make_message(topic_for(opts_.region, opts_.site, r.kind), r.payload, 1, false);
            // Delivery is tracked by our own row seq (the token's user context), never by Paho's
            // message ids: those do not survive a restart, the outbox does.
            client_->publish(msg, reinterpret_cast<void*>(static_cast<intptr_t>(r.seq)), *listener_);
        } catch (const mqtt::exception& e) {
            std::lock_guard<std::mutex> lock(mu_);
            inflight_.erase(r.seq);
            cursor_ = std::min(cursor_, r.seq - 1);
            logger("city")->warn("uplink publish failed: {}", e.what());
            break;
        }
    }
}

void CityUplink::run_commands() {
    std::deque<std::string> cmds;
    {
        std::lock_guard<std::mutex> lock(ack_mu_);
        cmds.swap(commands_);
    }
    for (auto& c : cmds) {
        try {
            if (command_) command_(c);
        } catch (const std::exception& e) {
            logger("city")->error("downlink handler failed: {}", e.what());
        }
    }
}

void CityUplink::count_pending() {
    int64_t n = pending();
    std::lock_guard<std::mutex> lock(mu_);
    stats_.pending = n;
}

void CityUplink::loop() {
    auto log = logger("city");
    int64_t last_housekeeping = 0, last_count = 0;
    int64_t last_progress = clock_.now_ms();
    int backoff_ms = 500;
    for (;;) {
        if (heartbeat_) heartbeat_->beat();
        {
            std::lock_guard<std::mutex> lock(mu_);
            if (stop_) return;
        }
        run_commands();
        if (!client_->is_connected()) {
            connected_ = false;
            if (used_client_) make_client();
            used_client_ = true;
            connect();
            if (!client_->is_connected()) {
                std::unique_lock<std::mutex> lock(mu_);
                cv_.wait_for(lock, std::chrono::milliseconds(backoff_ms), [&] { return stop_; });
                backoff_ms = std::min(backoff_ms * 2, opts_.backoff_max_ms);
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
        bool had_acks;
        {
            std::lock_guard<std::mutex> lock(ack_mu_);
            had_acks = !acks_.empty();
        }
        mark_acknowledged();
        if (had_acks) last_progress = clock_.now_ms();
        fill_window();
        int64_t now = clock_.now_ms();
        if (now - last_count > 2'000) {  // a COUNT over the unsent index: cheap, but not per message
            last_count = now;
            count_pending();
        }
        if (now - last_housekeeping > 60'000) {
            last_housekeeping = now;
            enforce_cap();
            purge_sent(opts_.purge_sent_after_ms);
        }
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait_for(lock, std::chrono::milliseconds(100), [&] {
            if (stop_) return true;
            std::lock_guard<std::mutex> acks_lock(ack_mu_);  // never held while taking mu_: no cycle
            return !acks_.empty() || !commands_.empty();
        });
    }
}

}  // namespace caregate::city
