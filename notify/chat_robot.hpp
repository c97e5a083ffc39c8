// Group-chat robots and a signed generic webhook that tell staff about an alarm: the request bodies
// each vendor accepts, their signing, one HTTPS POST with bounded time and memory, and what the
// vendor's reply means (delivered / retry later / give up and fall back to another channel).
//
// Vendor documents these formats follow (read again when a vendor changes something):
//   企业微信 群机器人配置说明   https://developer.work.weixin.qq.com/document/path/91770
//     POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY, JSON body;
//     text.content ≤ 2048 bytes UTF-8, markdown.content ≤ 4096 bytes, mentioned_list /
//     mentioned_mobile_list ("@all" = everyone); 20 messages per minute per robot.
//     Reply {"errcode":0,"errmsg":"ok"}; global codes
//     https://developer.work.weixin.qq.com/document/path/90313
//   钉钉 自定义机器人 安全设置  https://open.dingtalk.com/document/robots/customize-robot-security-settings
//     (English: https://help.dingtalk.io/open/dingstart/customize-robot-security-settings)
//     sign = urlEncode(Base64(HmacSHA256(key = secret, timestamp + "\n" + secret))), timestamp in
//     ms, within 1 hour of DingTalk's clock; appended as &timestamp=..&sign=..
//   钉钉 自定义机器人发送群消息  https://open.dingtalk.com/document/orgapp/custom-robots-send-group-messages
//     {"msgtype":"text","text":{"content":..},"at":{"atMobiles":[..],"isAtAll":false}}; an @mobile
//     is only highlighted when "@<mobile>" is also in the content; 20 messages per minute.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace caregate::notify {

// Vendor byte limits (UTF-8 bytes of the decoded string, not of the JSON escape).
constexpr std::size_t kWecomTextMaxBytes = 2048;      // text.content, document 91770
constexpr std::size_t kWecomMarkdownMaxBytes = 4096;  // markdown.content, document 91770
// DingTalk documents no per-field limit for text.content; its server rejects the whole request body
// above 20000 bytes: errcode 460101 "message too long, exceed 20000 bytes" (seen in
// github.com/timonwong/prometheus-webhook-dingtalk/issues/30 and Le0nsec/SecCrawler/issues/12,
// and "body 大小不合法 … 请保持大小在 20000bytes 以内" in ZhuLinsen/daily_stock_analysis/issues/61).
// So the body as serialised is kept within this.
constexpr std::size_t kDingtalkBodyMaxBytes = 20000;
constexpr std::size_t kMaxUrlBytes = 2048;
constexpr std::size_t kMaxReplyBytes = 64 * 1024;

// Throws std::invalid_argument unless `url` is https:// to any host, or http:// to loopback only
// (127.0.0.0/8, [::1], localhost). Also refused: userinfo (user:pass@), control characters, spaces
// or non-ASCII bytes, more than kMaxUrlBytes bytes, a missing host, a bad port. The message names
// the URL with query values redacted (robot URLs carry their key/token there).
void check_url(const std::string& url);

struct ParsedUrl {
    std::string scheme;          // "https" or "http"
    std::string host;            // IPv6 literals without brackets
    int port = 0;                // explicit or the scheme's default
    std::string path_and_query;  // starts with '/', fragment dropped
};
// check_url, then split. Throws std::invalid_argument like check_url.
ParsedUrl parse_url(const std::string& url);

// `url` with every query value replaced by "<redacted>", for logs and error messages.
std::string redact_url(const std::string& url);

// Invalid UTF-8 sequences replaced by U+FFFD, so JSON serialisation never throws on alarm text.
std::string sanitize_utf8(const std::string& s);
// At most max_bytes bytes of valid UTF-8 `s`, cut at a character boundary; when cut, ends with
// `marker` (itself counted within max_bytes) so staff can see that text is missing.
std::string truncate_utf8(const std::string& s, std::size_t max_bytes, const std::string& marker = "…");

// Request bodies (compact JSON). Pure: same input, same bytes. Invalid UTF-8 in the text becomes
// U+FFFD. A mention that is not a mobile number (digits, '+', '-') or "@all" throws
// std::invalid_argument: mentions come from config, which should have been checked at load.
// 企业微信 text message; mention_mobiles go to text.mentioned_mobile_list (omitted when empty;
// "@all" allowed). Content truncated to kWecomTextMaxBytes.
std::string wecom_text(const std::string& text, const std::vector<std::string>& mention_mobiles);
// 企业微信 markdown message, content truncated to kWecomMarkdownMaxBytes (markdown cannot @mobile).
std::string wecom_markdown(const std::string& markdown);
// 钉钉 text message. Appends "\n@<m1> @<m2>…" to the content (DingTalk highlights an @ only when it
// is in the content too) and lists them in at.atMobiles; "@all" sets at.isAtAll instead. The text,
// never the mentions, is truncated so the whole body stays within kDingtalkBodyMaxBytes.
std::string dingtalk_text(const std::string& text, const std::vector<std::string>& at_mobiles);
// Generic webhook: the event object as given, compact (invalid UTF-8 replaced, never throws).
std::string webhook_body(const nlohmann::json& event);

// 钉钉 sign for `timestamp_ms`: URL-encoded Base64 of HMAC-SHA256 keyed with the secret over
// timestamp + "\n" + secret.
std::string dingtalk_sign(const std::string& secret, int64_t timestamp_ms);
// `url` (the robot URL with access_token) plus &timestamp=<ms>&sign=<sign>; timestamp/sign already
// on it are replaced, so a retry can re-sign the configured URL. Throws like check_url.
std::string dingtalk_signed_url(const std::string& url, const std::string& secret, int64_t timestamp_ms);

// ---- Generic webhook signing: the contract for integrators (also notify/README-webhook.md) ----
// Every POST carries
//   Content-Type: application/json
//   X-CareGate-Timestamp: <Unix time of sending, milliseconds, decimal>
//   X-CareGate-Signature: sha256=<lowercase hex HMAC-SHA256(key = shared secret,
//                                  message = timestamp + "." + raw request body bytes)>
// A receiver recomputes the HMAC over the exact bytes it received (before any JSON parsing),
// compares in constant time, and rejects timestamps more than 5 minutes from its clock (replay).
// A retry is signed again with a new timestamp; the body is the same, so receivers de-duplicate on
// the event id inside it.
constexpr const char* kTimestampHeader = "X-CareGate-Timestamp";
constexpr const char* kSignatureHeader = "X-CareGate-Signature";
// "sha256=<hex>" as above.
std::string webhook_signature(const std::string& secret, int64_t timestamp_ms, const std::string& body);
// The two headers above, ready for HttpPoster::post.
std::vector<std::pair<std::string, std::string>> webhook_headers(const std::string& secret,
                                                                 int64_t timestamp_ms,
                                                                 const std::string& body);

// ---- Sending ----
struct HttpOptions {
    std::chrono::milliseconds connect_timeout{5000};
    std::chrono::milliseconds read_timeout{5000};
    std::chrono::milliseconds write_timeout{5000};
    // Extra CA bundle (PEM) trusted in addition to the system store; tests pass the self-signed
    // certificate of their local receiver. Empty: system store only.
    std::string ca_file;
};

struct PostResult {
    bool ok = false;
    int status = 0;      // HTTP status; 0 when no response arrived
    std::string detail;  // why not ok (or "HTTP 200"), safe to log: no secrets, no control chars
    // Why not ok as staff read it in the rescue record and on the kiosk: Chinese, with no URL, id or
    // English word (the technical detail is for the log).
    std::string reason;
    bool retryable = true;
    std::string body;        // reply body, at most kMaxReplyBytes, for interpret_vendor_reply
    bool truncated = false;  // the reply was over kMaxReplyBytes: not to be read as a vendor's answer
};

// One POST per call, a fresh connection each time (alarms are rare; no pooled state to go stale).
// Certificate and host-name verification always on; redirects never followed (a robot URL that
// redirects is misconfigured, and following would re-send the body to wherever it points).
// Never throws: a refused URL, a bad header, a transport or TLS error all come back as !ok.
// `ok` here means only "an HTTP 2xx arrived"; vendors answer errors with HTTP 200, so callers pass
// status and body to interpret_vendor_reply. A reply body over kMaxReplyBytes stops the read: !ok,
// not retryable, status kept, body = its first kMaxReplyBytes bytes.
class HttpPoster {
public:
    explicit HttpPoster(HttpOptions o = {});
    PostResult post(const std::string& url, const std::string& body,
                    const std::vector<std::pair<std::string, std::string>>& headers);

private:
    HttpOptions opt_;
};

// What a reply means. type: "wecom", "dingtalk" or "webhook".
//  wecom/dingtalk: HTTP 200 and errcode 0 → ok; errcode ≠ 0 → !ok, detail "errcode N: errmsg",
//    retryable for rate limits / system busy, not for a bad key, token, sign or message.
//  webhook: any 2xx → ok; 408, 429, 5xx → retryable; other 4xx and 3xx → not retryable.
// Malformed or empty JSON from a vendor → !ok with a detail saying so. Never throws.
PostResult interpret_vendor_reply(const std::string& type, int status, const std::string& body);

}  // namespace caregate::notify
