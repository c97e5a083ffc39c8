#include "controller/kiosk/http_server.hpp"

#include <httplib.h>

#include <stdexcept>

namespace caregate {

HttpServer::HttpServer(HttpOptions opts)
    : opts_(std::move(opts)), server_(std::make_unique<httplib::Server>()) {
    size_t threads = static_cast<size_t>(opts_.max_sse_clients) + 16;
    server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    server_->set_keep_alive_max_count(100);
    server_->set_keep_alive_timeout(5);
    server_->set_read_timeout(10, 0);
    server_->set_payload_max_length(16 * 1024 * 1024);
    if (!opts_.static_dir.empty()) server_->set_mount_point("/static", opts_.static_dir);
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
