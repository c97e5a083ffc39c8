#include "controller/kiosk/http_server.hpp"

#include <httplib.h>

#include <stdexcept>

#include "controller/core/heartbeat.hpp"
#include "controller/core/log.hpp"
#include "controller/kiosk/tls_cert.hpp"

namespace caregate {

namespace {
// HTTPS with the site certificate when one is configured (checked first, so that a wrong file is
// named at startup instead of every handshake failing), plain HTTP otherwise.
std::unique_ptr<httplib::Server> make_server(const HttpOptions& o) {
    if (o.tls_cert_file.empty()) return std::make_unique<httplib::Server>();
    auto info = tls::check_pair(o.tls_cert_file, o.tls_key_file);
    if (info.expired)
        logger("kiosk")->warn(
            "the site certificate {} expired on {}: browsers will refuse it; make a new one", o.tls_cert_file,
            info.not_after);
    auto server = std::make_unique<httplib::SSLServer>(o.tls_cert_file.c_str(), o.tls_key_file.c_str());
    if (!server->is_valid())
        throw std::runtime_error("site certificate: TLS could not start with " + o.tls_cert_file + " and " +
                                 o.tls_key_file);
    std::string names;
    for (auto& n : info.names) names += (names.empty() ? "" : " ") + n;
    logger("kiosk")->info("HTTPS with {} ({}; valid until {})", o.tls_cert_file, names, info.not_after);
    return server;
}
}  // namespace

HttpServer::HttpServer(HttpOptions opts) : opts_(std::move(opts)), server_(make_server(opts_)) {
    size_t threads = static_cast<size_t>(opts_.max_sse_clients) + 16;
    server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    server_->set_keep_alive_max_count(100);
    // An idle browser connection waits at most this long for its next request: stop() (SIGTERM) waits
    // for it, and the daemon must be down within its 4 s shutdown deadline.
    server_->set_keep_alive_timeout(2);
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
            res.set_content(R"J({"error":"服务器内部错误，已记录日志，请稍后再试","code":"internal_error"})J",
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

void HttpServer::supervise(std::shared_ptr<Heartbeat> hb) {
    std::string host = opts_.bind == "0.0.0.0" ? "127.0.0.1" : opts_.bind == "::" ? "::1" : opts_.bind;
    probe_ = std::thread([this, hb, host] {
        std::unique_ptr<httplib::Client> client;
        if (opts_.tls_cert_file.empty()) {
            client = std::make_unique<httplib::Client>(host, port_);
        } else {
            client = std::make_unique<httplib::Client>("https://" + host + ":" + std::to_string(port_));
            client->enable_server_certificate_verification(false);  // it is this process itself
        }
        auto wait = std::chrono::milliseconds(std::max(100, opts_.probe_interval_ms));
        client->set_connection_timeout(std::chrono::duration_cast<std::chrono::seconds>(wait).count() + 1, 0);
        client->set_read_timeout(std::chrono::duration_cast<std::chrono::seconds>(wait).count() + 1, 0);
        client->set_keep_alive(false);
        std::unique_lock<std::mutex> lock(probe_mu_);
        while (!stopping_) {
            lock.unlock();
            if (auto r = client->Get("/healthz?probe=1")) hb->beat();  // any status: it answered
            lock.lock();
            probe_cv_.wait_for(lock, wait, [this] { return stopping_; });
        }
    });
}

void HttpServer::stop() {
    {
        std::lock_guard<std::mutex> lock(probe_mu_);
        stopping_ = true;
    }
    probe_cv_.notify_all();
    if (probe_.joinable()) probe_.join();
    if (thread_.joinable()) {
        server_->stop();
        thread_.join();
    }
}

}  // namespace caregate
