#include "tests/support/https_receiver.hpp"

#include <httplib.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <stdexcept>

namespace caregate::testing {

namespace {

// Limits and windows as the vendors document them (see notify/chat_robot.hpp for the pages).
constexpr std::size_t kWecomTextMax = 2048;
constexpr std::size_t kWecomMarkdownMax = 4096;
constexpr std::size_t kDingtalkBodyMax = 20000;
constexpr int64_t kDingtalkWindowMs = 3600 * 1000;   // "误差不能超过1小时"
constexpr int64_t kWebhookWindowMs = 5 * 60 * 1000;  // our contract (notify/README-webhook.md)
// For format problems the vendors give no single code for: clearly ours, never a real vendor code.
constexpr int kReceiverFormatError = 99999;

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string reply_json(int64_t errcode, const std::string& errmsg) {
    return nlohmann::json{{"errcode", errcode}, {"errmsg", errmsg}}.dump();
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}

bool all_digits(const std::string& s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

// Decodes a query component the way a servlet container does for the vendors: %XX and '+' → ' '.
// False on a malformed escape.
bool percent_decode(const std::string& in, std::string& out) {
    out.clear();
    for (std::size_t i = 0; i < in.size(); ++i) {
        const char c = in[i];
        if (c == '+') {
            out += ' ';
        } else if (c == '%') {
            if (i + 2 >= in.size() || !std::isxdigit(static_cast<unsigned char>(in[i + 1])) ||
                !std::isxdigit(static_cast<unsigned char>(in[i + 2]))) {
                return false;
            }
            out += static_cast<char>(std::stoi(in.substr(i + 1, 2), nullptr, 16));
            i += 2;
        } else {
            out += c;
        }
    }
    return true;
}

// Query parameters from the raw target; a repeated name or a bad escape is a format error.
bool parse_query(const std::string& raw, std::map<std::string, std::string>& out, std::string& why) {
    std::size_t start = 0;
    while (start < raw.size()) {
        auto amp = raw.find('&', start);
        if (amp == std::string::npos) amp = raw.size();
        const std::string param = raw.substr(start, amp - start);
        start = amp + 1;
        if (param.empty()) continue;
        const auto eq = param.find('=');
        std::string name, value;
        if (!percent_decode(param.substr(0, eq), name) ||
            !percent_decode(eq == std::string::npos ? "" : param.substr(eq + 1), value)) {
            why = "bad percent-escape in query parameter '" + param + "'";
            return false;
        }
        if (!out.emplace(name, value).second) {
            why = "query parameter '" + name + "' given twice";
            return false;
        }
    }
    return true;
}

std::string hmac_sha256(const std::string& key, const std::string& msg) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
    unsigned int len = 0;
    if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
             reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), mac.data(), &len) == nullptr) {
        throw std::runtime_error("OpenSSL HMAC failed");
    }
    return std::string(reinterpret_cast<const char*>(mac.data()), len);
}

std::string base64(const std::string& bin) {
    std::string out(4 * ((bin.size() + 2) / 3) + 1, '\0');
    const int n =
        EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                        reinterpret_cast<const unsigned char*>(bin.data()), static_cast<int>(bin.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

std::string hex(const std::string& bin) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : bin) {
        out += kHex[c >> 4];
        out += kHex[c & 0x0F];
    }
    return out;
}

bool equal_ct(const std::string& a, const std::string& b) {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool is_string_array(const nlohmann::json& j) {
    return j.is_array() &&
           std::all_of(j.begin(), j.end(), [](const nlohmann::json& e) { return e.is_string(); });
}

// ---- Certificate ----

template <typename T, void (*F)(T*)>
struct Free {
    void operator()(T* p) const { F(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Free<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Free<X509, X509_free>>;
using BioPtr = std::unique_ptr<BIO, Free<BIO, BIO_free_all>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Free<X509_EXTENSION, X509_EXTENSION_free>>;

[[noreturn]] void ssl_fail(const std::string& what) {
    throw std::runtime_error("test certificate: " + what + " failed");
}

void add_ext(X509* cert, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
    ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
    if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) ssl_fail(std::string("extension ") + value);
}

void write_self_signed(const std::string& cert_path, const std::string& key_path) {
    PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    if (!key) ssl_fail("EC key generation");
    X509Ptr cert(X509_new());
    if (!cert) ssl_fail("X509_new");
    uint32_t serial = 0;
    if (RAND_bytes(reinterpret_cast<unsigned char*>(&serial), sizeof serial) != 1) ssl_fail("RAND_bytes");
    if (X509_set_version(cert.get(), 2) != 1 ||  // v3, for the extensions
        ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), static_cast<long>(serial & 0x7FFFFFFF) + 1) !=
            1 ||
        X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) == nullptr ||
        X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600) == nullptr ||
        X509_set_pubkey(cert.get(), key.get()) != 1) {
        ssl_fail("certificate fields");
    }
    X509_NAME* name = X509_get_subject_name(cert.get());
    if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>("CareGate test receiver"), -1, -1,
                                   0) != 1 ||
        X509_set_issuer_name(cert.get(), name) != 1) {
        ssl_fail("certificate name");
    }
    add_ext(cert.get(), NID_basic_constraints, "critical,CA:FALSE");
    add_ext(cert.get(), NID_key_usage, "critical,digitalSignature");
    add_ext(cert.get(), NID_ext_key_usage, "serverAuth");
    add_ext(cert.get(), NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
    if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) ssl_fail("X509_sign");

    BioPtr cert_bio(BIO_new_file(cert_path.c_str(), "w"));
    if (!cert_bio || PEM_write_bio_X509(cert_bio.get(), cert.get()) != 1) ssl_fail("writing " + cert_path);
    BioPtr key_bio(BIO_new_file(key_path.c_str(), "w"));
    if (!key_bio ||
        PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
        ssl_fail("writing " + key_path);
    }
}

}  // namespace

// ---- Receiver ----

HttpsReceiver::HttpsReceiver(ReceiverSecrets secrets) : secrets_(std::move(secrets)) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "caregate-https-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("cannot create temp dir " + tmpl);
    dir_ = tmpl;  // mode 0700, so the private key is not readable by others
    cert_file_ = dir_ + "/cert.pem";
    key_file_ = dir_ + "/key.pem";
    try {
        write_self_signed(cert_file_, key_file_);
        server_ = std::make_unique<httplib::SSLServer>(cert_file_.c_str(), key_file_.c_str());
        if (!server_->is_valid())
            throw std::runtime_error("httplib::SSLServer rejected the test certificate");
    } catch (...) {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
        throw;
    }
    // Senders here use Connection: close; a short keep-alive keeps stop() quick if one does not.
    server_->set_keep_alive_timeout(1);

    const auto record_base = [](const httplib::Request& req, const std::string& route) {
        Received rec;
        rec.route = route;
        rec.path = req.path;
        const auto q = req.target.find('?');
        rec.raw_query = q == std::string::npos ? "" : req.target.substr(q + 1);
        for (const auto& [k, v] : req.headers) rec.headers.emplace(lower(k), v);
        rec.body = req.body;
        rec.json = nlohmann::json::parse(req.body, nullptr, false);
        if (rec.json.is_discarded()) rec.json = nullptr;
        return rec;
    };

    server_->Post("/cgi-bin/webhook/send",
                  [this, record_base](const httplib::Request& req, httplib::Response& res) {
                      Received rec = record_base(req, "wecom");
                      Reply reply = check_wecom(rec);
                      finish(std::move(rec), std::move(reply), res);
                  });
    server_->Post("/robot/send", [this, record_base](const httplib::Request& req, httplib::Response& res) {
        Received rec = record_base(req, "dingtalk");
        Reply reply = check_dingtalk(rec);
        finish(std::move(rec), std::move(reply), res);
    });
    server_->Post("/hook", [this, record_base](const httplib::Request& req, httplib::Response& res) {
        Received rec = record_base(req, "webhook");
        Reply reply = check_webhook(rec);
        finish(std::move(rec), std::move(reply), res);
    });
    server_->Post("/slow", [this, record_base](const httplib::Request& req, httplib::Response& res) {
        Received rec = record_base(req, "slow");
        std::string why;
        parse_query(rec.raw_query, rec.query, why);
        const auto ms = all_digits(rec.query["ms"]) ? std::stoll(rec.query["ms"]) : 0LL;
        {
            // A server-side delay, not test synchronisation: it ends early when the receiver stops.
            std::unique_lock<std::mutex> lock(mu_);
            cv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stopping_; });
        }
        rec.ok = true;
        finish(std::move(rec), Reply{200, reply_json(0, "ok")}, res);
    });
    server_->Post("/big", [this, record_base](const httplib::Request& req, httplib::Response& res) {
        Received rec = record_base(req, "big");
        std::string why;
        parse_query(rec.raw_query, rec.query, why);
        const auto n = all_digits(rec.query["bytes"]) ? std::stoull(rec.query["bytes"]) : 0ULL;
        rec.ok = true;
        finish(std::move(rec), Reply{200, std::string(n, 'x')}, res);
    });
    server_->Post("/redirect", [this, record_base](const httplib::Request& req, httplib::Response& res) {
        Received rec = record_base(req, "redirect");
        rec.ok = true;
        res.set_header("Location", "/hook");
        finish(std::move(rec), Reply{302, ""}, res);
    });

    port_ = server_->bind_to_any_port("127.0.0.1");
    if (port_ <= 0) {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
        throw std::runtime_error("HttpsReceiver: cannot bind 127.0.0.1");
    }
    thread_ = std::thread([this] {
        server_->listen_after_bind();
        listen_returned_ = true;
    });
    // Connections made before the thread accepts would wait in the backlog, but stop() does nothing
    // until the accept loop runs, so a receiver destroyed at once would never stop. Start-up wait,
    // not test synchronisation: the loop either starts or listen returns, both within moments.
    while (!server_->is_running() && !listen_returned_)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (!server_->is_running()) {
        thread_.join();
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
        throw std::runtime_error("HttpsReceiver: the HTTPS server did not start");
    }
}

HttpsReceiver::~HttpsReceiver() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    server_->stop();
    if (thread_.joinable()) thread_.join();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
}

std::string HttpsReceiver::url(const std::string& path_and_query) const {
    const std::string sep = !path_and_query.empty() && path_and_query[0] == '/' ? "" : "/";
    return "https://127.0.0.1:" + std::to_string(port_) + sep + path_and_query;
}

std::vector<Received> HttpsReceiver::received() const {
    std::lock_guard<std::mutex> lock(mu_);
    return received_;
}

bool HttpsReceiver::wait_for(std::size_t n, std::chrono::milliseconds deadline) const {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, deadline, [&] { return received_.size() >= n; });
}

void HttpsReceiver::fail_next(int n, int http_status, std::string body) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_count_ = n;
    fail_reply_ = Reply{http_status, std::move(body)};
}

void HttpsReceiver::finish(Received rec, Reply reply, httplib::Response& res) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (fail_count_ > 0) {
            --fail_count_;
            rec.injected = true;
            reply = fail_reply_;
        }
        rec.reply_status = reply.status;
        rec.reply_body = reply.body;
        received_.push_back(std::move(rec));
    }
    cv_.notify_all();
    res.status = reply.status;
    res.set_content(reply.body, "application/json");
}

// 企业微信 群机器人: key in the query, JSON body, text ≤ 2048 / markdown ≤ 4096 bytes, mention lists
// arrays of strings. The robot replies HTTP 200 with errcode in the body, errors included.
HttpsReceiver::Reply HttpsReceiver::check_wecom(Received& rec) const {
    const auto fail = [&rec](int64_t code, const std::string& why) {
        rec.ok = false;
        rec.why = why;
        return Reply{200, reply_json(code, code == kReceiverFormatError ? "test receiver: " + why : why)};
    };
    std::string why;
    if (!parse_query(rec.raw_query, rec.query, why)) return fail(kReceiverFormatError, why);
    if (rec.query.count("key") == 0 || rec.query["key"] != secrets_.wecom_key)
        return fail(93000, "invalid webhook url");
    const auto& j = rec.json;
    if (!j.is_object()) return fail(kReceiverFormatError, "body is not a JSON object");
    if (!j.contains("msgtype") || !j["msgtype"].is_string()) return fail(40008, "invalid message type");
    const std::string type = j["msgtype"].get<std::string>();
    if (type != "text" && type != "markdown") return fail(40008, "invalid message type " + type);
    if (!j.contains(type) || !j[type].is_object())
        return fail(kReceiverFormatError, type + " object missing");
    const auto& m = j[type];
    if (!m.contains("content") || !m["content"].is_string() || m["content"].get<std::string>().empty()) {
        return fail(44004, type + ".content missing or empty");
    }
    const std::size_t bytes = m["content"].get<std::string>().size();
    const std::size_t max = type == "text" ? kWecomTextMax : kWecomMarkdownMax;
    if (bytes > max) {
        return fail(40058, type + ".content exceed max length " + std::to_string(max) + " (" +
                               std::to_string(bytes) + " bytes)");
    }
    for (const char* list : {"mentioned_list", "mentioned_mobile_list"}) {
        if (m.contains(list) && !is_string_array(m[list])) {
            return fail(kReceiverFormatError, std::string(list) + " is not an array of strings");
        }
        if (m.contains(list) && type != "text") {
            return fail(kReceiverFormatError, std::string(list) + " only exists for text messages");
        }
    }
    rec.ok = true;
    return Reply{200, reply_json(0, "ok")};
}

// 钉钉 自定义机器人 with 加签: access_token, timestamp (ms, within 1 hour of our clock) and
// sign = urlEncode(Base64(HmacSHA256(secret, timestamp + "\n" + secret))) in the query; body
// ≤ 20000 bytes; text message with at.atMobiles, each "@mobile" also in the content (else
// DingTalk sends it without highlighting: stricter here so tests catch it).
HttpsReceiver::Reply HttpsReceiver::check_dingtalk(Received& rec) const {
    const auto fail = [&rec](int64_t code, const std::string& why) {
        rec.ok = false;
        rec.why = why;
        return Reply{200, reply_json(code, code == kReceiverFormatError ? "test receiver: " + why : why)};
    };
    std::string why;
    if (!parse_query(rec.raw_query, rec.query, why)) return fail(kReceiverFormatError, why);
    if (rec.query["access_token"] != secrets_.dingtalk_token) return fail(300001, "token is not exist");
    const std::string ts = rec.query["timestamp"];
    if (!all_digits(ts) || ts.size() > 15) return fail(310000, "invalid timestamp");
    const int64_t skew = now_ms() - std::stoll(ts);
    if (skew > kDingtalkWindowMs || skew < -kDingtalkWindowMs) return fail(310000, "invalid timestamp");
    const std::string expected =
        base64(hmac_sha256(secrets_.dingtalk_secret, ts + "\n" + secrets_.dingtalk_secret));
    if (!equal_ct(rec.query["sign"], expected)) return fail(310000, "sign not match");
    if (rec.body.size() > kDingtalkBodyMax) return fail(460101, "message too long, exceed 20000 bytes");
    const auto& j = rec.json;
    if (!j.is_object()) return fail(kReceiverFormatError, "body is not a JSON object");
    if (j.value("msgtype", std::string()) != "text") return fail(kReceiverFormatError, "msgtype is not text");
    if (!j.contains("text") || !j["text"].is_object() || !j["text"].contains("content") ||
        !j["text"]["content"].is_string() || j["text"]["content"].get<std::string>().empty()) {
        return fail(kReceiverFormatError, "text.content missing or empty");
    }
    const std::string content = j["text"]["content"].get<std::string>();
    if (!j.contains("at") || !j["at"].is_object() || !j["at"].contains("atMobiles") ||
        !is_string_array(j["at"]["atMobiles"])) {
        return fail(kReceiverFormatError, "at.atMobiles is not an array of strings");
    }
    if (j["at"].contains("isAtAll") && !j["at"]["isAtAll"].is_boolean()) {
        return fail(kReceiverFormatError, "at.isAtAll is not a boolean");
    }
    for (const auto& mobile : j["at"]["atMobiles"]) {
        if (content.find("@" + mobile.get<std::string>()) == std::string::npos) {
            return fail(kReceiverFormatError, "@" + mobile.get<std::string>() + " is not in text.content");
        }
    }
    rec.ok = true;
    return Reply{200, reply_json(0, "ok")};
}

// Generic webhook: the contract in notify/README-webhook.md.
HttpsReceiver::Reply HttpsReceiver::check_webhook(Received& rec) const {
    const auto fail = [&rec](int status, const std::string& why) {
        rec.ok = false;
        rec.why = why;
        return Reply{status, nlohmann::json{{"error", why}}.dump()};
    };
    const auto header = [&rec](const std::string& name) {
        const auto it = rec.headers.find(name);
        return it == rec.headers.end() ? std::string() : it->second;
    };
    if (rec.headers.count("x-caregate-timestamp") != 1 || rec.headers.count("x-caregate-signature") != 1) {
        return fail(401, "X-CareGate-Timestamp and X-CareGate-Signature must each be present once");
    }
    const std::string ts = header("x-caregate-timestamp");
    if (!all_digits(ts) || ts.size() > 15) return fail(401, "X-CareGate-Timestamp is not milliseconds");
    const int64_t skew = now_ms() - std::stoll(ts);
    if (skew > kWebhookWindowMs || skew < -kWebhookWindowMs)
        return fail(401, "timestamp outside the 5-minute window");
    const std::string expected = "sha256=" + hex(hmac_sha256(secrets_.webhook_secret, ts + "." + rec.body));
    if (!equal_ct(header("x-caregate-signature"), expected)) return fail(401, "signature does not match");
    if (header("content-type").rfind("application/json", 0) != 0)
        return fail(415, "Content-Type is not application/json");
    if (rec.json.is_null()) return fail(400, "body is not JSON");
    rec.ok = true;
    return Reply{200, R"({"ok":true})"};
}

}  // namespace caregate::testing
