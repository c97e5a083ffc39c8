#include "controller/care/calendar.hpp"

#include <cstdio>
#include <ctime>
#include <stdexcept>

namespace caregate::care {

namespace {
constexpr int64_t kDayMs = 86'400'000;

// Days from civil date (Howard Hinnant's algorithm): exact for every Gregorian date.
int days_from_civil(int y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<int>(doe) - 719468;
}

void civil_from_days(int z, int& y, unsigned& m, unsigned& d) {
    z += 719468;
    const int era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = static_cast<int>(yoe) + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
}

bool valid_date(int y, int m, int d) {
    if (y < 1900 || y > 2200 || m < 1 || m > 12 || d < 1) return false;
    static const int len[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= len[m - 1] + (m == 2 && leap);
}
}  // namespace

int64_t offset_ms(const std::string& timezone) { return timezone == "UTC" ? 0 : 8LL * 3600 * 1000; }

int day_of(int64_t ms, const std::string& timezone) {
    int64_t local = ms + offset_ms(timezone);
    return static_cast<int>(local >= 0 ? local / kDayMs : (local - kDayMs + 1) / kDayMs);
}

int minute_of(int64_t ms, const std::string& timezone) {
    int64_t local = ms + offset_ms(timezone);
    return static_cast<int>((local - int64_t(day_of(ms, timezone)) * kDayMs) / 60000);
}

int64_t day_start_ms(int day, const std::string& timezone) {
    return int64_t(day) * kDayMs - offset_ms(timezone);
}

std::string date_text(int day) {
    int y;
    unsigned m, d;
    civil_from_days(day, y, m, d);
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", y, m, d);
    return buf;
}

int parse_date(const std::string& text) {
    int y = 0, m = 0, d = 0;
    char tail = 0;
    if (text.size() != 10 || std::sscanf(text.c_str(), "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 ||
        !valid_date(y, m, d))
        throw std::invalid_argument("日期须为 2026-12-07 这样的格式");
    return days_from_civil(y, static_cast<unsigned>(m), static_cast<unsigned>(d));
}

int weekday(int day) { return ((day + 3) % 7 + 7) % 7 + 1; }  // 1970-01-01 was a Thursday

std::string month_text(int day) { return date_text(day).substr(0, 7); }

std::pair<int, int> month_days(const std::string& month) {
    int y = 0, m = 0;
    char tail = 0;
    if (month.size() != 7 || std::sscanf(month.c_str(), "%4d-%2d%c", &y, &m, &tail) != 2 ||
        !valid_date(y, m, 1))
        throw std::invalid_argument("月份须为 2026-12 这样的格式");
    int first = days_from_civil(y, static_cast<unsigned>(m), 1);
    int next = m == 12 ? days_from_civil(y + 1, 1, 1) : days_from_civil(y, static_cast<unsigned>(m + 1), 1);
    return {first, next};
}

std::string clock_text(int minute) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%02d:%02d", (minute / 60) % 100, minute % 60);
    return buf;
}

int age_on(const std::string& birth_date, int day) {
    int y = 0, m = 0, d = 0;
    if (birth_date.size() < 10 || std::sscanf(birth_date.c_str(), "%4d-%2d-%2d", &y, &m, &d) != 3 ||
        !valid_date(y, m, d))
        return -1;
    int cy;
    unsigned cm, cd;
    civil_from_days(day, cy, cm, cd);
    int age = cy - y;
    if (int(cm) < m || (int(cm) == m && int(cd) < d)) --age;
    return age;
}

}  // namespace caregate::care
