// One MQTT connection to the site broker (Eclipse Paho C++ async client), shared by the sensor
// bridge (subscriptions) and the announcer (alarm/check-in topics). Automatic reconnect with
// backoff; subscriptions are renewed on every connect; a retained last will marks us offline.
// Paho's callbacks only hand messages to `on_message`, which must not block.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace mqtt {
class async_client;
}

namespace caregate::devices {

struct MqttLinkOptions {
    std::string uri = "tcp://127.0.0.1:1883";
    std::string client_id = "caregate";
    std::string username;
    std::string password;
    std::string ca_file;  // ssl:// and mqtts://: trusted CA (empty: the system's trust store)
    int keepalive_s = 30;
    std::string status_topic;  // retained "online"; last will "offline"
    std::vector<std::string> subscriptions;
};

class MqttLink {
public:
    using Handler = std::function<void(const std::string& topic, const std::string& payload)>;
    MqttLink(MqttLinkOptions opts, Handler on_message);
    ~MqttLink();
    void start();  // returns at once; connects in the background
    void stop();
    // Thread-safe; buffered by Paho while disconnected (bounded). Returns false if refused.
    bool publish(const std::string& topic, const std::string& payload, int qos = 1, bool retain = false);
    bool connected() const { return connected_; }
    uint64_t reconnects() const { return reconnects_; }

private:
    MqttLinkOptions opts_;
    Handler on_message_;
    std::unique_ptr<mqtt::async_client> client_;
    std::atomic<bool> connected_{false};
    std::atomic<uint64_t> reconnects_{0};
    // Paho's automatic reconnect only covers a connection that once succeeded; until then this
    // thread retries the first connect with backoff.
    std::thread connector_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ = false;
};

}  // namespace caregate::devices
