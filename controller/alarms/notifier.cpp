#include "controller/alarms/notifier.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>

#include "controller/core/log.hpp"
#include "controller/core/spoken.hpp"
#include "controller/people/occupancy.hpp"
#include "controller/people/staff.hpp"
#include "notify/chat_robot.hpp"
#include "notify/modem.hpp"

namespace caregate {

using nlohmann::json;

namespace {
// A channel whose secret file cannot be read or whose address is refused: staff cannot fix it by
// waiting, and the log has the detail.
const char* const kChannelMisconfigured = "失败：通知渠道的配置有误（密钥文件读不到或地址无效）";

// Retries while the alarm is open: 5 s, 10 s, 20 s, 40 s, then every 60 s.
int64_t backoff_ms(int attempts) { return std::min<int64_t>(60000, 5000LL << std::min(attempts - 1, 4)); }
constexpr int64_t kReplyPollMs = 5000;     // SMS replies ("1") are read this often
constexpr int64_t kSignalCheckMs = 60000;  // a modem's signal is checked this often when idle
constexpr int64_t kAnnouncementSeqBase = 1'000'000'000'000LL;  // door speech seqs are far below

std::string local_hms(int64_t ms, const std::string& tz) {
    time_t t = static_cast<time_t>((ms + local_offset_ms(tz)) / 1000);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%02d:%02d:%02d", tm.tm_hour, tm.tm_min, tm.tm_sec);
    return buf;
}

// 13800000000, +8613800000000 and 8613800000000 are one phone.
std::string national(std::string n) {
    if (n.rfind("+86", 0) == 0) return n.substr(3);
    if (n.rfind("86", 0) == 0 && n.size() == 13) return n.substr(2);
    return n;
}

bool is_http(const std::string& type) { return type == "wecom" || type == "dingtalk" || type == "webhook"; }
}  // namespace

struct Notifier::Lane {
    const config::NotifyChannel* cfg = nullptr;
    std::thread thread;
    // Supervision, owned by the lane's thread; the status copy below is for readers.
    int64_t failing_since = 0;
    bool alarm_raised = false;
    bool signal_failing = false;
    int64_t next_reply_poll = 0, next_signal_check = 0;
    mutable std::mutex mu;
    ChannelStatus status;
};

std::string alarm_message(const config::SiteConfig& cfg, const Alarm& a, int step, const std::string& type) {
    std::string where = cfg.device_name(a.source);
    std::string zone = a.zone.empty() ? "" : cfg.zone_name(a.zone);
    if (!zone.empty() && zone != where) where += "（" + zone + "）";
    std::string text = "【" + cfg.site.name + "】" + alarm_kind_name(a.kind) + "：" + where + "，" +
                       local_hms(a.raised_at, cfg.site.timezone) + " 报警 #" + std::to_string(a.id) + "。";
    if (a.detail.contains("devices") && a.detail["devices"].is_array()) {
        std::string names;
        for (auto& d : a.detail["devices"])
            if (d.contains("name") && d["name"].is_string())
                names += (names.empty() ? "" : "、") + d["name"].get<std::string>();
        if (!names.empty()) text += "无法呼叫：" + names + "。";
    }
    if (type == "speaker") return alarm_kind_name(a.kind) + "，" + where + "，请工作人员立即前往";
    if (step > 0) text += "无人响应，第 " + std::to_string(step + 1) + " 级通知。";
    text += "请立即处理";
    if (!cfg.notify.kiosk_url.empty())
        text += "：" + cfg.notify.kiosk_url + "/#alarm-" + std::to_string(a.id);
    if (type == "sms" && cfg.notify.sms_reply_ack) text += "。回复 1 表示已响应";
    return text;
}

Notifier::Notifier(const config::SiteConfig& cfg, Store& store, const Clock& clock, AlarmService& alarms,
                   Announce announce)
    : cfg_(cfg), store_(store), clock_(clock), alarms_(alarms), announce_(std::move(announce)) {
    for (auto& ch : cfg_.notify.channels) {
        auto lane = std::make_unique<Lane>();
        lane->cfg = &ch;
        lane->status.id = ch.id;
        lane->status.type = ch.type;
        lanes_.push_back(std::move(lane));
    }
}

Notifier::~Notifier() { stop(); }

void Notifier::start() {
    if (running_.exchange(true)) return;
    // A row claimed but not settled when the box stopped may or may not have gone out: it is sent
    // again (a webhook carries the notification id so integrators can drop the repeat).
    store_.write([&](sqlite3* db) {
        Stmt s(db,
               "UPDATE notifications SET state='pending', result='重启时发送结果未知，重发', next_try=?1 "
               "WHERE state='sending'");
        s.bind(1, clock_.now_ms()).run();
    });
    for (auto& lane : lanes_) {
        Lane* l = lane.get();
        l->thread = std::thread([this, l] { run(*l); });
    }
}

void Notifier::stop() {
    if (!running_.exchange(false)) return;
    cv_.notify_all();
    for (auto& lane : lanes_)
        if (lane->thread.joinable()) lane->thread.join();
}

void Notifier::wake() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        wakes_++;
    }
    cv_.notify_all();
}

std::vector<Notifier::ChannelStatus> Notifier::status() const {
    std::vector<ChannelStatus> out;
    for (auto& lane : lanes_) {
        std::lock_guard<std::mutex> lock(lane->mu);
        out.push_back(lane->status);
    }
    return out;
}

std::vector<std::string> Notifier::recipients(sqlite3* db, const config::NotifyChannel& ch, const Alarm& a,
                                              std::string& note) const {
    std::vector<std::string> out;
    auto add = [&](const std::string& n) {
        if (!n.empty() && std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
    };
    for (auto& t : ch.to) {
        if (t == "@duty") {
            auto [weekday, minute] = local_weekday_minute(a.raised_at, cfg_.site.timezone);
            size_t before = out.size();
            for (auto& o : on_shift(db, weekday, minute))
                if (o.reachable()) add(o.phone);
            if (out.size() == before)
                note += "值班表中此时无人值班（或未登记手机号），" + ch.name + "未能通知值班人员；";
        } else if (t == "@family") {
            if (!a.elder_id) continue;  // a call point is not an elder: nobody's family to tell
            Stmt s(db, "SELECT COALESCE(emergency_phone,''), name FROM elders WHERE id=?");
            s.bind(1, *a.elder_id);
            if (s.step() && !s.str(0).empty())
                add(s.str(0));
            else
                note += "老人未登记紧急联系人电话，" + ch.name + "未能通知家属；";
        } else {
            add(t);
        }
    }
    return out;
}

std::vector<std::string> Notifier::raised(sqlite3* db, const Alarm& a) {
    std::vector<std::string> notes;
    const auto* chain = cfg_.notify.chain_for(a.kind);
    if (!chain) return notes;
    int64_t now = clock_.now_ms();
    Stmt ins(
        db,
        "INSERT INTO notifications(alarm_id, step, channel, recipient, due_at, next_try, state, updated_at) "
        "VALUES(?,?,?,?,?,?,'pending',?) ON CONFLICT(alarm_id, channel, recipient) DO NOTHING");
    // A fire (smoke, gas) goes to everyone at once unless the site wrote a chain for that kind.
    bool everyone_at_once = (a.kind == "smoke" || a.kind == "gas") && !cfg_.notify.has_own_chain(a.kind);
    for (size_t i = 0; i < chain->size(); ++i) {
        const auto& step = (*chain)[i];
        int64_t due = a.raised_at + (everyone_at_once ? 0 : int64_t(step.after_s) * 1000);
        for (auto& id : step.notify) {
            const auto* ch = cfg_.notify.find_channel(id);
            if (!ch) continue;  // validated at load
            std::vector<std::string> to;
            if (ch->type == "sms" || ch->type == "voice") {
                std::string note;
                to = recipients(db, *ch, a, note);
                if (!note.empty()) notes.push_back(note);
            } else {
                to = {""};  // the group, the webhook, the loudspeaker: mentions are resolved when sent
            }
            for (auto& r : to) {
                ins.reset();
                ins.bind(1, a.id)
                    .bind(2, int64_t(i))
                    .bind(3, id)
                    .bind(4, r)
                    .bind(5, due)
                    .bind(6, due)
                    .bind(7, now);
                ins.run();
            }
        }
    }
    return notes;
}

void Notifier::answered(sqlite3* db, const Alarm& a) {
    Stmt s(db,
           "UPDATE notifications SET state='cancelled', result=?, updated_at=? WHERE alarm_id=? AND "
           "state='pending'");
    s.bind(1,
           a.state == "acknowledged" || a.state == "dispatched" ? "已有人响应，停止后续通知" : "报警已结束")
        .bind(2, clock_.now_ms())
        .bind(3, a.id)
        .run();
}

std::optional<Notifier::Row> Notifier::claim(Lane& lane, int64_t now) {
    return store_.write([&](sqlite3* db) -> std::optional<Row> {
        Stmt s(db,
               "SELECT id, alarm_id, step, recipient, attempts FROM notifications WHERE channel=? AND "
               "state='pending' AND next_try<=? ORDER BY next_try, id LIMIT 1");
        s.bind(1, lane.cfg->id).bind(2, now);
        if (!s.step()) return std::nullopt;
        Row r{s.i64(0), s.i64(1), int(s.i64(2)), int(s.i64(4)), s.str(3)};
        Stmt u(db, "UPDATE notifications SET state='sending', updated_at=? WHERE id=?");
        u.bind(1, now).bind(2, r.id).run();
        return r;
    });
}

std::string Notifier::secret(const config::NotifyChannel& ch) {
    return ch.secret_file.empty() ? "" : config::read_secret_file(ch.secret_file);
}

notify::Modem& Notifier::modem(const std::string& device) {
    std::lock_guard<std::mutex> lock(modems_mu_);
    auto& m = modems_[device];
    if (!m) m = std::make_unique<notify::Modem>(device);
    return *m;
}

std::vector<std::string> Notifier::mentions(const config::NotifyChannel& ch, const Alarm& a) {
    std::string ignored;
    return store_.read([&](sqlite3* db) { return recipients(db, ch, a, ignored); });
}

// One POST to a chat robot or the webhook: the vendor's body, signature and reply rules.
Delivery Notifier::post_http(const config::NotifyChannel& ch, const std::string& text,
                             const std::vector<std::string>& mention, const json& event) {
    Delivery d;
    notify::HttpOptions ho;
    ho.ca_file = ch.ca_file;
    ho.connect_timeout = ho.read_timeout = ho.write_timeout = std::chrono::milliseconds(ch.timeout_ms);
    notify::HttpPoster poster(ho);
    std::string url = ch.url, body;
    std::vector<std::pair<std::string, std::string>> headers;
    // The vendors check signatures against their own clocks: real time, not the box's injected
    // business clock.
    int64_t now = caregate::now_ms();
    if (ch.type == "wecom") {
        body = notify::wecom_text(text, mention);
    } else if (ch.type == "dingtalk") {
        body = notify::dingtalk_text(text, mention);
        url = notify::dingtalk_signed_url(ch.url, secret(ch), now);
    } else {
        body = notify::webhook_body(event);
        headers = notify::webhook_headers(secret(ch), now, body);
    }
    auto r = poster.post(url, body, headers);
    // No reply, or one cut off at the size cap: the poster's own verdict stands.
    auto v = r.status && !r.truncated ? notify::interpret_vendor_reply(ch.type, r.status, r.body) : r;
    d.ok = v.ok;
    d.retry = v.retryable;
    d.note = v.ok ? "已发送" : "失败：" + (v.reason.empty() ? std::string("发送未成功") : v.reason);
    d.detail = v.detail;
    return d;
}

Delivery Notifier::send_text(const std::string& channel_id, const std::string& recipient,
                             const std::string& text, const json& event) {
    Delivery d;
    d.retry = false;
    const auto* ch = cfg_.notify.find_channel(channel_id);
    if (!ch) {
        d.note = "失败：没有配置这个通知渠道";
        d.detail = "no channel " + channel_id;
        return d;
    }
    try {
        if (is_http(ch->type)) {
            std::vector<std::string> mention;
            if (!recipient.empty()) mention.push_back(recipient);
            return post_http(*ch, text, mention, event);
        }
        if (ch->type == "sms") {
            auto r = modem(ch->modem).send_sms(recipient, text);
            d.ok = r.ok;
            d.retry = !r.ok;
            d.note = r.ok ? "短信已发送" : "短信失败：" + r.reason;
            d.detail = r.detail;
            return d;
        }
        d.note = "失败：" + ch->name + "不能发送文字提醒";
    } catch (const std::exception& e) {
        d.note = kChannelMisconfigured;
        d.detail = e.what();
    }
    return d;
}

Delivery Notifier::deliver(Lane& lane, const Row& row, const Alarm& a) {
    const auto& ch = *lane.cfg;
    std::string text = alarm_message(cfg_, a, row.step, ch.type);
    Delivery d;
    try {
        if (is_http(ch.type)) {
            json ev = {{"id", "notification-" + std::to_string(row.id)},
                       {"site", cfg_.site.id},
                       {"text", text},
                       {"escalation_step", row.step},
                       {"alarm",
                        {{"id", a.id},
                         {"uuid", a.uuid},
                         {"kind", a.kind},
                         {"kind_name", alarm_kind_name(a.kind)},
                         {"source", a.source},
                         {"source_name", cfg_.device_name(a.source)},
                         {"zone", a.zone},
                         {"zone_name", a.zone.empty() ? "" : cfg_.zone_name(a.zone)},
                         {"state", a.state},
                         {"raised_at", a.raised_at}}}};
            d = post_http(ch, text, ch.type == "webhook" ? std::vector<std::string>{} : mentions(ch, a), ev);
        } else if (ch.type == "sms") {
            auto r = modem(ch.modem).send_sms(row.recipient, text);
            d.ok = r.ok;
            d.note = r.ok ? "短信已发送" : "短信失败：" + r.reason;
            d.detail = r.detail;
        } else if (ch.type == "voice") {
            auto r = modem(ch.modem).call(row.recipient, ch.ring_s);
            d.ok = r.ok;
            // A ring is an alert even unanswered; what ended it (declined, the modem gone) is said too.
            d.note = r.answered                    ? "电话已接通"
                     : r.rang && !r.reason.empty() ? "电话" + r.reason
                     : r.rang ? "电话已振铃 " + std::to_string(ch.ring_s) + " 秒，无人接听"
                              : "电话未打通：" + r.reason;
            d.detail = r.detail;
        } else if (ch.type == "speaker") {
            if (!announce_) {
                d.retry = false;
                d.note = "失败：本机没有可用的广播（espeak-ng 未安装或门口语音已关闭）";
            } else {
                announce_(kAnnouncementSeqBase + row.id * 1000 + row.attempts, spoken_chinese(text));
                d.ok = true;
                d.note = "已广播：" + text;
            }
        }
    } catch (const std::exception& e) {  // a secret file that cannot be read, a refused URL
        d.ok = false;
        d.retry = false;
        d.note = kChannelMisconfigured;
        d.detail = e.what();
    }
    return d;
}

void Notifier::settle(Lane& lane, const Row& row, const Alarm& a, const Delivery& d) {
    int64_t now = clock_.now_ms();
    int attempts = row.attempts + 1;
    std::string state = d.ok ? "sent" : (d.retry && a.open()) ? "pending" : "failed";
    int64_t next = now + backoff_ms(attempts);
    std::string note = d.note;
    // The loudspeaker repeats until someone answers.
    if (d.ok && lane.cfg->type == "speaker" && a.state == "raised") {
        state = "pending";
        next = now + int64_t(lane.cfg->repeat_s) * 1000;
    }
    if (!d.ok && state == "pending") note += "；" + std::to_string((next - now) / 1000) + " 秒后重试";
    std::string target = lane.cfg->name + (row.recipient.empty() ? "" : " → " + row.recipient);
    try {
        alarms_.record(a.id, "notified", "notify:" + lane.cfg->type, target, note, [&](sqlite3* db) {
            // Acknowledged meanwhile: the chain is over, even for a row that was being sent.
            Stmt s(
                db,
                "UPDATE notifications SET state=CASE WHEN ?1='pending' AND (SELECT state FROM alarms WHERE "
                "id=?6)<>'raised' THEN 'cancelled' ELSE ?1 END, attempts=?2, next_try=?3, result=?4, "
                "updated_at=?5 WHERE id=?7");
            s.bind(1, state).bind(2, attempts).bind(3, next).bind(4, note).bind(5, now).bind(6, a.id);
            s.bind(7, row.id).run();
        });
    } catch (const std::exception& e) {
        logger("notify")->error("cannot record notification {} of alarm {}: {}", row.id, a.id, e.what());
    }
    {
        std::lock_guard<std::mutex> lock(lane.mu);
        lane.status.last_result = note;
        lane.status.last_attempt_ms = now;
        (d.ok ? lane.status.sent : lane.status.failed)++;
    }
    logger("notify")->log(d.ok ? spdlog::level::info : spdlog::level::warn, "alarm {} via {}{}: {}{}", a.id,
                          lane.cfg->id, row.recipient.empty() ? "" : " to " + row.recipient, note,
                          d.detail.empty() ? "" : " (" + d.detail + ")");
    supervise(lane, d.ok, d.note);
}

void Notifier::supervise(Lane& lane, bool ok, const std::string& why) {
    int64_t now = clock_.now_ms();
    std::string source = "channel:" + lane.cfg->id;
    if (ok) {
        lane.failing_since = 0;
        {
            std::lock_guard<std::mutex> lock(lane.mu);
            lane.status.failing = false;
        }
        if (lane.alarm_raised) {
            lane.alarm_raised = false;
            alarms_.clear("channel_offline", source, "通知渠道恢复");
        }
        return;
    }
    if (!lane.failing_since) lane.failing_since = now;
    {
        std::lock_guard<std::mutex> lock(lane.mu);
        lane.status.failing = true;
    }
    if (!lane.alarm_raised && now - lane.failing_since >= int64_t(cfg_.notify.supervision_s) * 1000) {
        lane.alarm_raised = true;
        alarms_.raise("channel_offline", source, "", "system",
                      json{{"reason", why},
                           {"channel", lane.cfg->id},
                           {"channel_type", lane.cfg->type},
                           {"failing_since", lane.failing_since}});
    }
}

void Notifier::read_replies(Lane& lane) {
    auto replies = modem(lane.cfg->modem).take_incoming();
    for (auto& sms : replies) {
        std::string t = sms.text;
        t.erase(std::remove_if(t.begin(), t.end(), [](unsigned char c) { return std::isspace(c); }), t.end());
        if (t != "1" && t != "１") {
            logger("notify")->info("SMS from {} ignored (only a reply of 1 acknowledges)", sms.from);
            continue;
        }
        // The newest alarm still waiting for an answer that this phone was told of by SMS.
        auto id = store_.read([&](sqlite3* db) -> std::optional<int64_t> {
            Stmt s(
                db,
                "SELECT n.alarm_id, n.recipient FROM notifications n JOIN alarms a ON a.id=n.alarm_id WHERE "
                "n.state='sent' AND a.state='raised' AND n.channel IN (SELECT value FROM json_each(?)) ORDER "
                "BY a.raised_at DESC");
            json sms_channels = json::array();
            for (auto& c : cfg_.notify.channels)
                if (c.type == "sms") sms_channels.push_back(c.id);
            s.bind(1, sms_channels.dump());
            while (s.step())
                if (national(s.str(1)) == national(sms.from)) return s.i64(0);
            return std::nullopt;
        });
        if (!id) {
            logger("notify")->info("SMS reply 1 from {}: no alarm waiting for this phone", sms.from);
            continue;
        }
        try {
            alarms_.acknowledge(*id, "sms:" + sms.from, "短信回复 1");
        } catch (const AlarmError& e) {
            logger("notify")->info("SMS reply from {}: {}", sms.from, e.what());
        }
    }
}

void Notifier::run(Lane& lane) {
    auto log = logger("notify");
    bool modem_lane = lane.cfg->type == "sms" || lane.cfg->type == "voice";
    while (running_) {
        uint64_t seen;
        {
            std::lock_guard<std::mutex> lock(mu_);
            seen = wakes_;
        }
        int64_t now = clock_.now_ms();
        try {
            if (auto row = claim(lane, now)) {
                auto a = alarms_.get(row->alarm_id);
                if (!a) continue;
                // Answered meanwhile (here, or from another process such as the CLI): nobody
                // further needs telling.
                if (a->state != "raised") {
                    store_.write([&](sqlite3* db) {
                        answered(db, *a);  // its other pending rows, then this claimed one
                        Stmt s(
                            db,
                            "UPDATE notifications SET state='cancelled', result=?, updated_at=? WHERE id=?");
                        s.bind(1, "已有人响应，未发送").bind(2, clock_.now_ms()).bind(3, row->id).run();
                    });
                    continue;
                }
                settle(lane, *row, *a, deliver(lane, *row, *a));
                continue;
            }
            if (lane.cfg->type == "sms" && cfg_.notify.sms_reply_ack && now >= lane.next_reply_poll) {
                lane.next_reply_poll = now + kReplyPollMs;
                read_replies(lane);
            }
            if (modem_lane && now >= lane.next_signal_check) {
                lane.next_signal_check = now + kSignalCheckMs;
                auto rssi = modem(lane.cfg->modem).signal();
                if (!rssi) {
                    lane.signal_failing = true;
                    supervise(lane, false, "短信猫无信号或未接上");
                } else if (lane.signal_failing) {
                    lane.signal_failing = false;
                    supervise(lane, true, "");
                }
            }
        } catch (const std::exception& e) {
            log->error("notification channel {}: {}", lane.cfg->id, e.what());
        }
        // Sleep until the lane's next row is due, a wake-up, or a second (replies, supervision).
        int64_t next_due = now + 1000;
        try {
            store_.read([&](sqlite3* db) {
                Stmt s(db, "SELECT MIN(next_try) FROM notifications WHERE channel=? AND state='pending'");
                s.bind(1, lane.cfg->id);
                if (s.step() && s.opt_i64(0)) next_due = std::min(next_due, *s.opt_i64(0));
            });
        } catch (const std::exception&) {
        }
        std::unique_lock<std::mutex> lock(mu_);
        int64_t wait = std::max<int64_t>(0, next_due - clock_.now_ms());
        cv_.wait_for(lock, std::chrono::milliseconds(wait), [&] { return !running_ || wakes_ != seen; });
    }
}

}  // namespace caregate
