#include "notify/chat_robot.hpp"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <sodium.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace caregate::notify {

namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

std::string to_lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}

// Bytes that may appear in a URL we send: printable ASCII without space. Anything else is either a
// mistake in config or an attempt to smuggle a second header line into the request.
bool url_byte_ok(unsigned char c) { return c > 0x20 && c < 0x7F; }

// For error messages: never echo control characters or raw bytes into logs.
std::string printable(const std::string& s, std::size_t max_bytes = 200) {
    std::string out;
    for (unsigned char c : s) {
        if (out.size() >= max_bytes) {
            out += "…";
            break;
        }
        out += url_byte_ok(c) ? static_cast<char>(c) : '?';
    }
    return out;
}

[[noreturn]] void refuse(const std::string& url, const std::string& why, const std::string& fix) {
    throw std::invalid_argument("notify URL '" + printable(redact_url(url)) + "' refused: " + why + "; " +
                                fix);
}

bool is_loopback_host(const std::string& host, bool bracketed) {
    if (bracketed) {
        in6_addr a6{};
        return inet_pton(AF_INET6, host.c_str(), &a6) == 1 &&
               std::memcmp(&a6, &in6addr_loopback, sizeof a6) == 0;
    }
    if (to_lower(host) == "localhost") return true;
    in_addr a4{};
    // inet_pton accepts only the full dotted quad, so "127.1" or "0x7f.1" are not loopback here.
    return inet_pton(AF_INET, host.c_str(), &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
}

ParsedUrl parse_checked(const std::string& url) {
    if (url.size() > kMaxUrlBytes) {
        throw std::invalid_argument("notify URL '" + printable(redact_url(url), 80) +
                                    "' refused: " + std::to_string(url.size()) + " bytes, over the " +
                                    std::to_string(kMaxUrlBytes) + "-byte limit; copy the robot URL again");
    }
    for (unsigned char c : url) {
        if (!url_byte_ok(c)) {
            refuse(url, "it contains a control character, space or non-ASCII byte",
                   "percent-encode it or copy the robot URL again");
        }
    }
    const auto sep = url.find("://");
    if (sep == std::string::npos) refuse(url, "no scheme", "use https://");
    ParsedUrl p;
    p.scheme = to_lower(url.substr(0, sep));
    if (p.scheme != "https" && p.scheme != "http")
        refuse(url, "scheme '" + p.scheme + "' is not supported", "use https://");
    const std::string rest = url.substr(sep + 3);
    const auto auth_end = rest.find_first_of("/?#");
    const std::string authority = rest.substr(0, auth_end);
    if (authority.find('@') != std::string::npos) {
        refuse(url, "it carries userinfo (user:password@)",
               "put credentials in the robot key or webhook secret, not the URL");
    }
    std::string port_text;
    bool has_port = false;
    bool bracketed = false;
    if (!authority.empty() && authority[0] == '[') {
        const auto close = authority.find(']');
        if (close == std::string::npos) refuse(url, "unterminated [IPv6] host", "write it as [::1]");
        p.host = authority.substr(1, close - 1);
        bracketed = true;
        const std::string after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after[0] != ':') refuse(url, "text after the [IPv6] host", "write it as [::1]:port");
            has_port = true;
            port_text = after.substr(1);
        }
        in6_addr a6{};
        if (inet_pton(AF_INET6, p.host.c_str(), &a6) != 1)
            refuse(url, "not an IPv6 address in [ ]", "check the host");
    } else {
        const auto colon = authority.find(':');
        p.host = authority.substr(0, colon);
        if (colon != std::string::npos) {
            has_port = true;
            port_text = authority.substr(colon + 1);
        }
        for (unsigned char c : p.host) {
            if (!std::isalnum(c) && c != '.' && c != '-' && c != '_') {
                refuse(url, "the host has a character not allowed in a host name", "check the host");
            }
        }
    }
    if (p.host.empty()) refuse(url, "no host", "check the URL");
    p.port = p.scheme == "https" ? 443 : 80;
    if (has_port) {
        const bool digits =
            !port_text.empty() && port_text.size() <= 5 &&
            std::all_of(port_text.begin(), port_text.end(), [](unsigned char c) { return std::isdigit(c); });
        const int port = digits ? std::stoi(port_text) : 0;
        if (port < 1 || port > 65535)
            refuse(url, "bad port '" + port_text + "'", "use a port from 1 to 65535");
        p.port = port;
    }
    if (p.scheme == "http" && !is_loopback_host(p.host, bracketed)) {
        refuse(url, "plain http:// to a non-loopback host",
               "use https://, http:// is only for loopback test receivers");
    }
    std::string tail = auth_end == std::string::npos ? std::string() : rest.substr(auth_end);
    tail = tail.substr(0, tail.find('#'));  // a fragment is never sent to the server
    if (tail.empty() || tail[0] != '/') tail = "/" + tail;
    p.path_and_query = tail;
    return p;
}

void ensure_sodium() {
    // Idempotent and thread-safe; returns 1 when already initialised.
    if (sodium_init() < 0) throw std::runtime_error("libsodium could not be initialised");
}

std::array<unsigned char, crypto_auth_hmacsha256_BYTES> hmac_sha256(const std::string& key,
                                                                    const std::string& msg) {
    ensure_sodium();
    // The _init form takes a key of any length (HMAC hashes long keys), as the vendors' HmacSHA256 does.
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(key.data()), key.size());
    crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(msg.data()), msg.size());
    std::array<unsigned char, crypto_auth_hmacsha256_BYTES> mac{};
    crypto_auth_hmacsha256_final(&st, mac.data());
    sodium_memzero(&st, sizeof st);
    return mac;
}

// RFC 3986 unreserved characters stay; everything else becomes %XX (upper-case hex, as Java's
// URLEncoder and Python's quote_plus produce for Base64's '+', '/', '=').
std::string percent_encode(const std::string& s) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 0x0F];
        }
    }
    return out;
}

// Mentions become part of the message text and JSON arrays; only phone-number characters (or the
// vendors' "@all") are accepted so a config typo cannot inject text or line breaks.
void check_mobiles(const std::vector<std::string>& mobiles) {
    for (const auto& m : mobiles) {
        const bool ok = m == "@all" ||
                        (!m.empty() && m.size() <= 32 && std::all_of(m.begin(), m.end(), [](unsigned char c) {
                            return std::isdigit(c) || c == '+' || c == '-';
                        }));
        if (!ok) {
            throw std::invalid_argument("mention '" + printable(m, 40) +
                                        "' is not a mobile number (digits, '+', '-') or \"@all\"");
        }
    }
}

std::string dump(const nlohmann::json& j) {
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool header_name_ok(const std::string& name) {
    static constexpr char kTokenPunct[] = "!#$%&'*+-.^_`|~";
    return !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
        return std::isalnum(c) || (c != 0 && std::strchr(kTokenPunct, c) != nullptr);
    });
}

bool header_value_ok(const std::string& value) {
    return std::all_of(value.begin(), value.end(),
                       [](unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7F); });
}

// Generic HTTP status classes shared by the poster and the generic webhook.
void classify_status(PostResult& r) {
    const int s = r.status;
    r.ok = s >= 200 && s < 300;
    if (r.ok) {
        r.retryable = false;
        r.detail = "HTTP " + std::to_string(s);
    } else if (s >= 300 && s < 400) {
        r.retryable = false;
        r.detail = "HTTP " + std::to_string(s) + ": redirects are not followed; configure the final URL";
        r.reason = "接收地址被转到别处（状态码 " + std::to_string(s) + "），请在配置中填写最终地址";
    } else if (s == 408 || s == 429 || s >= 500) {
        r.retryable = true;
        r.detail = "HTTP " + std::to_string(s);
        r.reason = s == 429 ? "接收方繁忙，限制发送频率（状态码 429）"
                            : "接收方暂时出错（状态码 " + std::to_string(s) + "）";
    } else if (s >= 400) {
        r.retryable = false;
        r.detail = "HTTP " + std::to_string(s) + ": the receiver refused the request";
        r.reason = "接收方拒绝了消息（状态码 " + std::to_string(s) + "），请检查地址和密钥";
    } else {
        r.retryable = true;
        r.detail = "unexpected HTTP status " + std::to_string(s);
        r.reason = "接收方的回复无法识别（状态码 " + std::to_string(s) + "）";
    }
}

struct CodeInfo {
    int64_t code;
    bool retryable;
    const char* meaning;
    const char* meaning_zh;  // for staff
};

// 企业微信: global codes https://developer.work.weixin.qq.com/document/path/90313; 93000 as sent by
// the robot endpoint ("invalid webhook url", e.g. github.com/wes-lin/Cloud189Checkin/issues/175),
// 40058 for an over-long markdown.content (github.com/dromara/domain-admin/issues/82).
constexpr CodeInfo kWecomCodes[] = {
    {-1, true, "system busy", "系统繁忙"},
    {45009, true, "rate limited: at most 20 messages per minute per robot",
     "发送太频繁：每个机器人每分钟最多 20 条"},
    {93000, false, "invalid webhook URL: check the robot key", "机器人地址无效，请检查机器人密钥"},
    {40008, false, "invalid message type", "消息类型无效"},
    {40058, false, "invalid parameter, e.g. content over its byte limit", "参数无效，例如内容过长"},
    {44004, false, "empty text content", "消息内容为空"},
};
// 钉钉 custom robot: 130101 "send too fast, exceed 20 times per minute"
// (github.com/ccfos/nightingale/issues/369); 310000 covers "sign not match", "invalid timestamp",
// keywords and IP allow-list (github.com/x-cold/dingtalk-robot/issues/7,
// github.com/jenkinsci/dingtalk-plugin/issues/116); 300001/300005 "token is not exist"
// (github.com/timonwong/prometheus-webhook-dingtalk/issues/91, /226); 460101 body over 20000 bytes.
constexpr CodeInfo kDingtalkCodes[] = {
    {-1, true, "system busy", "系统繁忙"},
    {130101, true, "rate limited: at most 20 messages per minute per robot",
     "发送太频繁：每个机器人每分钟最多 20 条"},
    {310000, false,
     "security check failed: sign, timestamp (clock off by over 1 hour), keyword or IP allow-list",
     "安全校验未通过：签名、时间（本机时钟偏差超过 1 小时）、关键词或地址白名单"},
    {300001, false, "access_token does not exist", "机器人令牌不存在，请检查机器人地址"},
    {300005, false, "access_token does not exist", "机器人令牌不存在，请检查机器人地址"},
    {460101, false, "message too long: body over 20000 bytes", "消息太长：超过 20000 字节"},
};

template <std::size_t N>
const CodeInfo* find_code(const CodeInfo (&table)[N], int64_t code) {
    for (const auto& c : table) {
        if (c.code == code) return &c;
    }
    return nullptr;
}

std::string clean_text(const std::string& s, std::size_t max_bytes) {
    std::string out = sanitize_utf8(s);
    for (auto& c : out) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = ' ';
    }
    return truncate_utf8(out, max_bytes);
}

}  // namespace

// ---- URLs ----

std::string redact_url(const std::string& url) {
    const std::string no_fragment = url.substr(0, url.find('#'));
    const auto q = no_fragment.find('?');
    if (q == std::string::npos) return no_fragment;
    std::string out = no_fragment.substr(0, q + 1);
    std::size_t start = q + 1;
    while (start <= no_fragment.size()) {
        auto amp = no_fragment.find('&', start);
        if (amp == std::string::npos) amp = no_fragment.size();
        const std::string param = no_fragment.substr(start, amp - start);
        const auto eq = param.find('=');
        if (start != q + 1) out += '&';
        out += eq == std::string::npos ? param : param.substr(0, eq) + "=<redacted>";
        start = amp + 1;
    }
    return out;
}

void check_url(const std::string& url) { parse_checked(url); }

ParsedUrl parse_url(const std::string& url) { return parse_checked(url); }

// ---- Text ----

std::string sanitize_utf8(const std::string& s) {
    static const std::string kReplacement = "\xEF\xBF\xBD";
    std::string out;
    out.reserve(s.size());
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const std::size_t n = s.size();
    std::size_t i = 0;
    while (i < n) {
        const unsigned char c = p[i];
        std::size_t len = 0;
        uint32_t cp = 0;
        if (c < 0x80) {
            len = 1;
            cp = c;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            cp = c & 0x07;
        }
        bool valid = len != 0 && i + len <= n;
        for (std::size_t k = 1; valid && k < len; ++k) {
            if ((p[i + k] & 0xC0) != 0x80) valid = false;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        // Reject overlong forms, UTF-16 surrogates and code points past U+10FFFF.
        if (valid && ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
                      (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)) {
            valid = false;
        }
        if (valid) {
            out.append(s, i, len);
            i += len;
        } else {
            out += kReplacement;
            ++i;
        }
    }
    return out;
}

std::string truncate_utf8(const std::string& s, std::size_t max_bytes, const std::string& marker) {
    if (s.size() <= max_bytes) return s;
    const std::string& mark = marker.size() <= max_bytes ? marker : std::string();
    std::size_t cut = max_bytes - mark.size();
    // s[cut] is the first byte left out; if it continues a sequence, the cut would split it.
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
    return s.substr(0, cut) + mark;
}

// ---- Bodies ----

std::string wecom_text(const std::string& text, const std::vector<std::string>& mention_mobiles) {
    check_mobiles(mention_mobiles);
    nlohmann::json inner{{"content", truncate_utf8(sanitize_utf8(text), kWecomTextMaxBytes)}};
    if (!mention_mobiles.empty()) inner["mentioned_mobile_list"] = mention_mobiles;
    return dump({{"msgtype", "text"}, {"text", inner}});
}

std::string wecom_markdown(const std::string& markdown) {
    return dump(
        {{"msgtype", "markdown"},
         {"markdown", {{"content", truncate_utf8(sanitize_utf8(markdown), kWecomMarkdownMaxBytes)}}}});
}

std::string dingtalk_text(const std::string& text, const std::vector<std::string>& at_mobiles) {
    check_mobiles(at_mobiles);
    std::vector<std::string> mobiles;
    bool at_all = false;
    std::string mentions;
    for (const auto& m : at_mobiles) {
        if (m == "@all") {
            at_all = true;
            continue;
        }
        mobiles.push_back(m);
        mentions += (mentions.empty() ? "\n@" : " @") + m;
    }
    const std::string clean = sanitize_utf8(text);
    const auto body_with = [&](const std::string& t) {
        return dump({{"msgtype", "text"},
                     {"text", {{"content", t + mentions}}},
                     {"at", {{"atMobiles", mobiles}, {"isAtAll", at_all}}}});
    };
    std::string body = body_with(clean);
    if (body.size() <= kDingtalkBodyMaxBytes) return body;
    // JSON escaping can make the body several times longer than the text (\" or \u0001), so search
    // for the longest text prefix whose serialised body fits; the size grows with the prefix.
    std::size_t lo = 0;             // fits (or nothing does: the mentions alone are too long)
    std::size_t hi = clean.size();  // does not fit
    body = body_with(truncate_utf8(clean, 0));
    while (hi - lo > 1) {
        const std::size_t mid = lo + (hi - lo) / 2;
        std::string candidate = body_with(truncate_utf8(clean, mid));
        if (candidate.size() <= kDingtalkBodyMaxBytes) {
            lo = mid;
            body = std::move(candidate);
        } else {
            hi = mid;
        }
    }
    return body;
}

std::string webhook_body(const nlohmann::json& event) { return dump(event); }

// ---- Signing ----

std::string dingtalk_sign(const std::string& secret, int64_t timestamp_ms) {
    const auto mac = hmac_sha256(secret, std::to_string(timestamp_ms) + "\n" + secret);
    std::array<char, sodium_base64_ENCODED_LEN(crypto_auth_hmacsha256_BYTES, sodium_base64_VARIANT_ORIGINAL)>
        b64{};
    sodium_bin2base64(b64.data(), b64.size(), mac.data(), mac.size(), sodium_base64_VARIANT_ORIGINAL);
    return percent_encode(b64.data());
}

std::string dingtalk_signed_url(const std::string& url, const std::string& secret, int64_t timestamp_ms) {
    check_url(url);
    const std::string base = url.substr(0, url.find('#'));
    const auto q = base.find('?');
    std::string out = base.substr(0, q);
    std::string query;
    if (q != std::string::npos) {
        std::size_t start = q + 1;
        while (start <= base.size()) {
            auto amp = base.find('&', start);
            if (amp == std::string::npos) amp = base.size();
            const std::string param = base.substr(start, amp - start);
            const std::string name = param.substr(0, param.find('='));
            if (!param.empty() && name != "timestamp" && name != "sign")
                query += (query.empty() ? "" : "&") + param;
            start = amp + 1;
        }
    }
    query += (query.empty() ? "" : "&") + std::string("timestamp=") + std::to_string(timestamp_ms) +
             "&sign=" + dingtalk_sign(secret, timestamp_ms);
    out += "?" + query;
    check_url(out);
    return out;
}

std::string webhook_signature(const std::string& secret, int64_t timestamp_ms, const std::string& body) {
    const auto mac = hmac_sha256(secret, std::to_string(timestamp_ms) + "." + body);
    std::array<char, crypto_auth_hmacsha256_BYTES * 2 + 1> hex{};
    sodium_bin2hex(hex.data(), hex.size(), mac.data(), mac.size());
    return std::string("sha256=") + hex.data();
}

std::vector<std::pair<std::string, std::string>> webhook_headers(const std::string& secret,
                                                                 int64_t timestamp_ms,
                                                                 const std::string& body) {
    return {{kTimestampHeader, std::to_string(timestamp_ms)},
            {kSignatureHeader, webhook_signature(secret, timestamp_ms, body)}};
}

// ---- Sending ----

HttpPoster::HttpPoster(HttpOptions o) : opt_(std::move(o)) {}

PostResult HttpPoster::post(const std::string& url, const std::string& body, const Headers& headers) {
    PostResult r;
    ParsedUrl u;
    try {
        u = parse_url(url);
    } catch (const std::invalid_argument& e) {
        r.detail = e.what();
        r.reason = "接收地址无效，请检查配置";
        r.retryable = false;
        return r;
    }
    const std::string where = "POST " + redact_url(url);

    httplib::Headers h;
    for (const auto& [name, value] : headers) {
        if (!header_name_ok(name) || !header_value_ok(value)) {
            r.detail =
                where + ": header '" + printable(name, 60) + "' has characters not allowed in HTTP headers";
            r.reason = "消息头含有不允许的字符";
            r.retryable = false;
            return r;
        }
        h.emplace(name, value);
    }
    if (h.find("Content-Type") == h.end()) h.emplace("Content-Type", "application/json");

    std::unique_ptr<httplib::ClientImpl> cli;
    httplib::SSLClient* tls = nullptr;
    if (u.scheme == "https") {
        auto ssl = std::make_unique<httplib::SSLClient>(u.host, u.port);
        if (!ssl->is_valid()) {
            r.detail = where + ": could not create a TLS context";
            r.reason = "本机无法建立加密连接";
            return r;
        }
        ssl->enable_server_certificate_verification(true);
        if (!opt_.ca_file.empty()) {
            // System roots plus the extra bundle: a store of our own, handed over to the client.
            X509_STORE* store = X509_STORE_new();
            if (store == nullptr || X509_STORE_set_default_paths(store) != 1 ||
                X509_STORE_load_file(store, opt_.ca_file.c_str()) != 1) {
                X509_STORE_free(store);
                r.detail = where + ": cannot load CA file '" + printable(opt_.ca_file) + "'";
                r.reason = "本机读不到为接收方配置的证书文件，请检查配置";
                r.retryable = false;
                return r;
            }
            ssl->set_ca_cert_store(store);  // takes ownership
        }
        tls = ssl.get();
        cli = std::move(ssl);
    } else {
        cli = std::make_unique<httplib::ClientImpl>(u.host, u.port);
    }
    cli->set_connection_timeout(opt_.connect_timeout);
    cli->set_read_timeout(opt_.read_timeout);
    cli->set_write_timeout(opt_.write_timeout);
    cli->set_follow_location(false);
    cli->set_keep_alive(false);
    // Send the path exactly as given: the DingTalk sign is already percent-encoded, and check_url
    // has refused anything that would need encoding.
    cli->set_url_encode(false);

    httplib::Request req;
    req.method = "POST";
    req.path = u.path_and_query;
    req.headers = std::move(h);
    req.body = body;
    std::string reply;
    bool over_cap = false;
    // Stop reading past the cap: a misbehaving or hostile endpoint cannot make us buffer more.
    req.content_receiver = [&](const char* data, std::size_t n, uint64_t, uint64_t) {
        const std::size_t room = kMaxReplyBytes - reply.size();
        if (n > room) {
            reply.append(data, room);
            over_cap = true;
            return false;
        }
        reply.append(data, n);
        return true;
    };

    httplib::Response res;
    httplib::Error err = httplib::Error::Success;
    const bool sent = cli->send(req, res, err);
    if (over_cap) {
        r.status = res.status;
        r.body = std::move(reply);
        r.detail = where + ": reply body over " + std::to_string(kMaxReplyBytes) + " bytes; stopped reading";
        r.truncated = true;
        r.reason = "接收方的回复过长，已停止读取";
        r.retryable = false;
        return r;
    }
    if (!sent) {
        r.status = 0;
        r.retryable = true;
        switch (err) {
            case httplib::Error::Connection:
                r.detail = where + ": cannot connect to " + u.host + ":" + std::to_string(u.port);
                r.reason = "连不上接收方（网络不通或对方未开机）";
                break;
            case httplib::Error::ConnectionTimeout:
                r.detail = where + ": connect timed out after " +
                           std::to_string(opt_.connect_timeout.count()) + " ms";
                r.reason = "连接接收方超时（" + std::to_string(opt_.connect_timeout.count()) + " 毫秒）";
                break;
            case httplib::Error::Read:
                r.detail = where + ": no complete reply within the " +
                           std::to_string(opt_.read_timeout.count()) +
                           " ms read timeout (or the connection dropped)";
                r.reason = "接收方在 " + std::to_string(opt_.read_timeout.count()) +
                           " 毫秒内没有回复完整（或连接断开）";
                break;
            case httplib::Error::Write:
                r.detail = where + ": sending the request failed or timed out";
                r.reason = "发送失败或超时";
                break;
            case httplib::Error::SSLServerVerification: {
                // A wrong CA or host name does not fix itself by retrying; someone must act.
                r.retryable = false;
                const long v = tls != nullptr ? tls->get_openssl_verify_result() : X509_V_OK;
                r.detail = where + ": server certificate rejected: " +
                           (v != X509_V_OK ? std::string(X509_verify_cert_error_string(v))
                                           : std::string("it does not name host ") + u.host);
                r.reason = "接收方的证书未通过校验，请检查地址和证书文件";
                break;
            }
            case httplib::Error::SSLLoadingCerts:
                r.retryable = false;
                r.detail = where + ": cannot load CA certificates";
                r.reason = "本机读不到证书，无法校验接收方";
                break;
            case httplib::Error::SSLConnection:
                r.detail = where + ": TLS handshake failed";
                r.reason = "与接收方建立加密连接失败";
                break;
            default:
                r.detail = where + ": " + httplib::to_string(err);
                r.reason = "发送失败（网络错误）";
                break;
        }
        return r;
    }
    r.status = res.status;
    r.body = std::move(reply);
    classify_status(r);
    r.detail = where + ": " + r.detail;
    return r;
}

// ---- Replies ----

PostResult interpret_vendor_reply(const std::string& type, int status, const std::string& body) {
    PostResult r;
    r.status = status;
    r.body = body.substr(0, kMaxReplyBytes);
    if (type == "webhook") {
        classify_status(r);
        if (!r.ok && !body.empty()) r.detail += ": " + clean_text(body, 200);
        return r;
    }
    const bool wecom = type == "wecom";
    if (!wecom && type != "dingtalk") {
        r.retryable = false;
        r.detail = "unknown channel type '" + printable(type, 40) + "' (wecom, dingtalk or webhook)";
        r.reason = "通知渠道类型无效，请检查配置";
        return r;
    }
    const std::string vendor = wecom ? "企业微信" : "钉钉";
    if (status != 200) {
        classify_status(r);
        r.ok = false;  // vendors answer 200; any other 2xx is not their protocol
        if (status >= 200 && status < 300) r.retryable = true;
        r.detail = vendor + " replied " + r.detail;
        r.reason = vendor + (r.reason.empty() ? "的回复无法识别（状态码 " + std::to_string(status) + "）"
                                              : "：" + r.reason);
        return r;
    }
    // A stray invalid byte in errmsg must not hide the errcode.
    const auto j = nlohmann::json::parse(sanitize_utf8(body), nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("errcode") || !j["errcode"].is_number_integer()) {
        // Often a proxy or captive portal page in front of the vendor: worth another try later.
        r.retryable = true;
        r.detail = vendor + " reply is not the expected JSON with an integer errcode: " +
                   (body.empty() ? std::string("(empty body)") : clean_text(body, 200));
        r.reason = vendor + "的回复不是预期的格式（可能被网络代理拦截）";
        return r;
    }
    const int64_t code = j["errcode"].get<int64_t>();
    const std::string errmsg =
        j.contains("errmsg") && j["errmsg"].is_string() ? j["errmsg"].get<std::string>() : "";
    if (code == 0) {
        r.ok = true;
        r.retryable = false;
        r.detail = "errcode 0: " + clean_text(errmsg, 100);
        return r;
    }
    const CodeInfo* info = wecom ? find_code(kWecomCodes, code) : find_code(kDingtalkCodes, code);
    // An unknown code is treated as transient: a lost alarm costs more than a few extra requests,
    // and the caller's retry budget is bounded.
    r.retryable = info != nullptr ? info->retryable : true;
    r.detail = "errcode " + std::to_string(code) + ": " + clean_text(errmsg, 300) + " (" + vendor + ": " +
               (info != nullptr ? info->meaning : "unrecognised code, treated as transient") + ")";
    r.reason = vendor + "拒绝了消息（错误码 " + std::to_string(code) + "：" +
               (info != nullptr ? info->meaning_zh : "未知错误，稍后重试") + "）";
    return r;
}

}  // namespace caregate::notify
