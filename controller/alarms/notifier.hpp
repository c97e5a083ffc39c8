// Who is told of an alarm, when, and whether they were (notify.channels / notify.escalation).
//
// When an alarm is raised, every escalation step of its kind is planned as rows of `notifications`
// (one per channel and recipient) in the alarm's own transaction; acknowledging it anywhere cancels
// what is still pending. Each channel has one thread that sends its due rows through the transports
// in notify/ (chat robots, webhook, the 4G modem, the loudspeaker), retries while the alarm is open,
// and records every attempt as a 'notified' step of the rescue record. A row is claimed ('sending')
// before it is sent and settled after, so a restart resends only what may not have gone out.
// A channel failing for notify.supervision_s (or a modem without signal) is a channel_offline alarm.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "controller/alarms/alarms.hpp"
#include "controller/core/clock.hpp"
#include "controller/core/store.hpp"

namespace caregate {

namespace notify {
class Modem;
}

// The outcome of one attempt to reach one recipient.
struct Delivery {
    bool ok = false;
    bool retry = true;  // worth trying again (network, modem busy); false: configuration is wrong
    std::string note;  // for the rescue record, in Chinese: 已发送, 已振铃 30 秒无人接听, 失败：…
    std::string detail;  // the transport's technical reason, for the log only
};

// The text staff read: kind, device and zone by the names they know, local time, alarm number, link.
std::string alarm_message(const config::SiteConfig& cfg, const Alarm& a, int step,
                          const std::string& channel_type);

class Notifier : public AlarmFollowUp {
public:
    // Says a text on the building's loudspeaker (the door speaker path); "" = no loudspeaker.
    using Announce = std::function<void(int64_t seq, const std::string& text)>;
    Notifier(const config::SiteConfig& cfg, Store& store, const Clock& clock, AlarmService& alarms,
             Announce announce = {});
    ~Notifier() override;
    void start();
    void stop();
    // Something committed may be due now (a new alarm): look again without waiting.
    void wake();

    std::vector<std::string> raised(sqlite3* db, const Alarm& a) override;
    void answered(sqlite3* db, const Alarm& a) override;

    struct ChannelStatus {
        std::string id;
        std::string type;
        bool failing = false;
        std::string last_result;
        int64_t last_attempt_ms = 0;
        uint64_t sent = 0, failed = 0;
    };
    std::vector<ChannelStatus> status() const;

    // A text that is not an alarm (a reminder of overdue visits) to one recipient over a text
    // channel (sms: a phone number; wecom/dingtalk: the mobile to @-mention; webhook: `event` is the
    // body). Sent now on the caller's thread, through the same transports and secrets as alarms.
    Delivery send_text(const std::string& channel_id, const std::string& recipient, const std::string& text,
                       const nlohmann::json& event);

private:
    struct Lane;
    struct Row {
        int64_t id = 0, alarm_id = 0;
        int step = 0, attempts = 0;
        std::string recipient;
    };
    void run(Lane& lane);
    std::optional<Row> claim(Lane& lane, int64_t now);
    void settle(Lane& lane, const Row& row, const Alarm& a, const Delivery& d);
    Delivery deliver(Lane& lane, const Row& row, const Alarm& a);
    Delivery post_http(const config::NotifyChannel& ch, const std::string& text,
                       const std::vector<std::string>& mention, const nlohmann::json& event);
    void supervise(Lane& lane, bool ok, const std::string& why);
    void read_replies(Lane& lane);
    std::vector<std::string> recipients(sqlite3* db, const config::NotifyChannel& ch, const Alarm& a,
                                        std::string& note) const;
    std::vector<std::string> mentions(const config::NotifyChannel& ch, const Alarm& a);
    std::string secret(const config::NotifyChannel& ch);
    notify::Modem& modem(const std::string& device);

    const config::SiteConfig& cfg_;
    Store& store_;
    const Clock& clock_;
    AlarmService& alarms_;
    Announce announce_;
    std::vector<std::unique_ptr<Lane>> lanes_;
    std::mutex modems_mu_;
    std::map<std::string, std::unique_ptr<notify::Modem>> modems_;  // one per AT port, shared by sms/voice
    std::mutex mu_;
    std::condition_variable cv_;
    std::atomic<bool> running_{false};
    uint64_t wakes_ = 0;  // guarded by mu_
};

}  // namespace caregate
