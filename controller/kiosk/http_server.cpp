#include "controller/kiosk/http_server.hpp"

#include <httplib.h>

#include <stdexcept>

#include "controller/core/log.hpp"

namespace caregate {

HttpServer::HttpServer(HttpOptions opts)
    : opts_(std::move(opts)), server_(std::make_unique<httplib::Server>()) {
    size_t threads = static_cast<size_t>(opts_.max_sse_clients) + 16;
    server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    server_->set_keep_alive_max_count(100);
    server_->set_keep_alive_timeout(5);
    server_->set_read_timeout(5, 0);
    server_->set_write_timeout(5, 0);
    // The largest body of any route (enrollment photos); each route's own cap is checked from its
    // Content-Length before the body is read (Kiosk's pre-routing check).
    server_->set_payload_max_length(kMaxUploadBytes);
    if (!opts_.static_dir.empty()) server_->set_mount_point("/static", opts_.static_dir);
    // An exception in a handler is logged; the client gets a plain 500, never the exception's text.
    server_->set_exception_handler(
        [](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
            std::string what = "unknown";
            try {
                if (ep) std::rethrow_exception(ep);
            } catch (const std::exception& e) {
                what = e.what();
            } catch (...) {
            }
            logger("kiosk")->error("{} {} failed: {}", req.method, req.path, what);
            res.status = 500;
            res.set_content(R"J({"error":"服务器内部错误，已记录日志 (internal error, logged)"})J",
                            "application/json");
        });
    // Every response: no MIME sniffing, no framing by other sites, no referrer leaking alarm ids,
    // scripts and styles only from the box itself.
    server_->set_post_routing_handler([](const httplib::Request&, httplib::Response& res) {
        res.set_header("X-Content-Type-Options", "nosniff");
        res.set_header("X-Frame-Options", "DENY");
        res.set_header("Referrer-Policy", "no-referrer");
        res.set_header("Content-Security-Policy",
                       "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
                       "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'");
        if (!res.has_header("Cache-Control")) res.set_header("Cache-Control", "no-store");
    });
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::start() {
    if (opts_.port == 0) {
        port_ = server_->bind_to_any_port(opts_.bind);
        if (port_ <= 0) throw std::runtime_error("cannot listen on " + opts_.bind + " (kiosk.bind)");
    } else {
        if (!server_->bind_to_port(opts_.bind, opts_.port))
            throw std::runtime_error("cannot listen on " + opts_.bind + ":" + std::to_string(opts_.port) +
                                     " (kiosk.bind/kiosk.port): address in use or not allowed");
        port_ = opts_.port;
    }
    thread_ = std::thread([this] { server_->listen_after_bind(); });
}

void HttpServer::stop() {
    if (thread_.joinable()) {
        server_->stop();
        thread_.join();
    }
}

}  // namespace caregate
