// The daemon's HTTP face: /healthz, /metrics, the kiosk API and pages, and Server-Sent Events.
// cpp-httplib holds one pool thread per open connection, so the pool is sized for the SSE cap
// plus ordinary requests, and SSE clients beyond the cap are refused with 503.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace caregate {

// Enrollment: up to 5 photos of a few MB each, as multipart.
constexpr size_t kMaxUploadBytes = 32 * 1024 * 1024;

struct HttpOptions {
    std::string bind = "127.0.0.1";
    int port = 8080;
    int max_sse_clients = 64;
    std::string static_dir;
};

class HttpServer {
public:
    explicit HttpServer(HttpOptions opts);
    ~HttpServer();
    httplib::Server& routes() { return *server_; }
    // Binds (throws naming the address on failure) and serves on an owned thread.
    void start();
    void stop();
    int port() const { return port_; }

private:
    HttpOptions opts_;
    std::unique_ptr<httplib::Server> server_;
    std::thread thread_;
    int port_ = 0;
};

}  // namespace caregate
