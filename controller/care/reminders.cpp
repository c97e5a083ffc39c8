#include "controller/care/reminders.hpp"

#include <map>

#include "controller/care/calendar.hpp"
#include "controller/core/log.hpp"

namespace caregate::care {

using nlohmann::json;

std::string reminder_text(const config::SiteConfig& cfg, const std::string& visitor,
                          const std::vector<CareTask>& tasks) {
    std::string overdue, events;
    int n_over = 0, n_events = 0;
    for (auto& t : tasks) {
        if (t.task == "life_event") {
            events += (events.empty() ? "" : "、") + t.name + "（" + t.detail + "）";
            ++n_events;
        } else {
            overdue += (overdue.empty() ? "" : "、") + t.name + "（逾期 " + std::to_string(t.overdue_days) +
                       " 天，" + tier_name(t.tier) + "）";
            ++n_over;
        }
    }
    std::string text = "【" + cfg.site.name + " 探访提醒】" + visitor + "：";
    if (n_over) text += std::to_string(n_over) + " 位老人逾期未探访：" + overdue + "。";
    if (n_events) text += std::to_string(n_events) + " 位老人需 24 小时内探访：" + events + "。";
    text += "探访后请在关爱页登记";
    if (!cfg.notify.kiosk_url.empty()) text += "：" + cfg.notify.kiosk_url + "/#care";
    return text + "。";
}

CareReminders::~CareReminders() { stop(); }

void CareReminders::start() {
    if (cfg_.care.remind_channels.empty() || thread_.joinable()) return;
    thread_ = std::thread([this] {
        std::unique_lock<std::mutex> lock(mu_);
        while (!stopping_) {
            lock.unlock();
            try {
                run_once();
            } catch (const std::exception& e) {
                logger("care")->warn("visit reminders: {}", e.what());
            }
            lock.lock();
            cv_.wait_for(lock, std::chrono::minutes(1), [this] { return stopping_; });
        }
    });
}

void CareReminders::stop() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void CareReminders::plan(int day) {
    // A visitor is named on elders by user name or display name; one staff account is one person
    // (one message, under the display name), anyone else (a volunteer) goes by the name written.
    struct Person {
        std::string phone;
        std::vector<CareTask> tasks;
    };
    std::map<std::string, Person> by_visitor;
    auto tasks = planner_.worklist(day);
    store_.read([&](sqlite3* db) {
        for (auto& t : tasks) {
            if (t.visitor.empty() || (t.task != "visit_overdue" && t.task != "life_event")) continue;
            Stmt s(db,
                   "SELECT display_name, COALESCE(phone,'') FROM staff WHERE active=1 AND (username=?1 OR "
                   "display_name=?1) ORDER BY username=?1 DESC LIMIT 1");
            s.bind(1, t.visitor);
            std::string who = t.visitor, phone;
            if (s.step()) who = s.str(0), phone = s.str(1);
            auto& p = by_visitor[who];
            p.phone = phone;
            p.tasks.push_back(t);
        }
        return 0;
    });
    int64_t now = clock_.now_ms();
    store_.write([&](sqlite3* db) {
        Stmt ins(
            db,
            "INSERT OR IGNORE INTO care_reminders(day, visitor, channel, recipient, text, state, result, "
            "updated_at) VALUES(?,?,?,?,?,?,?,?)");
        for (auto& [visitor, person] : by_visitor) {
            const std::string& phone = person.phone;
            std::string text = reminder_text(cfg_, visitor, person.tasks);
            for (auto& id : cfg_.care.remind_channels) {
                const auto* ch = cfg_.notify.find_channel(id);
                if (!ch) continue;
                bool needs_phone = ch->type == "sms";
                std::string recipient = ch->type == "webhook" ? "" : phone;
                ins.reset();
                ins.bind(1, date_text(day)).bind(2, visitor).bind(3, id).bind(4, recipient).bind(5, text);
                if (needs_phone && phone.empty())
                    ins.bind(6, "failed").bind(7, "未发送：" + visitor + " 没有登记手机号（账号页填写）");
                else
                    ins.bind(6, "pending").bind_null(7);
                ins.bind(8, now).run();
            }
        }
        return 0;
    });
}

int CareReminders::run_once() {
    const auto& tz = cfg_.site.timezone;
    if (cfg_.care.remind_channels.empty()) return 0;
    int64_t now = clock_.now_ms();
    int day = day_of(now, tz);
    if (minute_of(now, tz) >= cfg_.care.remind_hour * 60) {
        bool planned = store_.read([&](sqlite3* db) {
            Stmt s(db, "SELECT COUNT(*) FROM care_reminders WHERE day=?");
            s.bind(1, date_text(day));
            s.step();
            return s.i64(0) > 0;
        });
        if (!planned) plan(day);
    }
    struct Row {
        int64_t id;
        std::string day, visitor, channel, recipient, text;
        int attempts;
    };
    std::vector<Row> due = store_.read([&](sqlite3* db) {
        std::vector<Row> out;
        Stmt s(db,
               "SELECT id, day, visitor, channel, recipient, text, attempts FROM care_reminders WHERE "
               "state='pending' AND day=? ORDER BY id");
        s.bind(1, date_text(day));
        while (s.step())
            out.push_back({s.i64(0), s.str(1), s.str(2), s.str(3), s.str(4), s.str(5), int(s.i64(6))});
        return out;
    });
    int sent = 0;
    for (auto& r : due) {
        json event = {{"id", "care-reminder-" + std::to_string(r.id)},
                      {"site", cfg_.site.id},
                      {"kind", "care_reminder"},
                      {"day", r.day},
                      {"visitor", r.visitor},
                      {"text", r.text}};
        auto d = notifier_.send_text(r.channel, r.recipient, r.text, event);
        int attempts = r.attempts + 1;
        std::string state = d.ok ? "sent" : (d.retry && attempts < 3) ? "pending" : "failed";
        store_.write([&](sqlite3* db) {
            Stmt u(db, "UPDATE care_reminders SET state=?, attempts=?, result=?, updated_at=? WHERE id=?");
            u.bind(1, state).bind(2, attempts).bind(3, d.note).bind(4, clock_.now_ms()).bind(5, r.id).run();
            return 0;
        });
        if (d.ok) {
            ++sent;
            logger("care")->info("visit reminder to {} over {}: {}", r.visitor, r.channel, d.note);
        } else {
            logger("care")->warn("visit reminder to {} over {} failed: {}", r.visitor, r.channel, d.note);
        }
    }
    return sent;
}

}  // namespace caregate::care
