#include "controller/core/spoken.hpp"

#include <cctype>
#include <string>

namespace caregate {

bool quiet_hours(int64_t now_ms, int64_t offset_ms, int from, int to) {
    int h = static_cast<int>((((now_ms + offset_ms) / 3600000) % 24 + 24) % 24);
    if (from == to) return false;
    return from < to ? (h >= from && h < to) : (h >= from || h < to);
}

namespace {
const char* kDigits[] = {"零", "一", "二", "三", "四", "五", "六", "七", "八", "九"};

// 0..99999999 the way a person says it: 十二 (not 一十二), 一百零五, 二千.
std::string integer_words(unsigned long long n) {
    if (n == 0) return kDigits[0];
    auto below_10k = [](unsigned n4, bool leading) {
        static const char* units[] = {"千", "百", "十", ""};
        std::string out;
        bool zero = false;
        unsigned div = 1000;
        for (int i = 0; i < 4; ++i, div /= 10) {
            unsigned d = (n4 / div) % 10;
            if (d == 0) {  // an inner zero is said once (一百零五); leading zeros are the caller's
                zero = !out.empty();
                continue;
            }
            if (zero) out += kDigits[0];
            zero = false;
            if (!(d == 1 && i == 2 && out.empty() && leading)) out += kDigits[d];  // 十二, not 一十二
            out += units[i];
        }
        return out;
    };
    unsigned hi = unsigned(n / 10000), lo = unsigned(n % 10000);
    if (!hi) return below_10k(lo, true);
    std::string out = below_10k(hi, true) + "万";
    if (lo) out += (lo < 1000 ? std::string(kDigits[0]) : "") + below_10k(lo, false);
    return out;
}
}  // namespace

std::string spoken_chinese(const std::string& text) {
    std::string out;
    for (size_t i = 0; i < text.size();) {
        unsigned char c = static_cast<unsigned char>(text[i]);
        if (std::isdigit(c)) {
            size_t j = i;
            while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) ++j;
            std::string whole = text.substr(i, j - i);
            if (whole.size() > 8) {  // too long to say as a number (a card or phone number): digit by digit
                for (char d : whole) out += kDigits[d - '0'];
            } else {
                out += integer_words(std::stoull(whole));
            }
            if (j + 1 < text.size() && text[j] == '.' &&
                std::isdigit(static_cast<unsigned char>(text[j + 1]))) {
                out += "点";
                ++j;
                while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j])))
                    out += kDigits[text[j++] - '0'];
            }
            i = j;
        } else if (text.compare(i, 3, "℃") == 0) {
            out += "度";
            i += 3;
        } else if (c == '/') {
            out += "比";
            ++i;
        } else {
            out += text[i++];
        }
    }
    return out;
}

}  // namespace caregate
