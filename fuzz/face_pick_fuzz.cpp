// libFuzzer target: parse_face_pick, the point staff tap on an enrollment photo as the kiosk's
// query parameter pick<i>=x,y carries it (anyone logged in can send any bytes there). Never throws;
// a point it returns lies within 0..1,000,000 on both axes, and written back as "x,y" parses to
// the same point.
#include <cstdint>
#include <string>
#include <string_view>

#include "controller/people/face_enrollment.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto p = caregate::parse_face_pick(text);
    if (!p) return 0;
    if (p->x < 0 || p->y < 0 || p->x > 1'000'000 || p->y > 1'000'000) __builtin_trap();
    auto again = caregate::parse_face_pick(std::to_string(p->x) + "," + std::to_string(p->y));
    if (!again || again->x != p->x || again->y != p->y) __builtin_trap();
    return 0;
}
