// The daemon's HTTP face: /healthz, /metrics, the kiosk API and pages, and Server-Sent Events.
// cpp-httplib holds one pool thread per open connection, so the pool is sized for the SSE cap
// plus ordinary requests, and SSE clients beyond the cap are refused with 503.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace caregate {

class Heartbeat;

// Enrollment: up to 5 photos of a few MB each, as multipart.
constexpr size_t kMaxUploadBytes = 32 * 1024 * 1024;

struct HttpOptions {
    std::string bind = "127.0.0.1";
    int port = 8080;
    int max_sse_clients = 64;
    std::string static_dir;
    std::string tls_cert_file, tls_key_file;  // both set: HTTPS
    int probe_interval_ms = 5000;             // how often the server asks itself for /healthz
};

class HttpServer {
public:
    explicit HttpServer(HttpOptions opts);
    ~HttpServer();
    httplib::Server& routes() { return *server_; }
    // Binds (throws naming the address on failure) and serves on an owned thread.
    void start();
    void stop();
    // Proves the server still answers: a thread asks it for /healthz over loopback every
    // probe_interval_ms and beats `hb` on any answer. Slow clients holding every pool thread stop
    // the beats, so /healthz's other callers and the systemd watchdog see it. Call after start().
    void supervise(std::shared_ptr<Heartbeat> hb);
    int port() const { return port_; }

private:
    HttpOptions opts_;
    std::unique_ptr<httplib::Server> server_;
    std::thread thread_;
    int port_ = 0;
    std::thread probe_;
    std::mutex probe_mu_;
    std::condition_variable probe_cv_;
    bool stopping_ = false;
};

}  // namespace caregate
