// Overdue visits told to their visitor (探访提醒): once a day, from care.remind_hour local time, each
// visitor with overdue visits or a life event waiting gets one message per care.remind_channels
// channel (SMS to the phone on their staff account, a chat robot @-mentioning it, the webhook).
// Rows of care_reminders are written before sending, one per day, visitor, channel and recipient,
// so a restart neither loses nor repeats a day's reminder; a failed one is tried again (3 times).
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "config/config.hpp"
#include "controller/alarms/notifier.hpp"
#include "controller/care/planner.hpp"
#include "controller/core/clock.hpp"
#include "controller/core/store.hpp"

namespace caregate::care {

class CareReminders {
public:
    CareReminders(const config::SiteConfig& cfg, Store& store, const Clock& clock, CarePlanner& planner,
                  Notifier& notifier)
        : cfg_(cfg), store_(store), clock_(clock), planner_(planner), notifier_(notifier) {}
    ~CareReminders();
    void start();  // a thread that calls run_once() every minute; none when no channel is configured
    void stop();
    // Plans today's reminders when it is time and sends what is pending; returns how many were sent.
    int run_once();

private:
    void plan(int day);
    const config::SiteConfig& cfg_;
    Store& store_;
    const Clock& clock_;
    CarePlanner& planner_;
    Notifier& notifier_;
    std::thread thread_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ = false;
};

// The reminder a visitor reads: who is overdue (days, tier), who waits after a life event, and the link.
std::string reminder_text(const config::SiteConfig& cfg, const std::string& visitor,
                          const std::vector<CareTask>& tasks);

}  // namespace caregate::care
