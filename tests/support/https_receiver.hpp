// A local HTTPS stand-in for the 企业微信 and 钉钉 robot endpoints and for an integrator's signed
// webhook, for tests of notify/chat_robot. It checks each request against the vendors' documented
// formats with code of its own (OpenSSL HMAC and Base64, its own percent-decoding), so a sender bug
// is not mirrored by a receiver that shares the sender's helpers. Replies the way the vendor would.
//
// Certificate: a throwaway self-signed P-256 certificate for IP:127.0.0.1 and DNS:localhost, made
// per receiver in a temp dir; ca_file() is its path, for notify::HttpOptions::ca_file.
//
// Routes (all POST):
//   /cgi-bin/webhook/send?key=K               企业微信 group robot
//   /robot/send?access_token=T&timestamp=&sign=  钉钉 custom robot, signed
//   /hook                                     generic webhook, X-CareGate-Signature
//   /slow?ms=N    replies after N ms (ends early when the receiver stops) — for timeout tests
//   /big?bytes=N  replies 200 with an N-byte body — for the reply-size cap
//   /redirect     302 to /hook — redirects must not be followed
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace httplib {
class SSLServer;
struct Response;
}  // namespace httplib

namespace caregate::testing {

struct ReceiverSecrets {
    std::string wecom_key = "wecom-test-key-0001";
    std::string dingtalk_token = "ding-test-token-0001";
    std::string dingtalk_secret = "SECtest0123456789abcdef";
    std::string webhook_secret = "webhook-test-secret";
};

struct Received {
    std::string route;  // "wecom", "dingtalk", "webhook", "slow", "big", "redirect"
    std::string path;
    std::string raw_query;                            // as sent, still percent-encoded
    std::map<std::string, std::string> query;         // decoded by the receiver ('+' is a space)
    std::multimap<std::string, std::string> headers;  // names lower-cased
    std::string body;
    nlohmann::json json;    // the parsed body; null when it is not JSON
    bool ok = false;        // passed every check of its route
    std::string why;        // the first failed check; empty when ok
    bool injected = false;  // answered by fail_next() instead of the route
    int reply_status = 0;
    std::string reply_body;
};

class HttpsReceiver {
public:
    // Makes the certificate, binds 127.0.0.1 on a free port and starts serving. Throws
    // std::runtime_error when any of that fails.
    explicit HttpsReceiver(ReceiverSecrets secrets = {});
    // Stops the server (ending /slow waits) and joins its thread; removes the temp dir.
    ~HttpsReceiver();
    HttpsReceiver(const HttpsReceiver&) = delete;
    HttpsReceiver& operator=(const HttpsReceiver&) = delete;

    const std::string& ca_file() const { return cert_file_; }
    int port() const { return port_; }
    const ReceiverSecrets& secrets() const { return secrets_; }
    // "https://127.0.0.1:<port>" + path_and_query ('/' added when missing).
    std::string url(const std::string& path_and_query) const;

    std::vector<Received> received() const;
    // True once at least n requests have been recorded, false if the deadline passes first.
    bool wait_for(std::size_t n, std::chrono::milliseconds deadline) const;
    // The next n requests, whatever their route, are answered with this status and body instead
    // (still checked and recorded, with injected = true).
    void fail_next(int n, int http_status, std::string body);

private:
    struct Reply {
        int status = 200;
        std::string body;
    };
    void finish(Received rec, Reply reply, httplib::Response& res);
    Reply check_wecom(Received& rec) const;
    Reply check_dingtalk(Received& rec) const;
    Reply check_webhook(Received& rec) const;

    ReceiverSecrets secrets_;
    std::string dir_;
    std::string cert_file_;
    std::string key_file_;
    std::unique_ptr<httplib::SSLServer> server_;
    int port_ = -1;
    std::thread thread_;
    std::atomic<bool> listen_returned_{false};

    mutable std::mutex mu_;
    mutable std::condition_variable cv_;
    std::vector<Received> received_;
    int fail_count_ = 0;
    Reply fail_reply_;
    bool stopping_ = false;
};

}  // namespace caregate::testing
