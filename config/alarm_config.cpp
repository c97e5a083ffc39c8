// The alarms: and notify: sections of the site config (acknowledge and resolve deadlines, the
// channels that reach a person and the escalation chain per alarm kind); see config/README.md.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <map>
#include <regex>
#include <set>

#include "config/config_reader.hpp"

namespace caregate::config::detail {

void parse_alarms(MapReader& top, SiteConfig& c) {
    auto r = top.child("alarms");
    r.get("ack_timeout_s", c.alarms.ack_timeout_s);
    r.get("resolve_timeout_s", c.alarms.resolve_timeout_s);
    r.get("low_battery_percent", c.alarms.low_battery_percent);
    check_range(r, "ack_timeout_s", c.alarms.ack_timeout_s, 5, 3600);
    check_range(r, "resolve_timeout_s", c.alarms.resolve_timeout_s, 30, 86400);
    check_range(r, "low_battery_percent", c.alarms.low_battery_percent, 0, 100);
    if (c.alarms.resolve_timeout_s <= c.alarms.ack_timeout_s)
        r.fail_here("resolve_timeout_s", "must be longer than ack_timeout_s");
    r.finish();
}

void parse_notify(MapReader& top, SiteConfig& c) {
    const std::string& file = c.source_file;
    auto n = top.child("notify");
    n.get("kiosk_url", c.notify.kiosk_url);
    n.get("supervision_s", c.notify.supervision_s);
    n.get("sms_reply_ack", c.notify.sms_reply_ack);
    check_range(n, "supervision_s", c.notify.supervision_s, 30, 86400);
    if (c.notify.kiosk_url.size() > 512) n.fail_here("kiosk_url", "is longer than 512 characters");
    if (!c.notify.kiosk_url.empty() && c.notify.kiosk_url.rfind("https://", 0) != 0 &&
        c.notify.kiosk_url.rfind("http://", 0) != 0)
        n.fail_here("kiosk_url", "must start with https:// (the address staff phones open the kiosk at)");
    std::set<std::string> channel_ids;
    n.each("channels", [&](MapReader& r, size_t) {
        NotifyChannel ch;
        r.get("id", ch.id, true);
        r.get("type", ch.type, true);
        r.get("name", ch.name);
        r.get("url", ch.url);
        r.get("secret_file", ch.secret_file);
        r.get("ca_file", ch.ca_file);
        r.get("modem", ch.modem);
        r.get("ring_s", ch.ring_s);
        r.get("repeat_s", ch.repeat_s);
        r.get("timeout_ms", ch.timeout_ms);
        reject_inline_secret(r, "secret");
        if (r.has("to")) {
            YAML::Node to = r.raw("to");
            if (to.IsScalar())
                ch.to.push_back(to.Scalar());
            else if (to.IsSequence())
                for (auto t : to) {
                    if (!t.IsScalar()) r.fail(t, "to", "each recipient is a phone number, @duty or @family");
                    ch.to.push_back(t.Scalar());
                }
            else
                r.fail_here("to", "a list of phone numbers, @duty or @family");
            static const std::regex phone(R"(\+?[0-9]{3,20})");
            for (auto& t : ch.to)
                if (t != "@duty" && t != "@family" && !std::regex_match(t, phone))
                    r.fail_here(
                        "to",
                        "'" + t + "' is not a phone number (digits, optionally +86…), @duty or @family");
        }
        check_id(r, "id", ch.id);
        check_one_of(r, "type", ch.type, {"wecom", "dingtalk", "webhook", "sms", "voice", "speaker"});
        check_range(r, "ring_s", ch.ring_s, 5, 120);
        check_range(r, "repeat_s", ch.repeat_s, 10, 600);
        check_range(r, "timeout_ms", ch.timeout_ms, 500, 60000);
        if (!channel_ids.insert(ch.id).second) r.fail_here("id", "channel '" + ch.id + "' is defined twice");
        bool http = ch.type == "wecom" || ch.type == "dingtalk" || ch.type == "webhook";
        if (http) {
            if (ch.url.empty()) r.fail_here("url", "is required for a " + ch.type + " channel");
            if (ch.url.size() > 2048) r.fail_here("url", "is longer than 2048 characters");
            static const std::regex loopback(R"(http://(127\.[0-9.]+|localhost|\[::1\])(:[0-9]+)?(/.*)?)");
            if (ch.url.rfind("https://", 0) != 0 && !std::regex_match(ch.url, loopback))
                r.fail_here("url",
                            "must start with https:// (http:// is accepted only for 127.0.0.1, "
                            "::1 or localhost test receivers)");
            if ((ch.type == "dingtalk" || ch.type == "webhook") && ch.secret_file.empty())
                r.fail_here("secret_file", "is required: " + ch.type + " messages are signed");
        }
        if ((ch.type == "sms" || ch.type == "voice")) {
            if (ch.modem.empty()) r.fail_here("modem", "is required: the modem's AT port, e.g. /dev/ttyUSB2");
            if (ch.to.empty())
                r.fail_here("to", "is required: the phone numbers to " +
                                      std::string(ch.type == "sms" ? "text" : "ring"));
        }
        if (ch.name.empty()) {
            // The same words as the kiosk's channel labels (CHANNEL in static/assets/app.js).
            static const std::map<std::string, std::string> names = {
                {"wecom", "企业微信群"}, {"dingtalk", "钉钉群"}, {"webhook", "对接平台"},
                {"sms", "短信"},         {"voice", "电话"},      {"speaker", "广播"}};
            ch.name = names.at(ch.type);
        }
        if (ch.name.size() > 60) r.fail_here("name", "is longer than 60 bytes");
        c.notify.channels.push_back(ch);
    });
    if (n.has("escalation")) {
        YAML::Node esc = n.raw("escalation");
        if (!esc.IsMap()) n.fail_here("escalation", "a mapping: default (or an alarm kind) → list of steps");
        static const std::vector<std::string> kinds = {"default",        "call",
                                                       "fall",           "fever",
                                                       "over_capacity",  "device_offline",
                                                       "camera_offline", "storage",
                                                       "long_occupancy", "channel_offline",
                                                       "smoke",          "gas",
                                                       "water_leak",     "electrical_fault"};
        MapReader er(file, esc, "notify.escalation");
        for (auto it = esc.begin(); it != esc.end(); ++it) {
            std::string kind = key_text(file, it->first);
            if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end())
                er.fail(it->first, kind,
                        "is not an alarm kind; use default or one of call fall smoke gas "
                        "water_leak electrical_fault long_occupancy device_offline …");
            std::vector<EscalationStep> steps;
            er.each(kind, [&](MapReader& r, size_t) {
                EscalationStep st;
                r.get("after_s", st.after_s);
                check_range(r, "after_s", st.after_s, 0, 86400);
                YAML::Node ids = r.raw("notify");
                if (!ids.IsSequence() || ids.size() == 0)
                    r.fail_here("notify", "a list of channel ids, e.g. [duty_chat]");
                for (auto id : ids) {
                    std::string cid = id.Scalar();
                    if (!channel_ids.count(cid))
                        r.fail(id, "notify", "channel '" + cid + "' is not defined under notify.channels");
                    st.notify.push_back(cid);
                }
                if (!steps.empty() && st.after_s < steps.back().after_s)
                    r.fail_here("after_s", "steps must be in order of after_s");
                steps.push_back(st);
            });
            c.notify.escalation.emplace_back(kind, steps);
        }
    }
    n.finish();
}

}  // namespace caregate::config::detail
