// What the site's voice says and when: text rewritten so a Mandarin voice reads it as Chinese, and
// the quiet hours. Used by the door's greeting and the alarm announcements alike.
#pragma once

#include <cstdint>
#include <string>

namespace caregate {

// The text as it should be spoken: numbers as Chinese numerals (36.6 → 三十六点六), ℃ → 度,
// a/b → a比b, and nothing left that a Mandarin voice would read in English.
std::string spoken_chinese(const std::string& text);

// Whether local time is inside [from, to) hours (wrapping midnight), when the door stays silent.
bool quiet_hours(int64_t now_ms, int64_t offset_ms, int from_hour, int to_hour);

}  // namespace caregate
