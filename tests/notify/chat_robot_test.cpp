// Group-chat robots and the signed webhook: URL policy, exact vendor bodies, signatures against
// vectors computed outside our code, and real HTTPS posts checked by an independent receiver.
#include "notify/chat_robot.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "tests/support/https_receiver.hpp"
#include "tests/support/staff_words.hpp"

namespace notify = caregate::notify;
using caregate::testing::expect_staff_reason;
using caregate::testing::HttpsReceiver;
using caregate::testing::Received;

namespace {

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

bool valid_utf8(const std::string& s) { return notify::sanitize_utf8(s) == s; }

std::string refusal(const std::string& url) {
    try {
        notify::check_url(url);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "";
}

// ---- check_url ----

TEST(CheckUrl, AcceptsHttpsAnywhereAndHttpOnlyToLoopback) {
    const std::vector<std::string> accepted = {
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa",
        "https://oapi.dingtalk.com/robot/send?access_token=abc",
        "https://hooks.example.org:8443/caregate",
        "HTTPS://Example.COM",
        "http://127.0.0.1:8080/hook",
        "http://127.200.3.4/hook",
        "http://localhost:9/hook",
        "http://LocalHost/hook",
        "http://[::1]:9000/hook",
    };
    for (const auto& url : accepted) EXPECT_EQ(refusal(url), "") << url;
}

TEST(CheckUrl, RefusalsNameTheProblemAndTheFix) {
    struct Case {
        std::string url;
        std::string message;  // expected substring
    };
    const std::vector<Case> refused = {
        {"http://example.com/hook", "use https://, http:// is only for loopback test receivers"},
        {"http://10.0.0.7/hook", "use https://, http:// is only for loopback test receivers"},
        {"http://128.0.0.1/hook", "http:// is only for loopback"},
        {"http://127.1/hook", "http:// is only for loopback"},  // shorthand is not taken as loopback
        {"http://localhost.example.com/hook", "http:// is only for loopback"},
        {"http://[::2]/hook", "http:// is only for loopback"},
        {"http://0.0.0.0:80/hook", "http:// is only for loopback"},
        {"ftp://example.com/x", "is not supported"},
        {"example.com/hook", "no scheme"},
        {"https://user:pw@example.com/hook", "userinfo"},
        {"https://@example.com/hook", "userinfo"},
        {"https://example.com/a\r\nX-Evil: 1", "control character"},
        {std::string("https://example.com/a\0b", 23), "control character"},
        {"https://exa mple.com/", "control character, space"},
        {"https://example.com/床", "non-ASCII"},
        {"https://example.com/" + std::string(2100, 'a'), "2048-byte limit"},
        {"https:///path", "no host"},
        {"https://example.com:0/", "bad port"},
        {"https://example.com:65536/", "bad port"},
        {"https://example.com:x/", "bad port"},
        {"https://example.com:/", "bad port"},
        {"https://[::1/", "unterminated"},
        {"https://[not-v6]/", "not an IPv6 address"},
        {"https://exa!mple.com/", "not allowed in a host name"},
    };
    for (const auto& c : refused) {
        const std::string msg = refusal(c.url);
        EXPECT_NE(msg.find(c.message), std::string::npos) << "url: " << c.url << "\nmessage: " << msg;
    }
}

TEST(CheckUrl, MessageNamesTheUrlWithoutItsSecrets) {
    const std::string msg = refusal("http://example.com/cgi-bin/webhook/send?key=SECRETKEY123&x=1");
    EXPECT_NE(msg.find("http://example.com/cgi-bin/webhook/send?key=<redacted>&x=<redacted>"),
              std::string::npos)
        << msg;
    EXPECT_EQ(msg.find("SECRETKEY123"), std::string::npos) << msg;
}

TEST(CheckUrl, ParseSplitsSchemeHostPortPath) {
    const auto a = notify::parse_url("https://oapi.dingtalk.com/robot/send?access_token=T#frag");
    EXPECT_EQ(a.scheme, "https");
    EXPECT_EQ(a.host, "oapi.dingtalk.com");
    EXPECT_EQ(a.port, 443);
    EXPECT_EQ(a.path_and_query, "/robot/send?access_token=T");
    const auto b = notify::parse_url("http://[::1]:8081?x=1");
    EXPECT_EQ(b.host, "::1");
    EXPECT_EQ(b.port, 8081);
    EXPECT_EQ(b.path_and_query, "/?x=1");
}

// ---- Bodies ----

TEST(Payload, WecomTextExactShape) {
    EXPECT_EQ(
        notify::wecom_text("跌倒报警：A区3床", {"13800001111", "@all"}),
        R"({"msgtype":"text","text":{"content":"跌倒报警：A区3床","mentioned_mobile_list":["13800001111","@all"]}})");
    // No mentions: no list at all, rather than an empty one.
    EXPECT_EQ(notify::wecom_text("呼叫 \"2号\"\n房间", {}),
              R"({"msgtype":"text","text":{"content":"呼叫 \"2号\"\n房间"}})");
    EXPECT_EQ(
        notify::wecom_markdown("**跌倒** <font color=\"warning\">A区</font>"),
        R"({"markdown":{"content":"**跌倒** <font color=\"warning\">A区</font>"},"msgtype":"markdown"})");
}

TEST(Payload, DingtalkTextPutsMentionsInContentAndAt) {
    EXPECT_EQ(notify::dingtalk_text("老人呼叫：3床", {"13800001111", "+86-13900002222"}),
              R"({"at":{"atMobiles":["13800001111","+86-13900002222"],"isAtAll":false},"msgtype":"text",)"
              R"("text":{"content":"老人呼叫：3床\n@13800001111 @+86-13900002222"}})");
    EXPECT_EQ(notify::dingtalk_text("全员注意", {"@all"}),
              R"({"at":{"atMobiles":[],"isAtAll":true},"msgtype":"text","text":{"content":"全员注意"}})");
}

TEST(Payload, MentionsMustBeMobileNumbers) {
    EXPECT_THROW(notify::wecom_text("x", {"138 0000"}), std::invalid_argument);
    EXPECT_THROW(notify::dingtalk_text("x", {"138\n@all"}), std::invalid_argument);
    EXPECT_THROW(notify::dingtalk_text("x", {""}), std::invalid_argument);
}

TEST(Payload, WebhookBodyIsTheEventCompact) {
    const nlohmann::json event = {
        {"type", "fall"}, {"zone", "A区"}, {"bed", 3}, {"at", "2024-05-01T08:00:00Z"}};
    EXPECT_EQ(notify::webhook_body(event),
              R"({"at":"2024-05-01T08:00:00Z","bed":3,"type":"fall","zone":"A区"})");
    // Invalid UTF-8 in an event field must not throw on the alarm path.
    EXPECT_NO_THROW(notify::webhook_body({{"name", std::string("\xff\xfe")}}));
}

// ---- Truncation ----

TEST(Truncation, Utf8BoundariesAndMarker) {
    EXPECT_EQ(notify::truncate_utf8("abcdef", 6), "abcdef");
    EXPECT_EQ(notify::truncate_utf8("abcdefg", 6), "abc…");  // "…" is 3 bytes, counted in the 6
    EXPECT_EQ(notify::truncate_utf8("a床", 3, ""), "a");     // 床 is 3 bytes: not cut in half
    EXPECT_EQ(notify::truncate_utf8("a床", 2, "…"), "a");    // marker longer than the room: dropped
    EXPECT_EQ(notify::sanitize_utf8("ok床"), "ok床");
    EXPECT_EQ(notify::sanitize_utf8("a\xff"
                                    "b"),
              "a\xEF\xBF\xBD"
              "b");
    EXPECT_EQ(notify::sanitize_utf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");                  // overlong '/'
    EXPECT_EQ(notify::sanitize_utf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
    EXPECT_EQ(notify::sanitize_utf8("\xE5\xBA"), "\xEF\xBF\xBD\xEF\xBF\xBD");                  // cut-off 床
}

TEST(Truncation, WecomTextContentStaysWithin2048Bytes) {
    std::string cjk;
    for (int i = 0; i < 1000; ++i) cjk += "床";  // 3000 bytes
    const auto j = nlohmann::json::parse(notify::wecom_text(cjk, {}));
    const std::string content = j["text"]["content"];
    EXPECT_LE(content.size(), notify::kWecomTextMaxBytes);
    EXPECT_GE(content.size(), notify::kWecomTextMaxBytes - 3);
    EXPECT_TRUE(valid_utf8(content));
    EXPECT_EQ(content.substr(content.size() - 3), "…");

    const std::string exact(notify::kWecomTextMaxBytes, 'a');
    EXPECT_EQ(nlohmann::json::parse(notify::wecom_text(exact, {}))["text"]["content"], exact);
    const auto over =
        nlohmann::json::parse(notify::wecom_text(exact + "b", {}))["text"]["content"].get<std::string>();
    EXPECT_EQ(over, std::string(notify::kWecomTextMaxBytes - 3, 'a') + "…");

    std::string md;
    for (int i = 0; i < 2000; ++i) md += "床";
    const std::string md_content = nlohmann::json::parse(notify::wecom_markdown(md))["markdown"]["content"];
    EXPECT_LE(md_content.size(), notify::kWecomMarkdownMaxBytes);
    EXPECT_TRUE(valid_utf8(md_content));
}

TEST(Truncation, DingtalkBodyWithin20000BytesAndMentionsKept) {
    // Quotes and control characters grow under JSON escaping (\" and \u0001), so the body, not
    // the text, is what has to fit.
    std::string text;
    for (int i = 0; i < 4000; ++i) text += "床\"\x01";
    const std::string body = notify::dingtalk_text(text, {"13800001111"});
    EXPECT_LE(body.size(), notify::kDingtalkBodyMaxBytes);
    EXPECT_GE(body.size(), notify::kDingtalkBodyMaxBytes - 16);  // not cut far more than needed
    const auto j = nlohmann::json::parse(body);
    const std::string content = j["text"]["content"];
    EXPECT_TRUE(valid_utf8(content));
    EXPECT_EQ(content.substr(content.size() - std::string("…\n@13800001111").size()), "…\n@13800001111");
}

// ---- Signatures ----

// Expected values computed outside this code base:
//   printf '1700000000000\nSECtest0123456789abcdef' |
//     openssl dgst -sha256 -hmac 'SECtest0123456789abcdef' -binary | base64
//   → /lfnxUUu80FwVTsIlv2F1cMGBb+PxEKAwYh/bsRxXcc=   (then URL-encoded: + / = → %2B %2F %3D)
TEST(Signing, DingtalkSignMatchesOpensslVector) {
    EXPECT_EQ(notify::dingtalk_sign("SECtest0123456789abcdef", 1700000000000),
              "%2FlfnxUUu80FwVTsIlv2F1cMGBb%2BPxEKAwYh%2FbsRxXcc%3D");
}

TEST(Signing, DingtalkSignedUrlAppendsAndReplaces) {
    const std::string expected =
        "https://oapi.dingtalk.com/robot/send?access_token=T1&timestamp=1700000000000"
        "&sign=%2FlfnxUUu80FwVTsIlv2F1cMGBb%2BPxEKAwYh%2FbsRxXcc%3D";
    EXPECT_EQ(notify::dingtalk_signed_url("https://oapi.dingtalk.com/robot/send?access_token=T1",
                                          "SECtest0123456789abcdef", 1700000000000),
              expected);
    // Re-signing an already signed URL (a retry) replaces timestamp and sign instead of repeating them.
    EXPECT_EQ(notify::dingtalk_signed_url(
                  "https://oapi.dingtalk.com/robot/send?timestamp=1&access_token=T1&sign=old",
                  "SECtest0123456789abcdef", 1700000000000),
              expected);
    EXPECT_THROW(notify::dingtalk_signed_url("http://oapi.dingtalk.com/robot/send?access_token=T", "s", 1),
                 std::invalid_argument);
}

//   printf '1700000000000.{"a":1}' | openssl dgst -sha256 -hmac 'webhook-test-secret'
//   → 03a5a4fb081d6ea50b8fe77e8e600d31b9497654c8fdd17fa2c1e84e3123e5a1
TEST(Signing, WebhookSignatureMatchesOpensslVector) {
    EXPECT_EQ(notify::webhook_signature("webhook-test-secret", 1700000000000, R"({"a":1})"),
              "sha256=03a5a4fb081d6ea50b8fe77e8e600d31b9497654c8fdd17fa2c1e84e3123e5a1");
    const auto h = notify::webhook_headers("webhook-test-secret", 1700000000000, R"({"a":1})");
    ASSERT_EQ(h.size(), 2u);
    EXPECT_EQ(h[0], std::make_pair(std::string("X-CareGate-Timestamp"), std::string("1700000000000")));
    EXPECT_EQ(h[1].first, "X-CareGate-Signature");
}

// ---- Reply interpretation (pure) ----

TEST(Replies, VendorErrcodes) {
    struct Case {
        std::string type;
        int status;
        std::string body;
        bool ok;
        bool retryable;
        std::string detail;  // expected substring
    };
    const std::vector<Case> cases = {
        {"wecom", 200, R"({"errcode":0,"errmsg":"ok"})", true, false, "errcode 0"},
        {"wecom", 200, R"({"errcode":45009,"errmsg":"api freq out of limit"})", false, true,
         "errcode 45009: api freq out of limit"},
        {"wecom", 200, R"({"errcode":-1,"errmsg":"system busy"})", false, true, "errcode -1"},
        {"wecom", 200, R"({"errcode":93000,"errmsg":"invalid webhook url"})", false, false,
         "errcode 93000: invalid webhook url"},
        {"wecom", 200, R"({"errcode":40058,"errmsg":"text.content exceed max length"})", false, false,
         "errcode 40058"},
        {"wecom", 200, R"({"errcode":12345,"errmsg":"new"})", false, true, "unrecognised"},
        {"wecom", 502, "<html>bad gateway</html>", false, true, "HTTP 502"},
        {"wecom", 404, "", false, false, "HTTP 404"},
        {"dingtalk", 200, R"({"errcode":0,"errmsg":"ok"})", true, false, "errcode 0"},
        {"dingtalk", 200, R"({"errcode":130101,"errmsg":"send too fast, exceed 20 times per minute"})", false,
         true, "errcode 130101"},
        {"dingtalk", 200, R"({"errcode":310000,"errmsg":"sign not match"})", false, false,
         "errcode 310000: sign not match"},
        {"dingtalk", 200, R"({"errcode":300001,"errmsg":"token is not exist"})", false, false,
         "errcode 300001"},
        {"dingtalk", 200, R"({"errcode":460101,"errmsg":"message too long, exceed 20000 bytes"})", false,
         false, "460101"},
        // Malformed replies: a clear detail, never an exception.
        {"wecom", 200, "<html>portal</html>", false, true, "not the expected JSON"},
        {"wecom", 200, "", false, true, "(empty body)"},
        {"dingtalk", 200, R"({"errcode":"0","errmsg":"ok"})", false, true, "not the expected JSON"},
        {"dingtalk", 200, R"([0])", false, true, "not the expected JSON"},
        {"dingtalk", 200, "{\"errcode\":1,\"errmsg\":\"bad \xff byte\"}", false, true,
         "errcode 1: bad \xEF\xBF\xBD byte"},
        {"dingtalk", 200, "{\"errcode\":1,\"errmsg\":\"raw \x01 control\"}", false, true,
         "not the expected JSON"},
        {"webhook", 200, "", true, false, "HTTP 200"},
        {"webhook", 204, "", true, false, "HTTP 204"},
        {"webhook", 400, "bad", false, false, "HTTP 400"},
        {"webhook", 401, R"({"error":"signature does not match"})", false, false, "signature does not match"},
        {"webhook", 408, "", false, true, "HTTP 408"},
        {"webhook", 429, "", false, true, "HTTP 429"},
        {"webhook", 503, "", false, true, "HTTP 503"},
        {"webhook", 302, "", false, false, "redirects are not followed"},
        {"telegram", 200, "", false, false, "unknown channel type"},
    };
    for (const auto& c : cases) {
        notify::PostResult r;
        ASSERT_NO_THROW(r = notify::interpret_vendor_reply(c.type, c.status, c.body))
            << c.type << " " << c.body;
        EXPECT_EQ(r.ok, c.ok) << c.type << " " << c.status << " " << c.body;
        if (!c.ok) {
            EXPECT_EQ(r.retryable, c.retryable) << c.type << " " << c.status << " " << c.body;
            expect_staff_reason(r);
        }
        EXPECT_NE(r.detail.find(c.detail), std::string::npos) << c.type << " " << c.body << " → " << r.detail;
        for (char ch : r.detail) EXPECT_FALSE(static_cast<unsigned char>(ch) < 0x20) << r.detail;
    }
}

// ---- Real HTTPS posts to the receiver ----

class Posting : public ::testing::Test {
protected:
    HttpsReceiver rx;
    notify::HttpPoster poster{[this] {
        notify::HttpOptions o;
        o.ca_file = rx.ca_file();
        return o;
    }()};

    std::string wecom_url(const std::string& key) { return rx.url("/cgi-bin/webhook/send?key=" + key); }
    std::string dingtalk_base() { return rx.url("/robot/send?access_token=" + rx.secrets().dingtalk_token); }

    // Sends and interprets as the alarm dispatcher will.
    notify::PostResult send(const std::string& type, const std::string& url, const std::string& body,
                            const std::vector<std::pair<std::string, std::string>>& headers = {}) {
        const auto r = poster.post(url, body, headers);
        if (r.status == 0) return r;
        return notify::interpret_vendor_reply(type, r.status, r.body);
    }

    Received only_request() {
        EXPECT_TRUE(rx.wait_for(1, std::chrono::seconds(5)));
        const auto all = rx.received();
        EXPECT_EQ(all.size(), 1u);
        return all.empty() ? Received{} : all.front();
    }
};

TEST_F(Posting, WecomTextAcceptedByReceiver) {
    const auto r = send("wecom", wecom_url(rx.secrets().wecom_key),
                        notify::wecom_text("跌倒报警：A区3床", {"13800001111"}));
    EXPECT_TRUE(r.ok) << r.detail;
    const auto rec = only_request();
    EXPECT_EQ(rec.route, "wecom");
    EXPECT_TRUE(rec.ok) << rec.why;
    EXPECT_EQ(rec.json["text"]["content"], "跌倒报警：A区3床");
    EXPECT_EQ(rec.json["text"]["mentioned_mobile_list"], nlohmann::json::array({"13800001111"}));
    EXPECT_EQ(rec.headers.find("content-type")->second, "application/json");
}

TEST_F(Posting, WecomWrongKeyIsNotRetryable) {
    const auto r = send("wecom", wecom_url("not-the-key"), notify::wecom_text("x", {}));
    EXPECT_FALSE(r.ok);
    expect_staff_reason(r);
    EXPECT_FALSE(r.retryable);
    EXPECT_NE(r.detail.find("errcode 93000"), std::string::npos) << r.detail;
}

TEST_F(Posting, DingtalkSignedTextAcceptedByReceiver) {
    const auto url = notify::dingtalk_signed_url(dingtalk_base(), rx.secrets().dingtalk_secret, now_ms());
    const auto r = send("dingtalk", url, notify::dingtalk_text("老人呼叫：3床", {"13800001111"}));
    EXPECT_TRUE(r.ok) << r.detail;
    const auto rec = only_request();
    EXPECT_EQ(rec.route, "dingtalk");
    EXPECT_TRUE(rec.ok) << rec.why;
    EXPECT_EQ(rec.json["at"]["atMobiles"], nlohmann::json::array({"13800001111"}));
}

TEST_F(Posting, DingtalkBadSignIsNotRetryable) {
    const auto url = notify::dingtalk_signed_url(dingtalk_base(), "SECwrong-secret", now_ms());
    const auto r = send("dingtalk", url, notify::dingtalk_text("x", {}));
    EXPECT_FALSE(r.ok);
    expect_staff_reason(r);
    EXPECT_FALSE(r.retryable);
    EXPECT_NE(r.detail.find("errcode 310000: sign not match"), std::string::npos) << r.detail;
}

TEST_F(Posting, DingtalkTimestampOutsideTheHourIsRefused) {
    const auto url = notify::dingtalk_signed_url(dingtalk_base(), rx.secrets().dingtalk_secret,
                                                 now_ms() - 2 * 3600 * 1000);
    const auto r = send("dingtalk", url, notify::dingtalk_text("x", {}));
    EXPECT_FALSE(r.ok);
    expect_staff_reason(r);
    EXPECT_FALSE(r.retryable);
    EXPECT_NE(r.detail.find("invalid timestamp"), std::string::npos) << r.detail;
}

// The receiver itself must catch a sign sent without URL-encoding: '+' arrives as a space.
TEST_F(Posting, ReceiverRejectsAnUnencodedSign) {
    int64_t ts = now_ms();
    std::string raw;
    for (;; --ts) {  // find a timestamp whose Base64 sign contains '+'
        raw = notify::dingtalk_sign(rx.secrets().dingtalk_secret, ts);
        if (raw.find("%2B") != std::string::npos) break;
    }
    for (const auto& [from, to] :
         {std::pair<std::string, std::string>{"%2B", "+"}, {"%2F", "/"}, {"%3D", "="}}) {
        for (auto pos = raw.find(from); pos != std::string::npos; pos = raw.find(from))
            raw.replace(pos, 3, to);
    }
    const auto url = dingtalk_base() + "&timestamp=" + std::to_string(ts) + "&sign=" + raw;
    const auto r = send("dingtalk", url, notify::dingtalk_text("x", {}));
    EXPECT_FALSE(r.ok);
    expect_staff_reason(r);
    EXPECT_NE(r.detail.find("sign not match"), std::string::npos) << r.detail;
}

TEST_F(Posting, ReceiverRejectsMentionMissingFromContentAndOverlongWecomText) {
    const auto url = notify::dingtalk_signed_url(dingtalk_base(), rx.secrets().dingtalk_secret, now_ms());
    const std::string no_at =
        R"({"msgtype":"text","text":{"content":"hi"},"at":{"atMobiles":["13800001111"]}})";
    EXPECT_FALSE(send("dingtalk", url, no_at).ok);
    const std::string too_long =
        nlohmann::json{{"msgtype", "text"}, {"text", {{"content", std::string(2049, 'a')}}}}.dump();
    const auto r = send("wecom", wecom_url(rx.secrets().wecom_key), too_long);
    EXPECT_FALSE(r.ok);
    expect_staff_reason(r);
    EXPECT_NE(r.detail.find("errcode 40058"), std::string::npos) << r.detail;
    ASSERT_TRUE(rx.wait_for(2, std::chrono::seconds(5)));
    const auto all = rx.received();
    EXPECT_NE(all[0].why.find("@13800001111 is not in text.content"), std::string::npos) << all[0].why;
    EXPECT_FALSE(all[1].ok);
}

TEST_F(Posting, WebhookSignedAcceptedAndWrongSecretRefused) {
    const std::string body = notify::webhook_body({{"type", "fall"}, {"zone", "A区"}, {"event_id", "e-1"}});
    const auto good = send("webhook", rx.url("/hook"), body,
                           notify::webhook_headers(rx.secrets().webhook_secret, now_ms(), body));
    EXPECT_TRUE(good.ok) << good.detail;
    const auto bad = send("webhook", rx.url("/hook"), body, notify::webhook_headers("wrong", now_ms(), body));
    EXPECT_FALSE(bad.ok);
    expect_staff_reason(bad);
    EXPECT_FALSE(bad.retryable);
    EXPECT_EQ(bad.status, 401);
    ASSERT_TRUE(rx.wait_for(2, std::chrono::seconds(5)));
    const auto all = rx.received();
    EXPECT_TRUE(all[0].ok) << all[0].why;
    EXPECT_EQ(all[0].body, body);
    EXPECT_FALSE(all[1].ok);
    EXPECT_EQ(all[1].why, "signature does not match");
}

TEST_F(Posting, RateLimitIsRetryableAndTheRetrySucceeds) {
    rx.fail_next(1, 200, R"({"errcode":45009,"errmsg":"api freq out of limit"})");
    const std::string body = notify::wecom_text("呼叫", {});
    const auto first = send("wecom", wecom_url(rx.secrets().wecom_key), body);
    EXPECT_FALSE(first.ok);
    expect_staff_reason(first);
    EXPECT_TRUE(first.retryable);
    EXPECT_NE(first.detail.find("errcode 45009"), std::string::npos) << first.detail;
    const auto second = send("wecom", wecom_url(rx.secrets().wecom_key), body);
    EXPECT_TRUE(second.ok) << second.detail;
    ASSERT_TRUE(rx.wait_for(2, std::chrono::seconds(5)));
    const auto all = rx.received();
    EXPECT_TRUE(all[0].injected);
    EXPECT_FALSE(all[1].injected);

    rx.fail_next(1, 200, R"({"errcode":130101,"errmsg":"send too fast, exceed 20 times per minute"})");
    const auto url = notify::dingtalk_signed_url(dingtalk_base(), rx.secrets().dingtalk_secret, now_ms());
    const auto ding = send("dingtalk", url, notify::dingtalk_text("x", {}));
    EXPECT_FALSE(ding.ok);
    expect_staff_reason(ding);
    EXPECT_TRUE(ding.retryable);
}

TEST_F(Posting, ServerErrorIsRetryable) {
    rx.fail_next(1, 500, "internal error");
    const std::string body = notify::webhook_body({{"type", "call"}});
    const auto r = send("webhook", rx.url("/hook"), body,
                        notify::webhook_headers(rx.secrets().webhook_secret, now_ms(), body));
    EXPECT_FALSE(r.ok);
    expect_staff_reason(r);
    EXPECT_TRUE(r.retryable);
    EXPECT_EQ(r.status, 500);
}

TEST_F(Posting, UnknownCertificateIsRefused) {
    notify::HttpPoster system_roots_only;  // no ca_file: the self-signed receiver is not trusted
    const auto r = system_roots_only.post(wecom_url(rx.secrets().wecom_key), notify::wecom_text("x", {}), {});
    EXPECT_FALSE(r.ok);
    expect_staff_reason(r);
    EXPECT_FALSE(r.retryable);
    EXPECT_EQ(r.status, 0);
    EXPECT_NE(r.detail.find("certificate"), std::string::npos) << r.detail;
    EXPECT_EQ(r.detail.find(rx.secrets().wecom_key), std::string::npos) << "key leaked into " << r.detail;
    EXPECT_TRUE(rx.received().empty());  // the handshake failed, so no request reached a route
}

TEST_F(Posting, MissingCaFileIsAClearError) {
    notify::HttpOptions o;
    o.ca_file = "/nonexistent/caregate-ca.pem";
    const auto r = notify::HttpPoster(o).post(rx.url("/hook"), "{}", {});
    EXPECT_FALSE(r.ok);
    expect_staff_reason(r);
    EXPECT_FALSE(r.retryable);
    EXPECT_NE(r.detail.find("cannot load CA file"), std::string::npos) << r.detail;
}

TEST_F(Posting, PlainHttpToNonLoopbackIsRefusedBeforeConnecting) {
    // 0.0.0.0 is not loopback by our rule, yet a connect() to it would stay on this machine: if the
    // refusal were missing, the request would hit the receiver's port instead of the network.
    const auto r = poster.post("http://0.0.0.0:" + std::to_string(rx.port()) + "/hook", "{}", {});
    EXPECT_FALSE(r.ok);
    expect_staff_reason(r);
    EXPECT_FALSE(r.retryable);
    EXPECT_EQ(r.status, 0);
    EXPECT_NE(r.detail.find("use https://, http:// is only for loopback test receivers"), std::string::npos)
        << r.detail;
    EXPECT_TRUE(rx.received().empty());
}

TEST_F(Posting, HeaderInjectionIsRefused) {
    const auto r = poster.post(rx.url("/hook"), "{}", {{"X-CareGate-Timestamp", "1\r\nX-Evil: 1"}});
    EXPECT_FALSE(r.ok);
    expect_staff_reason(r);
    EXPECT_FALSE(r.retryable);
    EXPECT_NE(r.detail.find("not allowed in HTTP headers"), std::string::npos) << r.detail;
    EXPECT_TRUE(rx.received().empty());
}

TEST_F(Posting, ReplyBodyReadIsCappedAt64KiB) {
    const auto at_cap = poster.post(rx.url("/big?bytes=65536"), "{}", {});
    EXPECT_TRUE(at_cap.ok) << at_cap.detail;
    EXPECT_EQ(at_cap.body.size(), notify::kMaxReplyBytes);
    const auto over = poster.post(rx.url("/big?bytes=4194304"), "{}", {});
    EXPECT_FALSE(over.ok);
    expect_staff_reason(over);
    EXPECT_FALSE(over.retryable);
    EXPECT_EQ(over.status, 200);
    EXPECT_EQ(over.body.size(), notify::kMaxReplyBytes);
    EXPECT_NE(over.detail.find("over 65536 bytes"), std::string::npos) << over.detail;
}

TEST_F(Posting, RedirectIsNotFollowed) {
    const auto r = poster.post(rx.url("/redirect"), "{}", {});
    EXPECT_FALSE(r.ok);
    expect_staff_reason(r);
    EXPECT_FALSE(r.retryable);
    EXPECT_EQ(r.status, 302);
    const auto all = rx.received();
    ASSERT_EQ(all.size(), 1u);  // nothing was re-sent to /hook
    EXPECT_EQ(all[0].route, "redirect");
}

TEST_F(Posting, ReadTimeoutBoundsASlowReceiver) {
    notify::HttpOptions o;
    o.ca_file = rx.ca_file();
    o.read_timeout = std::chrono::milliseconds(300);
    const auto start = std::chrono::steady_clock::now();
    const auto r = notify::HttpPoster(o).post(rx.url("/slow?ms=20000"), "{}", {});
    const auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_FALSE(r.ok);
    expect_staff_reason(r);
    EXPECT_TRUE(r.retryable);
    EXPECT_EQ(r.status, 0);
    EXPECT_NE(r.detail.find("300 ms read timeout"), std::string::npos) << r.detail;
    EXPECT_GE(elapsed, std::chrono::milliseconds(250));
    EXPECT_LT(elapsed, std::chrono::seconds(3));  // well under httplib's 5 s default
}

TEST(PostingNoReceiver, ConnectionRefusedIsRetryableAndQuick) {
    std::string url;
    {
        HttpsReceiver gone;
        url = gone.url("/hook");
    }  // stopped: nothing listens on that loopback port now
    notify::HttpPoster poster;
    const auto start = std::chrono::steady_clock::now();
    const auto r = poster.post(url, "{}", {});
    EXPECT_FALSE(r.ok);
    expect_staff_reason(r);
    EXPECT_TRUE(r.retryable);
    EXPECT_EQ(r.status, 0);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(6));
}

}  // namespace
