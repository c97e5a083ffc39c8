// 缺勤关怀: a regular attendee who stops coming. The usual pattern (which weekdays, what time) is
// learned from the elder's own check-ins; missing `absence_days` expected days in a row without a
// recorded reason is an absence task, and a sharp drop over two weeks is one too. Pure functions over
// an in-memory history, so the daemon, the CLI and `care replay` run the same rule.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace caregate::care {

struct ElderAttendance {
    std::map<int, int> arrivals;  // local day → minute of the first check-in that day
    std::set<int> excused;        // days covered by a recorded reason (住院 外出 家人照顾 …)
    int first_day = 0;            // first day with a check-in (the pattern is learned from here)
};

struct AttendanceHistory {
    std::map<int64_t, ElderAttendance> elders;
    std::set<int> open_days;  // days anyone checked in: the center was open
};

struct Pattern {
    bool regular = false;
    std::set<int> weekdays;  // 1 Monday … 7 Sunday
    int arrival_minute = 0;  // median first check-in
    int attended = 0;        // days attended in the window
    double per_fortnight = 0;
};

struct AbsenceFinding {
    std::string kind;  // absence (missed days in a row) or attendance_drop
    int start = 0;     // first missed expected day (absence), or first day of the two weeks (drop)
    int missed = 0;    // expected days missed in a row (absence)
    std::string reason;  // in Chinese, for staff: 连续 3 个应到日未到（通常周一、周三、周五 8:30 左右到）
    Pattern pattern;
};

// The pattern from the `cfg.pattern_days` days before `today` (today itself excluded).
Pattern learn_pattern(const config::Care& cfg, const ElderAttendance& e, const std::set<int>& open_days,
                      int today);

// The finding for one elder on `today` at local `minute` (1440: the day is over), or nothing.
// Today counts as missed only after the usual arrival plus the grace, and only when the center
// is open (someone checked in); closed days neither count nor break a streak.
std::optional<AbsenceFinding> evaluate_absence(const config::Care& cfg, const ElderAttendance& e,
                                               const std::set<int>& open_days, int today, int minute);

std::string weekday_names(const std::set<int>& weekdays);  // 周一、周三、周五

}  // namespace caregate::care
