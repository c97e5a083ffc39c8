// Local calendar days for care rules: a day is a whole number (days since 1970-01-01 in the site's
// time zone), printed as YYYY-MM-DD. The site's offset is fixed (Asia/Shanghai or UTC).
#pragma once

#include <cstdint>
#include <string>

namespace caregate::care {

int64_t offset_ms(const std::string& timezone);
int day_of(int64_t ms, const std::string& timezone);         // local day of an instant
int minute_of(int64_t ms, const std::string& timezone);      // local minute of its day, 0–1439
int64_t day_start_ms(int day, const std::string& timezone);  // the instant the local day starts
std::string date_text(int day);                              // 2026-12-07
int parse_date(const std::string& text);                     // throws std::invalid_argument
int weekday(int day);                                        // 1 Monday … 7 Sunday
std::string month_text(int day);                             // 2026-12
// The days of a month "2026-12": [first, end); throws std::invalid_argument.
std::pair<int, int> month_days(const std::string& month);
int age_on(const std::string& birth_date, int day);  // -1 when the birth date is unknown
std::string clock_text(int minute);                  // 510 → "08:30"

}  // namespace caregate::care
