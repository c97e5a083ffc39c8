#include "devices/mqtt_link.hpp"

#include <mqtt/async_client.h>

#include "controller/core/log.hpp"

namespace caregate::devices {

MqttLink::MqttLink(MqttLinkOptions opts, Handler on_message)
    : opts_(std::move(opts)), on_message_(std::move(on_message)) {
    mqtt::create_options co(MQTTVERSION_3_1_1, 10000);  // maxBufferedMessages > 0 even when connected
    co.set_send_while_disconnected(true, true);
    client_ = std::make_unique<mqtt::async_client>(opts_.uri, opts_.client_id, co);
    client_->set_message_callback([this](mqtt::const_message_ptr m) {
        if (on_message_) on_message_(m->get_topic(), m->get_payload_str());
    });
    client_->set_connected_handler([this](const std::string&) {
        connected_ = true;
        reconnects_++;
        logger("mqtt")->info("connected to {}", opts_.uri);
        try {
            for (auto& t : opts_.subscriptions) client_->subscribe(t, 1);
            if (!opts_.status_topic.empty()) client_->publish(opts_.status_topic, "online", 1, true);
        } catch (const mqtt::exception& e) {
            logger("mqtt")->warn("subscribe after connect failed: {}", e.what());
        }
    });
    client_->set_connection_lost_handler([this](const std::string& cause) {
        connected_ = false;
        logger("mqtt")->warn("connection to {} lost{}; reconnecting", opts_.uri,
                             cause.empty() ? "" : ": " + cause);
    });
}

MqttLink::~MqttLink() { stop(); }

void MqttLink::start() {
    auto b = mqtt::connect_options_builder()
                 .keep_alive_interval(std::chrono::seconds(opts_.keepalive_s))
                 // A persistent session: what devices publish at QoS 1 while the link is down (a
                 // broker restart, a network blip) is queued by the broker, not lost.
                 .clean_session(false)
                 .automatic_reconnect(std::chrono::seconds(1), std::chrono::seconds(30));
    if (!opts_.username.empty()) b.user_name(opts_.username).password(opts_.password);
    // Without SSL options Paho refuses an ssl:// connect outright ("Invalid (NULL) parameter").
    if (opts_.uri.rfind("ssl://", 0) == 0 || opts_.uri.rfind("mqtts://", 0) == 0)
        b.ssl(
            mqtt::ssl_options_builder().trust_store(opts_.ca_file).enable_server_cert_auth(true).finalize());
    if (!opts_.status_topic.empty()) b.will(mqtt::message(opts_.status_topic, "offline", 1, true));
    auto co = b.finalize();
    stopping_ = false;
    connector_ = std::thread([this, co] {
        int backoff_ms = 500;
        for (;;) {
            {
                std::lock_guard<std::mutex> lock(mu_);
                if (stopping_ || connected_) return;
            }
            try {
                client_->connect(co)->wait_for(3000);
            } catch (const mqtt::exception& e) {
                logger("mqtt")->warn("cannot connect to {}: {}; retrying", opts_.uri, e.what());
            }
            if (client_->is_connected()) return;
            std::unique_lock<std::mutex> lock(mu_);
            cv_.wait_for(lock, std::chrono::milliseconds(backoff_ms), [this] { return stopping_; });
            backoff_ms = std::min(backoff_ms * 2, 30000);
        }
    });
}

void MqttLink::stop() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (stopping_) return;
        stopping_ = true;
    }
    cv_.notify_all();
    if (connector_.joinable()) connector_.join();
    try {
        if (client_->is_connected()) {
            if (!opts_.status_topic.empty())
                client_->publish(opts_.status_topic, "offline", 1, true)->wait_for(1000);
            client_->disconnect()->wait_for(2000);
        }
    } catch (const mqtt::exception&) {
    }
    connected_ = false;
}

bool MqttLink::publish(const std::string& topic, const std::string& payload, int qos, bool retain) {
    try {
        client_->publish(topic, payload, qos, retain);
        return true;
    } catch (const mqtt::exception& e) {
        logger("mqtt")->warn("publish to {} refused: {}", topic, e.what());
        return false;
    }
}

}  // namespace caregate::devices
