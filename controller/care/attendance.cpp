#include "controller/care/attendance.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "controller/care/calendar.hpp"

namespace caregate::care {

namespace {}  // namespace

std::string weekday_names(const std::set<int>& weekdays) {
    static const char* names[] = {"周一", "周二", "周三", "周四", "周五", "周六", "周日"};
    std::string out;
    for (int w : weekdays) out += (out.empty() ? "" : "、") + std::string(names[(w - 1) % 7]);
    return out;
}

Pattern learn_pattern(const config::Care& cfg, const ElderAttendance& e, const std::set<int>& open_days,
                      int today) {
    Pattern p;
    int from = std::max(today - cfg.pattern_days, e.first_day);
    if (e.arrivals.empty() || from >= today) return p;
    int eligible[8] = {0}, attended[8] = {0};
    std::vector<int> minutes;
    for (auto it = open_days.lower_bound(from); it != open_days.end() && *it < today; ++it) {
        int d = *it;
        if (e.excused.count(d)) continue;  // a known absence says nothing about the habit
        int w = weekday(d);
        eligible[w]++;
        auto a = e.arrivals.find(d);
        if (a != e.arrivals.end()) {
            attended[w]++;
            minutes.push_back(a->second);
        }
    }
    // Days attended although the center had no other check-in are still attendance.
    for (auto it = e.arrivals.lower_bound(from); it != e.arrivals.end() && it->first < today; ++it)
        if (!open_days.count(it->first)) minutes.push_back(it->second);
    p.attended = static_cast<int>(minutes.size());
    for (int w = 1; w <= 7; ++w)
        if (eligible[w] >= 2 && attended[w] >= cfg.expected_share * eligible[w]) p.weekdays.insert(w);
    if (!minutes.empty()) {
        std::nth_element(minutes.begin(), minutes.begin() + minutes.size() / 2, minutes.end());
        p.arrival_minute = minutes[minutes.size() / 2];
    }
    int span = today - from;
    p.per_fortnight = span > 0 ? p.attended * 14.0 / span : 0;
    p.regular = p.attended >= cfg.min_attended_days && !p.weekdays.empty();
    return p;
}

std::optional<AbsenceFinding> evaluate_absence(const config::Care& cfg, const ElderAttendance& e,
                                               const std::set<int>& open_days, int today, int minute) {
    Pattern p = learn_pattern(cfg, e, open_days, today);
    if (!p.regular) return std::nullopt;
    int missed = 0, start = 0;
    for (int d = today; d > today - 60; --d) {
        if (d < e.first_day) break;
        if (!p.weekdays.count(weekday(d))) {
            if (e.arrivals.count(d)) break;  // came on another day: not away
            continue;
        }
        if (e.arrivals.count(d) || e.excused.count(d)) break;
        if (d == today && minute < std::min(1440, p.arrival_minute + cfg.arrival_grace_min)) continue;
        if (!open_days.count(d)) continue;  // closed (holiday): neither counts nor breaks
        ++missed;
        start = d;
    }
    if (missed >= cfg.absence_days) {
        AbsenceFinding f;
        f.kind = "absence";
        f.start = start;
        f.missed = missed;
        f.pattern = p;
        f.reason = "连续 " + std::to_string(missed) + " 个应到日未到（通常" + weekday_names(p.weekdays) +
                   " " + clock_text(p.arrival_minute) + " 左右到），未登记原因";
        return f;
    }
    // A sharp drop: the last 14 days against the habit before them.
    if (e.first_day <= today - 28) {
        Pattern base = learn_pattern(cfg, e, open_days, today - 13);
        if (base.regular && base.per_fortnight >= 4) {
            int recent = 0, closed = 0;
            for (int d = today - 13; d <= today; ++d) {
                if (e.arrivals.count(d)) ++recent;
                if (e.excused.count(d)) ++closed;
            }
            if (closed == 0 && recent < cfg.drop_ratio * base.per_fortnight) {
                AbsenceFinding f;
                f.kind = "attendance_drop";
                f.start = today - 13;
                f.pattern = base;
                char buf[160];
                std::snprintf(buf, sizeof buf, "近两周到访 %d 次，此前每两周约 %.0f 次，明显减少", recent,
                              base.per_fortnight);
                f.reason = buf;
                return f;
            }
        }
    }
    return std::nullopt;
}

}  // namespace caregate::care
